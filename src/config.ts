// The rules file: YAML or JSON in the library's own vocabulary, validated before anything runs.
//
//   tables:
//     filter:                     # filter | nat | mangle | raw
//       chains:                   # chains we own; names start with the chain prefix
//         ipts-web:
//           - match: { protocol: tcp, destPorts: [80, 443] }
//             action: accept
//             comment: web
//       insert:                   # our rules at the top of chains we do not own
//         INPUT:
//           - action: { jump: ipts-web }
//       append:                   # our rules at the end of chains we do not own
//         FORWARD:
//           - action: drop
//
// Match keys are Match() method names, applied in the order written (the order is part of the
// rule, and so of its ID). Every problem is reported as file:line:column with what was expected;
// all problems of a file are collected, so one run shows them all.
/**
 * The rules-file loader: reads a YAML or JSON rules file, validates it against the library's
 * vocabulary, and builds the Chains and Rules a Table takes ({@link loadRulesFile}). Every problem
 * is reported with its file, line and column ({@link ConfigError}).
 *
 * @module iptables-sync/config
 */
import { isIP } from 'node:net';
import { Alias, LineCounter, Pair, Scalar, YAMLMap, YAMLSeq, isAlias, isCollection, isMap, isPair, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import {
  AcceptAction,
  ClearMarkAction,
  DNATAction,
  DropAction,
  DSCPAction,
  GotoAction,
  JumpAction,
  LimitNumConnectionsAction,
  LimitPacketRateAction,
  LogAction,
  MasqAction,
  NflogAction,
  NoTrackAction,
  REJECT_WITH,
  RejectAction,
  RestoreConnMarkAction,
  ReturnAction,
  SNATAction,
  SaveConnMarkAction,
  SetConnMarkAction,
  SetMarkAction,
  SetMaskedMarkAction,
  type Action,
  type RejectWith,
} from './actions';
import { IptablesSyncError, InvalidRuleError, MAX_QUOTED_CHARACTERS, MatchDependencyError } from './errors';
import { AddrType, Match, type MatchCriteria } from './match';
import { Chain, Rule } from './rule';
import { DEFAULT_MAX_FILE_SIZE, readRulesText, type ReadProblem } from './rules-file-reader';

export { DEFAULT_MAX_FILE_SIZE } from './rules-file-reader';

/** The tables a rules file may name. */
export type TableName = 'filter' | 'nat' | 'mangle' | 'raw';
/** Every {@link TableName}: filter, nat, mangle, raw. */
export const TABLE_NAMES: readonly TableName[] = ['filter', 'nat', 'mangle', 'raw'];

// Kept here (not imported from ./table) so that validating a file needs nothing but the rule
// model: the Table's module pulls in the dataplane reader and the native addon.
const KERNEL_CHAINS: Readonly<Record<TableName, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/** The rule ID prefix the command line uses unless told otherwise. */
export const DEFAULT_HASH_PREFIX = 'ipts:';
/** The prefix our chains' names must start with unless {@link ConfigOptions.chainPrefix} says
 *  otherwise. */
export const DEFAULT_CHAIN_PREFIX = 'ipts-';

/** One table of a rules file, validated and built. */
export interface TableRules {
  /** The table. */
  readonly name: TableName;
  /** The chains we own, in file order. */
  readonly chains: readonly Chain[];
  /** Per chain we do not own (usually a kernel chain): our rules, top first. */
  readonly inserts: ReadonlyMap<string, readonly Rule[]>;
  /** Per chain we do not own: our rules kept at its end (Table.appendRules); absent = none. */
  readonly appends?: ReadonlyMap<string, readonly Rule[]>;
}

/** A validated rules file: what {@link loadRulesFile} and {@link parseRules} return. */
export interface RulesFile {
  /** The file name as given ("-" for stdin). */
  readonly file: string;
  /** Only the tables the file names, in file order. */
  readonly tables: ReadonlyMap<TableName, TableRules>;
  /** Where each rule was written; only with the `positions` option. */
  readonly positions?: ReadonlyMap<Rule, RulePosition>;
}

/** Where a rule starts in the file, and its path (tables.filter.chains.ipts-web[0]). */
export interface RulePosition {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** Where in the document, such as `tables.filter.chains.ipts-web[0]`. */
  readonly path: string;
}

/** Options of {@link loadRulesFile} and {@link parseRules}; all optional. */
export interface ConfigOptions {
  /** Names of our chains must start with this (the Table's historic chain prefix). Default
   *  {@link DEFAULT_CHAIN_PREFIX}. */
  readonly chainPrefix?: string;
  /** Addresses and ICMP matches must be of this family. Default 4. */
  readonly ipVersion?: 4 | 6;
  /** loadRulesFile only: refuse files larger than this many bytes. Default
   *  {@link DEFAULT_MAX_FILE_SIZE} (256 MiB). */
  readonly maxFileSize?: number;
  /** Record where each rule was written (RulesFile.positions), to report on built rules.
   *  Default false. */
  readonly positions?: boolean;
}

/** How deep mappings and lists may nest. A rules file needs about 8 levels; the parsers and
 *  toJSON recurse, so 100,000 levels would overflow the stack. */
export const MAX_NESTING = 64;
/** How many nodes YAML aliases may add to the document, counted expanded. Each alias costs its
 *  target's size, so nested aliases (an "alias bomb") reach this after a few levels, and so
 *  do thousands of uses of one anchor; a handful of shared port lists are far below it. */
export const MAX_ALIAS_EXPANSION = 100_000;
/** Quoted values in messages are cut to this many characters, as the library's are. */
const MAX_QUOTED = MAX_QUOTED_CHARACTERS;

/** One problem found in a rules file. */
export interface ConfigIssue {
  /** The file name as given. */
  readonly file: string;
  /** 1-based; absent when the file could not be read at all. */
  readonly line?: number;
  /** 1-based; absent when the file could not be read at all. */
  readonly column?: number;
  /** Where in the document, e.g. tables.filter.chains.ipts-web[0].match.destPorts */
  readonly path: string;
  /** What is wrong, naming the bad value. */
  readonly message: string;
  /** The offending source line and a caret under the column. */
  readonly snippet?: string;
}

const MAX_ISSUES = 50;

/** The rules file is unreadable or invalid. `issues` lists every problem found, in file order. */
export class ConfigError extends IptablesSyncError {
  /** The file of the first issue. */
  readonly file: string;
  /** The line of the first issue, when known. */
  readonly line: number | undefined;
  /** The column of the first issue, when known. */
  readonly column: number | undefined;
  constructor(
    /** Every problem found (up to 50), in file order. */
    readonly issues: readonly ConfigIssue[],
  ) {
    super(issues.map(formatIssue).join('\n'));
    const first = issues[0];
    this.file = first?.file ?? '';
    this.line = first?.line;
    this.column = first?.column;
  }

  /** The message with each issue's source line and caret, for a terminal. */
  detailed(): string {
    return this.issues.map((i) => (i.snippet ? `${formatIssue(i)}\n${i.snippet}` : formatIssue(i))).join('\n');
  }
}

function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}:${issue.column ?? 1}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** The rules file was not read: not a regular file (nor "-"), over the size limit, not UTF-8,
 *  or unreadable. Thrown before anything is parsed. */
export class UnreadableRulesFileError extends ConfigError {
  /** Why: `'not-a-file'`, `'too-large'`, `'io'` or `'invalid-utf8'`. */
  readonly reason: ReadProblem['reason'];
  constructor(file: string, problem: ReadProblem) {
    super([{ file, path: '', message: problem.message, ...(problem.reason === 'invalid-utf8' ? { line: problem.line, column: problem.column } : {}) }]);
    this.reason = problem.reason;
  }
}

/** A rules file's text ("-" is stdin), read within the limits of loadRulesFile.
 *  @throws {@link UnreadableRulesFileError} when it is not a regular file (nor "-"), larger than
 *  `maxFileSize` bytes, not UTF-8, or unreadable. */
export function readRulesFile(file: string, options: Pick<ConfigOptions, 'maxFileSize'> = {}): string {
  const read = readRulesText(file, options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE);
  if ('problem' in read) throw new UnreadableRulesFileError(file, read.problem);
  return read.text;
}

/** Reads and validates a rules file (YAML, or JSON, which is parsed by the same YAML 1.2 parser).
 *  "-" reads stdin. Only regular files of at most `maxFileSize` bytes of UTF-8 are read.
 *  @throws {@link UnreadableRulesFileError} when the file cannot be read within those limits.
 *  @throws {@link ConfigError} listing every problem found when it is invalid. */
export function loadRulesFile(file: string, options: ConfigOptions = {}): RulesFile {
  return parseRules(readRulesFile(file, options), file, options);
}

/** Validates rules text; `file` is only used in messages.
 *  @throws {@link ConfigError} listing every problem found when it is invalid. */
export function parseRules(text: string, file: string, options: ConfigOptions = {}): RulesFile {
  const chainPrefix = options.chainPrefix ?? DEFAULT_CHAIN_PREFIX;
  const ipVersion = options.ipVersion ?? 4;
  const lineCounter = new LineCounter();
  let contents: Node | null;
  let errors: { offset: number; message: string }[];
  let aliases = new Map<Alias, Node>();
  if (/\.json$/i.test(file)) {
    // JSON is YAML, but the YAML parser reads ~0.3 MB/s; generated rule sets are large and JSON.
    // (Strict JSON has no aliases, and its parser limits nesting itself.)
    ({ contents, errors } = parseJsonNodes(text));
    lineCounter.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineCounter.addNewLine(i + 1);
  } else {
    const doc = parseDocument(text, { lineCounter, keepSourceTokens: true, prettyErrors: false, uniqueKeys: true });
    contents = doc.contents as Node | null;
    errors = [];
    for (const e of doc.errors) {
      // The parser recurses per level and reports an overflow as an error at the spot; what
      // follows it is noise.
      if (/Maximum call stack size exceeded/.test(e.message)) {
        errors.push({ offset: e.pos[0], message: `invalid YAML: nested deeper than ${MAX_NESTING} levels (or deeper than the parser can follow)` });
        break;
      }
      errors.push({ offset: e.pos[0], message: `invalid YAML: ${e.message}` });
    }
    if (errors.length === 0) {
      const limits = documentLimits(contents);
      aliases = limits.aliases;
      if (limits.problem) errors.push(limits.problem);
    }
  }
  const ctx = new Ctx(file, text, lineCounter, aliases, chainPrefix, ipVersion, options.positions === true ? new Map() : undefined);
  for (const error of errors) ctx.issueAt(error.offset, '', error.message);
  if (ctx.issues.length > 0) throw new ConfigError(ctx.issues);
  const tables = ctx.root(contents);
  if (ctx.issues.length > 0 || tables === undefined) throw new ConfigError(ctx.issues);
  return ctx.positions ? { file, tables, positions: ctx.positions } : { file, tables };
}

// --- walking the document ----------------------------------------------------------------------

type AnyNode = Node | null | undefined;

/** One match method as written: where, and the fragment it rendered (to place errors). */
interface Criterion {
  readonly pair: Pair;
  readonly path: string;
  readonly fragment: string;
}

class Ctx {
  readonly issues: ConfigIssue[] = [];
  private readonly lines: string[];

  constructor(
    readonly file: string,
    text: string,
    private readonly lineCounter: LineCounter,
    private readonly aliases: ReadonlyMap<Alias, Node>,
    readonly chainPrefix: string,
    readonly ipVersion: 4 | 6,
    readonly positions: Map<Rule, RulePosition> | undefined,
  ) {
    this.lines = text.split(/\r?\n/);
  }

  issueAt(offset: number, path: string, message: string): void {
    if (this.issues.length >= MAX_ISSUES) return;
    const { line, col } = this.lineCounter.linePos(offset);
    const source = this.lines[line - 1];
    const snippet = source === undefined ? undefined : snippetOf(line, source, col);
    this.issues.push({ file: this.file, line, column: col, path: clip(path, MAX_QUOTED), message: clipQuoted(message), ...(snippet !== undefined ? { snippet } : {}) });
  }

  /** Records a problem at a node (or a pair's key); returns undefined for convenient `return ctx.fail(...)`. */
  fail(node: AnyNode | Pair, path: string, message: string): undefined {
    this.issueAt(offsetOf(node), path, message);
    return undefined;
  }

  /** The node an alias stands for (found once for all aliases: Alias.resolve would search the
   *  whole document on every call). */
  resolve(node: AnyNode): AnyNode {
    let current = node;
    for (let depth = 0; isAlias(current) && depth < 32; depth++) current = this.aliases.get(current);
    return current;
  }

  // --- top level ---

  root(node: AnyNode): Map<TableName, TableRules> | undefined {
    const top = this.resolve(node);
    if (top === null || top === undefined || (isScalar(top) && top.value === null)) {
      return this.fail(top, '', 'the file is empty: expected a mapping with a "tables:" key');
    }
    const pairs = this.mapping(top, '', 'a mapping with a "tables:" key');
    if (!pairs) return undefined;
    let tablesNode: AnyNode;
    let tablesPair: Pair | undefined;
    for (const pair of pairs) {
      const key = this.key(pair, '');
      if (key === undefined) continue;
      if (key === 'tables') {
        tablesNode = pair.value as AnyNode;
        tablesPair = pair;
      } else if (key === '$schema') {
        // Editors use this in JSON files to find the schema; nothing to validate.
      } else {
        this.fail(pair, key, `unknown key ${JSON.stringify(key)}: expected "tables"${suggest(key, ['tables'])}`);
      }
    }
    if (!tablesPair) return this.fail(top, '', 'missing key "tables": expected a mapping of filter, nat, mangle or raw');
    const tablesMap = this.resolve(tablesNode);
    if (isScalar(tablesMap) && tablesMap.value === null) return new Map();
    const tablePairs = this.mapping(tablesMap, 'tables', 'a mapping of table names (filter, nat, mangle, raw) to {chains, insert}');
    if (!tablePairs) return undefined;
    const result = new Map<TableName, TableRules>();
    for (const pair of tablePairs) {
      const name = this.key(pair, 'tables');
      if (name === undefined) continue;
      if (!(TABLE_NAMES as readonly string[]).includes(name)) {
        this.fail(pair, `tables.${name}`, `unknown table ${JSON.stringify(name)}: expected one of ${TABLE_NAMES.join(', ')}${suggest(name, TABLE_NAMES)}`);
        continue;
      }
      const table = this.table(name as TableName, pair.value as AnyNode, `tables.${name}`);
      if (table) result.set(name as TableName, table);
    }
    return result;
  }

  private table(name: TableName, node: AnyNode, path: string): TableRules | undefined {
    const value = this.resolve(node);
    if (isScalar(value) && value.value === null) return { name, chains: [], inserts: new Map() };
    const pairs = this.mapping(value, path, 'a mapping with "chains:" and/or "insert:"');
    if (!pairs) return undefined;
    let chainsPair: Pair | undefined;
    let insertPair: Pair | undefined;
    let appendPair: Pair | undefined;
    for (const pair of pairs) {
      const key = this.key(pair, path);
      if (key === 'chains') chainsPair = pair;
      else if (key === 'insert') insertPair = pair;
      else if (key === 'append') appendPair = pair;
      else if (key !== undefined) this.fail(pair, `${path}.${key}`, `unknown key ${JSON.stringify(key)}: expected "chains", "insert" or "append"${suggest(key, ['chains', 'insert', 'append'])}`);
    }
    // Chain names first: jump targets are checked against them.
    const chainEntries = chainsPair ? this.namedLists(chainsPair.value as AnyNode, `${path}.chains`, 'a mapping of chain names to lists of rules') : [];
    const defined = new Set(chainEntries.map((e) => e.name));
    const tableCtx: TableCtx = { name, defined };

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
      const rules = this.rules(entry.items, chainPath, tableCtx);
      if (!rules) continue;
      try {
        chains.push(new Chain({ name: entry.name, rules }));
      } catch (error) {
        this.libraryError(error, entry.pair, chainPath);
      }
    }

    const inserts = new Map<string, readonly Rule[]>();
    const appends = new Map<string, readonly Rule[]>();
    for (const [key, keyPair, into] of [['insert', insertPair, inserts], ['append', appendPair, appends]] as const) {
      const entries = keyPair ? this.namedLists(keyPair.value as AnyNode, `${path}.${key}`, 'a mapping of chain names (e.g. INPUT) to lists of rules') : [];
      for (const entry of entries) {
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

  /** A mapping of names to lists (chains, insert). A null list is an empty list. */
  private namedLists(node: AnyNode, path: string, expected: string): { name: string; pair: Pair; items: Node[] }[] {
    const value = this.resolve(node);
    if (isScalar(value) && value.value === null) return [];
    const pairs = this.mapping(value, path, expected);
    if (!pairs) return [];
    const out: { name: string; pair: Pair; items: Node[] }[] = [];
    for (const pair of pairs) {
      const name = this.key(pair, path);
      if (name === undefined) continue;
      const list = this.resolve(pair.value as AnyNode);
      if (isScalar(list) && list.value === null) {
        out.push({ name, pair, items: [] });
        continue;
      }
      if (!isSeq(list)) {
        this.fail(list ?? pair, `${path}.${name}`, `expected a list of rules (each "- action: ..."), got ${kindOf(list)}`);
        continue;
      }
      out.push({ name, pair, items: list.items as Node[] });
    }
    return out;
  }

  private rules(items: readonly Node[], path: string, table: TableCtx): Rule[] | undefined {
    const rules: Rule[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const rule = this.rule(item, `${path}[${i}]`, table);
      if (rule) rules.push(rule);
      else ok = false;
    });
    return ok ? rules : undefined;
  }

  private rule(node: AnyNode, path: string, table: TableCtx): Rule | undefined {
    const value = this.resolve(node);
    const pairs = this.mapping(value, path, 'a rule: a mapping with "action:" and optional "match:" and "comment:"');
    if (!pairs) return undefined;
    let match: MatchCriteria | undefined = Match();
    let criteria: readonly Criterion[] = [];
    let action: Action | undefined;
    let actionSeen = false;
    let comment: string | undefined;
    let commentNode: AnyNode | Pair;
    let ok = true;
    for (const pair of pairs) {
      const key = this.key(pair, path);
      if (key === undefined) {
        ok = false;
        continue;
      }
      const v = pair.value as AnyNode;
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
        if (!isScalar(c) || typeof c.value !== 'string') {
          this.fail(c ?? pair, `${path}.comment`, `expected a string, got ${kindOf(c)}`);
          ok = false;
        } else {
          comment = c.value;
          commentNode = c;
        }
      } else {
        this.fail(pair, `${path}.${key}`, `unknown key ${JSON.stringify(key)}: expected "match", "action" or "comment"${suggest(key, ['match', 'action', 'comment'])}`);
        ok = false;
      }
    }
    if (!actionSeen) {
      this.fail(value, path, 'missing key "action": expected e.g. "action: accept" or "action: { jump: <chain> }"');
      return undefined;
    }
    if (!ok || !action || !match) return undefined;
    try {
      const rule = new Rule({ match, action, ...(comment !== undefined ? { comment } : {}) });
      if (this.positions) {
        const { line, col } = this.lineCounter.linePos(offsetOf(value));
        this.positions.set(rule, { line, column: col, path });
      }
      return rule;
    } catch (error) {
      // A criterion that needs a protocol is reported where it was written.
      const criterion = error instanceof MatchDependencyError ? criteria.find((c) => c.fragment === error.fragment) : undefined;
      if (criterion) return this.libraryError(error, criterion.pair, criterion.path);
      return this.libraryError(error, commentNode ?? value, comment !== undefined ? `${path}.comment` : path);
    }
  }

  // --- matches ---

  private match(node: AnyNode, path: string): { match: MatchCriteria; criteria: Criterion[] } | undefined {
    const value = this.resolve(node);
    if (isScalar(value) && value.value === null) return { match: Match(), criteria: [] };
    // A mapping applies its keys in order; a list of one-key mappings allows repeating a method.
    let pairs: Pair[] = [];
    const pathOf: string[] = [];
    if (isSeq(value)) {
      let ok = true;
      value.items.forEach((item, i) => {
        const m = this.resolve(item as AnyNode);
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
        pairs.push(ps[0] as Pair);
        pathOf.push(`${path}[${i}]`);
      });
      if (!ok) return undefined;
    } else {
      const ps = this.mapping(value, path, 'a mapping of match methods (e.g. { protocol: tcp, destPorts: [80] }) or a list of one-key mappings');
      if (!ps) return undefined;
      pairs = ps;
      ps.forEach(() => pathOf.push(path));
    }
    let match: MatchCriteria = Match();
    const criteria: Criterion[] = [];
    let ok = true;
    pairs.forEach((pair, i) => {
      const method = this.key(pair, pathOf[i] as string);
      if (method === undefined) {
        ok = false;
        return;
      }
      const methodPath = `${pathOf[i]}.${method}`;
      const kind = MATCH_METHODS[method];
      if (kind === undefined || !Object.prototype.hasOwnProperty.call(MATCH_METHODS, method)) {
        this.fail(pair, methodPath, `unknown match method ${JSON.stringify(method)}${suggest(method, Object.keys(MATCH_METHODS))}`);
        ok = false;
        return;
      }
      const next = this.matchMethod(match, method, kind, pair.value as AnyNode, pair, methodPath);
      if (next) {
        // The builder joins fragments with one space: what this method added is the tail.
        criteria.push({ pair, path: methodPath, fragment: next.render().slice(match.render().length).trimStart() });
        match = next;
      } else ok = false;
    });
    return ok ? { match, criteria } : undefined;
  }

  private matchMethod(
    match: MatchCriteria,
    method: string,
    kind: ArgKind,
    node: AnyNode,
    pair: Pair,
    path: string,
  ): MatchCriteria | undefined {
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
      const family = isIP(args[0].split('/')[0] as string);
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

  /** Turns the YAML value of a match method into the method's arguments (shape only; the
   *  method itself checks ranges and syntax). */
  private matchArgs(method: string, kind: ArgKind, value: AnyNode, at: AnyNode | Pair, path: string): unknown[] | undefined {
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
        const list = isSeq(value) ? value.items.map((i) => this.resolve(i as AnyNode)) : isMap(value) ? [value] : undefined;
        if (!list) return this.fail(at, path, `expected a list of port ranges such as [{ first: 1000, last: 2000 }], got ${kindOf(value)}`);
        const ranges: { first: unknown; last: unknown }[] = [];
        let ok = true;
        list.forEach((item, i) => {
          const r = this.fields(item, isSeq(value) ? `${path}[${i}]` : path, ['first', 'last'], ['first', 'last'], 'a port range { first: ..., last: ... }');
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

  /** [a, b] or {k1: a, k2: b}, numbers (marks may be hex strings). */
  private pair(value: AnyNode, at: AnyNode | Pair, path: string, keys: [string, string], expected: string, marks: boolean): unknown[] | undefined {
    const what = marks ? 'a mark: an integer or a hex string such as "0x10"' : 'an integer from 0 to 255';
    if (isSeq(value)) {
      if (value.items.length !== 2) return this.fail(value, path, `expected ${expected}, got a list of ${value.items.length}`);
      const a = this.number(this.resolve(value.items[0] as AnyNode), value.items[0] as AnyNode, `${path}[0]`, what);
      const b = this.number(this.resolve(value.items[1] as AnyNode), value.items[1] as AnyNode, `${path}[1]`, what);
      return a === undefined || b === undefined ? undefined : [a, b];
    }
    if (isMap(value)) {
      const f = this.fieldNodes(value, path, keys, keys, expected);
      if (!f) return undefined;
      const a = this.number(f[keys[0]], f[keys[0]], `${path}.${keys[0]}`, what);
      const b = this.number(f[keys[1]], f[keys[1]], `${path}.${keys[1]}`, what);
      return a === undefined || b === undefined ? undefined : [a, b];
    }
    return this.fail(at, path, `expected ${expected}, got ${kindOf(value)}`);
  }

  /** An integer, or a "0x…" hex string (JSON has no hex numbers). */
  private number(value: AnyNode, at: AnyNode | Pair, path: string, expected: string): number | undefined {
    const js = toJs(value);
    if (typeof js === 'number') return js; // range checked by the library, which names the value
    if (typeof js === 'string' && /^0x[0-9a-f]+$/i.test(js)) return Number.parseInt(js.slice(2), 16);
    return this.fail(at, path, `expected ${expected}, got ${kindOf(value)}`);
  }

  // --- actions ---

  private action(node: AnyNode, path: string, table: TableCtx): Action | undefined {
    const value = this.resolve(node);
    if (isScalar(value) && typeof value.value === 'string') {
      const name = value.value;
      const simple = SIMPLE_ACTIONS[name];
      if (!simple || !Object.prototype.hasOwnProperty.call(SIMPLE_ACTIONS, name)) {
        const hint = MAPPING_ACTIONS.includes(name) ? ` (${name} needs an argument: { ${name}: ... })` : suggest(name, Object.keys(SIMPLE_ACTIONS));
        return this.fail(value, path, `unknown action ${JSON.stringify(name)}: expected one of ${Object.keys(SIMPLE_ACTIONS).join(', ')} or a mapping { ${MAPPING_ACTIONS.join(' | ')}: ... }${hint}`);
      }
      if (!this.actionAllowed(name, table, value, path)) return undefined;
      return simple();
    }
    const pairs = this.mapping(value, path, `an action: one of ${Object.keys(SIMPLE_ACTIONS).join(', ')} or a mapping { ${MAPPING_ACTIONS.join(' | ')}: ... }`);
    if (!pairs) return undefined;
    if (pairs.length !== 1) {
      return this.fail(value, path, `expected exactly one action in the mapping, got ${pairs.length}${pairs.length === 0 ? '' : ` (${pairs.map((p) => toJs(p.key as AnyNode)).join(', ')})`}`);
    }
    const pair = pairs[0] as Pair;
    const kind = this.key(pair, path);
    if (kind === undefined) return undefined;
    const actionPath = `${path}.${kind}`;
    if (!MAPPING_ACTIONS.includes(kind)) {
      const hint = Object.prototype.hasOwnProperty.call(SIMPLE_ACTIONS, kind) ? ` (write just "action: ${kind}")` : suggest(kind, MAPPING_ACTIONS);
      return this.fail(pair, actionPath, `unknown action ${JSON.stringify(kind)}: expected one of ${MAPPING_ACTIONS.join(', ')}${hint}`);
    }
    if (!this.actionAllowed(kind, table, pair, actionPath)) return undefined;
    const arg = this.resolve(pair.value as AnyNode);
    const at = arg ?? pair;
    const build = (make: () => Action, blame: AnyNode | Pair = at, blamePath = actionPath): Action | undefined => {
      try {
        return make();
      } catch (error) {
        return this.libraryError(error, blame, blamePath);
      }
    };
    const js = toJs(arg);
    switch (kind) {
      case 'jump':
      case 'goto': {
        const f = typeof js === 'string' ? { target: js } : this.fields(arg, actionPath, ['target'], ['target'], `a chain name, or { target: <chain> }`);
        if (!f) return undefined;
        if (typeof f.target !== 'string') return this.fail(at, actionPath, `expected a chain name, got ${describeJs(f.target)}`);
        const target = f.target;
        if (target.startsWith(this.chainPrefix) && !table.defined.has(target)) {
          return this.fail(at, actionPath, `no chain ${JSON.stringify(target)} is defined under tables.${table.name}.chains (names with the chain prefix are ours, so the target must be defined in this file)`);
        }
        return build(() => (kind === 'jump' ? new JumpAction({ target }) : new GotoAction({ target })));
      }
      case 'log': {
        const f = typeof js === 'string' ? { prefix: js } : this.fields(arg, actionPath, ['prefix'], ['prefix'], 'a log prefix, or { prefix: ... }');
        if (!f) return undefined;
        return build(() => new LogAction({ prefix: f.prefix as string }));
      }
      case 'dnat': {
        const f = typeof js === 'string' ? { destAddr: js } : this.fields(arg, actionPath, ['destAddr', 'destPort'], ['destAddr'], 'an address, or { destAddr: ..., destPort: ... }');
        if (!f) return undefined;
        if (!this.addressFamilyOk(f.destAddr, at, `${actionPath}.destAddr`)) return undefined;
        return build(() => new DNATAction({ destAddr: f.destAddr as string, ...(f.destPort !== undefined ? { destPort: f.destPort as number } : {}) }));
      }
      case 'snat': {
        const f = typeof js === 'string' ? { toAddr: js } : this.fields(arg, actionPath, ['toAddr'], ['toAddr'], 'an address or range "a-b", or { toAddr: ... }');
        if (!f) return undefined;
        if (typeof f.toAddr === 'string' && !f.toAddr.split('-').every((a) => this.addressFamilyOk(a, at, `${actionPath}.toAddr`))) return undefined;
        return build(() => new SNATAction({ toAddr: f.toAddr as string }));
      }
      case 'masq': {
        if (js === null || js === true) return build(() => new MasqAction());
        const f = typeof js === 'string' ? { toPorts: js } : this.fields(arg, actionPath, ['toPorts'], [], 'a port range such as "1024-65535", or { toPorts: ... }');
        if (!f) return undefined;
        return build(() => new MasqAction(f.toPorts === undefined ? {} : { toPorts: f.toPorts as string }));
      }
      case 'clearMark':
      case 'setMark': {
        const markNode = isMap(arg) ? this.fieldNodes(arg, actionPath, ['mark'], ['mark'], '{ mark: ... }')?.mark : arg;
        if (isMap(arg) && markNode === undefined) return undefined;
        const mark = this.number(markNode, markNode ?? at, actionPath, 'a mark: an integer or a hex string such as "0x10"');
        if (mark === undefined) return undefined;
        return build(() => (kind === 'setMark' ? new SetMarkAction({ mark }) : new ClearMarkAction({ mark })), markNode ?? at);
      }
      case 'setMaskedMark': {
        const mm = this.pair(arg, at, actionPath, ['mark', 'mask'], 'a mark and mask: { mark: ..., mask: ... } or [mark, mask]', true);
        if (!mm) return undefined;
        return build(() => new SetMaskedMarkAction({ mark: mm[0] as number, mask: mm[1] as number }));
      }
      case 'reject': {
        if (js === null || js === true) return build(() => new RejectAction());
        const f = typeof js === 'string' ? { with: js } : this.fields(arg, actionPath, ['with'], ['with'], 'a reject type such as tcp-reset, or { with: ... }');
        if (!f) return undefined;
        return build(() => new RejectAction({ with: f.with as RejectWith }));
      }
      case 'setConnMark': {
        const f = isMap(arg) ? this.markFields(arg, actionPath, ['mark', 'mask'], ['mark']) : this.markFields(arg, actionPath, ['mark'], ['mark'], 'mark');
        if (!f) return undefined;
        return build(() => new SetConnMarkAction({ mark: f.mark as number, ...(f.mask !== undefined ? { mask: f.mask } : {}) }));
      }
      case 'saveConnMark':
      case 'restoreConnMark': {
        const key = kind === 'saveConnMark' ? 'saveMask' : 'restoreMask';
        const f = js === null || js === true ? {} : isMap(arg) ? this.markFields(arg, actionPath, [key], []) : this.markFields(arg, actionPath, [key], [key], key);
        if (!f) return undefined;
        const mask = f[key];
        return build(() => (kind === 'saveConnMark' ? new SaveConnMarkAction(mask === undefined ? {} : { saveMask: mask }) : new RestoreConnMarkAction(mask === undefined ? {} : { restoreMask: mask })));
      }
      case 'nflog': {
        const f = this.fields(arg, actionPath, ['group', 'prefix', 'size'], ['group', 'prefix'], '{ group: ..., prefix: ..., size: ... }');
        if (!f) return undefined;
        return build(() => new NflogAction({ group: f.group as number, prefix: f.prefix as string, ...(f.size !== undefined ? { size: f.size as number } : {}) }));
      }
      case 'limitPacketRate': {
        const f = this.markFields(arg, actionPath, ['rate', 'burst', 'mark'], ['rate', 'burst', 'mark']);
        if (!f) return undefined;
        return build(() => new LimitPacketRateAction({ rate: f.rate as number, burst: f.burst as number, mark: f.mark as number }));
      }
      case 'limitNumConnections': {
        const f = this.fields(arg, actionPath, ['num', 'rejectWith'], ['num', 'rejectWith'], '{ num: ..., rejectWith: ... }');
        if (!f) return undefined;
        return build(() => new LimitNumConnectionsAction({ num: f.num as number, rejectWith: f.rejectWith as RejectWith }));
      }
      case 'dscp': {
        const f = isMap(arg) ? this.markFields(arg, actionPath, ['value'], ['value']) : this.markFields(arg, actionPath, ['value'], ['value'], 'value');
        if (!f) return undefined;
        return build(() => new DSCPAction({ value: f.value as number }));
      }
    }
    return undefined;
  }

  /** Numeric fields (marks may be hex strings) of a mapping; with `single`, the value itself is
   *  that one field. */
  private markFields(node: AnyNode, path: string, allowed: readonly string[], required: readonly string[], single?: string): Record<string, number> | undefined {
    const what = 'an integer or a hex string such as "0x10"';
    if (single !== undefined) {
      const n = this.number(node, node, path, what);
      return n === undefined ? undefined : { [single]: n };
    }
    const nodes = this.fieldNodes(node, path, allowed, required, `{ ${allowed.join(', ')} }`);
    if (!nodes) return undefined;
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(nodes)) {
      const n = this.number(v, v, `${path}.${k}`, what);
      if (n === undefined) return undefined;
      out[k] = n;
    }
    return out;
  }

  private actionAllowed(kind: string, table: TableCtx, at: AnyNode | Pair, path: string): boolean {
    const only = ACTION_TABLE[kind];
    if (only === undefined || only === table.name) return true;
    this.fail(at, path, `${kind} is only valid in the ${only} table, not in ${table.name}`);
    return false;
  }

  private addressFamilyOk(addr: unknown, at: AnyNode | Pair, path: string): boolean {
    if (typeof addr !== 'string') return true; // the action reports the type
    const family = isIP(addr);
    if (family === 0 || family === this.ipVersion) return true;
    this.fail(at, path, `${JSON.stringify(addr)} is an IPv${family} address, but the rules are for IPv${this.ipVersion} (--ip-version ${this.ipVersion})`);
    return false;
  }

  // --- helpers ---

  /** The pairs of a mapping, or an issue saying what was expected. */
  mapping(node: AnyNode, path: string, expected: string): Pair[] | undefined {
    if (!isMap(node)) return this.fail(node, path, `expected ${expected}, got ${kindOf(node)}`);
    return node.items as Pair[];
  }

  /** A mapping key as a string (numbers and booleans are not names). */
  key(pair: Pair, path: string): string | undefined {
    const k = this.resolve(pair.key as AnyNode);
    if (isScalar(k) && typeof k.value === 'string') return k.value;
    return this.fail(k ?? pair, path, `expected a name as the key, got ${kindOf(k)}`);
  }

  /** The value nodes of a mapping with known keys; unknown keys and missing required ones are issues. */
  private fieldNodes(node: AnyNode, path: string, allowed: readonly string[], required: readonly string[], expected: string): Record<string, AnyNode> | undefined {
    const pairs = this.mapping(node, path, expected);
    if (!pairs) return undefined;
    const out: Record<string, AnyNode> = {};
    let ok = true;
    for (const pair of pairs) {
      const key = this.key(pair, path);
      if (key === undefined) {
        ok = false;
        continue;
      }
      if (!allowed.includes(key)) {
        this.fail(pair, `${path}.${key}`, `unknown key ${JSON.stringify(key)}: expected ${allowed.map((a) => JSON.stringify(a)).join(' or ')}${suggest(key, allowed)}`);
        ok = false;
        continue;
      }
      out[key] = this.resolve(pair.value as AnyNode) ?? (pair.value as AnyNode);
    }
    for (const key of required) {
      if (!(key in out)) {
        this.fail(node, path, `missing key ${JSON.stringify(key)}: expected ${expected}`);
        ok = false;
      }
    }
    return ok ? out : undefined;
  }

  private fields(node: AnyNode, path: string, allowed: readonly string[], required: readonly string[], expected: string): Record<string, unknown> | undefined {
    const nodes = this.fieldNodes(node, path, allowed, required, expected);
    if (!nodes) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(nodes)) out[k] = toJs(v);
    return out;
  }

  /** Turns a library validation error into an issue at the node (at the list item that holds the
   *  bad value, when the value is a list). Anything else is a bug and is rethrown. */
  libraryError(error: unknown, at: AnyNode | Pair, path: string): undefined {
    if (!(error instanceof InvalidRuleError)) throw error;
    let node: AnyNode | Pair = at;
    if (isSeq(at)) {
      const bad = JSON.stringify(error.badValue);
      const item = at.items.find((i) => JSON.stringify(toJs(this.resolve(i as AnyNode))) === bad);
      if (item) node = item as Node;
    }
    const prefix = `${error.where}: `;
    const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    return this.fail(node, path, reason);
  }
}

interface TableCtx {
  readonly name: TableName;
  readonly defined: ReadonlySet<string>;
}

function offsetOf(node: AnyNode | Pair): number {
  if (node === null || node === undefined) return 0;
  if (isPair(node)) return offsetOf(node.key as AnyNode);
  return (node as Node).range?.[0] ?? 0;
}

/**
 * One pass over the parsed YAML, before anything walks it: nesting depth, and what every alias
 * stands for (the last node with its anchor before it, as YAML says) with the size it adds.
 * Iterative, so no input depth can overflow the stack here.
 */
function documentLimits(root: Node | null): { aliases: Map<Alias, Node>; problem?: { offset: number; message: string } } {
  const aliases = new Map<Alias, Node>();
  if (root === null) return { aliases };
  const anchors = new Map<string, Node>();
  const size = new Map<Node, number>(); // expanded size of each finished node
  let added = 0;
  // Pre-order in document order (a pair's key before its value), finishing each node after its
  // children, so an alias's target is finished unless the alias is inside it.
  const stack: { node: Node; depth: number; exit: boolean }[] = [{ node: root, depth: 1, exit: false }];
  while (stack.length > 0) {
    const { node, depth, exit } = stack.pop() as { node: Node; depth: number; exit: boolean };
    const children = isCollection(node) ? node.items.flatMap((item) => (isPair(item) ? [item.key, item.value] : [item])).filter((n): n is Node => n !== null && typeof n === 'object') : [];
    if (exit) {
      size.set(node, 1 + children.reduce((n, c) => n + (size.get(c) ?? 1), 0));
      continue;
    }
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) continue; // the parser reported it
      const targetSize = size.get(target);
      if (targetSize === undefined) return { aliases, problem: { offset: offsetOf(node), message: `invalid YAML: alias *${clip(node.source, MAX_QUOTED)} is inside the node it stands for` } };
      aliases.set(node, target);
      size.set(node, targetSize);
      added += targetSize;
      if (added > MAX_ALIAS_EXPANSION) {
        return { aliases, problem: { offset: offsetOf(node), message: `invalid YAML: aliases expand the document by more than ${MAX_ALIAS_EXPANSION} nodes (an alias bomb?); write the values out instead` } };
      }
      continue;
    }
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor !== undefined) anchors.set(anchor, node);
    if (!isCollection(node)) {
      size.set(node, 1);
      continue;
    }
    if (depth > MAX_NESTING) return { aliases, problem: { offset: offsetOf(node), message: `invalid YAML: nested deeper than ${MAX_NESTING} levels` } };
    stack.push({ node, depth, exit: true });
    for (let k = children.length - 1; k >= 0; k--) stack.push({ node: children[k] as Node, depth: depth + 1, exit: false });
  }
  return { aliases };
}

/** The source line with a caret under the column; a long line is shown as a window around it. */
function snippetOf(line: number, source: string, col: number): string {
  const WIDTH = 120;
  let start = 0;
  let shown = source;
  if (source.length > WIDTH) {
    start = Math.max(0, Math.min(col - 1 - WIDTH / 2, source.length - WIDTH));
    shown = `${start > 0 ? '…' : ''}${source.slice(start, start + WIDTH)}${start + WIDTH < source.length ? '…' : ''}`;
  }
  const caret = col - 1 - start + (start > 0 ? 1 : 0);
  return `${String(line).padStart(5)} | ${shown}\n${' '.repeat(5)} | ${' '.repeat(Math.max(0, caret))}^`;
}

/** Text cut to `max` characters, saying how long it was. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** Every "quoted" value in a message cut to MAX_QUOTED characters, as describe() cuts the
 *  library's: a 10 MB key or comment must not come back in full. (A loop, not a regex: V8's
 *  backtracking overflows its stack on a 10 MB quoted run.) */
function clipQuoted(message: string): string {
  if (message.length <= MAX_QUOTED * 2) return message;
  let out = '';
  let i = 0;
  for (;;) {
    const open = message.indexOf('"', i);
    let close = open + 1;
    while (open >= 0 && close < message.length && message[close] !== '"') close += message[close] === '\\' ? 2 : 1;
    if (open < 0 || close >= message.length) return out + message.slice(i);
    const content = message.slice(open + 1, close);
    let head = content;
    if (content.length > MAX_QUOTED) {
      head = content.slice(0, MAX_QUOTED);
      // Cut before a half escape, so the closing quote stays a quote.
      if ((/\\*$/.exec(head)?.[0].length ?? 0) % 2 === 1) head = head.slice(0, -1);
    }
    out += `${message.slice(i, open)}"${head}"${content.length > MAX_QUOTED ? `… (${content.length} characters)` : ''}`;
    i = close + 1;
  }
}

function toJs(node: AnyNode): unknown {
  if (node === null || node === undefined) return null;
  if (isScalar(node)) return node.value;
  return (node as { toJSON(): unknown }).toJSON();
}

function kindOf(node: AnyNode): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return describeJs(node.value);
  return 'an unsupported value';
}

function describeJs(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

/** " (did you mean X?)" for a close name, else "". */
function suggest(name: string, candidates: readonly string[]): string {
  // The edit distance costs name × candidate; no vocabulary word is this long anyway.
  if (name.length > 64) return '';
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === lower ? 0 : lower.length >= 3 && c.toLowerCase().startsWith(lower) ? 1 : editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 4)) ? ` (did you mean ${JSON.stringify(best)}?)` : '';
}

/** Optimal string alignment distance: edits, with a swap of neighbours counting as one. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((d[i - 1] as number[])[j]! + 1, (d[i] as number[])[j - 1]! + 1, (d[i - 1] as number[])[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (d[i - 2] as number[])[j - 2]! + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length]!;
}

// --- JSON -------------------------------------------------------------------------------------

class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Strict JSON (RFC 8259) to the same node classes the YAML parser builds, each with its source
 * range, so validation and its positions are one code path. Duplicate keys are errors, as in YAML.
 */
export function parseJsonNodes(text: string): {
  /** The document's root node; null when there is none. */
  contents: Node | null;
  /** Syntax errors, each at a character offset into `text`. */
  errors: {
    /** 0-based character offset. */
    offset: number;
    /** What is wrong there. */
    message: string;
  }[];
} {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new JsonSyntaxError(at, `invalid JSON: ${message}`);
  };
  const ws = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const found = (): string => (i >= text.length ? 'the end of the file' : JSON.stringify(text[i]));
  const withRange = <T extends Node>(node: T, start: number): T => {
    (node as { range?: [number, number, number] }).range = [start, i, i];
    return node;
  };
  /** The members of an object or array after its opening bracket, up to and past `close`:
   *  empty, or members separated by "," (one parser for both, so both report alike). */
  const items = (close: '}' | ']', member: () => void): void => {
    ws();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      member();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === close) {
        i++;
        return;
      }
      fail(`expected "," or "${close}", found ${found()}`);
    }
  };

  let depth = 0;
  const value = (): Node => {
    ws();
    const start = i;
    const c = text[i];
    if ((c === '{' || c === '[') && ++depth > MAX_NESTING) fail(`nested deeper than ${MAX_NESTING} levels`);
    if (c === '{') {
      i++;
      const map = new YAMLMap();
      const keys = new Set<string>();
      items('}', () => {
        ws();
        if (text[i] !== '"') fail(`expected a "quoted" key, found ${found()}`);
        const keyStart = i;
        const key = withRange(new Scalar(string()), keyStart);
        if (keys.has(key.value)) fail('Map keys must be unique', keyStart);
        keys.add(key.value);
        ws();
        if (text[i] !== ':') fail(`expected ":" after the key, found ${found()}`);
        i++;
        map.items.push(new Pair(key, value()));
      });
      depth--;
      return withRange(map, start);
    }
    if (c === '[') {
      i++;
      const seq = new YAMLSeq();
      items(']', () => {
        seq.items.push(value());
      });
      depth--;
      return withRange(seq, start);
    }
    if (c === '"') return withRange(new Scalar(string()), start);
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
    m.lastIndex = i;
    const lit = m.exec(text);
    if (!lit) return fail(`expected a value, found ${found()}`);
    i += lit[0].length;
    const v = lit[0] === 'true' ? true : lit[0] === 'false' ? false : lit[0] === 'null' ? null : Number(lit[0]);
    return withRange(new Scalar(v), start);
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail('unterminated string', start);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in a string');
      i += c === 0x5c ? 2 : 1;
    }
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('invalid escape in a string', start);
    }
  };
  try {
    if (text.charCodeAt(0) === 0xfeff) i = 1; // a byte order mark
    ws();
    if (i >= text.length) return { contents: null, errors: [] };
    const contents = value();
    ws();
    if (i < text.length) fail(`unexpected ${found()} after the end of the document`);
    return { contents, errors: [] };
  } catch (error) {
    if (error instanceof JsonSyntaxError) return { contents: null, errors: [{ offset: error.offset, message: error.message }] };
    throw error;
  }
}

// --- the vocabulary ----------------------------------------------------------------------------

type ArgKind =
  | 'flag'
  | 'mark'
  | 'markMask'
  | 'uint8'
  | 'string'
  | 'net'
  | 'addrType'
  | 'srcAddrType'
  | 'states'
  | 'ports'
  | 'ranges'
  | 'icmp4'
  | 'icmp4pair'
  | 'icmp6'
  | 'icmp6pair'
  | 'rpf'
  | 'integer'
  | 'limit';

/** Every Match() method and the shape of its value in the file. */
export const MATCH_METHODS: Readonly<Record<string, ArgKind>> = Object.freeze({
  markClear: 'mark',
  markNotClear: 'mark',
  markSingleBitSet: 'mark',
  markMatchesWithMask: 'markMask',
  notMarkMatchesWithMask: 'markMask',
  inInterface: 'string',
  outInterface: 'string',
  rpfCheckPassed: 'rpf',
  rpfCheckFailed: 'rpf',
  ipvsConnection: 'flag',
  notIpvsConnection: 'flag',
  srcAddrType: 'srcAddrType',
  notSrcAddrType: 'srcAddrType',
  destAddrType: 'addrType',
  notDestAddrType: 'addrType',
  conntrackState: 'states',
  notConntrackState: 'states',
  protocol: 'string',
  notProtocol: 'string',
  protocolNum: 'uint8',
  notProtocolNum: 'uint8',
  sourceNet: 'net',
  notSourceNet: 'net',
  destNet: 'net',
  notDestNet: 'net',
  sourceIpSet: 'string',
  notSourceIpSet: 'string',
  sourceIpPortSet: 'string',
  notSourceIpPortSet: 'string',
  destIpSet: 'string',
  notDestIpSet: 'string',
  destIpPortSet: 'string',
  notDestIpPortSet: 'string',
  sourcePorts: 'ports',
  notSourcePorts: 'ports',
  destPorts: 'ports',
  notDestPorts: 'ports',
  sourcePortRanges: 'ranges',
  notSourcePortRanges: 'ranges',
  destPortRanges: 'ranges',
  notDestPortRanges: 'ranges',
  destPort: 'integer',
  limit: 'limit',
  vxlanVni: 'integer',
  icmpType: 'icmp4',
  notIcmpType: 'icmp4',
  icmpTypeAndCode: 'icmp4pair',
  notIcmpTypeAndCode: 'icmp4pair',
  icmpV6Type: 'icmp6',
  notIcmpV6Type: 'icmp6',
  icmpV6TypeAndCode: 'icmp6pair',
  notIcmpV6TypeAndCode: 'icmp6pair',
});

const SIMPLE_ACTIONS: Readonly<Record<string, () => Action>> = Object.freeze({
  accept: () => new AcceptAction(),
  drop: () => new DropAction(),
  return: () => new ReturnAction(),
  noTrack: () => new NoTrackAction(),
  masq: () => new MasqAction(),
  reject: () => new RejectAction(),
  saveConnMark: () => new SaveConnMarkAction(),
  restoreConnMark: () => new RestoreConnMarkAction(),
});

const MAPPING_ACTIONS: readonly string[] = [
  'jump', 'goto', 'log', 'dnat', 'snat', 'masq', 'clearMark', 'setMark', 'setMaskedMark',
  'reject', 'setConnMark', 'saveConnMark', 'restoreConnMark', 'nflog', 'limitPacketRate', 'limitNumConnections', 'dscp',
];

/** Targets the kernel accepts in one table only. */
const ACTION_TABLE: Readonly<Record<string, TableName>> = Object.freeze({ dnat: 'nat', snat: 'nat', masq: 'nat', noTrack: 'raw', dscp: 'mangle' });

// --- JSON Schema (schema/rules.schema.json is generated from this: `iptables-sync schema`) -----

/** The JSON Schema (draft-07) of a rules file, as shipped in `schema/rules.schema.json`;
 *  editors use it to complete and check rules files. */
export function rulesJsonSchema(): object {
  const mark = {
    description: 'A 32-bit mark: an integer (YAML also takes 0x10) or a hex string such as "0x10".',
    anyOf: [
      { type: 'integer', minimum: 0, maximum: 0xffffffff },
      { type: 'string', pattern: '^0[xX][0-9a-fA-F]{1,8}$' },
    ],
  };
  const markRef = { $ref: '#/definitions/mark' };
  const u8 = { type: 'integer', minimum: 0, maximum: 255 };
  const u8Ref = { $ref: '#/definitions/uint8' };
  const portDef = { type: 'integer', minimum: 0, maximum: 65535 };
  const port = { $ref: '#/definitions/port' };
  const addrType = { enum: Object.values(AddrType) };
  const limitPattern = '^[0-9]+/(second|sec|s|minute|min|m|hour|h|day|d)$';
  const rejectWith = { enum: [...REJECT_WITH.keys()] };
  const obj = (properties: Record<string, object>, required: readonly string[]): object => ({ type: 'object', properties, required, additionalProperties: false });
  const pairOf = (a: string, b: string, item: object): object => ({
    anyOf: [
      { type: 'array', items: item, minItems: 2, maxItems: 2 },
      { type: 'object', properties: { [a]: item, [b]: item }, required: [a, b], additionalProperties: false },
    ],
  });
  const kinds: Record<ArgKind, object> = {
    flag: { const: true, description: 'Takes no arguments: write true.' },
    mark,
    markMask: { ...pairOf('mark', 'mask', markRef), description: '[mark, mask] or { mark, mask }; the mark must lie within the mask.' },
    uint8: u8,
    string: { type: 'string', minLength: 1 },
    net: { type: 'string', description: 'An address or CIDR of the --ip-version family.' },
    addrType,
    srcAddrType: {
      anyOf: [
        addrType,
        { type: 'object', properties: { type: addrType, limitIfaceOut: { type: 'boolean' } }, required: ['type'], additionalProperties: false },
      ],
      description: 'LOCAL, or { type: LOCAL, limitIfaceOut: true }.',
    },
    states: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { enum: ['INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'SNAT', 'DNAT'] }, minItems: 1 }],
      description: 'NEW, "ESTABLISHED,RELATED" or a list such as [ESTABLISHED, RELATED].',
    },
    ports: { anyOf: [port, { type: 'array', items: port, minItems: 1, maxItems: 15 }], description: 'A port or a list of up to 15 ports.' },
    ranges: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', properties: { first: port, last: port }, required: ['first', 'last'], additionalProperties: false },
      description: 'A list of { first, last } ranges; a range counts as two of the 15 multiport slots.',
    },
    icmp4: { ...u8, description: 'IPv4 only.' },
    icmp4pair: { ...pairOf('type', 'code', u8Ref), description: '[type, code] or { type, code }; IPv4 only.' },
    icmp6: { ...u8, description: 'IPv6 only (--ip-version 6).' },
    icmp6pair: { ...pairOf('type', 'code', u8Ref), description: '[type, code] or { type, code }; IPv6 only.' },
    rpf: {
      anyOf: [{ const: true }, { type: 'object', properties: { acceptLocal: { type: 'boolean' } }, required: ['acceptLocal'], additionalProperties: false }],
      description: "true (Felix v3.2.2's form), or { acceptLocal: false | true } for latest Felix's --validmark form.",
    },
    integer: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^0[xX][0-9a-fA-F]+$' }] },
    limit: {
      anyOf: [{ type: 'string', pattern: limitPattern }, { type: 'object', properties: { rate: { type: 'string', pattern: limitPattern }, burst: { type: 'integer', minimum: 0, maximum: 10000 } }, required: ['rate'], additionalProperties: false }],
      description: '"10/second" (or /minute, /hour, /day), or { rate, burst }.',
    },
  };
  const matchProperties: Record<string, object> = {};
  for (const [method, kind] of Object.entries(MATCH_METHODS)) matchProperties[method] = { $ref: `#/definitions/${kind}` };
  const matchMap = { $ref: '#/definitions/match' };
  const chainName = { type: 'string', minLength: 1, maxLength: 28, pattern: '^[^\\s"\'\\\\!-][^\\s"\'\\\\]*$' };
  const one = (key: string, value: object): object => ({ type: 'object', properties: { [key]: value }, required: [key], additionalProperties: false });
  const action = {
    description: 'accept, drop, return, noTrack, masq, reject, saveConnMark, restoreConnMark, or a one-key mapping such as { jump: ipts-x }.',
    anyOf: [
      { enum: Object.keys(SIMPLE_ACTIONS) },
      one('jump', { anyOf: [chainName, one('target', chainName)] }),
      one('goto', { anyOf: [chainName, one('target', chainName)] }),
      one('log', { anyOf: [{ type: 'string', maxLength: 27 }, one('prefix', { type: 'string', maxLength: 27 })] }),
      one('dnat', {
        anyOf: [
          { type: 'string' },
          { type: 'object', properties: { destAddr: { type: 'string' }, destPort: port }, required: ['destAddr'], additionalProperties: false },
        ],
      }),
      one('snat', { anyOf: [{ type: 'string' }, one('toAddr', { type: 'string' })] }),
      one('masq', { anyOf: [{ type: 'null' }, { const: true }, { type: 'string' }, { type: 'object', properties: { toPorts: { type: 'string' } }, additionalProperties: false }] }),
      one('clearMark', { anyOf: [markRef, one('mark', markRef)] }),
      one('setMark', { anyOf: [markRef, one('mark', markRef)] }),
      one('setMaskedMark', { $ref: '#/definitions/markMask' }),
      one('reject', { anyOf: [{ type: 'null' }, { const: true }, rejectWith, one('with', rejectWith)] }),
      one('setConnMark', { anyOf: [markRef, obj({ mark: markRef, mask: markRef }, ['mark'])] }),
      one('saveConnMark', { anyOf: [{ type: 'null' }, { const: true }, markRef, obj({ saveMask: markRef }, [])] }),
      one('restoreConnMark', { anyOf: [{ type: 'null' }, { const: true }, markRef, obj({ restoreMask: markRef }, [])] }),
      one('nflog', obj({ group: { type: 'integer', minimum: 0, maximum: 65535 }, prefix: { type: 'string', minLength: 1, maxLength: 63 }, size: { type: 'integer' } }, ['group', 'prefix'])),
      one('limitPacketRate', obj({ rate: { type: 'integer', minimum: 1, maximum: 10000 }, burst: { type: 'integer', minimum: 1, maximum: 10000 }, mark: markRef }, ['rate', 'burst', 'mark'])),
      one('limitNumConnections', obj({ num: { type: 'integer', minimum: 0, maximum: 0xffffffff }, rejectWith }, ['num', 'rejectWith'])),
      one('dscp', { anyOf: [{ type: 'integer', minimum: 0, maximum: 63 }, one('value', { type: 'integer', minimum: 0, maximum: 63 })] }),
    ],
  };
  const rule = {
    type: 'object',
    properties: {
      match: {
        description: 'Match() methods, applied in the order written; a list of one-key mappings may repeat a method.',
        anyOf: [matchMap, { type: 'array', items: { allOf: [matchMap], minProperties: 1, maxProperties: 1 } }, { type: 'null' }],
      },
      action,
      comment: { type: 'string', maxLength: 255 },
    },
    required: ['action'],
    additionalProperties: false,
  };
  const ruleList = { anyOf: [{ type: 'array', items: { $ref: '#/definitions/rule' } }, { type: 'null' }] };
  const table = {
    anyOf: [
      {
        type: 'object',
        properties: {
          chains: {
            description: 'Chains we own. Names start with the chain prefix (--chain-prefix, default "ipts-").',
            type: ['object', 'null'],
            additionalProperties: ruleList,
          },
          insert: {
            description: 'Our rules at the top (or, with --insert-mode append, the bottom) of chains we do not own, such as INPUT.',
            type: ['object', 'null'],
            additionalProperties: ruleList,
          },
          append: {
            description: 'Our rules kept at the end of chains we do not own, below their other rules (after the insert: rules in either insert mode).',
            type: ['object', 'null'],
            additionalProperties: ruleList,
          },
        },
        additionalProperties: false,
      },
      { type: 'null' },
    ],
  };
  const tableRef = { $ref: '#/definitions/table' };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'iptables-sync rules file',
    description: 'The chains and inserts iptables-sync keeps in the dataplane. Tables not named here are left alone.',
    type: 'object',
    properties: {
      $schema: { type: 'string' },
      tables: {
        type: ['object', 'null'],
        properties: { filter: tableRef, nat: tableRef, mangle: tableRef, raw: tableRef },
        additionalProperties: false,
      },
    },
    required: ['tables'],
    additionalProperties: false,
    definitions: { table, rule, match: { type: 'object', properties: matchProperties, additionalProperties: false }, port: portDef, ...kinds },
  };
}
