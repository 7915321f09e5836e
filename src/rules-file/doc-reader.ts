// Reading a parsed rules document's values with their checks: mappings, keys, fields and
// numbers, each problem reported where it was written. The walker (walk.ts) builds on this.
//
// Two modes. With `source` (yaml nodes with ranges) every problem becomes a positioned issue
// and reading goes on, to report them all. Without it (plain values from JSON.parse or
// js-yaml, which carry no positions) the first problem throws FastPathMiss: the loader then
// reads the file again with positions, so a valid file pays for positions never and an
// invalid one gets the same issues as always.
import { isIP } from 'node:net';
import type { Alias, LineCounter, Node } from 'yaml';
import { InvalidRuleError } from '../errors';
import type { Rule } from '../rule';
import { clip, clipQuoted, MAX_ISSUES, MAX_QUOTED, snippetOf, type ConfigIssue } from './issues';
import { isAliasNode, isMapping, isSequence, itemsOf, kindOf, offsetOf, pairsOf, stringOf, toJs, type AnyNode, type DocPair } from './nodes';
import { suggest } from './suggest';
import type { RulePosition } from './types';

/** Where the document's nodes are in its text (the positioned mode). */
export interface DocSource {
  readonly text: string;
  readonly lineCounter: LineCounter;
  /** What each YAML alias stands for. */
  readonly aliases: ReadonlyMap<Alias, Node>;
}

/** How the walker reads one document. */
export interface WalkOptions {
  /** The file name, for issues. */
  readonly file: string;
  readonly chainPrefix: string;
  readonly ipVersion: 4 | 6;
  /** Positions of the nodes; absent for plain values (see FastPathMiss). */
  readonly source?: DocSource;
  /** Filled with each rule's position (needs `source`). */
  readonly positions?: Map<Rule, RulePosition>;
  /** Called every 1,024 rules built, and at the end, with the file's rule count. */
  readonly onRules?: (built: number, total: number) => void;
  /** Plain values only: the table of the most rules in its chains gets its chains' rules made
   *  when a Table first uses them (Chain.deferred), each chain then walked as now. A problem in
   *  them throws what `problemIn` makes of the chain's name from that use. */
  readonly deferLargestTable?: { readonly problemIn: (chain: string) => Error };
}

/** A plain-value walk met a problem: read the file again with positions to report it. */
export class FastPathMiss extends Error {}

const NUMBER_OR_HEX = /^0x[0-9a-f]+$/i;

export class DocReader {
  readonly issues: ConfigIssue[] = [];
  /** Problems found past the first MAX_ISSUES: counted, not reported. */
  omitted = 0;
  private lines: string[] | undefined;

  constructor(readonly options: WalkOptions) {}

  get chainPrefix(): string {
    return this.options.chainPrefix;
  }
  get ipVersion(): 4 | 6 {
    return this.options.ipVersion;
  }

  issueAt(offset: number, path: string, message: string): void {
    const source = this.options.source;
    if (!source) throw new FastPathMiss(message);
    if (this.issues.length >= MAX_ISSUES) {
      this.omitted++;
      return;
    }
    const { line, col } = source.lineCounter.linePos(offset);
    this.lines ??= source.text.split(/\r?\n/);
    const text = this.lines[line - 1];
    const snippet = text === undefined ? undefined : snippetOf(line, text, col);
    this.issues.push({ file: this.options.file, line, column: col, path: clip(path, MAX_QUOTED), message: clipQuoted(message), ...(snippet !== undefined ? { snippet } : {}) });
  }

  /** Records a problem at a node (or a pair's key); returns undefined for convenient `return ctx.fail(...)`. */
  fail(node: AnyNode | DocPair, path: string, message: string): undefined {
    this.issueAt(offsetOf(node), path, message);
    return undefined;
  }

  /** The node an alias stands for (found once for all aliases: Alias.resolve would search the
   *  whole document on every call). */
  resolve(node: AnyNode): AnyNode {
    let current = node;
    const aliases = this.options.source?.aliases;
    for (let depth = 0; aliases && isAliasNode(current) && depth < 32; depth++) current = aliases.get(current as Alias);
    return current;
  }

  /** The pairs of a mapping, or an issue saying what was expected. */
  mapping(node: AnyNode, path: string, expected: string): readonly DocPair[] | undefined {
    if (!isMapping(node)) return this.fail(node, path, `expected ${expected}, got ${kindOf(node)}`);
    return pairsOf(node);
  }

  /** A mapping key as a string (numbers and booleans are not names). */
  key(pair: DocPair, path: string): string | undefined {
    const k = this.resolve(pair.key);
    const name = stringOf(k);
    if (name !== undefined) return name;
    return this.fail(k ?? pair, path, `expected a name as the key, got ${kindOf(k)}`);
  }

  /** The value nodes of a mapping with known keys; unknown keys and missing required ones are issues. */
  fieldNodes(node: AnyNode, path: string, allowed: readonly string[], required: readonly string[], expected: string): Record<string, AnyNode> | undefined {
    const pairs = this.mapping(node, path, expected);
    if (!pairs) return undefined;
    const out: Record<string, AnyNode> = {};
    let ok = true;
    for (const pair of pairs) {
      const key = this.knownKey(pair, path, allowed);
      if (key === undefined) {
        ok = false;
        continue;
      }
      out[key] = this.resolve(pair.value) ?? pair.value;
    }
    for (const key of required) {
      if (!(key in out)) {
        this.fail(node, path, `missing key ${JSON.stringify(key)}: expected ${expected}`);
        ok = false;
      }
    }
    return ok ? out : undefined;
  }

  /** A pair's key when it is one of `allowed`; else an issue (with "did you mean") at the key.
   *  `quotedList` is how the message lists them (default: each quoted, joined by "or"). */
  knownKey(pair: DocPair, path: string, allowed: readonly string[], quotedList?: string): string | undefined {
    const key = this.key(pair, path);
    if (key === undefined) return undefined;
    if (allowed.includes(key)) return key;
    return this.fail(pair, `${path}.${key}`, `unknown key ${JSON.stringify(key)}: expected ${quotedList ?? allowed.map((a) => JSON.stringify(a)).join(' or ')}${suggest(key, allowed)}`);
  }

  fields(node: AnyNode, path: string, allowed: readonly string[], required: readonly string[], expected: string): Record<string, unknown> | undefined {
    const nodes = this.fieldNodes(node, path, allowed, required, expected);
    if (!nodes) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(nodes)) out[k] = toJs(v);
    return out;
  }

  /** An integer, or a "0x…" hex string (JSON has no hex numbers). */
  number(value: AnyNode, at: AnyNode | DocPair, path: string, expected: string): number | undefined {
    const js = toJs(value);
    if (typeof js === 'number') return js; // range checked by the library, which names the value
    if (typeof js === 'string' && NUMBER_OR_HEX.test(js)) return Number.parseInt(js.slice(2), 16);
    return this.fail(at, path, `expected ${expected}, got ${kindOf(value)}`);
  }

  /** [a, b] or {k1: a, k2: b}, numbers (marks may be hex strings). */
  pair(value: AnyNode, at: AnyNode | DocPair, path: string, keys: [string, string], expected: string, marks: boolean): unknown[] | undefined {
    const what = marks ? 'a mark: an integer or a hex string such as "0x10"' : 'an integer from 0 to 255';
    if (isSequence(value)) {
      const items = itemsOf(value);
      if (items.length !== 2) return this.fail(value, path, `expected ${expected}, got a list of ${items.length}`);
      const a = this.number(this.resolve(items[0]), items[0], `${path}[0]`, what);
      const b = this.number(this.resolve(items[1]), items[1], `${path}[1]`, what);
      return a === undefined || b === undefined ? undefined : [a, b];
    }
    if (isMapping(value)) {
      const f = this.fieldNodes(value, path, keys, keys, expected);
      if (!f) return undefined;
      const a = this.number(f[keys[0]], f[keys[0]], `${path}.${keys[0]}`, what);
      const b = this.number(f[keys[1]], f[keys[1]], `${path}.${keys[1]}`, what);
      return a === undefined || b === undefined ? undefined : [a, b];
    }
    return this.fail(at, path, `expected ${expected}, got ${kindOf(value)}`);
  }

  /** Numeric fields (marks may be hex strings) of a mapping; with `single`, the value itself is
   *  that one field. */
  markFields(node: AnyNode, path: string, allowed: readonly string[], required: readonly string[], single?: string): Record<string, number> | undefined {
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

  /** False (with an issue) when an address is of the other IP family. */
  addressFamilyOk(addr: unknown, at: AnyNode | DocPair, path: string): boolean {
    if (typeof addr !== 'string') return true; // the action reports the type
    const family = isIP(addr);
    if (family === 0 || family === this.ipVersion) return true;
    this.fail(at, path, `${JSON.stringify(addr)} is an IPv${family} address, but the rules are for IPv${this.ipVersion} (--ip-version ${this.ipVersion})`);
    return false;
  }

  /** Turns a library validation error into an issue at the node (at the list item that holds the
   *  bad value, when the value is a list). Anything else is a bug and is rethrown. */
  libraryError(error: unknown, at: AnyNode | DocPair, path: string): undefined {
    if (!(error instanceof InvalidRuleError)) throw error;
    let node: AnyNode | DocPair = at;
    if (isSequence(at)) {
      const bad = JSON.stringify(error.badValue);
      const item = itemsOf(at).find((i) => JSON.stringify(toJs(this.resolve(i))) === bad);
      if (item !== undefined) node = item;
    }
    const prefix = `${error.where}: `;
    const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    return this.fail(node, path, reason);
  }
}
