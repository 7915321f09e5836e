// Small facts about a parsed document's values, in either of its two forms: the yaml package's
// node classes (each with its source range, for placing errors: the exact path) or plain
// JavaScript values (from JSON.parse or js-yaml: Map or object mappings, arrays, scalars; the
// fast path, which has no positions). The walker reads both through these functions only.
import type * as YamlPackage from 'yaml';

let yamlModule: typeof YamlPackage | undefined;
/** The yaml package, loaded on first use: the positioned path needs it, a valid file's fast
 *  path never does (and a CLI start-up saves loading its 70 modules). */
export function yaml(): typeof YamlPackage {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (yamlModule ??= require('yaml') as typeof YamlPackage);
}

/** A yaml package node (or pair): an object that is neither an array, a Map nor a plain object
 *  (plain values never hold one, so the package need not be loaded to tell). */
function isYamlObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Map) && !isPlainObject(v);
}

/** One value of the document: a yaml Node, or a plain value (null, string, number, boolean,
 *  array, Map or object). */
export type AnyNode = unknown;

/** A mapping's entry: the yaml package's Pair, or a plain key and value. */
export interface DocPair {
  readonly key: unknown;
  readonly value: unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Map) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A mapping of either form. */
export function isMapping(v: unknown): boolean {
  return v instanceof Map || isPlainObject(v) || (isYamlObject(v) && yaml().isMap(v));
}

/** A sequence of either form. */
export function isSequence(v: unknown): boolean {
  return Array.isArray(v) || (isYamlObject(v) && yaml().isSeq(v));
}

/** A mapping's entries in document order (check isMapping first). */
export function pairsOf(v: unknown): readonly DocPair[] {
  if (v instanceof Map) {
    const out: DocPair[] = [];
    v.forEach((value, key) => void out.push({ key, value })); // (no [key, value] array per entry)
    return out;
  }
  if (isYamlObject(v)) return (v as YamlPackage.YAMLMap).items as DocPair[];
  const o = v as Record<string, unknown>;
  const out: DocPair[] = [];
  for (const key of Object.keys(o)) out.push({ key, value: o[key] });
  return out;
}

/** A sequence's items (check isSequence first). */
export function itemsOf(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : (v as { items: unknown[] }).items;
}

/** A scalar's value of either form; undefined for a mapping, a sequence or an alias. */
function scalarOf(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (isYamlObject(v) && yaml().isScalar(v)) return (v as YamlPackage.Scalar).value;
  return undefined;
}

/** A null scalar (an empty value, `~`, `null`). */
export function isNull(v: unknown): boolean {
  return v === null || (isYamlObject(v) && yaml().isScalar(v) && (v as YamlPackage.Scalar).value === null);
}

/** A string scalar's text, else undefined. */
export function stringOf(v: unknown): string | undefined {
  const s = scalarOf(v);
  return typeof s === 'string' ? s : undefined;
}

/** A yaml alias node (plain values have none: their parser resolved them). */
export function isAliasNode(v: unknown): boolean {
  return isYamlObject(v) && yaml().isAlias(v);
}

export function offsetOf(node: unknown): number {
  if (!isYamlObject(node)) return 0;
  if (yaml().isPair(node)) return offsetOf((node as YamlPackage.Pair).key);
  return yaml().isNode(node) ? ((node as YamlPackage.Node).range?.[0] ?? 0) : 0;
}

export function toJs(node: unknown): unknown {
  if (node === null || node === undefined) return null;
  if (isYamlObject(node)) {
    if (yaml().isScalar(node)) return (node as YamlPackage.Scalar).value;
    if (yaml().isNode(node)) return (node as { toJSON(): unknown }).toJSON();
  }
  if (node instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of node) out[String(k)] = toJs(v);
    return out;
  }
  return node;
}

export function kindOf(node: unknown): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMapping(node)) return 'a mapping';
  if (isSequence(node)) return 'a list';
  if (typeof node !== 'object' || (isYamlObject(node) && yaml().isScalar(node))) return describeJs(scalarOf(node));
  return 'an unsupported value';
}

export function describeJs(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}
