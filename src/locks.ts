// The xtables locks (SPEC section 5): flock on the lock file that iptables >= 1.6 uses, and the
// abstract unix socket "@xtables" that iptables 1.4 binds. The syscalls are native try-once
// calls that never block; waiting is a timer loop here, so the event loop keeps running while
// a lock is contended.
import { constants as osConstants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { loadNative, nativeInfo, type NativeLockFailure, type NativeLockHandle } from './native';
import { readFileSync, statSync } from 'node:fs';
import { InvalidCallError, InvalidOptionError, IptablesSyncError, LockTimeoutError, type LockHolder } from './errors';

/** The socket name iptables 1.4 (and Felix) lock on. */
export const DEFAULT_SOCKET_NAME = '@xtables';
/** Where iptables >= 1.6 keeps its lock file unless $XTABLES_LOCKFILE says otherwise. */
export const DEFAULT_LOCK_FILE_PATH = '/run/xtables.lock';

/** The iptables >= 1.6 lock file stayed locked by someone else for the whole timeout. */
export class Err16LockTimeout extends LockTimeoutError {
  /** Always `'Err16LockTimeout'`. */
  override readonly name = 'Err16LockTimeout';
  constructor(
    /** The lock file waited for. */
    readonly lockFilePath: string,
    timeoutMs: number,
    holder: LockHolder | undefined = findLockHolder(lockFilePath),
  ) {
    super(`timed out after ${timeoutMs} ms waiting for the iptables lock file ${lockFilePath} (flock held by another process)`, lockFilePath, timeoutMs, holder);
  }
}

/** The iptables 1.4 abstract socket stayed bound by someone else for the whole timeout. */
export class Err14LockTimeout extends LockTimeoutError {
  /** Always `'Err14LockTimeout'`. */
  override readonly name = 'Err14LockTimeout';
  constructor(
    /** The abstract socket waited for, such as `@xtables`. */
    readonly socketName: string,
    timeoutMs: number,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for the iptables 1.4 lock socket ${socketName} (bound by another process)`, socketName, timeoutMs, undefined);
  }
}

/**
 * The process holding a lock on the file, from /proc/locks (matched by device and inode) and its
 * /proc/PID/cmdline. Undefined when the file or the holder cannot be found (another pid
 * namespace, an OFD lock without pid, no /proc). Never throws.
 *
 * @param lockFilePath - The lock file, such as {@link DEFAULT_LOCK_FILE_PATH}.
 * @param procLocks - Where to read the kernel's lock table (default `/proc/locks`).
 */
export function findLockHolder(lockFilePath: string, procLocks = '/proc/locks'): LockHolder | undefined {
  try {
    const st = statSync(lockFilePath);
    // /proc/locks names the file as MAJOR:MINOR:INODE, the device numbers in hex.
    const dev = `${(Number(st.dev) >> 8 & 0xfff).toString(16).padStart(2, '0')}:${((Number(st.dev) & 0xff) | ((Number(st.dev) >> 12) & 0xfff00)).toString(16).padStart(2, '0')}:${st.ino}`;
    for (const line of readFileSync(procLocks, 'utf8').split('\n')) {
      // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146979 0 EOF" (blocked waiters start with "->")
      const f = line.trim().split(/\s+/);
      if (f[1] === '->' || f[5] !== dev) continue;
      const pid = Number(f[4]);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      let command: string | undefined;
      try {
        command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((w) => w !== '').join(' ') || undefined;
      } catch {
        command = undefined;
      }
      return { pid, command };
    }
  } catch {
    // no such file, no /proc: nobody to name
  }
  return undefined;
}

/** The locks need the native addon, and it is not loaded; the message says why and what to do. */
export class LockUnavailableError extends IptablesSyncError {
  /** Always `'LockUnavailableError'`. */
  override readonly name = 'LockUnavailableError';
  constructor(
    /** Why the addon is not loaded (as `nativeInfo().reason` says). */
    readonly reason: string,
  ) {
    super(`the iptables locks need the native addon, which is not loaded: ${reason}. Fix: ${lockFix(reason)}`);
  }
}

function lockFix(reason: string): string {
  if (reason.startsWith('disabled by IPTABLES_SYNC_NO_NATIVE')) return 'unset IPTABLES_SYNC_NO_NATIVE';
  return (
    'the prebuilt addon needs Linux on x64 or arm64 with glibc >= 2.28; elsewhere install g++, make and python3 ' +
    'and run `npm rebuild iptables-sync` to build it from source'
  );
}

// native/locks.h kNotRegularFile: the lock path exists but is a FIFO, device, socket, ….
const NOT_REGULAR_FILE = 'not-a-regular-file';

/** A lock syscall failed for a reason other than "someone else holds it". */
export class LockSystemError extends IptablesSyncError {
  /** Always `'LockSystemError'`. */
  override readonly name = 'LockSystemError';
  constructor(
    /** The lock file path or `@socket` name. */
    readonly target: string,
    /** The call that failed (such as `open` or `flock`), or `'not-a-regular-file'` when the lock
     *  path is a FIFO, device or socket. */
    readonly syscall: string,
    /** The errno value. */
    readonly errno: number,
    /** Its name, such as `'EACCES'`. */
    readonly code: string,
  ) {
    super(
      syscall === NOT_REGULAR_FILE
        ? `iptables lock file ${target} is not a regular file (a FIFO or device there could block or misbehave): refused`
        : `${syscall} failed for iptables lock ${target}: ${code} (errno ${errno})`,
    );
  }
}

/** One lock held: by {@link tryFlockOnce} or {@link tryBindAbstractOnce}. */
export interface LockHandle {
  /** Releases the lock (closes its fd). Idempotent. */
  release(): void;
}

/** Both iptables locks held, as {@link grabIptablesLocks} gives them. */
export interface Locker {
  /** Releases both locks. Idempotent. */
  close(): void;
}

/** What a Table accepts as its lock. */
export interface TableLock {
  /** Takes the lock; may wait (resolve when held) or reject (say, with a {@link LockTimeoutError}). */
  lock(): Promise<void> | void;
  /** Releases what one lock() took. */
  unlock(): void;
}

/** For binaries that lock themselves (iptables-restore >= 1.6.2 with --wait, nft). */
export const NO_OP_LOCK: TableLock = Object.freeze({
  lock(): void {},
  unlock(): void {},
});

// Keeps the native handle private so callers only see release(). Dropping a handle without
// releasing it lets garbage collection close the fd, which releases the lock: keep it.
class NativeHandle implements LockHandle {
  constructor(private readonly handle: NativeLockHandle) {}
  release(): void {
    this.handle.release();
  }
}

function addonOrThrow(): NonNullable<ReturnType<typeof loadNative>> {
  const addon = loadNative();
  if (!addon) throw new LockUnavailableError(nativeInfo().reason ?? 'unknown reason');
  return addon;
}

function isFailure(r: NativeLockHandle | NativeLockFailure): r is NativeLockFailure {
  return typeof (r as NativeLockFailure).errno === 'number';
}

// `label` says in words what the field is: the message names both.
function checkString(field: string, label: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.includes('\0')) {
    throw new InvalidOptionError(field, value, `the ${label} must be a non-empty string without NUL`);
  }
  return value;
}

/** The abstract name without its leading "@" (Go's and ss(8)'s notation). */
function abstractName(socketName: string): string {
  const name = socketName.startsWith('@') ? socketName.slice(1) : socketName;
  if (name === '' || Buffer.byteLength(name, 'utf8') > 107) {
    throw new InvalidOptionError('socketName', socketName, 'an abstract socket name must be 1-107 bytes after its "@"');
  }
  return name;
}

function tryOnce(
  result: NativeLockHandle | NativeLockFailure,
  target: string,
  busyErrno: number,
): LockHandle | undefined {
  if (!isFailure(result)) return new NativeHandle(result);
  if (result.errno === busyErrno) return undefined;
  throw new LockSystemError(target, result.syscall, result.errno, getSystemErrorName(-result.errno));
}

/**
 * One non-blocking attempt at the iptables >= 1.6 lock: open (create, mode 0600, no symlinks)
 * and flock(LOCK_EX|LOCK_NB). Undefined when another process holds it.
 *
 * @throws {@link LockSystemError} for other failures (permissions, not a regular file, …).
 * @throws {@link LockUnavailableError} when the native addon is not loaded.
 * @throws {@link InvalidOptionError} for an empty path or one with NUL.
 */
export function tryFlockOnce(lockFilePath: string): LockHandle | undefined {
  checkString('lockFilePath', 'lock file path', lockFilePath);
  return tryOnce(addonOrThrow().tryFlock(lockFilePath), lockFilePath, osConstants.errno.EWOULDBLOCK);
}

/**
 * One non-blocking attempt at the iptables 1.4 lock: bind and listen on the abstract unix socket
 * (leading "@" optional). Undefined when it is bound already.
 *
 * @throws {@link LockSystemError} for other failures.
 * @throws {@link LockUnavailableError} when the native addon is not loaded.
 * @throws {@link InvalidOptionError} for a name that is empty, has NUL, or is longer than 107 bytes after its "@".
 */
export function tryBindAbstractOnce(socketName: string): LockHandle | undefined {
  checkString('socketName', 'socket name', socketName);
  const name = abstractName(socketName);
  return tryOnce(addonOrThrow().tryBindAbstract(name), `@${name}`, osConstants.errno.EADDRINUSE);
}

function checkDuration(field: string, label: string, value: number, allowZero: boolean): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new InvalidOptionError(field, value, `the ${label} must be a finite number of milliseconds${allowZero ? ' >= 0' : ' > 0'}`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Tries at once, then every probe interval, with a last try at the deadline (like Felix, which
// checks the timeout after each failed try).
async function retry(attempt: () => LockHandle | undefined, timeoutMs: number, probeIntervalMs: number, onTimeout: () => Error): Promise<LockHandle> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const handle = attempt();
    if (handle) return handle;
    const left = deadline - performance.now();
    if (left <= 0) throw onTimeout();
    await sleep(Math.min(probeIntervalMs, left));
  }
}

/**
 * Takes the iptables >= 1.6 lock file, then the iptables 1.4 abstract socket, each retried every
 * probeIntervalMs for up to timeoutMs. Never blocks the event loop.
 *
 * @param lockFilePath - Usually {@link DEFAULT_LOCK_FILE_PATH}.
 * @param socketName - Usually {@link DEFAULT_SOCKET_NAME}.
 * @param timeoutMs - How long to wait for each lock, in ms (0: one try each).
 * @param probeIntervalMs - Time between tries, in ms (> 0).
 * @throws {@link Err16LockTimeout} or {@link Err14LockTimeout} when a lock stays held for the whole
 *   timeout (nothing is held afterwards); {@link LockSystemError} and {@link LockUnavailableError}
 *   as the try functions; {@link InvalidOptionError} for a bad argument (it names which).
 */
export async function grabIptablesLocks(lockFilePath: string, socketName: string, timeoutMs: number, probeIntervalMs: number): Promise<Locker> {
  checkString('lockFilePath', 'lock file path', lockFilePath);
  checkString('socketName', 'socket name', socketName);
  abstractName(socketName);
  checkDuration('timeoutMs', 'lock timeout', timeoutMs, true);
  checkDuration('probeIntervalMs', 'lock probe interval', probeIntervalMs, false);
  addonOrThrow();

  const lock16 = await retry(() => tryFlockOnce(lockFilePath), timeoutMs, probeIntervalMs, () => new Err16LockTimeout(lockFilePath, timeoutMs));
  let lock14: LockHandle;
  try {
    lock14 = await retry(() => tryBindAbstractOnce(socketName), timeoutMs, probeIntervalMs, () => new Err14LockTimeout(socketName, timeoutMs));
  } catch (err) {
    lock16.release();
    throw err;
  }
  let closed = false;
  return {
    close(): void {
      if (closed) return;
      closed = true;
      lock14.release();
      lock16.release();
    },
  };
}

/**
 * Reference-counted holder of the iptables locks, shared by the Tables of one process: the first
 * lock() takes the locks (concurrent callers wait for that same grab), the last unlock() releases
 * them, and an unlock() without a matching lock() throws.
 *
 * @throws {@link InvalidOptionError} from the constructor for a bad path, socket name or duration.
 */
export class SharedLock implements TableLock {
  private refCount = 0;
  private locker: Locker | undefined;
  private pending: Promise<void> | undefined;

  constructor(
    /** The iptables >= 1.6 lock file, usually {@link DEFAULT_LOCK_FILE_PATH}. */
    readonly lockFilePath: string,
    /** How long lock() waits for each lock, in ms (0: one try). */
    readonly lockTimeoutMs: number,
    /** Time between tries, in ms (> 0). */
    readonly lockProbeIntervalMs: number,
    /** The iptables 1.4 abstract socket; default {@link DEFAULT_SOCKET_NAME}. */
    readonly socketName: string = DEFAULT_SOCKET_NAME,
  ) {
    checkString('lockFilePath', 'lock file path', lockFilePath);
    abstractName(checkString('socketName', 'socket name', socketName));
    checkDuration('lockTimeoutMs', 'lock timeout', lockTimeoutMs, true);
    checkDuration('lockProbeIntervalMs', 'lock probe interval', lockProbeIntervalMs, false);
  }

  /** Whether the locks are held right now. */
  get held(): boolean {
    return this.locker !== undefined;
  }

  /** Takes the locks if this is the first holder; resolves when they are held.
   *  Rejects as {@link grabIptablesLocks} does. */
  async lock(): Promise<void> {
    this.refCount++;
    if (this.locker) return;
    this.pending ??= this.grab();
    try {
      await this.pending;
    } catch (err) {
      // An unlock() while the grab was pending may have taken this count already.
      if (this.refCount > 0) this.refCount--;
      throw err;
    }
  }

  /** Drops one hold; the last releases the locks.
   *  @throws {@link InvalidCallError} when there is no matching lock(). */
  unlock(): void {
    if (this.refCount === 0) {
      throw new InvalidCallError('SharedLock.unlock', `called without a matching lock() (lock file ${this.lockFilePath})`);
    }
    this.refCount--;
    if (this.refCount === 0 && this.locker) {
      const locker = this.locker;
      this.locker = undefined;
      locker.close();
    }
  }

  private async grab(): Promise<void> {
    try {
      const locker = await grabIptablesLocks(this.lockFilePath, this.socketName, this.lockTimeoutMs, this.lockProbeIntervalMs);
      // Everyone may have unlocked while the grab was pending: then nobody wants it any more.
      if (this.refCount === 0) locker.close();
      else this.locker = locker;
    } finally {
      this.pending = undefined;
    }
  }
}
