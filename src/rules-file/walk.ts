// The walker: one parsed rules document (yaml nodes, or plain values on the fast path) to
// tables of Chains and Rules, collecting every problem where it was written. Matches and
// actions come from vocabulary.ts; reading values and reporting problems from doc-reader.ts.
import { isIP } from 'node:net';
import type { Action } from '../actions';
import { MatchDependencyError } from '../errors';
import { AddrType, Match, type MatchCriteria } from '../match';
import { Chain, Rule } from '../rule';
import { KERNEL_CHAINS, TABLE_NAMES, type TableName } from '../table-names';
import { DocReader, FastPathMiss } from './doc-reader';
import { describeJs, isMapping, isNull, isSequence, itemsOf, kindOf, offsetOf, pairsOf, stringOf, toJs, type AnyNode, type DocPair } from './nodes';
import { suggest } from './suggest';
import type { TableRules } from './types';
import {
  actionWord,
  BARE_ACTIONS,
  isMatchMethod,
  MAPPING_ACTIONS,
  MATCH_METHODS,
  type ActionArg,
  type ActionWord,
  type ArgKind,
  type TableContext,
} from './vocabulary';

/** One match method as written: where, and the match before and after it (the fragment it
 *  added places a protocol-dependency error; rendered only then). */
interface Criterion {
  readonly pair: DocPair;
  readonly path: string;
  readonly before: MatchCriteria;
  readonly after: MatchCriteria;
}

/** A mapping of chain names to rule lists (chains, insert, append), as written. */
interface NamedList {
  readonly name: string;
  readonly pair: DocPair;
  readonly items: readonly AnyNode[];
}

const TABLE_KEYS = ['chains', 'insert', 'append', 'forceProgramming'];
const RULE_KEYS = ['match', 'action', 'comment'];
const EXPECTED_ACTION = `one of ${BARE_ACTIONS.join(', ')} or a mapping { ${MAPPING_ACTIONS.join(' | ')}: ... }`;
const MATCH_METHOD_NAMES = Object.keys(MATCH_METHODS);
/** How often (in rules built) the walker reports progress. */
const PROGRESS_EVERY = 1024;

/** Walks one parsed document, collecting every problem as an issue at its node. */
export class Ctx extends DocReader {
  private built = 0;
  /** The file's rule count, for progress (counted only when someone listens). */
  private total = 0;

  // --- top level ---

  root(node: AnyNode): Map<TableName, TableRules> | undefined {
    const top = this.resolve(node);
    if (top === undefined || isNull(top)) return this.fail(top, '', 'the file is empty: expected a mapping with a "tables:" key');
    const pairs = this.mapping(top, '', 'a mapping with a "tables:" key');
    if (!pairs) return undefined;
    let tablesPair: DocPair | undefined;
    for (const pair of pairs) {
      const key = this.key(pair, '');
      if (key === undefined) continue;
      if (key === 'tables') tablesPair = pair;
      else if (key !== '$schema') this.fail(pair, key, `unknown key ${JSON.stringify(key)}: expected "tables"${suggest(key, ['tables'])}`);
      // ($schema: editors use it in JSON files to find the schema; nothing to validate.)
    }
    if (!tablesPair) return this.fail(top, '', 'missing key "tables": expected a mapping of filter, nat, mangle or raw');
    const tablesMap = this.resolve(tablesPair.value);
    if (isNull(tablesMap)) return new Map();
    const tablePairs = this.mapping(tablesMap, 'tables', 'a mapping of table names (filter, nat, mangle, raw) to {chains, insert}');
    if (!tablePairs) return undefined;
    if (this.options.onRules) this.total = countRules(tablePairs.map((p) => this.resolve(p.value)), (n) => this.resolve(n));
    const deferred = this.options.deferLargestTable && this.options.source === undefined ? largestTable(tablePairs, (n) => this.resolve(n)) : undefined;
    const result = new Map<TableName, TableRules>();
    for (const pair of tablePairs) {
      const name = this.key(pair, 'tables');
      if (name === undefined) continue;
      if (!(TABLE_NAMES as readonly string[]).includes(name)) {
        this.fail(pair, `tables.${name}`, `unknown table ${JSON.stringify(name)}: expected one of ${TABLE_NAMES.join(', ')}${suggest(name, TABLE_NAMES)}`);
        continue;
      }
      const table = this.table(name as TableName, pair.value, `tables.${name}`, pair === deferred);
      if (table) result.set(name as TableName, table);
    }
    this.options.onRules?.(this.built, this.total);
    return result;
  }

  private table(name: TableName, node: AnyNode, path: string, deferRules: boolean): TableRules | undefined {
    const value = this.resolve(node);
    if (isNull(value)) return { name, chains: [], inserts: new Map() };
    const pairs = this.mapping(value, path, 'a mapping with "chains:" and/or "insert:"');
    if (!pairs) return undefined;
    const found: Record<string, DocPair> = {};
    for (const pair of pairs) {
      const key = this.knownKey(pair, path, TABLE_KEYS, '"chains", "insert", "append" or "forceProgramming"');
      if (key !== undefined) found[key] = pair;
    }
    const lists = (key: string, expected: string): NamedList[] => {
      const pair = found[key];
      return pair ? this.namedLists(pair.value, `${path}.${key}`, expected) : [];
    };
    // Chain names first: jump targets are checked against them.
    const chainEntries = lists('chains', 'a mapping of chain names to lists of rules');
    const defined = new Set(chainEntries.map((e) => e.name));
    const tableCtx: TableContext = { name, defined };
    const forced = found.forceProgramming ? this.forcedChains(found.forceProgramming, `${path}.forceProgramming`, defined) : new Set<string>();

    const chains: Chain[] = [];
    for (const entry of chainEntries) {
      const chainPath = `${path}.chains.${entry.name}`;
      if (KERNEL_CHAINS[name].includes(entry.name)) {
        this.fail(entry.pair, chainPath, `${entry.name} is a kernel chain of table ${name}: put rules for it under "insert:"`);
        continue;
      }
      if (!entry.name.startsWith(this.chainPrefix)) {
        this.fail(entry.pair, chainPath, `chain name must start with the chain prefix ${JSON.stringify(this.chainPrefix)} (set with --chain-prefix)`);
        continue;
      }
      try {
        if (deferRules) {
          chains.push(Chain.deferred(entry.name, entry.items.length, () => this.deferredRules(entry, chainPath, tableCtx), forced.has(entry.name)));
          this.built += entry.items.length; // (progress: these are as far as the file goes now)
          continue;
        }
        const rules = this.rules(entry.items, chainPath, tableCtx);
        if (!rules) continue;
        chains.push(new Chain({ name: entry.name, rules, forceProgramming: forced.has(entry.name) }));
      } catch (error) {
        this.libraryError(error, entry.pair, chainPath);
      }
    }

    const inserts = new Map<string, readonly Rule[]>();
    const appends = new Map<string, readonly Rule[]>();
    for (const [key, into] of [['insert', inserts], ['append', appends]] as const) {
      for (const entry of lists(key, 'a mapping of chain names (e.g. INPUT) to lists of rules')) {
        const insertPath = `${path}.${key}.${entry.name}`;
        if (entry.name.startsWith(this.chainPrefix) || defined.has(entry.name)) {
          this.fail(entry.pair, insertPath, `${entry.name} is one of our chains: define its rules under "chains:"; "${key}:" is for chains we do not own, such as ${KERNEL_CHAINS[name].join(', ')}`);
          continue;
        }
        try {
          new Chain({ name: entry.name, rules: [] }); // validates the name
        } catch (error) {
          this.libraryError(error, entry.pair, insertPath);
          continue;
        }
        const rules = this.rules(entry.items, insertPath, tableCtx);
        if (rules) into.set(entry.name, rules);
      }
    }
    return { name, chains, inserts, ...(appends.size > 0 ? { appends } : {}) };
  }

  /** `forceProgramming:`, a list of this table's chain names written even when nothing refers
   *  to them (with onlyReferencedChains). */
  private forcedChains(pair: DocPair, path: string, defined: ReadonlySet<string>): Set<string> {
    const forced = new Set<string>();
    const list = this.resolve(pair.value);
    if (isNull(list)) return forced;
    if (!isSequence(list)) {
      this.fail(list ?? pair, path, `expected a list of chain names from "chains:", got ${kindOf(list)}`);
      return forced;
    }
    itemsOf(list).forEach((item, i) => {
      const node = this.resolve(item);
      const chain = stringOf(node);
      if (chain === undefined || !defined.has(chain)) {
        this.fail(node ?? pair, `${path}[${i}]`, `${chain === undefined ? `expected a chain name, got ${kindOf(node)}` : `${JSON.stringify(chain)} is not one of this table's chains`}${chain === undefined ? '' : suggest(chain, [...defined])}`);
        return;
      }
      forced.add(chain);
    });
    return forced;
  }

  /** A mapping of names to lists (chains, insert). A null list is an empty list. */
  private namedLists(node: AnyNode, path: string, expected: string): NamedList[] {
    const value = this.resolve(node);
    if (isNull(value)) return [];
    const pairs = this.mapping(value, path, expected);
    if (!pairs) return [];
    const out: NamedList[] = [];
    for (const pair of pairs) {
      const name = this.key(pair, path);
      if (name === undefined) continue;
      const list = this.resolve(pair.value);
      if (isNull(list)) {
        out.push({ name, pair, items: [] });
        continue;
      }
      if (!isSequence(list)) {
        this.fail(list ?? pair, `${path}.${name}`, `expected a list of rules (each "- action: ..."), got ${kindOf(list)}`);
        continue;
      }
      out.push({ name, pair, items: itemsOf(list) });
    }
    return out;
  }

  private rules(items: readonly AnyNode[], path: string, table: TableContext, progress = true): Rule[] | undefined {
    const rules: Rule[] = [];
    let ok = true;
    for (let i = 0; i < items.length; i++) {
      const rule = this.rule(items[i], `${path}[${i}]`, table);
      if (rule) rules.push(rule);
      else ok = false;
      if (progress && ++this.built % PROGRESS_EVERY === 0) this.options.onRules?.(this.built, this.total);
    }
    return ok ? rules : undefined;
  }

  /** A deferred chain's rules, made when a Table first uses them (the walk itself is over: no
   *  progress, and a problem is the caller's problemIn error, as the fast path has no positions). */
  private deferredRules(entry: NamedList, path: string, table: TableContext): Rule[] {
    const problem = (): Error => (this.options.deferLargestTable as { problemIn: (chain: string) => Error }).problemIn(entry.name);
    let rules: Rule[] | undefined;
    try {
      rules = this.rules(entry.items, path, table, false);
    } catch (error) {
      if (error instanceof FastPathMiss) throw problem();
      throw error;
    }
    if (!rules) throw problem();
    return rules;
  }

  private rule(node: AnyNode, path: string, table: TableContext): Rule | undefined {
    const value = this.resolve(node);
    const pairs = this.mapping(value, path, 'a rule: a mapping with "action:" and optional "match:" and "comment:"');
    if (!pairs) return undefined;
    let match: MatchCriteria | undefined;
    let criteria: readonly Criterion[] = [];
    let action: Action | undefined;
    let actionSeen = false;
    let comment: string | undefined;
    let commentNode: AnyNode;
    let ok = true;
    for (const pair of pairs) {
      const key = this.knownKey(pair, path, RULE_KEYS, '"match", "action" or "comment"');
      const v = pair.value;
      if (key === 'match') {
        const built = this.match(v, `${path}.match`);
        match = built?.match;
        criteria = built?.criteria ?? [];
        if (!match) ok = false;
      } else if (key === 'action') {
        actionSeen = true;
        action = this.action(v, `${path}.action`, table);
        if (action?.ipVersion !== undefined && action.ipVersion !== this.ipVersion) {
          this.fail(v ?? pair, `${path}.action`, `${action.toFragment()} is IPv${action.ipVersion} only, but the rules are for IPv${this.ipVersion} (--ip-version ${this.ipVersion})`);
          action = undefined;
        }
        if (!action) ok = false;
      } else if (key === 'comment') {
        const c = this.resolve(v);
        const text = stringOf(c);
        if (text === undefined) {
          this.fail(c ?? pair, `${path}.comment`, `expected a string, got ${kindOf(c)}`);
          ok = false;
        } else {
          comment = text;
          commentNode = c;
        }
      } else ok = false;
    }
    if (!actionSeen) {
      this.fail(value, path, 'missing key "action": expected e.g. "action: accept" or "action: { jump: <chain> }"');
      return undefined;
    }
    if (!ok || !action) return undefined;
    try {
      const rule = new Rule({ match: match ?? Match(), action, ...(comment !== undefined ? { comment } : {}) });
      const positions = this.options.positions;
      const source = this.options.source;
      if (positions && source) {
        const { line, col } = source.lineCounter.linePos(offsetOf(value));
        positions.set(rule, { line, column: col, path });
      }
      return rule;
    } catch (error) {
      // A criterion that needs a protocol is reported where it was written.
      const criterion = error instanceof MatchDependencyError ? criteria.find((c) => c.after.render().slice(c.before.render().length).trimStart() === error.fragment) : undefined;
      if (criterion) return this.libraryError(error, criterion.pair, criterion.path);
      return this.libraryError(error, commentNode ?? value, comment !== undefined ? `${path}.comment` : path);
    }
  }

  // --- matches ---

  private match(node: AnyNode, path: string): { match: MatchCriteria; criteria: Criterion[] } | undefined {
    const value = this.resolve(node);
    if (isNull(value)) return { match: Match(), criteria: [] };
    // A mapping applies its keys in order; a list of one-key mappings allows repeating a method.
    let pairs: readonly DocPair[] = [];
    const pathOf: string[] = [];
    if (isSequence(value)) {
      let ok = true;
      const listed: DocPair[] = [];
      itemsOf(value).forEach((item, i) => {
        const m = this.resolve(item);
        const ps = this.mapping(m, `${path}[${i}]`, 'a one-key mapping such as { protocol: tcp }');
        if (!ps) {
          ok = false;
          return;
        }
        if (ps.length !== 1) {
          this.fail(m, `${path}[${i}]`, `expected exactly one match method in each list entry, got ${ps.length}`);
          ok = false;
          return;
        }
        listed.push(ps[0] as DocPair);
        pathOf.push(`${path}[${i}]`);
      });
      if (!ok) return undefined;
      pairs = listed;
    } else {
      const ps = this.mapping(value, path, 'a mapping of match methods (e.g. { protocol: tcp, destPorts: [80] }) or a list of one-key mappings');
      if (!ps) return undefined;
      pairs = ps;
      for (let i = 0; i < ps.length; i++) pathOf.push(path);
    }
    let match: MatchCriteria = Match();
    const criteria: Criterion[] = [];
    let ok = true;
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[i] as DocPair;
      const method = this.key(pair, pathOf[i] as string);
      if (method === undefined) {
        ok = false;
        continue;
      }
      const methodPath = `${pathOf[i]}.${method}`;
      const kind = isMatchMethod(method) ? MATCH_METHODS[method] : undefined;
      if (kind === undefined) {
        this.fail(pair, methodPath, `unknown match method ${JSON.stringify(method)}${suggest(method, MATCH_METHOD_NAMES)}`);
        ok = false;
        continue;
      }
      const next = this.matchMethod(match, method, kind, pair.value, pair, methodPath);
      if (next) {
        // (Only the positioned path places errors; on the fast path any error ends the walk.)
        if (this.options.source) criteria.push({ pair, path: methodPath, before: match, after: next });
        match = next;
      } else ok = false;
    }
    return ok ? { match, criteria } : undefined;
  }

  private matchMethod(match: MatchCriteria, method: string, kind: ArgKind, node: AnyNode, pair: DocPair, path: string): MatchCriteria | undefined {
    const value = this.resolve(node);
    const at = value ?? pair;
    const args = this.matchArgs(method, kind, value, at, path);
    if (!args) return undefined;
    if (kind === 'icmp4' || kind === 'icmp4pair') {
      if (this.ipVersion !== 4) return this.fail(pair, path, `${method} matches IPv4 ICMP, but the rules are for IPv6 (--ip-version 6): use ${method.replace(/cmp/, 'cmpV6')}`);
    }
    if (kind === 'icmp6' || kind === 'icmp6pair') {
      if (this.ipVersion !== 6) return this.fail(pair, path, `${method} matches ICMPv6, but the rules are for IPv4 (use --ip-version 6, or ${method.replace('V6', '')})`);
    }
    if (kind === 'net' && typeof args[0] === 'string') {
      const slash = args[0].indexOf('/');
      const family = isIP(slash < 0 ? args[0] : args[0].slice(0, slash));
      if (family !== 0 && family !== this.ipVersion) {
        return this.fail(at, path, `${JSON.stringify(args[0])} is an IPv${family} address, but the rules are for IPv${this.ipVersion} (--ip-version ${this.ipVersion})`);
      }
    }
    try {
      const fn = (match as unknown as Record<string, (...a: unknown[]) => MatchCriteria>)[method] as (...a: unknown[]) => MatchCriteria;
      return fn.apply(match, args);
    } catch (error) {
      return this.libraryError(error, value ?? pair, path);
    }
  }

  /** Turns the value of a match method into the method's arguments (shape only; the method
   *  itself checks ranges and syntax). */
  private matchArgs(method: string, kind: ArgKind, value: AnyNode, at: AnyNode | DocPair, path: string): unknown[] | undefined {
    const js = toJs(value);
    switch (kind) {
      case 'flag':
        if (js === true) return [];
        return this.fail(at, path, `expected true (${method} takes no arguments; leave the key out to not match), got ${kindOf(value)}`);
      case 'mark': {
        const m = this.number(value, at, path, 'a mark: an integer or a hex string such as "0x10"');
        return m === undefined ? undefined : [m];
      }
      case 'uint8':
      case 'icmp4':
      case 'icmp6': {
        const n = this.number(value, at, path, 'an integer from 0 to 255');
        return n === undefined ? undefined : [n];
      }
      case 'string':
      case 'net':
      case 'addrType':
        if (typeof js === 'string') return [js];
        return this.fail(at, path, `expected a string${kind === 'addrType' ? ` (one of ${Object.values(AddrType).join(', ')})` : ''}, got ${kindOf(value)}${method === 'protocol' && typeof js === 'number' ? ' (use protocolNum for a protocol number)' : ''}`);
      case 'states':
        if (typeof js === 'string') return [js];
        if (Array.isArray(js) && js.length > 0 && js.every((s) => typeof s === 'string')) return [js.join(',')];
        return this.fail(at, path, `expected a conntrack state such as NEW or a list such as [ESTABLISHED, RELATED], got ${kindOf(value)}`);
      case 'markMask':
        return this.pair(value, at, path, ['mark', 'mask'], 'a mark and mask: [mark, mask] or { mark: ..., mask: ... }', true);
      case 'icmp4pair':
      case 'icmp6pair':
        return this.pair(value, at, path, ['type', 'code'], 'an ICMP type and code: [type, code] or { type: ..., code: ... }', false);
      case 'ports':
        if (typeof js === 'number') return [js];
        if (Array.isArray(js)) return js;
        return this.fail(at, path, `expected a port or a list of ports such as [80, 443], got ${kindOf(value)}`);
      case 'ranges': {
        const list = isSequence(value) ? itemsOf(value).map((i) => this.resolve(i)) : isMapping(value) ? [value] : undefined;
        if (!list) return this.fail(at, path, `expected a list of port ranges such as [{ first: 1000, last: 2000 }], got ${kindOf(value)}`);
        const ranges: { first: unknown; last: unknown }[] = [];
        let ok = true;
        list.forEach((item, i) => {
          const r = this.fields(item, isSequence(value) ? `${path}[${i}]` : path, ['first', 'last'], ['first', 'last'], 'a port range { first: ..., last: ... }');
          if (r) ranges.push({ first: r.first, last: r.last });
          else ok = false;
        });
        return ok ? [ranges] : undefined;
      }
      case 'rpf': {
        if (js === true) return [];
        const f = this.fields(value, path, ['acceptLocal'], ['acceptLocal'], "true (Felix v3.2.2's form) or { acceptLocal: true | false } (with --validmark)");
        if (!f) return undefined;
        if (typeof f.acceptLocal !== 'boolean') return this.fail(at, `${path}.acceptLocal`, `expected true or false, got ${describeJs(f.acceptLocal)}`);
        return [f.acceptLocal];
      }
      case 'integer': {
        const n = this.number(value, at, path, 'an integer');
        return n === undefined ? undefined : [n];
      }
      case 'limit': {
        if (typeof js === 'string') return [js];
        const f = this.fields(value, path, ['rate', 'burst'], ['rate'], 'a rate such as "10/second", or { rate: "10/second", burst: 20 }');
        if (!f) return undefined;
        return f.burst === undefined ? [f.rate] : [f.rate, f.burst];
      }
      case 'srcAddrType': {
        if (typeof js === 'string') return [js, false];
        const f = this.fields(value, path, ['type', 'limitIfaceOut'], ['type'], 'an address type such as LOCAL or { type: LOCAL, limitIfaceOut: true }');
        if (!f) return undefined;
        if (f.limitIfaceOut !== undefined && typeof f.limitIfaceOut !== 'boolean') {
          return this.fail(at, `${path}.limitIfaceOut`, `expected true or false, got ${describeJs(f.limitIfaceOut)}`);
        }
        return [f.type, f.limitIfaceOut === true];
      }
    }
  }

  // --- actions ---

  private action(node: AnyNode, path: string, table: TableContext): Action | undefined {
    const value = this.resolve(node);
    const name = stringOf(value);
    if (name !== undefined) {
      const word = actionWord(name);
      if (!word?.bare) {
        const hint = word?.build ? ` (${name} needs an argument: { ${name}: ... })` : suggest(name, BARE_ACTIONS);
        return this.fail(value, path, `unknown action ${JSON.stringify(name)}: expected ${EXPECTED_ACTION}${hint}`);
      }
      if (!this.actionAllowed(word, table, value, path)) return undefined;
      return word.bare();
    }
    const pairs = this.mapping(value, path, `an action: ${EXPECTED_ACTION}`);
    if (!pairs) return undefined;
    if (pairs.length !== 1) {
      return this.fail(value, path, `expected exactly one action in the mapping, got ${pairs.length}${pairs.length === 0 ? '' : ` (${pairs.map((p) => toJs(p.key)).join(', ')})`}`);
    }
    const pair = pairs[0] as DocPair;
    const kind = this.key(pair, path);
    if (kind === undefined) return undefined;
    const actionPath = `${path}.${kind}`;
    const word = actionWord(kind);
    if (!word?.build) {
      const hint = word?.bare ? ` (write just "action: ${kind}")` : suggest(kind, MAPPING_ACTIONS);
      return this.fail(pair, actionPath, `unknown action ${JSON.stringify(kind)}: expected one of ${MAPPING_ACTIONS.join(', ')}${hint}`);
    }
    if (!this.actionAllowed(word, table, pair, actionPath)) return undefined;
    const arg = this.resolve(pair.value);
    return word.build(new BoundActionArg(this, arg, arg ?? pair, actionPath, table));
  }

  private actionAllowed(word: ActionWord, table: TableContext, at: AnyNode | DocPair, path: string): boolean {
    const only = word.onlyIn;
    if (only === undefined || only === table.name) return true;
    this.fail(at, path, `${word.name} is only valid in the ${only} table, not in ${table.name}`);
    return false;
  }
}

/** The table pair whose chains hold the most rules (the first of equals); undefined for none. */
function largestTable(tables: readonly DocPair[], resolve: (n: AnyNode) => AnyNode): DocPair | undefined {
  let best: DocPair | undefined;
  let most = 0;
  for (const pair of tables) {
    const rules = listedRules(resolve(pair.value), resolve, 'chains');
    if (rules > most) [best, most] = [pair, rules];
  }
  return best;
}

/** How many rules the tables' chains, insert and append lists hold, counted without checking
 *  anything (the walk reports the problems): the total that progress counts towards. */
function countRules(tables: readonly AnyNode[], resolve: (n: AnyNode) => AnyNode): number {
  return tables.reduce<number>((total, table) => total + listedRules(table, resolve), 0);
}

/** The rules in one table's lists (those under `only`, or all of them), unchecked. */
function listedRules(table: AnyNode, resolve: (n: AnyNode) => AnyNode, only?: string): number {
  if (!isMapping(table)) return 0;
  let total = 0;
  for (const part of pairsOf(table)) {
    if (only !== undefined && stringOf(part.key) !== only) continue;
    const lists = resolve(part.value);
    if (!isMapping(lists)) continue;
    for (const entry of pairsOf(lists)) {
      const rules = resolve(entry.value);
      if (isSequence(rules)) total += itemsOf(rules).length;
    }
  }
  return total;
}

/** The walker's readers, bound to one action's argument (see ActionArg): one object per action,
 *  its methods on the prototype. */
class BoundActionArg implements ActionArg {
  readonly js: unknown;
  readonly chainPrefix: string;

  constructor(
    private readonly reader: DocReader,
    readonly node: AnyNode,
    readonly at: AnyNode | DocPair,
    readonly path: string,
    readonly table: TableContext,
  ) {
    this.js = toJs(node);
    this.chainPrefix = reader.chainPrefix;
  }

  fields(allowed: readonly string[], required: readonly string[], expected: string): Record<string, unknown> | undefined {
    return this.reader.fields(this.node, this.path, allowed, required, expected);
  }
  fieldNodes(allowed: readonly string[], required: readonly string[], expected: string): Record<string, AnyNode> | undefined {
    return this.reader.fieldNodes(this.node, this.path, allowed, required, expected);
  }
  markFields(allowed: readonly string[], required: readonly string[], single?: string): Record<string, number> | undefined {
    return this.reader.markFields(this.node, this.path, allowed, required, single);
  }
  number(n: AnyNode, where: AnyNode | DocPair, expected: string): number | undefined {
    return this.reader.number(n, where, this.path, expected);
  }
  pair(keys: [string, string], expected: string, marks: boolean): unknown[] | undefined {
    return this.reader.pair(this.node, this.at, this.path, keys, expected, marks);
  }
  addressFamilyOk(addr: unknown, addrPath: string): boolean {
    return this.reader.addressFamilyOk(addr, this.at, addrPath);
  }
  fail(message: string): undefined {
    return this.reader.fail(this.at, this.path, message);
  }
  build(make: () => Action, blame: AnyNode | DocPair = this.at): Action | undefined {
    try {
      return make();
    } catch (error) {
      return this.reader.libraryError(error, blame, this.path);
    }
  }
}
