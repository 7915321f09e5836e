// Fault injection on real namespaces, both backends. Each fault must end in a typed error or a
// retry, leave no process behind (every wrapper and killed binary carries a unique tag that
// is looked for in every /proc/<pid>/cmdline), leak no fd of this process, keep the desired state (the dataplane keeps the
// last good state, nothing half-written), and converge once the fault is gone.
//
//  - iptables-restore SIGKILLed mid-write: the real binary has read 64 KiB of a larger input
//    when another process kills it (once: the Table retries and converges; every time: 11
//    attempts, then RestoreFailedError with signal SIGKILL);
//  - iptables-save SIGKILLed mid-stream (a wrapper prints half the real dump, then kills
//    itself): once → a save retry; always → SaveFailedError, nothing written;
//  - the xtables lock held by another process longer than the timeout: Err16LockTimeout from
//    grabIptablesLocks / SharedLock; through a Table with an old (1.6.1) restore binary, which
//    holds the caller's lock around the write; with a modern binary (--wait) LockTimeoutError
//    after about the lock timeout, or the write landing when the lock frees up in time;
//  - the lock file's directory missing or unwritable (for us: LockSystemError; for the
//    iptables binaries: RestoreFailedError "can't open lock file", nft needs no lock);
//  - the restore binary missing (inside the namespace and for spawn itself).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCommand, type CommandFactory, type CommandOptions, type SpawnedCommand } from '../src/commands';
import { AcceptAction, Chain, DropAction, JumpAction, LockTimeoutError, Match, RestoreFailedError, SaveFailedError, Table, type TableOptions } from '../src/index';
import { Err16LockTimeout, grabIptablesLocks, LockSystemError, SharedLock, tryFlockOnce, type TableLock } from '../src/locks';
import type { Logger } from '../src/logger';
import { BACKENDS, type Backend, run, useOwnXtablesLockfile, useNamespace } from './helpers/netns';
import { withPlainIptables } from './helpers/plain-path';
import { idsByChain } from './helpers/table-env';
import { rejectionOf } from './helpers/rejection';

const TAG = `iptsfault${process.pid}x${randomBytes(3).toString('hex')}`;
const NO_LOCK: TableLock = { lock: () => undefined, unlock: () => undefined };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string;
let lockFile: string;
beforeAll(() => {
  lockFile = useOwnXtablesLockfile();
  dir = mkdtempSync(join(tmpdir(), 'ipts-fault-'));
  chmodSync(dir, 0o755);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes an executable bash script carrying the tag; returns its path. */
function script(name: string, body: string): string {
  const path = join(dir, `${TAG}-${name}`);
  writeFileSync(path, `#!/bin/bash\n# ${TAG}\n${body}\n`, { mode: 0o755 });
  return path;
}

/** Processes still running that carry the tag (wrappers, exec'd binaries), like `pgrep -af TAG`
 *  but without needing procps: every /proc/<pid>/cmdline is read. */
async function orphans(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue; // exited meanwhile
    }
    if (cmdline.includes(TAG)) found.push(`${pid} ${cmdline}`);
  }
  return found;
}

const fdCount = (): number => readdirSync('/proc/self/fd').length;

/** Expects what every scenario must end with: no process left, no fd leaked. */
async function expectClean(fdsBefore: number): Promise<void> {
  expect(await orphans()).toEqual([]);
  // Pipes of exited children close on their 'close' events; give them a tick.
  for (let i = 0; i < 50 && fdCount() > fdsBefore; i++) await sleep(20);
  expect(fdCount()).toBe(fdsBefore);
}

/** A logger that keeps warnings (the Table logs each retry as one). */
function warnings(): Logger & { warned: { fields: object; message?: string }[] } {
  const warned: { fields: object; message?: string }[] = [];
  const noop = (): void => undefined;
  return { debug: noop, info: noop, error: noop, warn: (fields, message) => void warned.push({ fields, message }), warned };
}

/** A factory that passes the options on (the native reader's stdout fd) and says so, so the
 *  Table reads iptables-save through the addon's pipe reader as it does with spawnCommand. */
const fdFactory = (f: (command: string, args: readonly string[], options?: CommandOptions) => SpawnedCommand): CommandFactory =>
  Object.assign(f, { acceptsStdoutFd: true });

/** Replaces binary names in the argv (the Table runs `ip netns exec NS <binary> …`). */
function substituting(map: Record<string, string>, inner: CommandFactory = spawnCommand): CommandFactory {
  return fdFactory((command, args, options) => inner(map[command] ?? command, args.map((a) => map[a] ?? a), options));
}

/** Runs commands with a prefix inserted before the binary (e.g. `env VAR=…`, `setpriv …`). */
function prefixing(prefix: readonly string[]): CommandFactory {
  return fdFactory((command, args, options) => {
    // args: ["netns", "exec", NS, binary, ...]
    if (command === 'ip' && args[0] === 'netns' && /tables-(legacy|nft)-(restore|save)$/.test(args[3] ?? '')) {
      return spawnCommand(command, [...args.slice(0, 3), ...prefix, ...args.slice(3)], options);
    }
    return spawnCommand(command, args, options);
  });
}

/** Faulty while `faulty()` says so, else the plain spawnCommand. */
const switchable = (faulty: () => boolean, broken: CommandFactory): CommandFactory =>
  fdFactory((c, a, o) => (faulty() ? broken(c, a, o) : spawnCommand(c, a, o)));

/**
 * Spawns the command, forwards the first `limit` bytes of its stdin and then holds the rest
 * (the writer sees backpressure), and has the process SIGKILLed from outside once it has them:
 * a restore killed mid-write. `kills` counts the kills.
 */
function killingMidWrite(target: string, limit: number, shouldKill: (restoreCall: number) => boolean, kills: { n: number }): CommandFactory {
  let restoreCalls = 0;
  return fdFactory((command, args, options) => {
    const isRestore = args.includes(target) && !args.includes('--version');
    if (!isRestore || !shouldKill(restoreCalls++)) return spawnCommand(command, args, options);
    const child: ChildProcess = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin!.on('error', () => undefined);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    let forwarded = 0;
    let killed = false;
    const gate = new Writable({
      write(chunk: Buffer, _enc, callback) {
        if (forwarded < limit) {
          const part = chunk.subarray(0, limit - forwarded);
          forwarded += part.length;
          child.stdin!.write(part);
          if (forwarded < limit) return callback();
        }
        // Limit reached: hold this write (backpressure) and kill the process from outside.
        if (!killed) {
          killed = true;
          setTimeout(() => {
            kills.n++;
            process.kill(child.pid!, 'SIGKILL');
          }, 20);
        }
        exited.then(() => callback(new Error('EPIPE: reader killed')), () => callback());
      },
      final(callback) {
        child.stdin!.end();
        callback();
      },
    });
    gate.on('error', () => undefined);
    void exited.finally(() => gate.destroy()).catch(() => undefined);
    return {
      stdin: gate,
      stdout: child.stdout!,
      stderr: child.stderr!,
      exited,
      kill: (signal) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal ?? 'SIGKILL');
      },
    } satisfies SpawnedCommand;
  });
}

it('the orphan check sees a live tagged process (positive control)', async () => {
  const child = spawn(script('alive', `exec -a ${TAG}-alive sleep 30`), [], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    // Wait (up to 10 s on a loaded machine) for the exec'd sleep itself, "PID TAG-alive 30": the
    // bash script before it also names the tag, and while execve replaces it /proc/PID/cmdline
    // reads empty, so a match on the script could be followed by an empty scan.
    const execd = (found: string[]): boolean => found.some((line) => line.split(' ')[1] === `${TAG}-alive`);
    for (let i = 0; i < 1000 && !execd(await orphans()); i++) await sleep(10);
    expect(execd(await orphans()), (await orphans()).join('\n')).toBe(true);
  } finally {
    child.kill('SIGKILL'); // never leave it running to fail every later scenario's orphan check
    await exited;
  }
  expect(await orphans()).toEqual([]);
});

// --- states ---------------------------------------------------------------------------------

const GOOD = [
  new Chain({
    name: 'cali-good',
    rules: [
      { match: Match().protocol('tcp').destPorts(22), action: new AcceptAction() },
      { match: Match().conntrackState('INVALID'), action: new DropAction() },
    ],
  }),
];
const GOOD_INSERT = [{ action: new JumpAction({ target: 'cali-good' }) }];

/** ~600 kB of restore input: far more than the 64 KiB the killed binary gets. */
const BIG = Array.from(
  { length: 40 },
  (_, c) =>
    new Chain({
      name: `cali-big${c}`,
      rules: Array.from({ length: 100 }, (_, r) => ({
        match: Match().protocol('tcp').sourceNet(`10.${c}.${r}.0/24`).destPorts(1000 + r),
        action: new AcceptAction(),
        comment: `big chain ${c} rule ${r} padding padding padding`,
      })),
    }),
);

function expectState(dump: string, chains: readonly Chain[], absent: readonly string[] = []): void {
  const ids = idsByChain(dump);
  for (const c of chains) expect(ids.get(c.name), c.name).toEqual(c.ruleHashes());
  for (const name of absent) expect(ids.has(name), `${name} must not exist`).toBe(false);
}

describe.each(BACKENDS)('fault injection (%s)', (backend: Backend) => {
  const ns = useNamespace(`hf${backend}`, { resetBeforeEach: backend });
  const restoreBin = `iptables-${backend}-restore`;
  const saveBin = `iptables-${backend}-save`;

  const table = (options: TableOptions = {}, lock: TableLock = NO_LOCK): Table =>
    new Table('filter', 4, 'cali:', lock, { netns: ns.name, backend, historicChainPrefixes: ['cali-'], ...options });

  /** A Table holding GOOD, applied with no fault. */
  async function goodTable(options: TableOptions = {}, lock: TableLock = NO_LOCK): Promise<Table> {
    const t = table(options, lock);
    t.updateChains(GOOD);
    t.setRuleInsertions('FORWARD', GOOD_INSERT);
    await t.apply();
    return t;
  }

  // A wrapper that makes the real binary findable by tag (exec keeps the pid). The iptables
  // multi-binary dispatches on basename(argv[0]), so the tag goes into argv[0]'s directory.
  const tagged = (bin: string, name: string): string => script(name, `if [ "$1" = --version ]; then exec ${bin} "$@"; fi\nexec -a /${TAG}-${name}/${bin} ${bin} "$@"`);

  it('iptables-restore SIGKILLed mid-write once: the Table re-reads, retries and converges', async () => {
    const fds = fdCount();
    const kills = { n: 0 };
    const log = warnings();
    const wrapper = tagged(restoreBin, `${backend}-restore1`);
    const t = await goodTable({
      logger: log,
      commandFactory: substituting({ [restoreBin]: wrapper }, killingMidWrite(wrapper, 64 * 1024, (n) => n === 1, kills)),
    });
    t.updateChains(BIG);
    await t.apply();
    expect(kills.n).toBe(1);
    expect(log.warned.map((w) => (w.fields as { err?: string }).err)).toEqual([expect.stringMatching(/SIGKILL/)]);
    expectState(await ns.save(backend, 'filter'), [...GOOD, ...BIG]);
    await expectClean(fds);
  });

  it('iptables-restore SIGKILLed mid-write every time: RestoreFailedError(SIGKILL) after 11 attempts, nothing half-written, then converges', async () => {
    const fds = fdCount();
    const kills = { n: 0 };
    let faulty = true;
    const wrapper = tagged(restoreBin, `${backend}-restore2`);
    const factory = substituting({ [restoreBin]: wrapper }, killingMidWrite(wrapper, 64 * 1024, () => faulty, kills));
    const t = table({ commandFactory: factory, sleep: async () => undefined });
    faulty = false;
    t.updateChains(GOOD);
    t.setRuleInsertions('FORWARD', GOOD_INSERT);
    await t.apply();
    faulty = true;
    t.updateChains(BIG);
    const error = await rejectionOf(t.apply());
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as RestoreFailedError).signal).toBe('SIGKILL');
    expect(kills.n).toBe(11);
    // Atomic: none of the 4000 rules landed, the good state is intact.
    expectState(await ns.save(backend, 'filter'), GOOD, BIG.map((c) => c.name));
    await expectClean(fds);
    faulty = false;
    await t.apply();
    expectState(await ns.save(backend, 'filter'), [...GOOD, ...BIG]);
    await expectClean(fds);
  });

  it('iptables-restore dying mid-input through the plain spawnCommand (a crash): no hang, typed error, state kept, converges', async () => {
    // Regression: the restore writer used to wait forever for 'drain' on the dead child's stdin.
    const fds = fdCount();
    await goodTable();
    const crash = script(`${backend}-crash`, `if [ "$1" = --version ]; then exec ${restoreBin} "$@"; fi\nhead -c 65536 > /dev/null\nkill -9 $$`);
    let faulty = true;
    const t = table({ commandFactory: switchable(() => faulty, substituting({ [restoreBin]: crash })), sleep: async () => undefined });
    t.updateChains([...GOOD, ...BIG]);
    t.setRuleInsertions('FORWARD', GOOD_INSERT);
    const error = await Promise.race([
      rejectionOf(t.apply()),
      sleep(20_000).then(() => new Error('apply() hung')),
    ]);
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as RestoreFailedError).signal).toBe('SIGKILL');
    expectState(await ns.save(backend, 'filter'), GOOD, BIG.map((c) => c.name));
    await expectClean(fds);
    faulty = false;
    await t.apply();
    expectState(await ns.save(backend, 'filter'), [...GOOD, ...BIG]);
    await expectClean(fds);
  });

  const killingSave = (name: string, failures: number): string => {
    const counter = join(dir, `${TAG}-${name}.count`);
    const out = join(dir, `${TAG}-${name}.out`);
    return script(
      name,
      [
        `n=$(cat ${counter} 2>/dev/null || echo 0); echo $((n+1)) > ${counter}`,
        `if [ "$n" -lt ${failures} ]; then`,
        `  ${saveBin} "$@" > ${out}`,
        `  head -c $(( $(stat -c %s ${out}) / 2 )) ${out}`,
        `  kill -9 $$`,
        'fi',
        `exec -a /${TAG}-${name}/${saveBin} ${saveBin} "$@"`,
      ].join('\n'),
    );
  };

  it('iptables-save SIGKILLed mid-stream once: a save retry (after 100 ms), then the write', async () => {
    const fds = fdCount();
    const sleeps: number[] = [];
    const t = await goodTable();
    const t2 = table({ commandFactory: substituting({ [saveBin]: killingSave(`${backend}-save1`, 1) }), sleep: async (ms) => void sleeps.push(ms) });
    t2.updateChains([...GOOD, ...BIG.slice(0, 2)]);
    t2.setRuleInsertions('FORWARD', GOOD_INSERT);
    await t2.apply();
    expect(sleeps).toEqual([100]);
    expectState(await ns.save(backend, 'filter'), [...GOOD, ...BIG.slice(0, 2)]);
    void t;
    await expectClean(fds);
  });

  for (const reader of ['native', 'js'] as const) {
    it(`iptables-save SIGKILLed mid-stream every time (${reader === 'native' ? "the addon reading the child's stdout pipe" : 'TypeScript reader on a stream'}): SaveFailedError after 4 reads, nothing written, then converges`, async () => {
      const fds = fdCount();
      await goodTable();
      let faulty = true;
      const sleeps: number[] = [];
      const wrapper = killingSave(`${backend}-save2-${reader}`, 1_000_000);
      const t = table({
        commandFactory: switchable(() => faulty, substituting({ [saveBin]: wrapper })),
        sleep: async (ms) => void sleeps.push(ms),
        readerImplementation: reader,
      });
      t.updateChains([...GOOD, BIG[0] as Chain]);
      t.setRuleInsertions('FORWARD', GOOD_INSERT);
      const error = await rejectionOf(t.apply());
      expect(error).toBeInstanceOf(SaveFailedError);
      expect((error as SaveFailedError).signal).toBe('SIGKILL');
      expect(sleeps).toEqual([100, 200, 400]);
      expectState(await ns.save(backend, 'filter'), GOOD, ['cali-big0']);
      await expectClean(fds);
      faulty = false;
      await t.apply();
      expectState(await ns.save(backend, 'filter'), [...GOOD, BIG[0] as Chain]);
      await expectClean(fds);
    });
  }

  it('the xtables lock held past the timeout, old (1.6.1) restore binary: Err16LockTimeout from the Table, state kept, converges once released', async () => {
    const fds = fdCount();
    // An old binary does not take the xtables lock itself: the real one is pointed at a lock
    // file of its own, so only the Table's lock guards the write, as with iptables < 1.6.2.
    const own = join(dir, `${backend}-old-own.lock`);
    const old = script(`${backend}-old-restore`, `if [ "$1" = --version ]; then echo "iptables-restore v1.6.1"; exit 0; fi\nXTABLES_LOCKFILE=${own} exec -a /${TAG}-old-restore/${restoreBin} /usr/sbin/${restoreBin} "$@"`);
    const lock = new SharedLock(lockFile, 300, 20, `@${TAG}-t`);
    // Before 1.8.0 iptables had only the plain names: on such a PATH the Table asks the version
    // (at its first apply) and, finding 1.6.1, holds the lock itself.
    const t =
      backend === 'legacy'
        ? await withPlainIptables('legacy', () => goodTable({ commandFactory: substituting({ 'iptables-restore': old, 'iptables-save': `/usr/sbin/${saveBin}` }) }, lock))
        : await goodTable({ commandFactory: substituting({ [restoreBin]: old }) }, lock);
    const holder = holdLock(lockFile, 30);
    try {
      await waitUntilLocked(lockFile);
      t.updateChains([...GOOD, BIG[0] as Chain]);
      if (backend === 'legacy') {
        const error = await rejectionOf(t.apply());
        expect(error).toBeInstanceOf(Err16LockTimeout);
        expect(lock.held).toBe(false);
        expectState(await ns.save(backend, 'filter'), GOOD, ['cali-big0']);
      } else {
        // nft needs no xtables lock: the Table never takes it, the held lock does not matter.
        await t.apply();
      }
    } finally {
      await holder.release();
    }
    await t.apply();
    expectState(await ns.save(backend, 'filter'), [...GOOD, BIG[0] as Chain]);
    expect(lock.held).toBe(false);
    await expectClean(fds);
  });

  it('the xtables lock held longer than the lock timeout, modern binary: LockTimeoutError after about the timeout (not 11 ×), naming the file and holder; converges once free', async () => {
    const fds = fdCount();
    const t = await goodTable({ lockTimeoutMs: 1000, lockFile, sleep: async () => undefined });
    const holder = holdLock(lockFile, 30);
    try {
      await waitUntilLocked(lockFile);
      t.updateChains([...GOOD, BIG[0] as Chain]);
      const started = performance.now();
      const error = await rejectionOf(t.apply());
      const took = performance.now() - started;
      if (backend === 'legacy') {
        expect(error).toBeInstanceOf(LockTimeoutError);
        const e = error as LockTimeoutError;
        expect(e.lockName).toBe(lockFile);
        expect(e.holder?.command).toContain(`flock -o ${lockFile}`);
        expect(e.failure?.stderr).toMatch(/xtables lock/);
        expect(took).toBeGreaterThanOrEqual(900);
        expect(took).toBeLessThan(3 * 1000);
        expectState(await ns.save(backend, 'filter'), GOOD, ['cali-big0']);
      } else {
        expect(error).toBeUndefined(); // nft takes no xtables lock
      }
    } finally {
      await holder.release();
    }
    await t.apply();
    expectState(await ns.save(backend, 'filter'), [...GOOD, BIG[0] as Chain]);
    await expectClean(fds);
  });

  it('the xtables lock held for less than the lock timeout, modern binary: the write waits for it (--wait) and lands', async () => {
    const fds = fdCount();
    const log = warnings();
    const t = await goodTable({ lockTimeoutMs: 4000, logger: log });
    const holder = holdLock(lockFile, 1.5);
    await waitUntilLocked(lockFile);
    t.updateChains([...GOOD, BIG[0] as Chain]);
    await t.apply();
    await holder.exited;
    expect(log.warned.filter((w) => w.message?.includes('will re-read and retry'))).toEqual([]);
    expectState(await ns.save(backend, 'filter'), [...GOOD, BIG[0] as Chain]);
    await expectClean(fds);
  });

  for (const fault of ['missing', 'unwritable'] as const) {
    it(`the lock file's directory ${fault}: legacy fails typed (RestoreFailedError "can't open lock file"), nft needs no lock; converges once fixed`, async () => {
      const fds = fdCount();
      const t0 = await goodTable();
      void t0;
      const roDir = join(dir, `ro-${backend}`);
      mkdirSync(roDir, { recursive: true, mode: 0o555 });
      chmodSync(roDir, 0o555);
      const badPath = fault === 'missing' ? join(dir, 'no-such-dir', 'xtables.lock') : join(roDir, 'xtables.lock');
      // Root ignores directory permissions; dropping CAP_DAC_OVERRIDE from the binary's bounding
      // set makes the 0555 directory really unwritable for it.
      const prefix = fault === 'missing' ? ['env', `XTABLES_LOCKFILE=${badPath}`] : ['setpriv', '--bounding-set=-dac_override,-dac_read_search', 'env', `XTABLES_LOCKFILE=${badPath}`];
      let faulty = true;
      const t = table({ commandFactory: switchable(() => faulty, prefixing(prefix)), sleep: async () => undefined });
      t.updateChains([...GOOD, BIG[0] as Chain]);
      t.setRuleInsertions('FORWARD', GOOD_INSERT);
      if (backend === 'legacy') {
        const error = await rejectionOf(t.apply());
        expect(error).toBeInstanceOf(RestoreFailedError);
        expect((error as RestoreFailedError).stderr).toMatch(fault === 'missing' ? /can't open lock file.*No such file/ : /can't open lock file.*Permission denied/);
        expect((error as RestoreFailedError).exitCode).toBe(4);
        expect(existsSync(badPath)).toBe(false);
        expectState(await ns.save(backend, 'filter'), GOOD, ['cali-big0']);
        faulty = false;
      }
      await t.apply();
      expectState(await ns.save(backend, 'filter'), [...GOOD, BIG[0] as Chain]);
      await expectClean(fds);
    });
  }

  for (const how of ['inside the namespace', 'for spawn itself'] as const) {
    it(`the restore binary missing (${how}): RestoreFailedError after one attempt (retrying cannot help), state kept, converges once it is back`, async () => {
      const fds = fdCount();
      await goodTable();
      const missing = join(dir, 'no-such-dir', restoreBin);
      let faulty = true;
      const broken: CommandFactory =
        how === 'inside the namespace'
          ? substituting({ [restoreBin]: missing })
          : fdFactory((c, a, o) => (a[3] === restoreBin ? spawnCommand(missing, a.slice(4), o) : spawnCommand(c, a, o)));
      const t = table({ commandFactory: switchable(() => faulty, broken), sleep: async () => undefined });
      t.updateChains([...GOOD, BIG[0] as Chain]);
      t.setRuleInsertions('FORWARD', GOOD_INSERT);
      const error = await rejectionOf(t.apply());
      expect(error).toBeInstanceOf(RestoreFailedError);
      if (how === 'for spawn itself') expect((error as Error).message).toMatch(/ENOENT/);
      else expect((error as RestoreFailedError).stderr).toMatch(/No such file/);
      expect((error as RestoreFailedError).retryable).toBe(false);
      expectState(await ns.save(backend, 'filter'), GOOD, ['cali-big0']);
      await expectClean(fds);
      faulty = false;
      await t.apply();
      expectState(await ns.save(backend, 'filter'), [...GOOD, BIG[0] as Chain]);
      await expectClean(fds);
    });
  }
});

/** Another process holding `file` (flock -o: flock itself keeps the lock, not its child), for
 *  `seconds` or until release() kills the whole group. */
function holdLock(file: string, seconds: number): { exited: Promise<void>; release: () => Promise<void> } {
  const child = spawn('flock', ['-o', file, 'sleep', String(seconds)], { detached: true, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    exited,
    release: async () => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // exited already
      }
      await exited;
    },
  };
}

/** Waits until another process holds `file`. */
async function waitUntilLocked(file: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const probe = tryFlockOnce(file);
    if (!probe) return;
    probe.release();
    await sleep(10);
  }
  throw new Error('the holder never took the lock');
}

describe('lock primitives against a holder that outstays the timeout, and a bad lock directory', () => {
  it('grabIptablesLocks and SharedLock reject with Err16LockTimeout, hold nothing, leak nothing, and work once it is released', async () => {
    const fds = fdCount();
    const file = join(dir, 'held.lock');
    writeFileSync(file, '');
    const holder = holdLock(file, 30);
    try {
      await waitUntilLocked(file);
      const started = performance.now();
      await expect(grabIptablesLocks(file, `@${TAG}-g`, 300, 20)).rejects.toBeInstanceOf(Err16LockTimeout);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      const shared = new SharedLock(file, 200, 20, `@${TAG}-s`);
      await expect(Promise.all([shared.lock(), shared.lock()])).rejects.toBeInstanceOf(Err16LockTimeout);
      expect(shared.held).toBe(false);
      expect(() => shared.unlock()).toThrow(/without a matching lock/);
    } finally {
      await holder.release();
    }
    const locker = await grabIptablesLocks(file, `@${TAG}-g`, 300, 20);
    locker.close();
    await expectClean(fds);
  });

  it('a missing lock directory is a LockSystemError (ENOENT) at once, not a timeout', async () => {
    const fds = fdCount();
    const bad = join(dir, 'no-such-dir', 'xtables.lock');
    expect(() => tryFlockOnce(bad)).toThrow(LockSystemError);
    const started = performance.now();
    const e = await rejectionOf(grabIptablesLocks(bad, `@${TAG}-m`, 5000, 20));
    expect(e).toBeInstanceOf(LockSystemError);
    expect((e as LockSystemError).code).toBe('ENOENT');
    expect(performance.now() - started).toBeLessThan(1000);
    const shared = new SharedLock(bad, 5000, 20, `@${TAG}-m`);
    await expect(shared.lock()).rejects.toBeInstanceOf(LockSystemError);
    expect(shared.held).toBe(false);
    expect(existsSync(bad)).toBe(false);
    await expectClean(fds);
  });

  const dist = join(__dirname, '..', 'dist', 'locks.js');
  it.runIf(existsSync(dist))('an unwritable lock directory is a LockSystemError (EACCES) for a process without CAP_DAC_OVERRIDE', async () => {
    const ro = join(dir, 'ro-locks');
    mkdirSync(ro, { mode: 0o555 });
    chmodSync(ro, 0o555);
    const code = `
      const { tryFlockOnce, grabIptablesLocks } = require(${JSON.stringify(dist)});
      const bad = ${JSON.stringify(join(ro, 'xtables.lock'))};
      let sync; try { tryFlockOnce(bad); sync = 'no error'; } catch (e) { sync = e.name + ' ' + e.code; }
      grabIptablesLocks(bad, '@${TAG}-ro', 5000, 20).then(() => console.log(sync + ' | no error'), (e) => console.log(sync + ' | ' + e.name + ' ' + e.code));`;
    const r = await run('setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, '-e', code]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('LockSystemError EACCES | LockSystemError EACCES');
    expect(existsSync(join(ro, 'xtables.lock'))).toBe(false);
  });
});
