// The walker: one parsed rules document (YAML or JSON nodes) to tables of Chains and Rules,
// collecting every problem where it was written. Matches and actions come from vocabulary.ts.
import { isIP } from 'node:net';
import { isAlias, isMap, isScalar, isSeq, type Alias, type LineCounter, type Node, type Pair } from 'yaml';
import type { Action } from '../actions';
import { InvalidRuleError, MatchDependencyError } from '../errors';
import { AddrType, Match, type MatchCriteria } from '../match';
import { Chain, Rule } from '../rule';
import { KERNEL_CHAINS, TABLE_NAMES, type TableName } from '../table-names';
import { clip, clipQuoted, MAX_ISSUES, MAX_QUOTED, snippetOf, type ConfigIssue } from './issues';
import { describeJs, kindOf, offsetOf, toJs, type AnyNode } from './nodes';
import { suggest } from './suggest';
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
import type { RulePosition, TableRules } from './types';

/** One match method as written: where, and the fragment it rendered (to place errors). */
interface Criterion {
  readonly pair: Pair;
  readonly path: string;
  readonly fragment: string;
}

/** Walks one parsed document, collecting every problem as an issue at its node. */
export class Ctx {
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
    let forcePair: Pair | undefined;
    const tableKeys = ['chains', 'insert', 'append', 'forceProgramming'];
    for (const pair of pairs) {
      const key = this.key(pair, path);
      if (key === 'chains') chainsPair = pair;
      else if (key === 'insert') insertPair = pair;
      else if (key === 'append') appendPair = pair;
      else if (key === 'forceProgramming') forcePair = pair;
      else if (key !== undefined) this.fail(pair, `${path}.${key}`, `unknown key ${JSON.stringify(key)}: expected "chains", "insert", "append" or "forceProgramming"${suggest(key, tableKeys)}`);
    }
    // Chain names first: jump targets are checked against them.
    const chainEntries = chainsPair ? this.namedLists(chainsPair.value as AnyNode, `${path}.chains`, 'a mapping of chain names to lists of rules') : [];
    const defined = new Set(chainEntries.map((e) => e.name));
    const tableCtx: TableContext = { name, defined };
    const forced = forcePair ? this.forcedChains(forcePair, `${path}.forceProgramming`, defined) : new Set<string>();

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
        chains.push(new Chain({ name: entry.name, rules, forceProgramming: forced.has(entry.name) }));
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

  /** `forceProgramming:`, a list of this table's chain names written even when nothing refers
   *  to them (with onlyReferencedChains). */
  private forcedChains(pair: Pair, path: string, defined: ReadonlySet<string>): Set<string> {
    const forced = new Set<string>();
    const list = this.resolve(pair.value as AnyNode);
    if (isScalar(list) && list.value === null) return forced;
    if (!isSeq(list)) {
      this.fail(list ?? pair, path, `expected a list of chain names from "chains:", got ${kindOf(list)}`);
      return forced;
    }
    list.items.forEach((item, i) => {
      const node = this.resolve(item as AnyNode);
      const chain = isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
      if (chain === undefined || !defined.has(chain)) {
        this.fail(node ?? pair, `${path}[${i}]`, `${chain === undefined ? `expected a chain name, got ${kindOf(node)}` : `${JSON.stringify(chain)} is not one of this table's chains`}${chain === undefined ? '' : suggest(chain, [...defined])}`);
        return;
      }
      forced.add(chain);
    });
    return forced;
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

  private rules(items: readonly Node[], path: string, table: TableContext): Rule[] | undefined {
    const rules: Rule[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const rule = this.rule(item, `${path}[${i}]`, table);
      if (rule) rules.push(rule);
      else ok = false;
    });
    return ok ? rules : undefined;
  }

  private rule(node: AnyNode, path: string, table: TableContext): Rule | undefined {
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
      const kind = isMatchMethod(method) ? MATCH_METHODS[method] : undefined;
      if (kind === undefined) {
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

  private action(node: AnyNode, path: string, table: TableContext): Action | undefined {
    const value = this.resolve(node);
    const expectedAll = `one of ${BARE_ACTIONS.join(', ')} or a mapping { ${MAPPING_ACTIONS.join(' | ')}: ... }`;
    if (isScalar(value) && typeof value.value === 'string') {
      const name = value.value;
      const word = actionWord(name);
      if (!word?.bare) {
        const hint = word?.build ? ` (${name} needs an argument: { ${name}: ... })` : suggest(name, BARE_ACTIONS);
        return this.fail(value, path, `unknown action ${JSON.stringify(name)}: expected ${expectedAll}${hint}`);
      }
      if (!this.actionAllowed(word, table, value, path)) return undefined;
      return word.bare();
    }
    const pairs = this.mapping(value, path, `an action: ${expectedAll}`);
    if (!pairs) return undefined;
    if (pairs.length !== 1) {
      return this.fail(value, path, `expected exactly one action in the mapping, got ${pairs.length}${pairs.length === 0 ? '' : ` (${pairs.map((p) => toJs(p.key as AnyNode)).join(', ')})`}`);
    }
    const pair = pairs[0] as Pair;
    const kind = this.key(pair, path);
    if (kind === undefined) return undefined;
    const actionPath = `${path}.${kind}`;
    const word = actionWord(kind);
    if (!word?.build) {
      const hint = word?.bare ? ` (write just "action: ${kind}")` : suggest(kind, MAPPING_ACTIONS);
      return this.fail(pair, actionPath, `unknown action ${JSON.stringify(kind)}: expected one of ${MAPPING_ACTIONS.join(', ')}${hint}`);
    }
    if (!this.actionAllowed(word, table, pair, actionPath)) return undefined;
    const arg = this.resolve(pair.value as AnyNode);
    return word.build(this.actionArg(arg, arg ?? pair, actionPath, table));
  }

  /** The walker's readers, bound to one action's argument (see ActionArg). */
  private actionArg(node: AnyNode, at: AnyNode | Pair, path: string, table: TableContext): ActionArg {
    return {
      js: toJs(node),
      node,
      at,
      path,
      table,
      chainPrefix: this.chainPrefix,
      fields: (allowed, required, expected) => this.fields(node, path, allowed, required, expected),
      fieldNodes: (allowed, required, expected) => this.fieldNodes(node, path, allowed, required, expected),
      markFields: (allowed, required, single) => this.markFields(node, path, allowed, required, single),
      number: (n, where, expected) => this.number(n, where, path, expected),
      pair: (keys, expected, marks) => this.pair(node, at, path, keys, expected, marks),
      addressFamilyOk: (addr, addrPath) => this.addressFamilyOk(addr, at, addrPath),
      fail: (message) => this.fail(at, path, message),
      build: (make, blame = at) => {
        try {
          return make();
        } catch (error) {
          return this.libraryError(error, blame, path);
        }
      },
    };
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

  private actionAllowed(word: ActionWord, table: TableContext, at: AnyNode | Pair, path: string): boolean {
    const only = word.onlyIn;
    if (only === undefined || only === table.name) return true;
    this.fail(at, path, `${word.name} is only valid in the ${only} table, not in ${table.name}`);
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

