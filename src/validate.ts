// Checks shared by matches, actions and rules. Each returns the value it accepted so callers
// can validate and use in one expression. All throw InvalidRuleError naming `where`.
import { isIP } from 'node:net';
import { InvalidOptionError, InvalidRuleError } from './errors';

/** The longest chain name iptables takes, in bytes. */
export const MAX_CHAIN_NAME_LENGTH = 28;
/** iptables refuses comments of 256 bytes or more (the kernel's buffer holds 255 + NUL). */
export const MAX_COMMENT_BYTES = 255;
/** iptables' LOG target takes at most 29 prefix characters; we append ": ". */
export const MAX_LOG_PREFIX_LENGTH = 27;
const IFNAMSIZ_MAX = 15;
const IPSET_MAXNAMELEN = 31;

// Control characters (C0, DEL, C1) can never appear in one line of restore input: the inside of
// a character class, for CONTROL and for the classes of what a word or quoted text may not hold.
const CONTROL_CHARS = '\\u0000-\\u001f\\u007f-\\u009f';
export const CONTROL = new RegExp(`[${CONTROL_CHARS}]`);

// An unpaired UTF-16 surrogate has no UTF-8 form: iptables would get U+FFFD, and the value would
// never read back as written (a chain recreated and deleted on every apply).
const LONE_SURROGATE = /\p{Surrogate}/u;
// String.prototype.isWellFormed (Node 20) scans natively: 5.4 ms per million short rule strings
// against 12.5 for a Unicode-mode regular expression. The expression where it is missing (Debian
// bookworm's Node 18, which the arm64 prebuild's smoke test runs under qemu).
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** Whether a string is well-formed Unicode (no unpaired surrogate), so it survives UTF-8. */
export function isWellFormed(value: string): boolean {
  return nativeIsWellFormed !== undefined ? nativeIsWellFormed.call(value) : isWellFormedByExpression(value);
}

/** The regular-expression form of isWellFormed, for a test that they agree. @internal */
export function isWellFormedByExpression(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

const NOT_WELL_FORMED = 'must be well-formed Unicode (it has an unpaired UTF-16 surrogate, which iptables would get as U+FFFD)';

// CONTROL with what else a word or quoted text may not hold, as one class: one scan per value
// (validation runs over every value of a 100k-rule file).
const NOT_IN_WORD = new RegExp(`[${CONTROL_CHARS}\\s"'\\\\]`);
const NOT_IN_QUOTES = new RegExp(`[${CONTROL_CHARS}"\\\\\`$]`);

/** Why a value is not a word (see word()), or undefined when it is one. */
export function wordProblem(value: unknown, what: string): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return `${what} must be a non-empty string`;
  if (NOT_IN_WORD.test(value)) return `${what} must not contain whitespace, quotes, backslashes or control characters`;
  if (!isWellFormed(value)) return `${what} ${NOT_WELL_FORMED}`;
  return undefined;
}

/** A word: one token on the restore line, so no whitespace, quotes, backslashes or controls. */
export function word(where: string, value: unknown, what: string): string {
  const problem = wordProblem(value, what);
  if (problem !== undefined) throw new InvalidRuleError(where, value, problem);
  return value as string;
}

/** Any string handed to iptables must be well-formed Unicode. */
export function wellFormed(where: string, value: string, what: string): string {
  if (!isWellFormed(value)) throw new InvalidRuleError(where, value, `${what} ${NOT_WELL_FORMED}`);
  return value;
}

/** Text inside double quotes (comments, log prefixes): spaces are fine, quotes and controls not. */
export function quotedText(where: string, value: unknown, what: string, maxBytes: number): string {
  if (typeof value !== 'string') throw new InvalidRuleError(where, value, `${what} must be a string`);
  if (NOT_IN_QUOTES.test(value)) {
    throw new InvalidRuleError(where, value, `${what} must not contain quotes, backslashes, $, backticks or control characters`);
  }
  wellFormed(where, value, what);
  if (Buffer.byteLength(value, 'utf8') > maxBytes) {
    throw new InvalidRuleError(where, value, `${what} must be at most ${maxBytes} bytes`);
  }
  return value;
}

export function chainName(where: string, value: unknown): string {
  const name = word(where, value, 'chain name');
  // iptables counts bytes, not UTF-16 units (15 x "ä" is 30 bytes and refused).
  if (Buffer.byteLength(name, 'utf8') > MAX_CHAIN_NAME_LENGTH) {
    throw new InvalidRuleError(where, value, `chain name must be at most ${MAX_CHAIN_NAME_LENGTH} bytes`);
  }
  if (name.startsWith('-') || name.startsWith('!')) {
    throw new InvalidRuleError(where, value, 'chain name must not start with "-" or "!"');
  }
  return name;
}

export function interfaceName(where: string, value: unknown): string {
  const name = word(where, value, 'interface name');
  if (Buffer.byteLength(name, 'utf8') > IFNAMSIZ_MAX || name.includes('/') || name.startsWith('!')) {
    throw new InvalidRuleError(where, value, `interface name must be at most ${IFNAMSIZ_MAX} bytes without "/" or a leading "!"`);
  }
  return name;
}

export function ipSetName(where: string, value: unknown): string {
  const name = word(where, value, 'ipset name');
  if (Buffer.byteLength(name, 'utf8') > IPSET_MAXNAMELEN || name.includes(',') || name.startsWith('!') || name.startsWith('-')) {
    throw new InvalidRuleError(where, value, `ipset name must be at most ${IPSET_MAXNAMELEN} bytes without "," or a leading "!"/"-"`);
  }
  return name;
}

export function uint(where: string, value: unknown, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidRuleError(where, value, `${what} must be an integer from 0 to ${max}`);
  }
  return value;
}

export const uint32 = (where: string, value: unknown, what: string): number => uint(where, value, 0xffffffff, what);

/** A 32-bit mark that must have at least one bit (clearing or setting no bits is a mistake). */
export function nonZeroMark(where: string, mark: unknown): number {
  const m = uint32(where, mark, 'mark');
  if (m === 0) throw new InvalidRuleError(where, mark, 'mark must not be 0');
  return m;
}
export const uint8 = (where: string, value: unknown, what: string): number => uint(where, value, 255, what);
export const port = (where: string, value: unknown): number => uint(where, value, 65535, 'port');

/** "0x" followed by lowercase hex, "0x0" for zero (Go's %#x). */
export function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

/** An IPv4/IPv6 address or CIDR as iptables' --source/--destination take it. */
export function cidr(where: string, value: unknown): string {
  const text = word(where, value, 'address');
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) throw new InvalidRuleError(where, value, 'expected an IPv4 or IPv6 address or CIDR');
  if (slash >= 0) {
    const bits = text.slice(slash + 1);
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      throw new InvalidRuleError(where, value, `prefix length must be 0 to ${max}`);
    }
  }
  return text;
}

/** A single IP address; returns the address family (4 or 6). */
export function ipAddress(where: string, value: unknown): 4 | 6 {
  const text = word(where, value, 'address');
  const family = isIP(text);
  if (family === 0) throw new InvalidRuleError(where, value, 'expected an IPv4 or IPv6 address');
  return family as 4 | 6;
}

/** The multiport match takes at most 15 ports, a range counting as two. */
export const MAX_MULTIPORT_SLOTS = 15;

/** The longest delay Node's timers can wait: a longer one is clamped to 1 ms and fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** An option in milliseconds: `fallback` when undefined, else a finite number from 0 to what
 *  Node's timers can wait. @throws {@link InvalidOptionError} naming `option` and the value. */
export function nonNegativeMs(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, value, 'expected a non-negative number of milliseconds');
  }
  if (value > MAX_TIMER_MS) {
    throw new InvalidOptionError(option, value, `at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest delay Node's timers can wait`);
  }
  return value;
}
