// One iptables-restore run as the Table makes it: the restore mode's arguments, the xtables lock
// held around old binaries, the metrics, and how long the binary itself took.
import type { CommandFactory } from './commands';
import { LockTimeoutError, RestoreFailedError } from './errors';
import { DEFAULT_LOCK_FILE_PATH, findLockHolder, type TableLock } from './locks';
import type { Logger } from './logger';
import type { TableMetrics } from './metrics';
import { streamRestore, type RestoreOutcome } from './restore-writer';
import type { RestoreMode } from './table-setup';

/** What one run needs of its Table. */
export interface RestoreRun {
  readonly run: CommandFactory;
  readonly command: string;
  readonly mode: RestoreMode;
  readonly table: string;
  readonly commandTimeoutMs: number;
  readonly lock: TableLock;
  readonly lockTimeoutMs: number;
  /** The lock file the Table was given, if any. */
  readonly lockFile: string | undefined;
  readonly logger: Logger;
  readonly metrics: TableMetrics | undefined;
  readonly labels: { readonly table: string; readonly ip_version: string };
  readonly now: () => number;
  /** Called once, also on failure, with the run's time less any wait for our own lock. */
  readonly onEnd: (ms: number) => void;
}

/** Streams lines to one iptables-restore run (none is started for no lines). */
export async function runRestore(r: RestoreRun, lines: Iterable<string>): Promise<RestoreOutcome> {
  const mode = r.mode;
  const lockFile = r.lockFile ?? (process.env.XTABLES_LOCKFILE || DEFAULT_LOCK_FILE_PATH);
  let lockStarted = 0;
  let lockWaitEnded = 0;
  const started = r.now();
  try {
    const outcome = await streamRestore(
      {
        run: r.run,
        command: r.command,
        args: mode.args,
        table: r.table,
        timeoutMs: r.commandTimeoutMs,
        // A self-locking binary takes the lock file we were given, not its compiled-in default.
        ...(!mode.holdLock && r.lockFile !== undefined ? { env: { XTABLES_LOCKFILE: r.lockFile } } : {}),
        lock: { file: lockFile, timeoutMs: r.lockTimeoutMs, holder: () => findLockHolder(lockFile) },
        ...(mode.holdLock
          ? {
              beforeStart: async () => {
                lockStarted = r.now();
                await r.lock.lock();
                lockWaitEnded = r.now();
                r.metrics?.lockAcquireSeconds.observe(r.labels, (r.now() - lockStarted) / 1000);
              },
              afterEnd: () => r.lock.unlock(),
            }
          : {}),
      },
      lines,
    );
    if (outcome.lines > 0) {
      r.metrics?.restoreCalls.inc(r.labels);
      r.metrics?.linesExecuted.inc(r.labels, outcome.lines);
      if (r.logger.isLevelEnabled?.('debug') ?? true) {
        r.logger.debug({ table: r.table, input: outcome.input() }, 'iptables-restore input');
      }
    }
    return outcome;
  } catch (error) {
    // A run that happened and failed (not our own lock timing out before it started).
    if (error instanceof RestoreFailedError || (error instanceof LockTimeoutError && error.failure !== undefined)) {
      r.metrics?.restoreCalls.inc(r.labels);
      r.metrics?.restoreErrors.inc(r.labels);
    }
    throw error;
  } finally {
    // The lock wait is not the binary's time (for a self-locking binary it is, as for Felix).
    const lockWaitMs = lockStarted === 0 ? 0 : Math.max(0, lockWaitEnded - lockStarted);
    r.onEnd(r.now() - started - lockWaitMs);
  }
}
