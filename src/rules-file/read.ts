// Reading a rules file's bytes with limits, before any parsing: only regular files and stdin,
// at most `maxBytes`, strict UTF-8. A device (/dev/zero), a FIFO or a file of gigabytes must
// not be read at all, and bytes that are not UTF-8 must not be silently replaced.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { isUtf8 } from 'node:buffer';

/** 256 MiB: far above real rule sets (100k rules are ~15 MB of JSON), far below memory trouble. */
export const DEFAULT_MAX_FILE_SIZE = 256 * 1024 * 1024;

/** Why the bytes could not be had; the loader turns this into a positioned ConfigError. */
export type ReadProblem =
  | { readonly reason: 'not-a-file'; readonly message: string }
  | { readonly reason: 'too-large'; readonly message: string }
  | { readonly reason: 'io'; readonly message: string }
  | { readonly reason: 'invalid-utf8'; readonly message: string; readonly line: number; readonly column: number };

export type ReadResult = { readonly text: string } | { readonly problem: ReadProblem };

const CHUNK = 1024 * 1024;

/** The file's text ("-" reads stdin), or why it was not read. Never throws for the file's sake. */
export function readRulesText(file: string, maxBytes: number = DEFAULT_MAX_FILE_SIZE): ReadResult {
  const bytes = file === '-' ? readStdin(maxBytes) : readRegularFile(file, maxBytes);
  if ('problem' in bytes) return bytes;
  return decodeUtf8(bytes.buffer);
}

function readRegularFile(file: string, maxBytes: number): { buffer: Buffer } | { problem: ReadProblem } {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before we can look at what it is.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    return { problem: { reason: 'io', message: `cannot read the rules file: ${(error as Error).message}` } };
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) {
      return { problem: { reason: 'not-a-file', message: `not a regular file (${kindOf(stats)}): only regular files and "-" (stdin) are read` } };
    }
    if (stats.size > maxBytes) return { problem: tooLarge(maxBytes, stats.size) };
    return readAll(fd, maxBytes, stats.size);
  } catch (error) {
    return { problem: { reason: 'io', message: `cannot read the rules file: ${(error as Error).message}` } };
  } finally {
    closeSync(fd);
  }
}

function readStdin(maxBytes: number): { buffer: Buffer } | { problem: ReadProblem } {
  try {
    return readAll(0, maxBytes, 0);
  } catch (error) {
    return { problem: { reason: 'io', message: `cannot read the rules from stdin: ${(error as Error).message}` } };
  }
}

/** Reads to EOF, refusing as soon as more than maxBytes arrived (a file may grow while read). */
function readAll(fd: number, maxBytes: number, sizeHint: number): { buffer: Buffer } | { problem: ReadProblem } {
  const chunks: Buffer[] = [];
  let total = 0;
  let chunk = Buffer.allocUnsafe(Math.min(Math.max(sizeHint + 1, 4096), CHUNK));
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (error) {
      // A non-blocking stdin (a terminal or a pipe another process set so) has no data yet.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      continue;
    }
    if (n === 0) break;
    total += n;
    if (total > maxBytes) return { problem: tooLarge(maxBytes, undefined) };
    chunks.push(chunk.subarray(0, n));
    if (n === chunk.length) chunk = Buffer.allocUnsafe(CHUNK);
    else chunk = chunk.subarray(n);
  }
  return { buffer: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total) };
}

function tooLarge(maxBytes: number, size: number | undefined): ReadProblem {
  const what = size === undefined ? 'over' : `${formatBytes(size)}, over`;
  return { reason: 'too-large', message: `the rules file is ${what} the limit of ${formatBytes(maxBytes)} (raise it with --max-file-size or the maxFileSize option)` };
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'not a file';
}

/** "100 bytes", "1 KiB", "256 MiB", "1.5 GiB". */
export function formatBytes(n: number): string {
  const units = [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const;
  for (const [unit, size] of units) {
    if (n >= size) return `${Number((n / size).toFixed(n % size === 0 ? 0 : 1))} ${unit}`;
  }
  return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
}

/** "1000", "64KiB", "10M", "1.5 GiB" (K, M, G are binary, as in the limit's messages). */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(b|bytes?|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase()[0] as 'b' | 'k' | 'm' | 'g';
  const bytes = Math.floor(Number(m[1]) * { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[unit]);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

// --- UTF-8 -------------------------------------------------------------------------------------

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(buffer: Buffer): ReadResult {
  if (isUtf8(buffer)) return { text: STRICT_UTF8.decode(buffer) };
  const offset = firstInvalidUtf8(buffer);
  const lineStart = buffer.lastIndexOf(0x0a, offset - 1) + 1;
  let line = 1;
  for (let i = buffer.indexOf(0x0a); i >= 0 && i < offset; i = buffer.indexOf(0x0a, i + 1)) line++;
  // The bytes before the bad one are valid, so the column counts characters as positions do.
  const column = STRICT_UTF8.decode(buffer.subarray(lineStart, offset)).length + 1;
  return {
    problem: {
      reason: 'invalid-utf8',
      message: `invalid UTF-8 at byte offset ${offset} (byte 0x${(buffer[offset] ?? 0).toString(16).padStart(2, '0')}): rules files must be UTF-8 text`,
      line,
      column,
    },
  };
}

/** The offset where the first ill-formed sequence starts (Unicode 15, table 3-7), or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let trailing: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) trailing = 1;
    else if (b === 0xe0) [trailing, low] = [2, 0xa0];
    else if (b === 0xed) [trailing, high] = [2, 0x9f];
    else if (b >= 0xe1 && b <= 0xef) trailing = 2;
    else if (b === 0xf0) [trailing, low] = [3, 0x90];
    else if (b === 0xf4) [trailing, high] = [3, 0x8f];
    else if (b >= 0xf1 && b <= 0xf3) trailing = 3;
    else return i;
    for (let k = 1; k <= trailing; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? low : 0x80) || c > (k === 1 ? high : 0xbf)) return i;
    }
    i += trailing + 1;
  }
  return -1;
}
