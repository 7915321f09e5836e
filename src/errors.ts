// Typed errors. Every message names the bad value, so a log line alone says what to fix.

/** Base class of every error this library throws on purpose. */
export class IptablesSyncError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A match, action, rule or chain was given a value that iptables would reject or that could
 *  break out of its fragment in the restore input. Thrown when the value is given. */
export class InvalidRuleError extends IptablesSyncError {
  constructor(
    /** The field or call at fault, such as `'JumpAction.target'` or `'updateChain'`. */
    readonly where: string,
    /** The value that was refused, as given. */
    readonly badValue: unknown,
    reason: string,
  ) {
    super(`${where}: ${reason} (got ${describe(badValue)})`);
  }
}

/** A criterion of a match needs a protocol criterion the match lacks, has in the wrong place, or
 *  negates (multiport and ICMP), or the match has a second protocol. Thrown when the Rule is
 *  built, since the builder takes criteria in any order. `fragment` is the offending
 *  criterion's rendered text, so a caller can find where it was written. */
export class MatchDependencyError extends InvalidRuleError {
  constructor(
    where: string,
    /** The offending criterion as rendered, such as `--dport 80`. */
    readonly fragment: string,
    reason: string,
  ) {
    super(where, fragment, reason);
  }
}

/** An option, or an argument of a function or constructor, is invalid: a Table option, a lock
 *  path or timeout, a reader setting. */
export class InvalidOptionError extends IptablesSyncError {
  constructor(
    /** The option or argument at fault, such as `'lockTimeoutMs'` or `'socketName'`. */
    readonly option: string,
    /** The value that was refused, as given. */
    readonly badValue: unknown,
    reason: string,
  ) {
    super(`option ${option}: ${reason} (got ${describe(badValue)})`);
  }
}

/** A method was called when the object's state does not allow it, such as
 *  `SharedLock.unlock()` without a matching `lock()`. */
export class InvalidCallError extends IptablesSyncError {
  constructor(
    /** The call at fault, such as `'SharedLock.unlock'`. */
    readonly call: string,
    reason: string,
  ) {
    super(`${call}(): ${reason}`);
  }
}

/** Bad values are quoted in messages up to this many characters: a 10 MB comment must not be
 *  echoed into a log in full. */
export const MAX_QUOTED_CHARACTERS = 200;

/** Renders a bad value for a message: strings JSON-quoted so control characters show, cut
 *  after MAX_QUOTED_CHARACTERS (`"abc…"… (N characters)`). */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    return value.length <= MAX_QUOTED_CHARACTERS ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, MAX_QUOTED_CHARACTERS))}… (${value.length} characters)`;
  }
  const text = describeAny(value);
  return text.length <= MAX_QUOTED_CHARACTERS * 2 ? text : `${text.slice(0, MAX_QUOTED_CHARACTERS)}… (${text.length} characters)`;
}

function describeAny(value: unknown): string {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    return `${value} (0x${value.toString(16)})`;
  }
  if (typeof value === 'number') return String(value); // NaN, Infinity, fractions: JSON would say null
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // BigInt inside, cycles, or no toString at all (null-prototype objects): the message must
    // still be built, or the caller gets a TypeError instead of the typed error.
    try {
      return String(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}

/** Why a command failed: it exited non-zero, died of a signal, was killed at its deadline, or
 *  could not be started at all. */
export type CommandFailureReason = 'exit' | 'signal' | 'timeout' | 'spawn';

/** What a failed command leaves behind for its error. */
export interface CommandFailure {
  /** The command line exactly as run, wrapper included (`ip netns exec NS iptables-save …`). */
  readonly argv: readonly string[];
  /** The exit code; null when the child died of a signal or never started. */
  readonly exitCode: number | null;
  /** The signal that ended the child (such as `'SIGKILL'` at the deadline), else null. */
  readonly signal: string | null;
  /** The child's own stderr, trimmed to a few KB. */
  readonly stderr: string;
  /** Why it failed. */
  readonly reason: CommandFailureReason;
  /** False for failures another attempt cannot fix (a missing namespace or binary, permission
   *  denied, input iptables rejects whatever the dataplane holds): the Table stops at once. */
  readonly retryable: boolean;
  /** The underlying error, such as the spawn error (ENOENT, EMFILE), when there is one. */
  readonly cause?: unknown;
}

/** An external command could not run or failed; carries everything needed to reproduce it.
 *  `command` and `args` are the command line as run, including an `ip netns exec` wrapper. */
export class CommandFailedError extends IptablesSyncError {
  /** The program run (`ip` when wrapped in `ip netns exec`). */
  readonly command: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** The exit code; null when the child died of a signal or never started. */
  readonly exitCode: number | null;
  /** The signal that ended the child, else null. */
  readonly signal: string | null;
  /** The child's stderr, trimmed to a few KB. */
  readonly stderr: string;
  /** Why it failed: `'exit'`, `'signal'`, `'timeout'` or `'spawn'`. */
  readonly reason: CommandFailureReason;
  /** False when another attempt cannot help (so the Table did not retry). */
  readonly retryable: boolean;
  constructor(message: string, failure: CommandFailure) {
    super(message);
    this.command = failure.argv[0] ?? '';
    this.args = Object.freeze(failure.argv.slice(1));
    this.exitCode = failure.exitCode;
    this.signal = failure.signal;
    this.stderr = failure.stderr;
    this.reason = failure.reason;
    this.retryable = failure.retryable;
    if (failure.cause !== undefined) (this as { cause?: unknown }).cause = failure.cause;
  }

  /** The command line as run, quoted for a shell where needed. */
  get commandLine(): string {
    return formatCommandLine([this.command, ...this.args]);
  }
}

/** Quotes the words of a command line for a shell where needed (for messages). */
export function formatCommandLine(argv: readonly string[]): string {
  return argv.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** iptables-save (or ip6tables-save) failed, was killed, or its output was cut short, after the
 *  retries. The dataplane was not written. */
export class SaveFailedError extends CommandFailedError {}

/** iptables-save ran longer than `commandTimeoutMs` and was killed. */
export class SaveTimeoutError extends SaveFailedError {
  constructor(
    message: string,
    failure: CommandFailure,
    /** The deadline it was killed at, in ms (`commandTimeoutMs`). */
    readonly timeoutMs: number,
  ) {
    super(message, failure);
  }
}

/** iptables-restore rejected our input after the retries. `failedLine` is the input line at
 *  fault: the one iptables-restore named or, when it only blamed `COMMIT`, the rule found to
 *  cause it. The desired state is kept: fix the cause and apply() again. */
export class RestoreFailedError extends CommandFailedError {
  constructor(
    message: string,
    failure: CommandFailure,
    /** The whole restore input of the failed run. */
    readonly input: string,
    /** The input line at fault, when known. */
    readonly failedLine: string | undefined,
  ) {
    super(message, failure);
  }
}

/** iptables-restore ran longer than `commandTimeoutMs` and was killed; nothing was committed. */
export class RestoreTimeoutError extends RestoreFailedError {
  constructor(
    message: string,
    failure: CommandFailure,
    input: string,
    /** The deadline it was killed at, in ms (`commandTimeoutMs`). */
    readonly timeoutMs: number,
  ) {
    super(message, failure, input, undefined);
  }
}

/** Who holds a lock, as /proc/locks and /proc/PID/cmdline tell. */
export interface LockHolder {
  /** Its process ID. */
  readonly pid: number;
  /** Its command line, when readable. */
  readonly command: string | undefined;
}

/** The xtables lock stayed held by another process for the whole lock timeout: our own wait
 *  (Err16LockTimeout, Err14LockTimeout) or iptables-restore's `--wait` ("Another app is
 *  currently holding the xtables lock"). Nothing was written. `holder` names the process when it
 *  can be found. */
export class LockTimeoutError extends IptablesSyncError {
  constructor(
    message: string,
    /** The lock file (or, for iptables 1.4, the abstract socket) waited for. */
    readonly lockName: string,
    /** How long we (or iptables-restore) waited, in ms. */
    readonly timeoutMs: number,
    /** The process holding the lock, when it can be found. */
    readonly holder: LockHolder | undefined,
    /** When iptables-restore gave up waiting: its command line, exit code and stderr. */
    readonly failure?: CommandFailure,
  ) {
    super(`${message}${holder ? ` (held by pid ${holder.pid}${holder.command ? `: ${holder.command}` : ''})` : ''}`);
  }
}

/** Chains we wanted to delete are still referenced by rules we do not own. Everything else of
 *  the apply landed; these chains stay and are tried again on the next apply. */
export class ChainDeletionError extends IptablesSyncError {
  constructor(
    /** Each chain that stayed, with the chains whose rules jump or go to it (empty when not found). */
    readonly failures: readonly {
      /** The chain that could not be deleted. */
      readonly chain: string;
      /** Chains whose rules jump or go to it. */
      readonly referrers: readonly string[];
    }[],
    /** iptables-restore's stderr of the last failed deletion. */
    readonly stderr: string,
  ) {
    super(
      `could not delete ${failures
        .map((f) => `chain ${JSON.stringify(f.chain)} (referenced from ${f.referrers.length ? f.referrers.map((r) => JSON.stringify(r)).join(', ') : 'an unknown rule'})`)
        .join('; ')}: ${stderr.trim()}`,
    );
  }
}
