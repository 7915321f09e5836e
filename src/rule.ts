// Rules and chains: rendering to restore-input lines, and the chained rule IDs.
import { rendersWithoutFeatures, type Action } from './actions';
import type { IpVersion } from './backend';
import { InvalidRuleError } from './errors';
import type { Features } from './features';
import { ruleHashesFor } from './hash';
import { MatchCriteria } from './match';
import { actionProtocolError } from './protocol-deps';
import { chainName, CONTROL, MAX_COMMENT_BYTES, quotedText, uint, wellFormed } from './validate';

/** The plain-object shape of a {@link Rule}: what `new Rule(spec)` and the Table's update
 *  methods take. */
export interface RuleSpec {
  /** What packets the rule is for; default: every packet (`Match()`). */
  readonly match?: MatchCriteria;
  /** What it does with them. */
  readonly action: Action;
  /** A comment written into the rule (`-m comment`), at most 255 bytes, without quotes,
   *  backslashes, `$`, backticks or control characters. Default: none. */
  readonly comment?: string;
}

/**
 * One rule: a match, an action and an optional comment, validated and rendered once. Immutable.
 * @throws {@link InvalidRuleError} from the constructor for a bad spec, match, action or comment,
 *   or an action whose protocol needs the match does not meet (such as REJECT with tcp-reset
 *   without `-p tcp`).
 * @throws {@link MatchDependencyError} from the constructor when the match's multiport or ICMP
 *   criteria lack their protocol, or it has two protocol criteria.
 */
export class Rule implements RuleSpec {
  /** What packets the rule is for. */
  readonly match: MatchCriteria;
  /** What it does with them. */
  readonly action: Action;
  /** The comment ("" for none). */
  readonly comment: string;
  /** Comment, match and action fragments joined: everything after the prefix fragment. Rules
   *  are immutable, so this is rendered once; hashing 100k rules reuses it. */
  readonly body: string;
  /** The features the action was rendered with (undefined: none, Felix v3.2.2's text). */
  readonly features: Features | undefined;

  /** `features` renders the action for a host that has them (see withFeatures). */
  constructor(spec: RuleSpec, features?: Features) {
    if (typeof spec !== 'object' || spec === null) throw new InvalidRuleError('Rule', spec, 'expected {match?, action, comment?}');
    const match = spec.match ?? new MatchCriteria();
    if (!(match instanceof MatchCriteria)) throw new InvalidRuleError('Rule.match', spec.match, 'expected a MatchCriteria from Match()');
    // MatchCriteria's constructor is public, so fragments may not have come through the builder.
    const matchText = match.render();
    if (typeof matchText !== 'string' || CONTROL.test(matchText)) {
      throw new InvalidRuleError('Rule.match', matchText, 'match must render to one line');
    }
    wellFormed('Rule.match', matchText, 'match');
    const dependencyError = match.protocolDependencyError();
    if (dependencyError) throw dependencyError;
    const action = spec.action;
    if (typeof action !== 'object' || action === null || typeof action.toFragment !== 'function') {
      throw new InvalidRuleError('Rule.action', action, 'expected an action object with toFragment()');
    }
    const actionFragment = features === undefined ? action.toFragment() : action.toFragment(features);
    if (typeof actionFragment !== 'string' || actionFragment === '' || CONTROL.test(actionFragment)) {
      throw new InvalidRuleError('Rule.action', actionFragment, 'toFragment() must return one non-empty line');
    }
    wellFormed('Rule.action', actionFragment, 'action');
    const actionError = actionProtocolError(matchText, action);
    if (actionError) throw actionError;
    this.comment = spec.comment === undefined ? '' : quotedText('Rule.comment', spec.comment, 'comment', MAX_COMMENT_BYTES);
    this.match = match;
    this.action = action;
    this.features = features;
    // One flat string (Array.join copies once) rather than a rope: hashing and every restore
    // line read it again.
    const parts = matchText === '' ? [actionFragment] : [matchText, actionFragment];
    if (this.comment !== '') parts.unshift(`-m comment --comment "${this.comment}"`);
    this.body = parts.join(' ');
    Object.freeze(this);
  }

  /** A Rule from either a Rule or its plain object shape. */
  static from(rule: Rule | RuleSpec): Rule {
    return rule instanceof Rule ? rule : new Rule(rule);
  }

  /** This rule as rendered on a host with `features`: itself when its text does not change. */
  withFeatures(features: Features): Rule {
    if (this.features === features || rendersWithoutFeatures(this.action)) return this;
    const fragment = this.action.toFragment(features);
    if (fragment === (this.features === undefined ? this.action.toFragment() : this.action.toFragment(this.features))) return this;
    return new Rule(this, features);
  }

  /** Throws {@link InvalidRuleError} (naming `where`) if the action is one the given IP version's
   *  iptables does not know. */
  checkIpVersion(ipVersion: IpVersion, where: string): void {
    const only = this.action.ipVersion;
    if (only !== undefined && only !== ipVersion) {
      throw new InvalidRuleError(where, this.action.toString(), `${this.action.toFragment()} is IPv${only} only, but the table is IPv${ipVersion}`);
    }
  }

  /** The restore-input line `-A <chain> <prefixFragment> <rule>`; the Table's prefix fragment is
   *  the rule's ID comment.
   *  @throws {@link InvalidRuleError} for a bad chain name or a prefix fragment of more than one line. */
  renderAppend(chain: string, prefixFragment: string): string {
    return this.render(`-A ${chainName('renderAppend', chain)}`, prefixFragment);
  }

  /** The restore-input line `-I <chain> <prefixFragment> <rule>`.
   *  @throws {@link InvalidRuleError} as renderAppend does. */
  renderInsert(chain: string, prefixFragment: string): string {
    return this.render(`-I ${chainName('renderInsert', chain)}`, prefixFragment);
  }

  /** The restore-input line `-R <chain> <ruleNum> <prefixFragment> <rule>`; rule numbers start at 1.
   *  @throws {@link InvalidRuleError} as renderAppend does, or for a rule number below 1. */
  renderReplace(chain: string, ruleNum: number, prefixFragment: string): string {
    const num = uint('renderReplace', ruleNum, 0x7fffffff, 'rule number');
    if (num === 0) throw new InvalidRuleError('renderReplace', ruleNum, 'rule numbers start at 1');
    return this.render(`-R ${chainName('renderReplace', chain)} ${num}`, prefixFragment);
  }

  private render(operation: string, prefixFragment: string): string {
    if (typeof prefixFragment !== 'string' || CONTROL.test(prefixFragment)) {
      throw new InvalidRuleError('Rule.render', prefixFragment, 'prefix fragment must be one line');
    }
    wellFormed('Rule.render', prefixFragment, 'prefix fragment');
    return joinNonEmpty([operation, prefixFragment, this.body]);
  }

  /** For logs: `Rule[<body>]`. */
  toString(): string {
    return `Rule[${this.body}]`;
  }
}

/** The plain-object shape of a {@link Chain}: what `new Chain(spec)` and `Table.updateChain` take. */
export interface ChainSpec {
  /** The chain name: at most 28 bytes, not starting with `-` or `!`. */
  readonly name: string;
  /** Its rules, in order. */
  readonly rules: readonly (Rule | RuleSpec)[];
  /** With TableOptions.onlyReferencedChains: write this chain even while nothing refers to it. */
  readonly forceProgramming?: boolean;
}

/**
 * A named chain of rules, validated when made; its rule IDs are computed once, when first asked for.
 * @throws {@link InvalidRuleError} from the constructor for a bad name or rule (or
 *   {@link MatchDependencyError}, as {@link Rule} does).
 */
export class Chain implements ChainSpec {
  /** The chain name. */
  readonly name: string;
  readonly forceProgramming: boolean;
  /** How many rules it has (known before deferred rules are made). */
  readonly ruleCount: number;
  #rules: readonly Rule[] | undefined;
  /** Makes the rules of a deferred chain (Chain.deferred), until they are made. */
  #make: (() => readonly Rule[]) | undefined;
  /** What mapRules asked of a deferred chain's rules, in order, for when they are made. */
  #each: readonly ((rule: Rule) => Rule)[] = NO_TRANSFORMS;
  private hashes: readonly string[] | undefined;

  constructor(spec: ChainSpec) {
    if (typeof spec !== 'object' || spec === null) throw new InvalidRuleError('Chain', spec, 'expected {name, rules}');
    this.name = chainName('Chain.name', spec.name);
    if (!Array.isArray(spec.rules)) throw new InvalidRuleError('Chain.rules', spec.rules, 'expected an array of rules');
    // Array.from: a hole in a sparse array is a missing rule (rejected), not one to skip.
    this.#rules = Object.freeze(Array.from(spec.rules, (r: Rule | RuleSpec) => Rule.from(r)));
    this.ruleCount = this.#rules.length;
    this.forceProgramming = forceFlag(spec.forceProgramming);
  }

  /**
   * A chain whose `ruleCount` rules are made by `make` when first asked for, not now: a Table
   * that writes it asks in its plan, while iptables-restore already parses the chains before
   * it (the CLI's apply of a rules file it has checked all but the rules of). Until then it
   * holds no rules; whatever `make` throws is thrown by that first use (and every later one),
   * so a Table's apply rejects with it before its COMMIT, having written nothing.
   * @internal Not part of the public API: its errors arrive late, in apply().
   */
  static deferred(name: string, ruleCount: number, make: () => readonly Rule[], forceProgramming?: boolean): Chain {
    const chain = new Chain({ name, rules: [], forceProgramming });
    if (!Number.isSafeInteger(ruleCount) || ruleCount < 0) throw new InvalidRuleError('Chain.ruleCount', ruleCount, 'expected a count of rules');
    (chain as { ruleCount: number }).ruleCount = ruleCount;
    chain.#rules = undefined;
    chain.#make = make;
    return chain;
  }

  /** Its rules, in order (a deferred chain makes them now). */
  get rules(): readonly Rule[] {
    return this.#rules ?? this.makeRules();
  }

  /** Whether its rules are still to be made (see Chain.deferred). */
  get isDeferred(): boolean {
    return this.#rules === undefined;
  }

  private makeRules(): readonly Rule[] {
    const made = (this.#make as () => readonly Rule[])();
    if (!Array.isArray(made) || made.length !== this.ruleCount) {
      throw new InvalidRuleError(`Chain(${this.name}).rules`, made, `expected ${this.ruleCount} rules from a deferred chain`);
    }
    const each = this.#each;
    const rules = new Array<Rule>(made.length);
    for (let i = 0; i < made.length; i++) {
      let rule = Rule.from(made[i] as Rule);
      for (const f of each) rule = f(rule);
      rules[i] = rule;
    }
    this.#rules = Object.freeze(rules);
    this.#make = undefined;
    this.#each = NO_TRANSFORMS;
    return this.#rules;
  }

  /** A Chain from either a Chain or its plain object shape. */
  static from(chain: Chain | ChainSpec): Chain {
    return chain instanceof Chain ? chain : new Chain(chain);
  }

  /**
   * This chain with each rule passed through `each` (which may throw, naming the rule): now,
   * or, for a deferred chain, when its rules are made. Itself when no rule changes.
   */
  mapRules(each: (rule: Rule) => Rule): Chain {
    if (this.#rules === undefined) {
      const chain = Chain.deferred(this.name, this.ruleCount, this.#make as () => readonly Rule[], this.forceProgramming);
      chain.#each = [...this.#each, each]; // applied in makeRules: one pass, one array
      return chain;
    }
    let changed = false;
    const rules = this.#rules.map((r) => {
      const next = each(r);
      if (next !== r) changed = true;
      return next;
    });
    return changed ? new Chain({ name: this.name, rules, forceProgramming: this.forceProgramming }) : this;
  }

  /** This chain as rendered on a host with `features`: itself when no rule's text changes. */
  withFeatures(features: Features): Chain {
    return this.mapRules((r) => r.withFeatures(features));
  }

  /** The rule IDs, one per rule (Felix's chained hashes); computed once, then cached. */
  ruleHashes(): string[] {
    return [...this.ruleIds()];
  }

  /** The cached IDs without a copy, for the Table's hot path. */
  ruleIds(): readonly string[] {
    if (this.hashes === undefined) this.hashes = Object.freeze(ruleHashesFor(this.name, this.rules));
    return this.hashes;
  }
}

const NO_TRANSFORMS: readonly ((rule: Rule) => Rule)[] = Object.freeze([]);

function forceFlag(force: unknown): boolean {
  if (force === undefined) return false;
  if (typeof force !== 'boolean') throw new InvalidRuleError('Chain.forceProgramming', force, 'expected a boolean');
  return force;
}

function joinNonEmpty(parts: readonly string[]): string {
  let out = '';
  for (const part of parts) {
    if (part === '') continue;
    out = out === '' ? part : `${out} ${part}`;
  }
  return out;
}
