// Strict JSON (RFC 8259) into the yaml package's node classes, each with its source range, so
// JSON and YAML files share one walker and one way of placing errors. JSON is YAML, but the
// YAML parser reads ~0.3 MB/s; generated rule sets are large and JSON.
//
// jsonc-parser's scanner reads the tokens (strings with their escapes, numbers, literals); this
// module holds only the grammar on top, as a loop with an explicit stack (so no nesting depth
// can overflow ours), which also refuses duplicate keys (as YAML does), comments and trailing
// commas, and says what was expected where it failed. (jsonc-parser's own visit() recurses
// per level and costs twice the time on a 40 MB file.)
import type * as Jsonc from 'jsonc-parser';
import type { Node, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { yaml } from './nodes';
import { MAX_NESTING } from './types';

/** What {@link parseJsonNodes} found. */
export interface JsonParse {
  /** The document's root node; null for an empty file or after a syntax error. */
  readonly contents: Node | null;
  /** The first syntax error, if any: its offset in the text and what is wrong there. */
  readonly errors: readonly {
    /** Where in the text (0-based, UTF-16 units). */
    readonly offset: number;
    /** What is wrong there, starting "invalid JSON: ". */
    readonly message: string;
  }[];
}

// jsonc-parser's SyntaxKind and ScanError values (const enums in its typings, so not importable
// as values under a transpiler that sees one file at a time).
const TOKEN = {
  openBrace: 1,
  closeBrace: 2,
  openBracket: 3,
  closeBracket: 4,
  comma: 5,
  colon: 6,
  null: 7,
  true: 8,
  false: 9,
  string: 10,
  number: 11,
  eof: 17,
} as const;
const SCAN_ERROR = { none: 0, endOfString: 2, endOfNumber: 3, invalidUnicode: 4, invalidEscape: 5, invalidCharacter: 6 } as const;

class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(`invalid JSON: ${message}`);
  }
}

/** What the grammar wants next. */
type Expecting = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'comma}' | 'comma]' | 'end';

interface Frame {
  readonly node: YAMLMap | YAMLSeq;
  /** An object's keys so far; undefined for an array. */
  readonly keys: Set<string> | undefined;
  /** An object's key whose value comes next. */
  key: Scalar<string> | undefined;
}

/** The longest JSON number at a position (for placing what follows a malformed one). */
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** The text's one document as nodes, or its first syntax error. Objects and arrays may nest
 *  `maxNesting` deep. */
export function parseJsonNodes(text: string, maxNesting: number = MAX_NESTING): JsonParse {
  // A byte order mark is not JSON but editors write one; a space in its place keeps offsets.
  const source = text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text;
  // Loaded on first use, as the yaml package: a valid file's fast path needs neither.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createScanner } = require('jsonc-parser') as typeof Jsonc;
  const { Pair, Scalar, YAMLMap, YAMLSeq } = yaml();
  const scanner = createScanner(source, true);
  /** Where the last token ended. */
  let end = 0;
  const stack: Frame[] = [];
  let contents: Node | null = null;
  let expecting = 'value' as Expecting;

  const found = (at: number): string => (at >= source.length ? 'the end of the file' : JSON.stringify(source[at]));
  const fail = (at: number): never => {
    let message: string;
    switch (expecting) {
      case 'key':
      case 'keyOrClose':
        message = `expected a "quoted" key, found ${found(at)}`;
        break;
      case 'colon':
        message = `expected ":" after the key, found ${found(at)}`;
        break;
      case 'value':
      case 'valueOrClose':
        message = `expected a value, found ${found(at)}`;
        break;
      case 'comma}':
        message = `expected "," or "}", found ${found(at)}`;
        break;
      case 'comma]':
        message = `expected "," or "]", found ${found(at)}`;
        break;
      case 'end':
        message = `unexpected ${found(at)} after the end of the document`;
        break;
    }
    throw new JsonSyntaxError(at, message);
  };
  const afterValue = (): Expecting => {
    const top = stack[stack.length - 1];
    return top === undefined ? 'end' : top.keys ? 'comma}' : 'comma]';
  };
  const place = (node: Node, offset: number, length: number): void => {
    node.range ??= [offset, offset + length, offset + length];
    const top = stack[stack.length - 1];
    if (top === undefined) contents = node;
    else if (top.keys) {
      top.node.items.push(new Pair(top.key, node) as never);
      top.key = undefined;
    } else top.node.items.push(node as never);
    expecting = afterValue();
  };
  const open = (node: YAMLMap | YAMLSeq, offset: number, isObject: boolean): void => {
    if (stack.length + 1 > maxNesting) throw new JsonSyntaxError(offset, `nested deeper than ${maxNesting} levels`);
    node.range = [offset, offset, offset];
    place(node, offset, 1);
    stack.push({ node, keys: isObject ? new Set() : undefined, key: undefined });
    expecting = isObject ? 'keyOrClose' : 'valueOrClose';
  };
  const close = (offset: number): void => {
    const frame = stack.pop() as Frame;
    const start = frame.node.range?.[0] ?? offset;
    frame.node.range = [start, offset + 1, offset + 1];
    expecting = afterValue();
  };
  const scanProblem = (offset: number, length: number, error: number): never => {
    if (error === SCAN_ERROR.endOfString) throw new JsonSyntaxError(offset, 'unterminated string');
    if (error === SCAN_ERROR.invalidEscape || error === SCAN_ERROR.invalidUnicode) throw new JsonSyntaxError(offset, 'invalid escape in a string');
    if (error === SCAN_ERROR.invalidCharacter) {
      let at = offset;
      while (at < offset + length && source.charCodeAt(at) >= 0x20) at++;
      throw new JsonSyntaxError(at, 'control character in a string');
    }
    // A malformed number ("1e", "1."): its longest valid start is the value, the rest misplaced.
    NUMBER.lastIndex = offset;
    const lit = NUMBER.exec(source);
    if (!lit) return fail(offset);
    expecting = afterValue();
    return fail(offset + lit[0].length);
  };

  try {
    for (;;) {
      const token = scanner.scan();
      const offset = scanner.getTokenOffset();
      // The scanner skipped what lies between tokens: JSON allows only these four spaces there
      // (the scanner would also skip comments and other Unicode spaces).
      for (let at = end; at < offset; at++) {
        const c = source.charCodeAt(at);
        if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) fail(at);
      }
      end = offset + scanner.getTokenLength();
      // An empty (or all-space) file is no document: the walker says so.
      if (token === TOKEN.eof && stack.length === 0 && contents === null) return { contents: null, errors: [] };
      const error = scanner.getTokenError();
      if (error !== SCAN_ERROR.none) scanProblem(offset, scanner.getTokenLength(), error);
      switch (expecting) {
        case 'value':
        case 'valueOrClose':
          if (token === TOKEN.openBrace) open(new YAMLMap(), offset, true);
          else if (token === TOKEN.openBracket) open(new YAMLSeq(), offset, false);
          else if (token === TOKEN.closeBracket && expecting === 'valueOrClose') close(offset);
          else if (token === TOKEN.string) place(new Scalar(scanner.getTokenValue()), offset, scanner.getTokenLength());
          else if (token === TOKEN.number) place(new Scalar(Number(scanner.getTokenValue())), offset, scanner.getTokenLength());
          else if (token === TOKEN.true || token === TOKEN.false || token === TOKEN.null) {
            place(new Scalar(token === TOKEN.null ? null : token === TOKEN.true), offset, scanner.getTokenLength());
          } else fail(offset);
          break;
        case 'key':
        case 'keyOrClose': {
          const top = stack[stack.length - 1] as Frame;
          if (token === TOKEN.closeBrace && expecting === 'keyOrClose') {
            close(offset);
            break;
          }
          if (token !== TOKEN.string) fail(offset);
          const name = scanner.getTokenValue();
          if (top.keys?.has(name)) throw new JsonSyntaxError(offset, 'Map keys must be unique');
          top.keys?.add(name);
          const key = new Scalar(name);
          key.range = [offset, offset + scanner.getTokenLength(), offset + scanner.getTokenLength()];
          top.key = key;
          expecting = 'colon';
          break;
        }
        case 'colon':
          if (token !== TOKEN.colon) fail(offset);
          expecting = 'value';
          break;
        case 'comma}':
        case 'comma]':
          if (token === TOKEN.comma) expecting = expecting === 'comma}' ? 'key' : 'value';
          else if (token === (expecting === 'comma}' ? TOKEN.closeBrace : TOKEN.closeBracket)) close(offset);
          else fail(offset);
          break;
        case 'end':
          if (token === TOKEN.eof) return { contents, errors: [] };
          fail(offset);
      }
      if (token === TOKEN.eof) fail(source.length);
    }
  } catch (error) {
    if (error instanceof JsonSyntaxError) return { contents: null, errors: [{ offset: error.offset, message: error.message }] };
    throw error;
  }
}
