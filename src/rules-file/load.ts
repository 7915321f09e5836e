// Loading a rules file: read its bytes within limits, parse and walk it. A valid file takes the
// fast path (plain values, no positions: plain.ts); anything else is read again on the
// positioned path (the yaml package's nodes, or json.ts's), which bounds nesting and alias
// expansion and reports every problem with file:line:column. Everything throws one ConfigError.
import type { Alias, Node } from 'yaml';
import { clip, ConfigError, DeferredRulesError, MAX_QUOTED, UnreadableRulesFileError } from './issues';
import type { Rule } from '../rule';
import { FastPathMiss, type WalkOptions } from './doc-reader';
import { parseJsonNodes } from './json';
import { offsetOf, yaml } from './nodes';
import { parsePlainJson, parsePlainYaml, type PlainDocument } from './plain';
import { DEFAULT_MAX_FILE_SIZE, readRulesText } from './read';
import type { TableName } from '../table-names';
import { DEFAULT_CHAIN_PREFIX, MAX_ALIAS_EXPANSION, MAX_NESTING, type ConfigOptions, type RulePosition, type RulesFile } from './types';
import { Ctx } from './walk';

/** A rules file's text ("-" is stdin), read within the limits of loadRulesFile.
 *  @throws {@link UnreadableRulesFileError} when it is not a regular file (nor "-"), larger than
 *  `maxFileSize` bytes, not UTF-8, or unreadable. */
export function readRulesFile(file: string, options: Pick<ConfigOptions, 'maxFileSize'> = {}): string {
  const read = readRulesText(file, options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE);
  if ('problem' in read) throw new UnreadableRulesFileError(file, read.problem);
  return read.text;
}

/** Reads and validates a rules file (YAML, or strict JSON for a name ending in .json).
 *  "-" reads stdin. Only regular files of at most `maxFileSize` bytes of UTF-8 are read.
 *  @throws {@link UnreadableRulesFileError} when the file cannot be read within those limits.
 *  @throws {@link ConfigError} listing every problem found when it is invalid. */
export function loadRulesFile(file: string, options: ConfigOptions = {}): RulesFile {
  return parseRules(readRulesFile(file, options), file, options);
}

/** Validates rules text; `file` is only used in messages.
 *  @throws {@link ConfigError} listing every problem found when it is invalid. */
export function parseRules(text: string, file: string, options: ConfigOptions = {}): RulesFile {
  if (options.positions !== true) {
    const fast = parseRulesFast(text, file, options);
    if (fast) return fast;
    options.onProgress?.({ rulesBuilt: 0, rulesTotal: 0, rereading: true });
  }
  return parseRulesPositioned(text, file, options);
}

/** A rules file for an apply, and which of its tables (if any) has deferred chains. */
export interface RulesFileForApply extends RulesFile {
  /** The table whose chains make their rules when a Table first uses them (Chain.deferred):
   *  the largest, when the file is valid as far as the walk looked. A problem in those rules
   *  rejects that Table's apply with {@link DeferredRulesError} before its COMMIT. */
  readonly deferredTable?: TableName;
}

/**
 * loadRulesFile for the CLI's apply: everything is checked now but the rules of the largest
 * table's chains, which are made (and checked) as that Table's plan reaches them, while its
 * iptables-restore parses the chains before them. Apply that table first: a problem in its
 * rules then stops its restore before its COMMIT, before any table was written, and
 * {@link DeferredRulesError.problems} reports every problem of the file where it was written.
 * Not public: a library user's chains are checked when made, and its apply never sees them.
 */
export function loadRulesFileForApply(file: string, options: ConfigOptions = {}): RulesFileForApply {
  const text = readRulesFile(file, options);
  if (options.positions === true) return parseRulesPositioned(text, file, options);
  const doc = parsePlain(text, file);
  // The text stays with the deferred chains (through the walker's options) until the last of
  // them has its rules: a problem in them reads it again, with positions.
  const deferLargestTable = { problemIn: (chain: string) => new DeferredRulesError(chain, () => problemsOf(text, file, options)) };
  const built = doc && buildFromPlain(doc, file, options, deferLargestTable);
  if (built === undefined) {
    options.onProgress?.({ rulesBuilt: 0, rulesTotal: 0, rereading: true });
    return parseRulesPositioned(text, file, options);
  }
  const deferred = [...built.tables.values()].find((t) => t.chains.some((c) => c.isDeferred));
  return deferred ? { ...built, deferredTable: deferred.name } : built;
}

/** Every problem of a text the fast path declined, as the positioned path reports them. */
function problemsOf(text: string, file: string, options: ConfigOptions): ConfigError {
  try {
    parseRulesPositioned(text, file, options);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  // The fast path and the positioned one disagree: a bug, never a reason to apply.
  throw new Error(`${file}: a deferred chain's rules failed on the fast path, but reading the file with positions found no problem`);
}

function walkOptions(file: string, options: ConfigOptions): WalkOptions {
  const onProgress = options.onProgress;
  return {
    file,
    chainPrefix: options.chainPrefix ?? DEFAULT_CHAIN_PREFIX,
    ipVersion: options.ipVersion ?? 4,
    ...(onProgress ? { onRules: (built: number, total: number) => onProgress({ rulesBuilt: built, rulesTotal: total }) } : {}),
  };
}

const isJsonName = (file: string): boolean => /\.json$/i.test(file);

/** The fast path: plain values (JSON.parse, js-yaml) walked without positions. Undefined when a
 *  fast parser declines the text or the walk meets any problem: the positioned path then reads
 *  it again, to report every problem where it was written. */
export function parseRulesFast(text: string, file: string, options: ConfigOptions = {}): RulesFile | undefined {
  const doc = parsePlain(text, file);
  return doc && buildFromPlain(doc, file, options);
}

/** The fast path's parse (JSON.parse for a name ending in .json, else js-yaml). */
export function parsePlain(text: string, file: string): PlainDocument | undefined {
  return isJsonName(file) ? parsePlainJson(text) : parsePlainYaml(text);
}

/** The fast path's walk of parsed plain values; undefined at the first problem. */
export function buildFromPlain(doc: PlainDocument, file: string, options: ConfigOptions = {}, deferLargestTable?: WalkOptions['deferLargestTable']): RulesFile | undefined {
  try {
    const tables = new Ctx({ ...walkOptions(file, options), ...(deferLargestTable ? { deferLargestTable } : {}) }).root(doc.value);
    return tables ? { file, tables } : undefined;
  } catch (error) {
    if (error instanceof FastPathMiss) return undefined;
    throw error;
  }
}

/** The positioned path: the yaml package's nodes (or the JSON scanner's), every problem with its
 *  file:line:column. */
export function parseRulesPositioned(text: string, file: string, options: ConfigOptions = {}): RulesFile {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  let contents: Node | null;
  let errors: readonly { offset: number; message: string }[];
  let aliases = new Map<Alias, Node>();
  if (isJsonName(file)) {
    // JSON is YAML, but the YAML parser reads ~0.3 MB/s; generated rule sets are large and JSON.
    // (Strict JSON has no aliases, and its parser limits nesting itself.)
    ({ contents, errors } = parseJsonNodes(text, MAX_NESTING));
    lineCounter.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineCounter.addNewLine(i + 1);
  } else {
    const doc = parseDocument(text, { lineCounter, keepSourceTokens: true, prettyErrors: false, uniqueKeys: true });
    contents = doc.contents as Node | null;
    const yamlErrors: { offset: number; message: string }[] = [];
    errors = yamlErrors;
    for (const e of doc.errors) {
      // The parser recurses per level and reports an overflow as an error at the spot; what
      // follows it is noise.
      if (/Maximum call stack size exceeded/.test(e.message)) {
        yamlErrors.push({ offset: e.pos[0], message: `invalid YAML: nested deeper than ${MAX_NESTING} levels (or deeper than the parser can follow)` });
        break;
      }
      yamlErrors.push({ offset: e.pos[0], message: `invalid YAML: ${e.message}` });
    }
    if (errors.length === 0) {
      const limits = documentLimits(contents);
      aliases = limits.aliases;
      if (limits.problem) yamlErrors.push(limits.problem);
    }
  }
  const positions = options.positions === true ? new Map<Rule, RulePosition>() : undefined;
  const ctx = new Ctx({ ...walkOptions(file, options), source: { text, lineCounter, aliases }, ...(positions ? { positions } : {}) });
  for (const error of errors) ctx.issueAt(error.offset, '', error.message);
  if (ctx.issues.length > 0) throw new ConfigError(ctx.issues, ctx.omitted);
  const tables = ctx.root(contents);
  if (ctx.issues.length > 0 || tables === undefined) throw new ConfigError(ctx.issues, ctx.omitted);
  return positions ? { file, tables, positions } : { file, tables };
}

/**
 * One pass over the parsed YAML, before anything walks it: nesting depth, and what every alias
 * stands for (the last node with its anchor before it, as YAML says) with the size it adds.
 * Iterative, so no input depth can overflow the stack here.
 */
function documentLimits(root: Node | null): { aliases: Map<Alias, Node>; problem?: { offset: number; message: string } } {
  const { isAlias, isCollection, isPair } = yaml();
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

