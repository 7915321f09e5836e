// Running nft: the read (`nft -a -t list table …`, parsed by the listing worker) and the write
// (one `nft -f -` per transaction, streamed in time slices), both through the one child runner,
// with nft's failures as the library's typed errors (SaveFailedError, RestoreFailedError).
import { existsSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { classifyFailure, failureOf } from '../command-failure';
import { describeOutcome, startCommand, collect, succeeded, writeToChild, type CommandFactory, type CommandOutcome, type RunningCommand } from '../commands';
import { formatCommandLine, RestoreFailedError, RestoreTimeoutError, SaveFailedError, SaveTimeoutError } from '../errors';
import type { Logger } from '../logger';
import { RULE_ID_LENGTH } from '../save-line';
import { withReadRetries } from '../save-run';
import { TimeSlicer } from '../time-slice';
import { createListingScanner, type Listing } from './listing';
import { readListing, type ListingRead } from './listing-worker';
import type { NftFamily } from './render';

/** Where nft runs and for which table. */
export interface NftTarget {
  readonly run: CommandFactory;
  readonly family: NftFamily;
  readonly table: string;
  readonly timeoutMs: number;
}

// nft's own verdicts that no retry changes: its parser, or a kernel refusing the rule itself.
const PERMANENT_NFT = /syntax error|Invalid argument|Operation not supported|not supported|too long|unexpected|Could not resolve|Numerical result out of range|Permission denied|Operation not permitted/;

/** Whether another attempt (after a re-read) may land: a handle or chain another program took
 *  away since our read may be back in our next plan; a parse error never goes away. */
function retryable(outcome: CommandOutcome): boolean {
  if (outcome.spawnError || outcome.timedOut) return classifyFailure(outcome) !== 'permanent';
  if (classifyFailure(outcome) === 'permanent') return false;
  return !PERMANENT_NFT.test(outcome.stderr);
}

/** The input line nft blamed (`/dev/stdin:7:88-88: Error: …`). */
export function blamedNftLine(stderr: string): number | undefined {
  const m = /^(?:\/dev\/stdin|-):(\d+):/m.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

// nft 1.0.6 for a `create table` of a table that exists, as the first input line:
// `/dev/stdin:1:17-18: Error: Could not process rule: File exists`.
const FIRST_LINE_EXISTS = /^(?:\/dev\/stdin|-):1:[\d-]+: Error: Could not process rule: File exists$/m;

/** Whether a transaction whose first line is `create table …` failed because that table
 *  exists: nft blamed input line 1 with EEXIST (the kernel aborted the whole transaction). */
export function createdTableExisted(error: RestoreFailedError): boolean {
  return !(error instanceof RestoreTimeoutError) && /^create table /.test(error.input) && FIRST_LINE_EXISTS.test(error.stderr);
}

const NO_SUCH_TABLE = /^Error: No such file or directory/m;

/** What a read needs besides the target. */
export interface NftReadOptions extends NftTarget {
  readonly hashPrefix: string;
  readonly sleep: (ms: number) => Promise<void>;
  readonly logger: Logger;
  /** Called as each run starts. */
  readonly onRun?: () => void;
  /** Called for each failed run. */
  readonly onFailure?: () => void;
  /** Also each rule's text and counters (show). */
  readonly withDetails?: boolean;
}

/** Lists our table (a missing table is an empty listing), retrying a failed read (3 retries,
 *  from 100 ms doubling; a run killed at its deadline twice at most).
 *  @throws {@link SaveFailedError} or {@link SaveTimeoutError} once the retries are spent. */
export async function listTable(r: NftReadOptions): Promise<Listing> {
  return withReadRetries({ table: r.table, sleep: r.sleep, logger: r.logger, retryMessage: 'nft list table failed, will retry' }, () => listOnce(r));
}

/** The arguments of the read. */
export function listArgs(t: Pick<NftTarget, 'family' | 'table'>): string[] {
  return ['-a', '-t', 'list', 'table', t.family, t.table];
}

/** A file on tmpfs (else the temp directory) for nft's stdout, unlinked as soon as it is open
 *  (nothing is left behind, whatever happens); undefined when none can be made.
 *  Why not a pipe: nft 1.0.6 flushes its text listing after every printed fragment (16 write()s
 *  per rule), and through a pipe each write wakes the reader; into a file it costs ~nothing
 *  (at 10k rules, measured: 0.8-0.9 s through the pipe and the worker, 0.4-0.5 s via the file). */
async function listingFile(): Promise<FileHandle | undefined> {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const path = join(dir, `iptables-sync-nft-${process.pid}-${nextListingFile++}`);
  try {
    const handle = await open(path, 'wx+', 0o600);
    await unlink(path);
    return handle;
  } catch {
    return undefined;
  }
}
let nextListingFile = 0;

/** A listing read from the file up to this size is scanned on the main thread (~1-2 ms); a
 *  bigger one on the listing worker, which is only started then (its start-up and memory are
 *  not worth it for a small table, and it would share the first apply's CPU). */
export const INLINE_LISTING_MAX_BYTES = 256 * 1024;

/** The whole file, from its start (the child's writes moved the shared offset). */
async function readWhole(handle: FileHandle): Promise<Buffer> {
  const { size } = await handle.stat();
  const bytes = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await handle.read(bytes, done, size - done, done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return bytes.subarray(0, done);
}

async function listOnce(r: NftReadOptions): Promise<Listing> {
  r.onRun?.();
  // A factory that can give the child a file as stdout does; fakes without it use the pipe.
  const file = r.run.acceptsStdoutFd === true ? await listingFile() : undefined;
  try {
    let read: ListingRead | undefined;
    const child = startCommand(r.run, 'nft', listArgs(r), { timeoutMs: r.timeoutMs, onTimeout: () => read?.cancel(), ...(file ? { stdoutFd: file.fd } : {}) });
    const scan = (stream: Readable): ListingRead => readListing(stream, r.hashPrefix, RULE_ID_LENGTH, r.withDetails === true);
    read = file ? undefined : scan(child.stdout);
    read?.result.catch(() => undefined); // observed below, after the exit status
    child.stdin.on('error', () => undefined);
    if (!child.stdin.destroyed) child.stdin.end();
    const outcome = await child.done;
    const fail = (problem?: string, cause?: unknown): SaveFailedError => {
      r.onFailure?.();
      const err = outcome.stderr.trim();
      const failure = failureOf(outcome, problem !== undefined || retryable(outcome), cause);
      const message = `${formatCommandLine(outcome.argv)}: ${problem ?? describeOutcome(outcome, r.timeoutMs)}${err ? `: ${err}` : ''}`;
      return outcome.timedOut ? new SaveTimeoutError(message, failure, r.timeoutMs) : new SaveFailedError(message, failure);
    };
    if (!succeeded(outcome)) {
      read?.cancel();
      if (outcome.code === 1 && NO_SUCH_TABLE.test(outcome.stderr) && !/network namespace/.test(outcome.stderr)) return { found: false, chains: [] };
      throw fail();
    }
    try {
      if (file) {
        const bytes = await readWhole(file);
        if (bytes.length <= INLINE_LISTING_MAX_BYTES) {
          const scanner = createListingScanner(r.hashPrefix, RULE_ID_LENGTH, r.withDetails === true);
          scanner.push(bytes.toString('utf8'));
          return scanner.finish();
        }
        const text = new PassThrough();
        read = scan(text);
        text.end(bytes);
      }
      return await (read as ListingRead).result;
    } catch (error) {
      throw fail(`unreadable output: ${(error as Error).message}`, error);
    }
  } finally {
    await file?.close();
  }
}

/** What one write did. */
export interface NftWriteOutcome {
  /** Commands written (0: nothing to do, no process was started). */
  readonly lines: number;
  /** The whole input, joined only when asked for. */
  readonly input: () => string;
  /** With echo: per chain, the handle of each rule the transaction added or replaced, by its
   *  comment. */
  readonly echoed: ReadonlyMap<string, ReadonlyMap<string, number>> | undefined;
}

/**
 * Streams the commands to one `nft -f -` (with `--echo --handle` when `echo`, to learn the new
 * rules' handles). nft takes the whole input as one transaction: all of it lands or none.
 * @throws {@link RestoreFailedError} naming nft's stderr and the input line it blamed, or
 *   {@link RestoreTimeoutError} when it was killed at its deadline.
 */
export async function writeNft(t: NftTarget, lines: Iterable<string>, echo: boolean): Promise<NftWriteOutcome> {
  const chunks: string[] = [];
  let child: RunningCommand | undefined;
  let stdout: Promise<string> | undefined;
  let count = 0;
  const input = (): string => chunks.join('');
  const write = async (text: string): Promise<void> => {
    chunks.push(text);
    await writeToChild((child as RunningCommand).stdin, text);
  };
  try {
    let batch: string[] = [];
    const slicer = new TimeSlicer();
    for (const line of lines) {
      // Started with the first line, not the first batch: nft's start-up (exec, netns, its own
      // set-up) then overlaps our producing the rest (a whole small transaction fits in a slice).
      if (!child) {
        child = startCommand(t.run, 'nft', echo ? ['--echo', '--handle', '-f', '-'] : ['-f', '-'], { timeoutMs: t.timeoutMs });
        if (echo) stdout = collect(child.stdout);
        else child.stdout.resume();
      }
      batch.push(line);
      count++;
      if (slicer.due()) {
        await write(`${batch.join('\n')}\n`);
        batch = [];
        await slicer.yield();
      }
    }
    if (count === 0) return { lines: 0, input, echoed: undefined };
    await write(`${batch.join('\n')}\n`);
    const running = child as RunningCommand;
    if (!running.stdin.destroyed) running.stdin.end();
    const outcome = await running.done;
    if (!succeeded(outcome)) throw writeFailure(t, outcome, input());
    return { lines: count, input, echoed: stdout ? echoedHandles(await stdout) : undefined };
  } catch (error) {
    if (child) {
      child.kill();
      await child.done;
    }
    throw error;
  }
}

function writeFailure(t: NftTarget, outcome: CommandOutcome, text: string): RestoreFailedError {
  const err = outcome.stderr.trim();
  const base = failureOf(outcome, retryable(outcome));
  const what = `${formatCommandLine(outcome.argv)}: ${describeOutcome(outcome, t.timeoutMs)}`;
  if (outcome.timedOut) return new RestoreTimeoutError(`${what}${err ? `: ${err}` : ''}; nothing was committed`, base, text, t.timeoutMs);
  const n = blamedNftLine(err);
  const line = n === undefined ? undefined : text.split('\n')[n - 1];
  return new RestoreFailedError(`${what}${err ? `: ${err}` : ''}${line !== undefined ? ` (input line ${n}: ${line})` : ''}`, base, text, line);
}

const ECHOED_RULE = /^(?:add|insert) rule \S+ \S+ (\S+) .* comment "([^"]*)" # handle (\d+)$/;

/** The handles nft echoed for the rules a transaction added (or replaced), by chain and comment. */
export function echoedHandles(stdout: string): Map<string, Map<string, number>> {
  const result = new Map<string, Map<string, number>>();
  for (const line of stdout.split('\n')) {
    const m = ECHOED_RULE.exec(line);
    if (!m) continue;
    const chain = m[1] as string;
    let byComment = result.get(chain);
    if (!byComment) result.set(chain, (byComment = new Map()));
    byComment.set(m[2] as string, Number(m[3]));
  }
  return result;
}
