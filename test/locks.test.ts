// The xtables locks with real contention: flock(1) and iptables-legacy-restore holding the lock
// file, a python process holding the abstract socket, iptables-legacy waiting on us.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidCallError, InvalidOptionError } from '../src/errors';
import {
  Err14LockTimeout,
  Err16LockTimeout,
  LockSystemError,
  NO_OP_LOCK,
  SharedLock,
  grabIptablesLocks,
  tryBindAbstractOnce,
  tryFlockOnce,
} from '../src/locks';
import { nativeInfo } from '../src/native';
import { run, useOwnXtablesLockfile, useNamespace } from './helpers/netns';

const dir = mkdtempSync(join(tmpdir(), 'ipts-locks-'));
let seq = 0;
/** A lock file and abstract socket name nobody else uses. */
function fresh(): { file: string; socket: string } {
  seq++;
  return { file: join(dir, `lock-${seq}`), socket: `@ipts-test-${process.pid}-${seq}` };
}

const fdCount = (): number => readdirSync('/proc/self/fd').length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const holders: ChildProcessWithoutNullStreams[] = [];

/** Starts a process that prints a line once it holds its lock and lets go when stdin closes. */
function hold(cmd: string, args: readonly string[]): Promise<{ release(): Promise<void> }> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  holders.push(child);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => reject(new Error(`${cmd} exited ${code} before holding the lock: ${err}`)));
    child.stdout.once('data', () =>
      resolve({
        release: async () => {
          child.stdin.end();
          await exited;
        },
      }),
    );
  });
}

const holdFile = (file: string) => hold('flock', [file, 'sh', '-c', 'echo locked; exec cat']);
const holdSocket = (socket: string) =>
  hold(PYTHON, [
    '-c',
    'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)\ns.bind(b"\\0"+sys.argv[1].encode())\ns.listen(1)\nprint("bound",flush=True)\nsys.stdin.read()',
    socket.slice(1),
  ]);

afterEach(() => {
  for (const child of holders.splice(0)) {
    if (child.exitCode === null) child.stdin.end(); // lets go, whatever the test did
  }
});

it('the addon is loaded', () => {
  expect(nativeInfo().loaded).toBe(true);
});

describe('try-once primitives', () => {
  it('flock: creates the file 0600, is exclusive, and is released', () => {
    const { file } = fresh();
    const a = tryFlockOnce(file);
    expect(a).toBeDefined();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(tryFlockOnce(file)).toBeUndefined(); // another open file description: busy
    a?.release();
    a?.release(); // idempotent
    const b = tryFlockOnce(file);
    expect(b).toBeDefined();
    b?.release();
  });

  it('flock: refuses symlinks and reports other failures with the path', () => {
    const { file } = fresh();
    const link = `${file}.link`;
    symlinkSync(file, link);
    expect(() => tryFlockOnce(link)).toThrow(LockSystemError);
    expect(() => tryFlockOnce(link)).toThrow(`open failed for iptables lock ${link}: ELOOP`);
    expect(() => tryFlockOnce(join(dir, 'missing', 'x.lock'))).toThrow(/ENOENT/);
    expect(() => tryFlockOnce('')).toThrow(InvalidOptionError);
    expect(() => tryFlockOnce('')).toThrow('option lockFilePath: the lock file path must be a non-empty string without NUL (got "")');
  });

  it('flock: refuses a planted FIFO at once instead of blocking the process in open()', async () => {
    const { file } = fresh();
    expect((await run('mkfifo', [file])).code).toBe(0);
    // Should open() block after all, this writer unblocks it after 3 s and the time shows it.
    const rescuer = spawn('sh', ['-c', 'sleep 3; exec 3>"$0"', file], { stdio: 'ignore' });
    const started = performance.now();
    let err: unknown;
    try {
      tryFlockOnce(file)?.release();
    } catch (e) {
      err = e;
    }
    const took = performance.now() - started;
    rescuer.kill('SIGKILL');
    expect(took).toBeLessThan(1000);
    expect(err).toBeInstanceOf(LockSystemError);
    expect((err as Error).message).toBe(`iptables lock file ${file} is not a regular file (a FIFO or device there could block or misbehave): refused`);
    await expect(grabIptablesLocks(file, fresh().socket, 50, 10)).rejects.toThrow(LockSystemError);
  });

  it('abstract socket: exclusive, with or without "@", released', () => {
    const { socket } = fresh();
    const a = tryBindAbstractOnce(socket);
    expect(a).toBeDefined();
    expect(tryBindAbstractOnce(socket)).toBeUndefined();
    expect(tryBindAbstractOnce(socket.slice(1))).toBeUndefined();
    a?.release();
    const b = tryBindAbstractOnce(socket.slice(1));
    expect(b).toBeDefined();
    b?.release();
    expect(() => tryBindAbstractOnce(`@${'x'.repeat(108)}`)).toThrow(/1-107 bytes/);
    expect(() => tryBindAbstractOnce('@')).toThrow(InvalidOptionError);
    expect(() => tryBindAbstractOnce('@')).toThrow('option socketName: an abstract socket name must be 1-107 bytes after its "@" (got "@")');
  });

  it('abstract socket: conflicts with a process binding the exact name, as iptables 1.4 does', async () => {
    const { socket } = fresh();
    const holder = await holdSocket(socket);
    expect(tryBindAbstractOnce(socket)).toBeUndefined();
    await holder.release();
    const h = tryBindAbstractOnce(socket);
    expect(h).toBeDefined();
    h?.release();
  });
});

describe('grabIptablesLocks', () => {
  it('waits while flock(1) holds the lock file, then succeeds', async () => {
    const { file, socket } = fresh();
    const holder = await holdFile(file);
    const started = performance.now();
    const grab = grabIptablesLocks(file, socket, 10_000, 20);
    await sleep(300);
    await holder.release();
    const locker = await grab;
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
    expect(tryFlockOnce(file)).toBeUndefined();
    expect(tryBindAbstractOnce(socket)).toBeUndefined();
    locker.close();
    locker.close();
    const again = tryFlockOnce(file);
    expect(again).toBeDefined();
    again?.release();
  });

  it('times out with Err16LockTimeout naming the file and timeout, holding nothing', async () => {
    const { file, socket } = fresh();
    const holder = await holdFile(file);
    const before = fdCount();
    const started = performance.now();
    const err = await grabIptablesLocks(file, socket, 250, 40).catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(err).toBeInstanceOf(Err16LockTimeout);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toContain('250 ms');
    expect(took).toBeGreaterThanOrEqual(240);
    expect(took).toBeLessThan(2000);
    expect(fdCount()).toBe(before);
    const s = tryBindAbstractOnce(socket); // the socket was never taken
    expect(s).toBeDefined();
    s?.release();
    await holder.release();
  });

  it('times out with Err14LockTimeout when the socket is held, and releases the flock it took', async () => {
    const { file, socket } = fresh();
    const holder = await holdSocket(socket);
    const before = fdCount();
    const err = await grabIptablesLocks(file, socket, 200, 30).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Err14LockTimeout);
    expect((err as Error).message).toContain(socket);
    expect((err as Error).message).toContain('200 ms');
    expect(fdCount()).toBe(before);
    const probe = await run('flock', ['-n', file, 'true']); // another process gets the file lock
    expect(probe.code).toBe(0);
    await holder.release();
  });

  it('keeps the event loop running while it waits', async () => {
    const { file, socket } = fresh();
    const holder = await holdFile(file);
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const err = await grabIptablesLocks(file, socket, 600, 25).catch((e: unknown) => e);
    clearInterval(timer);
    histogram.disable();
    expect(err).toBeInstanceOf(Err16LockTimeout);
    expect(ticks).toBeGreaterThanOrEqual(25); // ~60 expected; generous for a loaded machine
    expect(histogram.max / 1e6).toBeLessThan(200);
    await holder.release();
  });

  it('validates its arguments', async () => {
    const { file, socket } = fresh();
    await expect(grabIptablesLocks(file, socket, -1, 10)).rejects.toThrow(InvalidOptionError);
    await expect(grabIptablesLocks(file, socket, -1, 10)).rejects.toThrow('option timeoutMs: the lock timeout must be a finite number of milliseconds >= 0 (got -1)');
    await expect(grabIptablesLocks(file, socket, 10, 0)).rejects.toThrow(/probe interval/);
    await expect(grabIptablesLocks(file, socket, 10, 0)).rejects.toThrow(/^option probeIntervalMs: .* > 0 \(got 0 \(0x0\)\)$/);
    await expect(grabIptablesLocks('', socket, 10, 10)).rejects.toThrow(InvalidOptionError);
    await expect(grabIptablesLocks('', socket, 10, 10)).rejects.toThrow(/^option lockFilePath: .*\(got ""\)$/);
    expect(() => new SharedLock(file, 10, Number.NaN, socket)).toThrow(/^option lockProbeIntervalMs: .*\(got NaN\)$/);
  });

  it('closes every fd on success, timeout and failure paths', async () => {
    const before = fdCount();
    for (let i = 0; i < 5; i++) {
      const { file, socket } = fresh();
      (await grabIptablesLocks(file, socket, 100, 10)).close();
      const h = tryFlockOnce(file);
      await grabIptablesLocks(file, socket, 30, 10).catch(() => undefined); // Err16
      h?.release();
      const s = tryBindAbstractOnce(socket);
      await grabIptablesLocks(file, socket, 30, 10).catch(() => undefined); // Err14
      s?.release();
      await grabIptablesLocks(join(dir, 'missing', 'x'), socket, 30, 10).catch(() => undefined); // ENOENT
    }
    expect(fdCount()).toBe(before);
  });
});

describe('SharedLock', () => {
  it('reference-counts: first lock takes, last unlock releases, unmatched unlock throws', async () => {
    const { file, socket } = fresh();
    const lock = new SharedLock(file, 1000, 10, socket);
    await Promise.all([lock.lock(), lock.lock()]);
    expect(lock.held).toBe(true);
    expect(tryFlockOnce(file)).toBeUndefined();
    lock.unlock();
    expect(tryFlockOnce(file)).toBeUndefined();
    lock.unlock();
    expect(lock.held).toBe(false);
    const h = tryFlockOnce(file);
    expect(h).toBeDefined();
    h?.release();
    expect(() => lock.unlock()).toThrow(/without a matching lock/);
    expect(() => lock.unlock()).toThrow(InvalidCallError);
    expect(() => lock.unlock()).toThrow(/^SharedLock\.unlock\(\): /);
  });

  it('concurrent lock() calls wait for the same contended grab', async () => {
    const { file, socket } = fresh();
    const holder = await holdFile(file);
    const lock = new SharedLock(file, 10_000, 20, socket);
    let resolved = 0;
    const waits = [lock.lock(), lock.lock(), lock.lock()].map((p) => p.then(() => resolved++));
    await sleep(150);
    expect(resolved).toBe(0);
    await holder.release();
    await Promise.all(waits);
    expect(resolved).toBe(3);
    lock.unlock();
    lock.unlock();
    expect(lock.held).toBe(true);
    lock.unlock();
    expect(lock.held).toBe(false);
  });

  it('a failed grab rejects every waiter and leaves the count at zero', async () => {
    const { file, socket } = fresh();
    const holder = await holdFile(file);
    const lock = new SharedLock(file, 100, 20, socket);
    const results = await Promise.allSettled([lock.lock(), lock.lock()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(Err16LockTimeout);
    expect(() => lock.unlock()).toThrow();
    await holder.release();
    await lock.lock();
    lock.unlock();
  });

  it('NO_OP_LOCK does nothing', async () => {
    await NO_OP_LOCK.lock();
    NO_OP_LOCK.unlock();
  });
});

describe('interop with iptables-legacy (own XTABLES_LOCKFILE, throwaway namespace)', () => {
  const ns = useNamespace('locks');
  let lockFile: string;
  beforeAll(async () => {
    lockFile = useOwnXtablesLockfile();
  });

  it('iptables-legacy -w 1 cannot get the lock while we hold it, and can after', async () => {
    const { socket } = fresh();
    const locker = await grabIptablesLocks(lockFile, socket, 1000, 10);
    const blocked = await ns.exec('iptables-legacy', ['-w', '1', '-L', '-n']);
    locker.close();
    expect(blocked.code).toBe(4);
    expect(blocked.stderr).toMatch(/lock/i);
    const ok = await ns.exec('iptables-legacy', ['-w', '1', '-L', '-n']);
    expect(ok.code).toBe(0);
  });

  it('we wait while iptables-legacy-restore holds the lock (it takes it at the *table line)', async () => {
    const child = spawn('ip', ['netns', 'exec', ns.name, 'iptables-legacy-restore', '--noflush'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    child.stdin.write('*filter\n');
    const deadline = performance.now() + 5000;
    for (;;) {
      const probe = tryFlockOnce(lockFile);
      if (!probe) break;
      probe.release();
      if (performance.now() > deadline) throw new Error('iptables-legacy-restore never took the lock');
      await sleep(10);
    }
    const { socket } = fresh();
    await expect(grabIptablesLocks(lockFile, socket, 100, 10)).rejects.toThrow(Err16LockTimeout);
    const grab = grabIptablesLocks(lockFile, socket, 5000, 10);
    child.stdin.end('COMMIT\n');
    expect(await exited).toBe(0);
    (await grab).close();
  });
});
