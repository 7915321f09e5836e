// Reading one table from the dataplane: iptables-save through the one child runner, its output
// parsed by the native reader on the child's pipe (or the TypeScript twin on a stream), with
// retries. Failures become SaveFailedError naming the command line, exit and stderr.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { classifyFailure, failureOf } from './command-failure';
import { describeOutcome, startCommand, succeeded, TIMEOUT_ATTEMPTS, type CommandFactory, type CommandOutcome } from './commands';
import { formatCommandLine, SaveFailedError, SaveTimeoutError } from './errors';
import type { Logger } from './logger';
import { openSavePipe, readPreparedSaveOutput, type DataplaneChain, type PreparedExpectation, type ReaderConfig } from './reader';

const READ_RETRIES = 3;
const READ_FIRST_BACKOFF_MS = 100;

/** How a read is retried, and what it tells on the way. */
export interface ReadRetry {
  readonly table: string;
  readonly sleep: (ms: number) => Promise<void>;
  readonly logger: Logger;
  /** The warning logged before each retry, e.g. "iptables-save failed, will retry". */
  readonly retryMessage: string;
  /** Called after each attempt, failed or not. */
  readonly onAttemptEnd?: () => void;
}

/**
 * The one retry policy of dataplane reads (iptables-save, nft list table): a retryable
 * SaveFailedError is retried 3 times, from 100 ms doubling; a run killed at its deadline
 * twice at most. Anything else, or the last failure, is thrown.
 */
export async function withReadRetries<T>(r: ReadRetry, attempt: () => Promise<T>): Promise<T> {
  let backoffMs = READ_FIRST_BACKOFF_MS;
  let timeouts = 0;
  for (let retriesLeft = READ_RETRIES; ; retriesLeft--) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof SaveFailedError) || !error.retryable || retriesLeft === 0) throw error;
      if (error instanceof SaveTimeoutError && ++timeouts >= TIMEOUT_ATTEMPTS) throw error;
      r.logger.warn({ table: r.table, err: error.message, backoffMs }, r.retryMessage);
      await r.sleep(backoffMs);
      backoffMs *= 2;
    } finally {
      r.onAttemptEnd?.();
    }
  }
}

/** What to read and how. */
export interface SaveTarget {
  readonly run: CommandFactory;
  /** The save binary (iptables-legacy-save, …). */
  readonly command: string;
  readonly table: string;
  readonly readerConfig: ReaderConfig;
  readonly readerImplementation: 'auto' | 'native' | 'js';
  /** What the caller believes some chains hold (prepared once for all attempts): the reader
   *  compares those in the scanner and hands back these very entries for the ones that still
   *  hold it. */
  readonly expected?: PreparedExpectation;
  /** Each run is killed (and reaped) this long after its start. */
  readonly timeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly logger: Logger;
  /** Called as each run starts (metrics, the apply report). */
  readonly onRun: () => void;
  /** Called for each failed run. */
  readonly onFailure: () => void;
  /** Called after each attempt (a failed one with its backoff) with how long it took. */
  readonly onAttemptEnd?: (ms: number) => void;
}

/**
 * Reads one table with iptables-save, retrying a failed or cut-short read (3 retries, from
 * 100 ms doubling; a run killed at its deadline twice at most). Rejects with SaveFailedError or
 * SaveTimeoutError.
 */
/** The snapshot is a new Map, the caller's to keep and edit. */
export async function readDataplane(t: SaveTarget): Promise<Map<string, DataplaneChain>> {
  let started = t.now();
  const onAttemptEnd = (): void => {
    t.onAttemptEnd?.(t.now() - started);
  };
  return withReadRetries({ table: t.table, sleep: t.sleep, logger: t.logger, retryMessage: 'iptables-save failed, will retry', onAttemptEnd }, () => {
    started = t.now();
    return readOnce(t);
  });
}

async function readOnce(t: SaveTarget): Promise<Map<string, DataplaneChain>> {
  const command = t.command;
  const args = ['-t', t.table];
  t.onRun();
  const fail = (outcome: CommandOutcome, problem?: string, cause?: unknown): SaveFailedError => {
    t.onFailure();
    const err = outcome.stderr.trim();
    // Unreadable output of a run that exited 0 (cut short): another read may be whole.
    const failure = failureOf(outcome, problem !== undefined || classifyFailure(outcome) !== 'permanent', cause);
    const message = `${formatCommandLine(outcome.argv)}: ${problem ?? describeOutcome(outcome, t.timeoutMs)}${err ? `: ${err}` : ''}`;
    return outcome.timedOut ? new SaveTimeoutError(message, failure, t.timeoutMs) : new SaveFailedError(message, failure);
  };
  // Fastest path: the addon reads the child's stdout pipe itself, off the main thread.
  let pipe;
  try {
    pipe = t.readerImplementation !== 'js' && t.run.acceptsStdoutFd === true ? openSavePipe(t.readerConfig, t.expected) : undefined;
  } catch (error) {
    // pipe2 failed: out of file descriptors, as a spawn would be.
    const spawnError = Object.assign(error as Error, { code: /Too many open files/.test((error as Error).message) ? 'EMFILE' : undefined });
    throw fail({ argv: [command, ...args], code: null, signal: null, timedOut: false, spawnError, stderr: '' });
  }
  // The scanner's set-up (it copies the expected IDs, 1.6 MB at 100k rules) and the spawn (a
  // fork of this process with Node's spawn; a few pipe2() calls with the addon's) get a turn
  // each, not one between them.
  if (pipe) await yieldToEventLoop();
  const child = startCommand(t.run, command, args, {
    timeoutMs: t.timeoutMs,
    noInput: true,
    ...(pipe ? { stdoutFd: pipe.fd } : {}),
    onTimeout: () => pipe?.cancel(),
  });
  pipe?.closeWriteEnd(); // the child holds its copy; ours must go or EOF never comes
  // A factory that does not honour noInput gives a stdin that is still open.
  child.stdin.on('error', () => undefined);
  if (!child.stdin.destroyed && !child.stdin.writableEnded) child.stdin.end();
  const parsing = pipe
    ? pipe.result
    : readPreparedSaveOutput(child.stdout, t.readerConfig, { implementation: t.readerImplementation }, t.expected);
  parsing.catch(() => undefined); // observed below, after the exit status
  const outcome = await child.done;
  if (!succeeded(outcome)) {
    pipe?.cancel();
    await parsing.catch(() => undefined);
    throw fail(outcome);
  }
  try {
    return (await parsing).snapshot;
  } catch (error) {
    throw fail(outcome, `unreadable output: ${(error as Error).message}`, error);
  }
}
