// The fast path's parsers: a rules document as plain values, from the platform's JSON.parse or
// from js-yaml (10–20× the yaml package's speed on large files), with no positions. Each
// declines (undefined) whenever the positioned parse (json.ts, the yaml package) might read
// the text differently or refuse it: then the loader takes that slower path, which reports
// problems with file:line:column. So a file read here is one that the positioned parse reads
// to the same values without an error.
import type * as JsYaml from 'js-yaml';
import { MAX_NESTING } from './types';

/** The core schema's float as the yaml package reads it: js-yaml keeps "1e400" a string, the
 *  yaml package (and YAML 1.2) makes it Infinity. */
const CORE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;

/** js-yaml and its YAML 1.2 core schema (the yaml package's default) with mappings as Maps, so
 *  keys keep their types (a number is not a chain name) and their order. Loaded with the first
 *  YAML file: a JSON file, `--version` or `--help` need not load a YAML parser. */
let jsYaml: { readonly load: typeof JsYaml.load; readonly schema: ReturnType<typeof JsYaml.CORE_SCHEMA.withTags> } | undefined;
function yamlParser(): NonNullable<typeof jsYaml> {
  if (jsYaml) return jsYaml;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { CORE_SCHEMA, defineScalarTag, floatCoreTag, load, NOT_RESOLVED, realMapTag } = require('js-yaml') as typeof JsYaml;
  const floatTag = defineScalarTag('tag:yaml.org,2002:float', {
    ...floatCoreTag,
    resolve: (source, isExplicit, tagName) => {
      const value = floatCoreTag.resolve(source, isExplicit, tagName);
      return value === NOT_RESOLVED && CORE_FLOAT.test(source) ? Number.parseFloat(source) : value;
    },
  });
  jsYaml = { load, schema: CORE_SCHEMA.withTags(realMapTag, floatTag) };
  return jsYaml;
}
/** A tag (`!!float`, `!local`): the two packages resolve explicit tags differently. */
const TAG = /(?:^|[\s,[\]{}])!/;

/** A document's root value, when the fast parser read it as the positioned one would. */
export interface PlainDocument {
  readonly value: unknown;
}

/** Strict JSON through JSON.parse, or undefined (see the module comment). */
export function parsePlainJson(text: string): PlainDocument | undefined {
  // A byte order mark is not JSON but editors write one; json.ts reads it as a space.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch {
    return undefined;
  }
  // JSON.parse keeps the last of duplicate keys, which json.ts refuses: the keys it kept must
  // be every key written.
  const kept = plainKeys(value);
  if (kept === undefined || kept !== keysWritten(source)) return undefined;
  return { value };
}

/** YAML through js-yaml, or undefined (see the module comment). */
export function parsePlainYaml(text: string): PlainDocument | undefined {
  // A directive (%YAML 1.1) changes the schema: the yaml package reads those files.
  if (/^%/m.test(text) || TAG.test(text)) return undefined;
  let value: unknown;
  try {
    // No aliases: the positioned path bounds what they expand to. Duplicate keys, tags outside
    // the core schema, multiple or empty documents all throw here, and so does nesting
    // MAX_NESTING deep (js-yaml counts a level more than the positioned path: stricter, so
    // nothing it reads is too deep there).
    const { load, schema } = yamlParser();
    value = load(text, { schema, maxAliases: 0, maxDepth: MAX_NESTING });
  } catch {
    return undefined;
  }
  return { value };
}

/**
 * How many keys JSON.parse's objects hold, or undefined when the positioned parse would read
 * them differently: nested deeper than MAX_NESTING, or an object key that is an array index
 * (JavaScript objects put those first, out of file order). Recursion stops at MAX_NESTING, so
 * no input depth can overflow the stack.
 */
function plainKeys(value: unknown, depth = 1): number | undefined {
  if (value === null || typeof value !== 'object') return 0;
  if (depth > MAX_NESTING) return undefined;
  let keys = 0;
  if (Array.isArray(value)) {
    for (const item of value) keys += plainKeys(item, depth + 1) ?? NaN;
  } else {
    const o = value as Record<string, unknown>;
    for (const k in o) {
      const c = k.charCodeAt(0);
      if (c >= 0x30 && c <= 0x39) return undefined; // a digit: maybe an array index
      keys += 1 + (plainKeys(o[k], depth + 1) ?? NaN);
    }
  }
  // NaN: a child declined (NaN stays NaN through the sums).
  return Number.isNaN(keys) ? undefined : keys;
}

/** In valid JSON every ":" outside a string follows a key: their count is the keys written. */
function keysWritten(text: string): number {
  let colons = 0;
  let at = 0;
  for (;;) {
    const quote = text.indexOf('"', at);
    const gapEnd = quote < 0 ? text.length : quote;
    for (let i = at; i < gapEnd; i++) if (text.charCodeAt(i) === 0x3a) colons++;
    if (quote < 0) return colons;
    // The string's closing quote: the next one not escaped by an odd run of backslashes.
    let end = quote + 1;
    for (;;) {
      end = text.indexOf('"', end);
      if (end < 0) return colons; // JSON.parse accepted it, so this does not happen
      let backslashes = 0;
      while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
      if (backslashes % 2 === 0) break;
      end++;
    }
    at = end + 1;
  }
}
