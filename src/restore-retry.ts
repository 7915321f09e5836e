// The write step's retry policy: re-read and retry a failed iptables-restore with backoff, give
// up on permanent failures, and look for the rule the kernel refuses when the error blames COMMIT.
import { TIMEOUT_ATTEMPTS } from './commands';
import { LockTimeoutError, RestoreFailedError, RestoreTimeoutError } from './errors';
import type { Logger } from './logger';
import type { ReplaySite } from './replay-site';
import { findRefusedRule } from './restore-bisect';

const RESTORE_RETRIES = 10;

/** The steps one write attempt takes, and what to tell the Table. */
export interface RetriedWrite {
  readonly lockTimeoutMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Before each attempt: re-read the dataplane if the cache is invalid. */
  readonly prepare: () => Promise<void>;
  readonly write: () => Promise<void>;
  /** The error naming the rule the kernel refuses, if one is found. */
  readonly refusedRule: (error: RestoreFailedError) => Promise<RestoreFailedError | undefined>;
  /** Called before each retry's backoff. */
  readonly onRetry: (error: LockTimeoutError | RestoreFailedError, backoffMs: number) => void;
}

/** Runs the write until it lands: up to 10 retries, lock waits sharing one budget of about
 *  lockTimeoutMs, and a run killed at its deadline tried twice at most. */
export async function writeWithRetries(w: RetriedWrite): Promise<void> {
  let backoffMs = 1;
  let timeouts = 0;
  let bisected = false;
  // Lock waits share one budget: the whole apply gives up after about lockTimeoutMs.
  const lockDeadline = w.now() + w.lockTimeoutMs;
  for (let retriesLeft = RESTORE_RETRIES; ; retriesLeft--) {
    await w.prepare();
    try {
      await w.write();
      return;
    } catch (error) {
      if (error instanceof LockTimeoutError) {
        if (retriesLeft === 0 || w.now() >= lockDeadline) throw error;
      } else {
        if (!(error instanceof RestoreFailedError)) throw error;
        if (!bisected && blamesOnlyCommit(error)) {
          bisected = true;
          const refused = await w.refusedRule(error);
          if (refused) throw refused;
        }
        if (!error.retryable || retriesLeft === 0) throw error;
        if (error instanceof RestoreTimeoutError && ++timeouts >= TIMEOUT_ATTEMPTS) throw error;
      }
      w.onRetry(error, backoffMs);
      await w.sleep(backoffMs);
      backoffMs *= 2;
    }
  }
}

/** Where to replay a failed transaction. */
export interface RefusalSearch extends ReplaySite {
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
}

/** The rule the kernel refuses, found in a throwaway namespace, as a permanent error; undefined
 *  when the copy there takes the transaction (the failure depended on something else). */
export async function refusedRuleError(s: RefusalSearch, error: RestoreFailedError): Promise<RestoreFailedError | undefined> {
  const refused = await findRefusedRule({
    ...s,
    restoreArgs: s.restoreArgs.filter((a) => a !== '--noflush' && a !== '--verbose'),
    input: error.input,
    timeoutMs: s.commandTimeoutMs,
  }).catch(() => undefined);
  if (!refused) return undefined;
  s.logger.warn({ table: s.table, line: refused.number, rule: refused.text, refusedAlone: refused.refusedAlone }, 'the kernel refuses a rule: not retrying');
  const verdict = refused.refusedAlone
    ? `the kernel refuses input line ${refused.number}: ${refused.text}`
    : `the kernel refuses the transaction from input line ${refused.number} on: ${refused.text}; that line loads without the rules before it, so it is what they make together that is refused (a jump loop, or a table too big), not one rule`;
  return new RestoreFailedError(
    `${error.message}; ${verdict} (found by replaying the transaction on a copy of the table in a throwaway network namespace)`,
    { argv: [error.command, ...error.args], exitCode: error.exitCode, signal: error.signal, stderr: error.stderr, reason: error.reason, retryable: false, cause: error },
    error.input,
    refused.text,
  );
}

/** Legacy iptables-restore's whole verdict when the kernel refuses the new table: "line N failed"
 *  with N the COMMIT line. */
function blamesOnlyCommit(error: RestoreFailedError): boolean {
  return error.failedLine === 'COMMIT' && /^\S+: line \d+ failed\s*$/.test(error.stderr.trim());
}
