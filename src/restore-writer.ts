// Runs iptables-restore on a stream of lines.
//
// The transaction is produced lazily (a generator) and written in time slices: each slice
// renders lines for a few milliseconds, writes them, honours the pipe's backpressure and yields
// to the event loop. iptables-restore parses while we render (two processes, two cores), and
// the caller's event loop is never blocked for long, even at 100k rules. The child is started
// with the first line (so an empty transaction spawns nothing, and a long one starts early).
import { closeSync, openSync } from 'node:fs';
import { classifyFailure, failureOf, faultyLine } from './command-failure';
import { describeOutcome, startCommand, writeToChild, type CommandFactory, type CommandOutcome, type RunningCommand } from './commands';
import { formatCommandLine, LockTimeoutError, RestoreFailedError, RestoreTimeoutError, type LockHolder } from './errors';
import { TimeSlicer } from './time-slice';

export interface RestoreTarget {
  readonly run: CommandFactory;
  readonly command: string;
  readonly args: readonly string[];
  readonly table: string;
  /** The child is killed (and reaped) this long after its start. */
  readonly timeoutMs: number;
  /** Added to the child's environment (XTABLES_LOCKFILE for a self-locking binary). */
  readonly env?: Readonly<Record<string, string>>;
  /** For a lock error: which lock file the binary waited for, how long, and who holds it. */
  readonly lock?: { readonly file: string; readonly timeoutMs: number; readonly holder: () => LockHolder | undefined };
  /** Called before the child starts (e.g. take the xtables lock for an old binary). */
  readonly beforeStart?: () => Promise<void>;
  /** Called after the child has exited or failed to start, if beforeStart was called. */
  readonly afterEnd?: () => void;
}

export interface RestoreOutcome {
  /** Body lines written (0: nothing to do, no process was started). */
  readonly lines: number;
  /** The whole input, joined only when asked for (debug logging, errors). */
  readonly input: () => string;
}

/** /dev/null opened for writing, or undefined when it cannot be (then a pipe is drained). */
function devNull(): number | undefined {
  try {
    return openSync('/dev/null', 'w'); // libuv opens with O_CLOEXEC: no other child inherits it
  } catch {
    return undefined;
  }
}

/**
 * Streams the lines to one iptables-restore run. Rejects with RestoreTimeoutError (killed at the
 * deadline), LockTimeoutError (the binary gave up waiting for the xtables lock) or
 * RestoreFailedError (anything else; `retryable` says whether another attempt may help).
 */
export async function streamRestore(target: RestoreTarget, lines: Iterable<string>): Promise<RestoreOutcome> {
  const chunks: string[] = [];
  let child: RunningCommand | undefined;
  let started = false;
  let lineCount = 0;
  const input = (): string => chunks.join('');

  const write = async (text: string): Promise<void> => {
    chunks.push(text);
    if (!child) {
      if (target.beforeStart) await target.beforeStart();
      started = true;
      // --verbose output is not needed: it goes to /dev/null when the factory takes an fd (no
      // pipe, no stream of ours), else its pipe is drained.
      const discard = target.run.acceptsStdoutFd === true ? devNull() : undefined;
      try {
        child = startCommand(target.run, target.command, target.args, {
          timeoutMs: target.timeoutMs,
          ...(target.env ? { env: target.env } : {}),
          ...(discard !== undefined ? { stdoutFd: discard } : {}),
        });
      } finally {
        if (discard !== undefined) closeSync(discard); // the child has its own copy
      }
      if (discard === undefined) child.stdout.resume();
    }
    // The child died or closed its input mid-transaction (killed, crashed, never started): stop
    // writing. Its outcome, awaited below, says why.
    await writeToChild(child.stdin, text);
  };

  const failure = (outcome: CommandOutcome): Error => {
    const text = input();
    const err = outcome.stderr.trim();
    const kind = classifyFailure(outcome);
    const base = failureOf(outcome, kind !== 'permanent');
    const what = `${formatCommandLine(outcome.argv)}: ${describeOutcome(outcome, target.timeoutMs)}`;
    if (outcome.timedOut) {
      return new RestoreTimeoutError(`${what}${err ? `: ${err}` : ''}; nothing was committed`, base, text, target.timeoutMs);
    }
    if (kind === 'lock' && target.lock) {
      const { file, timeoutMs, holder } = target.lock;
      return new LockTimeoutError(`${what}: gave up after ${timeoutMs} ms waiting for the xtables lock ${file}: ${err}`, file, timeoutMs, holder(), base);
    }
    const fault = faultyLine(err, text);
    const at = fault ? ` (input line ${fault.number}: ${fault.text})` : '';
    return new RestoreFailedError(`${what}${err ? `: ${err}` : ''}${at}`, base, text, fault?.text);
  };

  try {
    let batch: string[] = [];
    const slicer = new TimeSlicer();
    for (const line of lines) {
      if (lineCount === 0) batch.push(`*${target.table}`);
      batch.push(line);
      lineCount++;
      // The first line goes out at once: the child starts (and iptables-restore initialises)
      // while the rest of the input is still being rendered and hashed.
      if (lineCount === 1 || slicer.due()) {
        await write(`${batch.join('\n')}\n`);
        batch = [];
        await slicer.yield();
      }
    }
    if (lineCount === 0) return { lines: 0, input };
    batch.push('COMMIT');
    await write(`${batch.join('\n')}\n`);
    const running = child as RunningCommand;
    if (!running.stdin.destroyed) running.stdin.end();
    const outcome = await running.done;
    if (outcome.code !== 0 || outcome.timedOut || outcome.spawnError) throw failure(outcome);
    return { lines: lineCount, input };
  } catch (error) {
    // Our own failure mid-stream (a throwing generator, the lock): never leave the child behind.
    if (child) {
      child.kill();
      await child.done;
    }
    throw error;
  } finally {
    if (started && target.afterEnd) target.afterEnd();
  }
}
