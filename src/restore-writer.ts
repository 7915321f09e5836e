// Runs iptables-restore on a stream of lines.
//
// The transaction is produced lazily (a generator) and written in time slices: each slice
// renders lines for a few milliseconds, writes them, honours the pipe's backpressure and yields
// to the event loop. iptables-restore parses while we render (two processes, two cores), and
// the caller's event loop is never blocked for long, even at 100k rules. The child is only
// started once there is a first line, so an empty transaction spawns nothing.
import { collect, type CommandFactory, type SpawnedCommand } from './commands';
import { RestoreFailedError } from './errors';
import { TimeSlicer } from './time-slice';

export interface RestoreTarget {
  readonly run: CommandFactory;
  readonly command: string;
  readonly args: readonly string[];
  readonly table: string;
  readonly timeoutMs: number;
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

export async function streamRestore(target: RestoreTarget, lines: Iterable<string>): Promise<RestoreOutcome> {
  const chunks: string[] = [];
  let child: SpawnedCommand | undefined;
  let stderr: Promise<string> = Promise.resolve('');
  let started = false;
  let lineCount = 0;
  const input = (): string => chunks.join('');
  let timer: NodeJS.Timeout | undefined;

  const write = async (text: string): Promise<void> => {
    chunks.push(text);
    if (!child) {
      if (target.beforeStart) await target.beforeStart();
      started = true;
      try {
        child = target.run(target.command, target.args);
      } catch (error) {
        throw failure(`could not start: ${(error as Error).message}`, null, null, '', error);
      }
      stderr = collect(child.stderr);
      child.stdout.resume(); // --verbose output is not needed; keep the pipe drained
      child.exited.catch(() => undefined); // observed below; avoid an unhandled rejection meanwhile
    }
    // The child died or closed its input mid-transaction (killed, crashed): stop writing. Its
    // exit status, awaited below, says why. (A write to a destroyed stream returns false and
    // 'drain'/'close' never come again: waiting for them would hang apply() forever.)
    const stdin = child.stdin;
    if (stdin.destroyed || stdin.writableEnded) return;
    if (!stdin.write(text)) {
      if (stdin.destroyed) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          child?.stdin.off('drain', done);
          child?.stdin.off('close', done);
          resolve();
        };
        child?.stdin.on('drain', done);
        child?.stdin.on('close', done);
      });
    }
  };

  const failure = (message: string, code: number | null, signal: string | null, err: string, cause?: unknown): RestoreFailedError => {
    const text = input();
    const failedLine = failedLineOf(err, text);
    return new RestoreFailedError(
      `${target.command} ${message}${err.trim() ? `: ${err.trim()}` : ''}${failedLine !== undefined ? ` (input line: ${failedLine})` : ''}`,
      target.command,
      target.args,
      code,
      signal,
      err,
      text,
      failedLine,
      cause === undefined ? undefined : { cause },
    );
  };

  try {
    let batch: string[] = [];
    const slicer = new TimeSlicer();
    for (const line of lines) {
      if (lineCount === 0) batch.push(`*${target.table}`);
      batch.push(line);
      lineCount++;
      if (slicer.due()) {
        await write(`${batch.join('\n')}\n`);
        batch = [];
        await slicer.yield();
      }
    }
    if (lineCount === 0) return { lines: 0, input };
    batch.push('COMMIT');
    await write(`${batch.join('\n')}\n`);
    const running = child as SpawnedCommand;
    running.stdin.end();
    let exit;
    try {
      exit = await running.exited;
    } catch (error) {
      throw failure(`could not run: ${(error as Error).message}`, null, null, await stderr, error);
    }
    if (exit.code !== 0) throw failure(`exited with ${exit.code ?? exit.signal}`, exit.code, exit.signal, await stderr);
    return { lines: lineCount, input };
  } catch (error) {
    child?.kill('SIGKILL');
    if (child) await child.exited.catch(() => undefined);
    throw error;
  } finally {
    if (timer) clearTimeout(timer);
    if (started && target.afterEnd) target.afterEnd();
  }
}

/** The input line iptables-restore blamed ("Error occurred at line: N" or "line N failed"). */
export function failedLineOf(stderr: string, input: string): string | undefined {
  const m = /line:? (\d+)/.exec(stderr);
  if (!m) return undefined;
  return input.split('\n')[Number(m[1]) - 1];
}
