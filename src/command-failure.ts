// What a failed iptables command means for the retry loop: the lock was busy, another attempt
// may land (the dataplane changed under us), or nothing another attempt does can fix it. Decided
// from the child's own stderr and spawn error, as iptables 1.8 words them.
import type { CommandOutcome } from './commands';
import type { CommandFailure } from './errors';
import { jumpOf } from './save-line';

/** 'lock': the xtables lock stayed busy; 'permanent': retrying cannot help; 'transient': a
 *  re-read and another attempt may land. */
export type FailureKind = 'lock' | 'permanent' | 'transient';

// Spawn errors that no retry fixes (EMFILE/ENFILE/EAGAIN may clear up; the caller's own
// schedule, e.g. watch's backoff, is the place to wait for that, not a 1 ms retry).
const PERMANENT_SPAWN_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'ENOEXEC', 'ENOTDIR', 'EMFILE', 'ENFILE']);

const LOCK_BUSY = /Another app is currently holding the xtables lock|Can't lock .*: Resource temporarily unavailable/;

// The environment is wrong: no namespace, no binary, no permission.
const PERMANENT_ENVIRONMENT = [
  /Cannot open network namespace/,
  /exec of ".*" failed/,
  /Permission denied/,
  /Operation not permitted/,
  /can't open lock file/,
  /you must be root/,
];

// Line errors that depend on what the dataplane holds, which a re-read can change: a chain or
// rule another program deleted or created between our read and our write.
const DEPENDS_ON_DATAPLANE = /Couldn't load target|does not exist|doesn't exist|No chain\/target\/match|too big|Bad rule|already exists|File exists|Resource busy|Device or resource busy/;

/** Classifies a failed save or restore. */
export function classifyFailure(outcome: CommandOutcome): FailureKind {
  const { stderr, spawnError } = outcome;
  if (spawnError) return PERMANENT_SPAWN_CODES.has(spawnError.code ?? '') ? 'permanent' : 'transient';
  if (outcome.timedOut) return 'transient';
  if (LOCK_BUSY.test(stderr)) return 'lock';
  if (PERMANENT_ENVIRONMENT.some((re) => re.test(stderr))) return 'permanent';
  if (DEPENDS_ON_DATAPLANE.test(stderr)) return 'transient';
  // A parse error ("Error occurred at line: N") or a rule the kernel refused with EINVAL (nft:
  // "line N: RULE_APPEND failed (Invalid argument)"): the same input fails the same way.
  if (/Error occurred at line: \d+/.test(stderr) || /failed \(Invalid argument\)/.test(stderr)) return 'permanent';
  return 'transient';
}

/** The 1-based input line iptables-restore blamed ("Error occurred at line: N", "line N failed",
 *  "line N: RULE_APPEND failed"). */
export function blamedLineNumber(stderr: string): number | undefined {
  const m = /line:? (\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

const isRuleLine = (line: string | undefined): boolean => line !== undefined && /^-[AIR] /.test(line);

/**
 * The input line at fault. Usually the one iptables-restore named; when it named a line that is
 * no rule (nft checks jumps at COMMIT: "Chain 'x' does not exist … line: <COMMIT>"), the first
 * rule that jumps or goes to that chain.
 */
export function faultyLine(stderr: string, input: string): { readonly number: number; readonly text: string } | undefined {
  const n = blamedLineNumber(stderr);
  if (n === undefined) return undefined;
  const lines = input.split('\n');
  const named = lines[n - 1];
  if (named === undefined) return undefined;
  if (isRuleLine(named)) return { number: n, text: named };
  const missing = /Chain '([^']+)' does not exist/.exec(stderr)?.[1];
  if (missing !== undefined) {
    const i = lines.findIndex((l) => isRuleLine(l) && jumpOf(l)?.target === missing);
    if (i >= 0) return { number: i + 1, text: lines[i] as string };
  }
  return { number: n, text: named };
}


/** What the typed command errors carry about an outcome; `retryable` is the caller's verdict. */
export function failureOf(outcome: CommandOutcome, retryable: boolean, cause?: unknown): CommandFailure {
  return {
    argv: outcome.argv,
    exitCode: outcome.code,
    signal: outcome.signal,
    stderr: outcome.stderr,
    reason: outcome.spawnError ? 'spawn' : outcome.timedOut ? 'timeout' : outcome.signal ? 'signal' : 'exit',
    retryable,
    ...(cause !== undefined || outcome.spawnError ? { cause: cause ?? outcome.spawnError } : {}),
  };
}
