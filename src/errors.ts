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

/** Renders a bad value for a message: strings JSON-quoted so control characters show. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    return `${value} (0x${value.toString(16)})`;
  }
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
