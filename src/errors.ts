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
    readonly where: string,
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
    readonly fragment: string,
    reason: string,
  ) {
    super(where, fragment, reason);
  }
}

/** A Table option or constructor argument is invalid. */
export class InvalidOptionError extends IptablesSyncError {
  constructor(
    readonly option: string,
    readonly badValue: unknown,
    reason: string,
  ) {
    super(`option ${option}: ${reason} (got ${describe(badValue)})`);
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

/** An external command could not run or failed; carries everything needed to reproduce it. */
export class CommandFailedError extends IptablesSyncError {
  constructor(
    message: string,
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** iptables-save (or ip6tables-save) failed, was killed, or its output was cut short, after the
 *  retries. The dataplane was not written. */
export class SaveFailedError extends CommandFailedError {}

/** iptables-restore rejected our input after the retries. `failedLine` is the input line that
 *  iptables-restore named, when it named one. The desired state is kept: fix the cause and
 *  apply() again. */
export class RestoreFailedError extends CommandFailedError {
  constructor(
    message: string,
    command: string,
    args: readonly string[],
    exitCode: number | null,
    signal: string | null,
    stderr: string,
    readonly input: string,
    readonly failedLine: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, command, args, exitCode, signal, stderr, options);
  }
}

/** Chains we wanted to delete are still referenced by rules we do not own. Everything else of
 *  the apply landed; these chains stay and are tried again on the next apply. */
export class ChainDeletionError extends IptablesSyncError {
  constructor(readonly failures: readonly { readonly chain: string; readonly referrers: readonly string[] }[], readonly stderr: string) {
    super(
      `could not delete ${failures
        .map((f) => `chain ${JSON.stringify(f.chain)} (referenced from ${f.referrers.length ? f.referrers.map((r) => JSON.stringify(r)).join(', ') : 'an unknown rule'})`)
        .join('; ')}: ${stderr.trim()}`,
    );
  }
}
