// Safety of the xtables lock file against a hostile neighbour who can write its directory
// (say $XTABLES_LOCKFILE points into /tmp): opening it never follows a planted symlink (the
// kernel refuses with ELOOP under O_NOFOLLOW, we report LockSystemError and touch nothing), a
// file we create is mode 0600 whatever the umask, and the fd does not leak into children
// (O_CLOEXEC).
//
// Known limits (see RELIABILITY.md): O_NOFOLLOW covers the last path component only — a
// symlinked *directory* on the way is followed, as by iptables itself; an existing file keeps
// the mode it has. A FIFO planted at the path is refused without blocking (last test).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grabIptablesLocks, LockSystemError, SharedLock, tryFlockOnce } from '../src/locks';
import { run } from './helpers/netns';

let dir: string;
const socket = (): string => `@ipts-lf-${process.pid}-${randomBytes(4).toString('hex')}`;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipts-lockfile-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('a planted symlink at the lock path is never followed', () => {
  it('dangling symlink: LockSystemError ELOOP, the target is not created', () => {
    const target = join(dir, 'victim-created');
    const link = join(dir, 'dangling.lock');
    symlinkSync(target, link);
    const e = errorOf(() => tryFlockOnce(link));
    expect(e).toBeInstanceOf(LockSystemError);
    expect(e).toMatchObject({ code: 'ELOOP', syscall: 'open', target: link });
    expect(existsSync(target)).toBe(false);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('symlink to an existing file (e.g. /etc/shadow-like): ELOOP, target untouched and not locked by us', () => {
    const target = join(dir, 'victim-existing');
    writeFileSync(target, 'secret\n', { mode: 0o640 });
    chmodSync(target, 0o640);
    const before = statSync(target);
    const link = join(dir, 'existing.lock');
    symlinkSync(target, link);
    expect(errorOf(() => tryFlockOnce(link))).toMatchObject({ name: 'LockSystemError', code: 'ELOOP' });
    const after = statSync(target);
    expect(after.mode).toBe(before.mode);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(readFileSync(target, 'utf8')).toBe('secret\n');
    // Nothing of ours holds a lock on the target.
    const h = tryFlockOnce(target);
    expect(h).toBeDefined();
    h?.release();
  });

  it('grabIptablesLocks and SharedLock fail at once with LockSystemError (not after the timeout)', async () => {
    const link = join(dir, 'grab.lock');
    symlinkSync(join(dir, 'grab-target'), link);
    const started = performance.now();
    await expect(grabIptablesLocks(link, socket(), 5000, 10)).rejects.toMatchObject({ name: 'LockSystemError', code: 'ELOOP' });
    const shared = new SharedLock(link, 5000, 10, socket());
    await expect(shared.lock()).rejects.toBeInstanceOf(LockSystemError);
    expect(shared.held).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(existsSync(join(dir, 'grab-target'))).toBe(false);
  });
});

describe('a lock file we create', () => {
  for (const umask of [0o000, 0o022, 0o077]) {
    it(`is mode 0600 with umask ${umask.toString(8).padStart(3, '0')}`, () => {
      const path = join(dir, `mode-${umask}.lock`);
      const old = process.umask(umask);
      try {
        const h = tryFlockOnce(path);
        expect(h).toBeDefined();
        h?.release();
      } finally {
        process.umask(old);
      }
      const st = lstatSync(path);
      expect(st.isFile()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.uid).toBe(process.getuid?.());
    });
  }

  it('is opened O_CLOEXEC: the fd is marked close-on-exec and a child process does not inherit it', async () => {
    const path = join(dir, 'cloexec.lock');
    const h = tryFlockOnce(path);
    expect(h).toBeDefined();
    try {
      const fd = readdirSync('/proc/self/fd').find((n) => {
        try {
          return readlinkSync(`/proc/self/fd/${n}`) === path;
        } catch {
          return false;
        }
      });
      expect(fd).toBeDefined();
      const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      expect((parseInt(flags ?? '0', 8) & 0o2000000) !== 0).toBe(true); // O_CLOEXEC
      const child = await run('sh', ['-c', 'ls -l /proc/$$/fd']);
      expect(child.stdout).not.toContain(path);
      // And the child cannot be what keeps the lock: after release it is free at once.
    } finally {
      h?.release();
    }
    const again = tryFlockOnce(path);
    expect(again).toBeDefined();
    again?.release();
  });
});

describe('a FIFO planted at the lock path', () => {
  // Found here and fixed in ae57190: TryFlock opened with O_RDONLY|O_CREAT and no O_NONBLOCK,
  // so open() on a planted FIFO blocked until a writer came — synchronously, on the event loop
  // thread, with no lock timeout applying. It now opens O_NONBLOCK and refuses anything but a
  // regular file. The call runs in a child with a deadline, so a regression cannot hang vitest.
  const dist = join(__dirname, '..', 'dist', 'locks.js');
  it.runIf(existsSync(dist))('does not block the process: tryFlockOnce throws LockSystemError at once, leaving the FIFO alone', async () => {
    const fifo = join(dir, 'planted.fifo.lock');
    await run('mkfifo', [fifo]);
    const child = spawn(process.execPath, ['-e', `const { tryFlockOnce } = require(${JSON.stringify(dist)}); try { tryFlockOnce(${JSON.stringify(fifo)}); console.log('returned'); } catch (e) { console.log(e.name); }`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    const code = await exited;
    clearTimeout(timer);
    expect(code, 'tryFlockOnce blocked on the FIFO until killed').toBe(0);
    expect(out.trim()).toBe('LockSystemError');
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });
});
