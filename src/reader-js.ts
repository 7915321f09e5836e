// The pure TypeScript scanner of `iptables-save` output: the twin of native/save_scanner.cc,
// used when the addon cannot load. Same input, same ScanOutput, same fault messages; the
// differential test in test/reader-diff.test.ts holds them to that. Which rules are ours is
// decided by save-line.ts, the one definition both twins follow.
//
// It works on latin1 strings (one char per byte), so matching is on bytes exactly as in C++
// and no chunk boundary can split a UTF-8 sequence into garbage. Only the text handed out
// (chain names, kept lines, fault messages) is decoded as UTF-8.

import { InvalidCallError } from './errors';
import { ruleOwnership } from './save-line';

/** Codes per rule, as in native/save_scanner.h; a positive code is the length of our ID. */
export const CODE_FOREIGN = 0;
export const CODE_OLD_INSERT = -1;
/** Neither ours nor an old insert; the caller still has to test its extra cleanup pattern. */
export const CODE_UNMATCHED = -2;

export interface ScanSettings {
  /** UTF-8 bytes of the hash prefix, e.g. "cali:". */
  readonly hashPrefix: Uint8Array;
  readonly historicPrefixes: readonly Uint8Array[];
  /** Report CODE_UNMATCHED (with the line) instead of CODE_FOREIGN. */
  readonly reportUnmatched: boolean;
}

export interface ScannedChain {
  readonly name: string;
  /** The name starts with a historic prefix: the chain is ours. */
  readonly historic: boolean;
  readonly codes: ArrayLike<number>;
  /** This chain's IDs, concatenated, start at ids[idsStart]. */
  readonly ids: string;
  readonly idsStart: number;
  /** Rule index -> full line, for non-foreign rules of non-historic chains and unmatched rules. */
  readonly texts: ReadonlyMap<number, string>;
}

export interface ScanOutput {
  /** The chains in dump order; iterate once (the native one decodes them as it goes). */
  readonly chains: Iterable<ScannedChain>;
  readonly bytes: number;
  /** A structural fault (e.g. no COMMIT: truncated); nothing else is to be trusted then. */
  readonly fault?: string;
}

/** Incremental scanner: push() chunks split anywhere, then finish() once. */
export interface ChunkScanner {
  push(chunk: Uint8Array): void;
  finish(): Promise<ScanOutput>;
}

const MAX_TABLE_NAME_BYTES = 64;

// RE2's \s, which is what Felix's regexes meant: not JavaScript's \s.
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 12 || c === 13;
}

function wordAt(line: string, from: number): string {
  let end = from;
  while (end < line.length && !isSpace(line.charCodeAt(end))) end++;
  return line.slice(from, end);
}

function trimRight(line: string): string {
  let end = line.length;
  while (end > 0 && isSpace(line.charCodeAt(end - 1))) end--;
  return line.slice(0, end);
}

const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 decoding of a latin1 (byte) string. */
export function utf8FromLatin1(bytes: string): string {
  return NON_ASCII.test(bytes) ? Buffer.from(bytes, 'latin1').toString('utf8') : bytes;
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The text as a regular expression that matches it literally (the one escaper of the package). */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

interface ChainState {
  readonly name: string;
  readonly historic: boolean;
  readonly codes: number[];
  readonly ids: string[];
  readonly texts: Map<number, string>;
}

export class JsSaveScanner implements ChunkScanner {
  private readonly hashPrefix: string;
  private readonly historicPrefixes: readonly string[];
  private readonly reportUnmatched: boolean;

  private pending: string[] = []; // pieces of the line that has no newline yet
  private bytes = 0;
  private lineNo = 0;
  private finished = false;
  private inTable = false;
  private tableLine = 0;
  private tableName = '';
  private fault: string | undefined;
  private readonly chains: ChainState[] = [];
  private readonly byName = new Map<string, ChainState>(); // keyed by the latin1 name
  private lastName: string | undefined;
  private lastChain: ChainState | undefined;

  constructor(settings: ScanSettings) {
    this.hashPrefix = latin1(settings.hashPrefix);
    this.historicPrefixes = settings.historicPrefixes.map(latin1);
    this.reportUnmatched = settings.reportUnmatched;
  }

  push(chunk: Uint8Array): void {
    if (this.finished) throw new InvalidCallError('JsSaveScanner.push', 'called after finish()');
    this.bytes += chunk.byteLength;
    const text = latin1(chunk);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) {
        // Long lines collect their pieces and are joined once, when their newline comes.
        if (start < text.length) this.pending.push(start === 0 ? text : text.slice(start));
        return;
      }
      let line = text.slice(start, nl);
      if (this.pending.length > 0) {
        this.pending.push(line);
        line = this.pending.join('');
        this.pending = [];
      }
      this.processLine(line);
      start = nl + 1;
    }
  }

  finish(): Promise<ScanOutput> {
    if (this.finished) return Promise.reject(new InvalidCallError('JsSaveScanner.finish', 'called twice'));
    this.finished = true;
    if (this.pending.length > 0) {
      this.processLine(this.pending.join('')); // the last line had no newline
      this.pending = [];
    }
    if (this.fault === undefined && this.inTable) {
      this.setFault(`iptables-save output ended inside table "${this.tableName}" opened on line ${this.tableLine}: no COMMIT, the dump is truncated`);
    }
    if (this.fault !== undefined) {
      return Promise.resolve({ chains: [], bytes: this.bytes, fault: utf8FromLatin1(this.fault) });
    }
    const chains: ScannedChain[] = this.chains.map((c) => ({
      name: c.name,
      historic: c.historic,
      codes: c.codes,
      // join() copies: the IDs then do not pin the chunk strings they were sliced from.
      ids: c.ids.join(''),
      idsStart: 0,
      texts: c.texts,
    }));
    return Promise.resolve({ chains, bytes: this.bytes });
  }

  private setFault(message: string): void {
    this.fault ??= message;
  }

  private processLine(line: string): void {
    this.lineNo++;
    if (this.fault !== undefined || line.length === 0) return;
    switch (line.charCodeAt(0)) {
      case 42: {
        // '*': a table starts
        const name = wordAt(line, 1).slice(0, MAX_TABLE_NAME_BYTES);
        if (this.inTable) {
          this.setFault(
            `iptables-save output line ${this.lineNo} opens table "${name}" before table "${this.tableName}" (line ${this.tableLine}) was committed`,
          );
          return;
        }
        this.inTable = true;
        this.tableLine = this.lineNo;
        this.tableName = name;
        return;
      }
      case 67: // 'C'
        if (trimRight(line) === 'COMMIT') {
          if (!this.inTable) {
            this.setFault(`iptables-save output line ${this.lineNo} is a COMMIT outside any table`);
            return;
          }
          this.inTable = false;
        }
        return;
      case 58: {
        // ':' declares a chain, which exists even when empty
        const name = wordAt(line, 1);
        if (name === '') return;
        if (this.inTable) {
          this.chainNamed(name);
          return;
        }
        break;
      }
      case 45: {
        // '-'
        if (!line.startsWith('-A ')) return;
        const name = wordAt(line, 3);
        if (name === '') return;
        if (this.inTable) {
          this.classify(this.chainNamed(name), line);
          return;
        }
        break;
      }
      default:
        return; // comments, "# Warning: iptables-legacy tables present", …
    }
    this.setFault(`iptables-save output line ${this.lineNo} declares a chain or rule outside any table`);
  }

  private chainNamed(name: string): ChainState {
    if (name === this.lastName && this.lastChain) return this.lastChain;
    let chain = this.byName.get(name);
    if (!chain) {
      chain = {
        name: utf8FromLatin1(name),
        historic: this.historicPrefixes.some((p) => name.startsWith(p)),
        codes: [],
        ids: [],
        texts: new Map(),
      };
      this.byName.set(name, chain);
      this.chains.push(chain);
    }
    this.lastName = name;
    this.lastChain = chain;
    return chain;
  }

  private classify(chain: ChainState, line: string): void {
    // Decided on the line's tokens (save-line.ts), so text inside quoted values never counts.
    const { id, oldInsert } = ruleOwnership(line, this.hashPrefix, this.historicPrefixes);
    let code = CODE_FOREIGN;
    if (id !== undefined) {
      code = id.length;
      chain.ids.push(id);
    } else if (oldInsert) {
      code = CODE_OLD_INSERT;
    } else if (this.reportUnmatched) {
      code = CODE_UNMATCHED;
    }
    const index = chain.codes.length;
    chain.codes.push(code);
    if (code === CODE_UNMATCHED || (code !== CODE_FOREIGN && !chain.historic)) {
      chain.texts.set(index, utf8FromLatin1(line));
    }
  }
}
