// Table timing, retries, locking and async safety, exactly, against a FAKE command factory.
//
// The fake is the public FakeIptables of iptables-sync/testing (src/testing.ts): `*-save` prints
// a realistic iptables-save dump of its state, `*-restore` applies a restore input atomically and
// fails like iptables-restore does ("Error occurred at line: N") for a jump to a missing chain or
// a rule number that is not there, `--version` prints the version string. Every call and kill is
// recorded, test/helpers/fake-timing.ts adds one log of spawns, exits and lock events, and the
// Table's `sleep` and `now` are fakes, so the retry counts, backoffs and the post-write/refresh
// schedule can be asserted exactly.
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, LockTimeoutError, RestoreFailedError, RestoreTimeoutError, SaveFailedError, SaveTimeoutError } from '../src/errors';
import { AcceptAction, Chain, DropAction, JumpAction, Match, type RuleSpec } from '../src/index';
import { Table, type TableName, type TableOptions } from '../src/table';
import { TimingFake as FakeIptables, type Call } from './helpers/fake-timing';
import { withPlainIptables } from './helpers/plain-path';
import { rejectionOf } from './helpers/rejection';

// ------------------------------------------------------------------------------------------
// Helpers.

class Clock {
  constructor(public t = 1_700_000_000_000) {}
  readonly now = (): number => this.t;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves once `cond` holds (polling the event loop), or fails after ~2 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Holds the fake's first restore until `resolve()`: the apply stays in flight meanwhile. */
function holdFirstRestore(fake: FakeIptables): { resolve: () => void } {
  const gate = deferred();
  fake.onRestore = (n) => (n === 0 ? { gate: gate.promise } : undefined);
  return gate;
}

/** Nothing is dirty any more: after a forced re-read, an apply writes nothing. */
async function expectNothingDirty(fake: FakeIptables, table: Table): Promise<void> {
  const restores = fake.restores.length;
  table.invalidateDataplaneCache('test');
  await table.apply();
  expect(fake.restores).toHaveLength(restores);
}

class RecordingLock {
  held = 0;
  locks = 0;
  unlocks = 0;
  constructor(private readonly events: string[]) {}
  lock(): Promise<void> {
    this.locks++;
    this.held++;
    this.events.push('lock');
    return Promise.resolve();
  }
  unlock(): void {
    this.unlocks++;
    this.held--;
    this.events.push('unlock');
  }
}

interface Env {
  fake: FakeIptables;
  table: Table;
  sleeps: number[];
  clock: Clock;
  lock: RecordingLock;
}

function setup(options: TableOptions = {}, name: TableName = 'filter', ipVersion: 4 | 6 = 4, fake = new FakeIptables(name)): Env {
  const sleeps: number[] = [];
  const clock = new Clock();
  const lock = new RecordingLock(fake.events);
  const table = new Table(name, ipVersion, 'cali:', lock, {
    backend: 'legacy',
    historicChainPrefixes: ['cali-'],
    commandFactory: fake.factory,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    now: clock.now,
    ...options,
  });
  return { fake, table, sleeps, clock, lock };
}

const tcp = (port: number): RuleSpec => ({ match: Match().protocol('tcp').destPorts(port), action: new AcceptAction() });
const web = (name: string, ports: readonly number[]): Chain => new Chain({ name, rules: ports.map(tcp) });
const doubling = (first: number, count: number): number[] => Array.from({ length: count }, (_, i) => first * 2 ** i);

// ------------------------------------------------------------------------------------------

describe('Table with a fake iptables: a failing iptables-restore', () => {
  it('retries 10 times with 1 ms doubling backoff, re-reading before each retry, then rejects with RestoreFailedError', async () => {
    const { fake, table, sleeps } = setup();
    const keep = web('cali-keep', [22]);
    table.updateChain(keep);
    await table.apply();
    fake.calls.length = 0;

    // A jump to a chain that does not exist: iptables-restore fails on that line every time.
    const broken = new Chain({ name: 'cali-broken', rules: [tcp(80), { action: new JumpAction({ target: 'ext-missing' }) }] });
    table.updateChain(broken);
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(RestoreFailedError);
    const err = error as RestoreFailedError;

    expect(sleeps).toEqual(doubling(1, 10)); // 1, 2, 4, …, 512
    expect(sleeps[9]).toBe(512);
    // 1 attempt + 10 retries, each preceded by a fresh iptables-save.
    expect(fake.kinds()).toEqual(Array.from({ length: 11 }, () => ['save', 'restore']).flat());

    const last = fake.restores[10] as Call;
    expect(err.command).toBe('iptables-legacy-restore');
    expect(err.args).toEqual(['--noflush', '--verbose', '--wait', '10']);
    // iptables-restore exits 2 for a target it cannot load (v1.8.9, legacy and nft; the earlier
    // private fake of this file said 1): the error carries the process's own exit code.
    expect(err.exitCode).toBe(2);
    expect(err.exitCode).toBe(last.exit?.code);
    expect(err.stderr).toContain('Error occurred at line: ');
    expect(err.input).toBe(last.input);
    const lineNo = Number(/Error occurred at line: (\d+)/.exec(err.stderr)?.[1]);
    expect(err.failedLine).toBe(err.input.split('\n')[lineNo - 1]);
    expect(err.failedLine).toMatch(/^-A cali-broken .*--jump ext-missing$/);
    expect(err.message).toContain('ext-missing');
    // Every attempt sent the same transaction, and nothing of it landed.
    expect(new Set(fake.restores.map((c) => c.input)).size).toBe(1);
    expect(fake.chains.has('cali-broken')).toBe(false);
    expect(fake.ids('cali-keep')).toEqual(keep.ruleHashes());
    // No process left running.
    expect(fake.calls.every((c) => c.exit !== undefined)).toBe(true);
  });

  it('keeps the desired state after rejecting: once the cause is gone, a later apply() converges', async () => {
    const { fake, table } = setup();
    const keep = web('cali-keep', [22, 23]);
    table.updateChain(keep);
    await table.apply();

    const broken = new Chain({ name: 'cali-broken', rules: [{ action: new JumpAction({ target: 'ext-target' }) }] });
    table.updateChain(broken);
    await expect(table.apply()).rejects.toBeInstanceOf(RestoreFailedError);
    expect(fake.ids('cali-keep')).toEqual(keep.ruleHashes());

    // Another program creates the missing chain; no new update from us.
    fake.restore('*filter\n:ext-target - [0:0]\n-A ext-target -j ACCEPT\nCOMMIT\n');
    await table.apply();
    expect(fake.ids('cali-broken')).toEqual(broken.ruleHashes());
    expect(fake.ids('cali-keep')).toEqual(keep.ruleHashes());
    expect(fake.chains.get('ext-target')).toEqual(['-j ACCEPT']);
  });

  it('a restore that fails twice then succeeds: sleeps 1 and 2 ms, and the retry is planned from a fresh read', async () => {
    const { fake, table, sleeps } = setup();
    const chain = web('cali-a', [1, 2, 3]);
    table.updateChain(chain);
    await table.apply();
    fake.calls.length = 0;

    const changed = web('cali-a', [1, 2, 30]);
    fake.onRestore = (n) => {
      if (n >= 2) return undefined;
      // Meanwhile another program appends a stray rule to our chain: only a re-read sees it.
      fake.restore('*filter\n-A cali-a -s 10.0.0.1/32 -j DROP\nCOMMIT\n');
      return { code: 4, stderr: 'Another app is currently holding the xtables lock. Stopped waiting after 10s.\n' };
    };
    table.updateChain(changed);
    const delay = await table.apply();
    expect(sleeps).toEqual([1, 2]);
    expect(fake.kinds()).toEqual(['save', 'restore', 'save', 'restore', 'save', 'restore']);
    expect(fake.ids('cali-a')).toEqual(changed.ruleHashes());
    // The successful input removes both strays (they were seen by the re-reads).
    const lastInput = (fake.restores[2] as Call).input;
    expect(lastInput.split('\n').filter((l) => l === '-D cali-a 4')).toHaveLength(2);
    expect(delay).toBe(50);
  });
});

describe('Table with a fake iptables: a failing iptables-save', () => {
  it('retries 3 times from 100 ms doubling, then rejects with SaveFailedError and writes nothing', async () => {
    const { fake, table, sleeps } = setup();
    table.updateChain(web('cali-a', [80]));
    // A failure another read may not repeat (permission denied, say, would stop at once).
    const stderr = 'iptables-save v1.8.9 (legacy): Cannot initialize: Resource temporarily unavailable\n';
    fake.onSave = () => ({ code: 1, stderr });
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(SaveFailedError);
    const err = error as SaveFailedError;
    expect(err.command).toBe('iptables-legacy-save');
    expect(err.args).toEqual(['-t', 'filter']);
    expect(err.exitCode).toBe(1);
    expect(err.stderr).toBe(stderr);
    expect(sleeps).toEqual([100, 200, 400]);
    expect(fake.kinds()).toEqual(['save', 'save', 'save', 'save']);
    expect(fake.calls.every((c) => c.exit !== undefined)).toBe(true);

    // The cause goes away: the desired state is still there and the next apply converges.
    fake.onSave = undefined;
    await table.apply();
    expect(fake.ids('cali-a')).toEqual(web('cali-a', [80]).ruleHashes());
  });

  it('a save that fails twice then succeeds: sleeps 100 and 200 ms, then writes', async () => {
    const { fake, table, sleeps } = setup();
    table.updateChain(web('cali-a', [80]));
    fake.onSave = (n) => (n < 2 ? { code: 1, stderr: 'iptables-save: Resource temporarily unavailable\n' } : undefined);
    await table.apply();
    expect(sleeps).toEqual([100, 200]);
    expect(fake.kinds()).toEqual(['save', 'save', 'save', 'restore']);
    expect(fake.ids('cali-a')).toEqual(web('cali-a', [80]).ruleHashes());
  });

  it('a truncated dump (no COMMIT, exit 0) is a failure, never the truth', async () => {
    // The dataplane already holds exactly what we want (e.g. written by an earlier run).
    const wanted = web('cali-a', [80, 443]);
    const prep = setup();
    prep.table.updateChain(wanted);
    await prep.table.apply();
    const fake = prep.fake;
    fake.calls.length = 0;

    // A fresh Table, and a dump cut off before our chain and before COMMIT, once.
    const { table, sleeps } = setup({}, 'filter', 4, fake);
    table.updateChain(wanted);
    fake.onSave = (n) => (n === 0 ? { stdout: fake.dump().split('\n').slice(0, 5).join('\n') + '\n' } : undefined);
    await table.apply();
    expect(sleeps).toEqual([100]);
    // Had the cut dump been believed, cali-a would look missing and get re-created. (No
    // --version: the first Table's answer is reused, once per process and command factory.)
    expect(fake.kinds()).toEqual(['save', 'save']);
    expect(fake.ids('cali-a')).toEqual(wanted.ruleHashes());

    // Always truncated: SaveFailedError after the retries, nothing written.
    const again = setup({}, 'filter', 4, fake);
    fake.calls.length = 0;
    again.table.updateChain(web('cali-b', [1]));
    fake.onSave = () => ({ stdout: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A FORWARD -i eth0 -j ACCEPT\n' });
    await expect(again.table.apply()).rejects.toBeInstanceOf(SaveFailedError);
    expect(again.sleeps).toEqual([100, 200, 400]);
    expect(fake.restores).toEqual([]);
    expect(fake.chains.has('cali-b')).toBe(false);
  });

  it('a save killed mid-stream is a failure, never the truth', async () => {
    const wanted = web('cali-a', [80, 443]);
    const { fake, table, sleeps } = setup();
    fake.applyRestore(`*filter\n:cali-a - -\n${wanted.rules.map((r, i) => r.renderAppend('cali-a', `-m comment --comment "cali:${wanted.ruleHashes()[i]}"`)).join('\n')}\nCOMMIT\n`);
    table.updateChain(wanted);
    // Killed by a signal after printing half of a (complete-looking) dump.
    fake.onSave = (n) => (n === 0 ? { stdout: fake.dump().split('\n').slice(0, 6).join('\n') + '\nCOMMIT\n', code: null, signal: 'SIGKILL' } : undefined);
    await table.apply();
    expect(sleeps).toEqual([100]);
    expect(fake.kinds()).toEqual(['save', 'save']);
    expect(fake.ids('cali-a')).toEqual(wanted.ruleHashes());
  });

  it('a save that hangs is killed after commandTimeoutMs and retried once; twice is a SaveTimeoutError; no process is left running', async () => {
    const { fake, table, sleeps } = setup({ commandTimeoutMs: 30 });
    table.updateChain(web('cali-a', [80]));
    fake.onSave = (n) => (n < 1 ? { stdout: '*filter\n:INPUT ACCEPT [0:0]\n', hang: true } : undefined);
    await table.apply();
    expect(sleeps).toEqual([100]);
    // Killed (SIGKILL) by the timeout; the fake records every kill() call, also repeats after the exit.
    expect(fake.saves[0]?.kills[0]).toBe('SIGKILL');
    expect(fake.saves[1]?.kills).toEqual([]);
    expect(fake.calls.every((c) => c.exit !== undefined)).toBe(true);
    expect(fake.ids('cali-a')).toEqual(web('cali-a', [80]).ruleHashes());

    fake.onSave = () => ({ hang: true });
    table.invalidateDataplaneCache('test');
    const saves = fake.saves.length;
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(SaveTimeoutError);
    expect((error as SaveTimeoutError).timeoutMs).toBe(30);
    expect(fake.saves.length - saves).toBe(2);
    expect(fake.calls.every((c) => c.exit !== undefined)).toBe(true);
  });
});

describe('Table with a fake iptables: deadlines, lock budget and failures no retry fixes', () => {
  it('a restore that hangs is killed at commandTimeoutMs, retried once, then RestoreTimeoutError; nothing left running', async () => {
    const { fake, table, sleeps } = setup({ commandTimeoutMs: 30 });
    table.updateChain(web('cali-a', [80]));
    fake.onRestore = () => ({ hang: true });
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(RestoreTimeoutError);
    expect((error as RestoreTimeoutError).timeoutMs).toBe(30);
    expect(fake.restores).toHaveLength(2);
    expect(fake.restores.map((c) => c.kills[0])).toEqual(['SIGKILL', 'SIGKILL']);
    expect(sleeps).toEqual([1]);
    expect(fake.calls.every((c) => c.exit !== undefined)).toBe(true);
    expect(fake.chains.has('cali-a')).toBe(false);
  });

  it('the binary giving up on the xtables lock is a LockTimeoutError, retried only within one lock timeout overall', async () => {
    const { fake, table, clock } = setup({ lockTimeoutMs: 2000, lockFile: '/run/test-xtables.lock' });
    table.updateChain(web('cali-a', [80]));
    const stderr = "Can't lock /run/test-xtables.lock: Resource temporarily unavailable\nAnother app is currently holding the xtables lock. Stopped waiting after 1s.\n";
    // Each attempt costs 800 ms of the (fake) clock: the third one ends past the 2 s budget.
    fake.onRestore = () => {
      clock.t += 800;
      return { code: 4, stderr };
    };
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(LockTimeoutError);
    const e = error as LockTimeoutError;
    expect(e.lockName).toBe('/run/test-xtables.lock');
    expect(e.timeoutMs).toBe(2000);
    expect(e.failure?.exitCode).toBe(4);
    expect(e.message).toContain('waiting for the xtables lock /run/test-xtables.lock');
    expect(fake.restores).toHaveLength(3);
  });

  it('a parse error iptables reports with a line number, and a missing namespace, stop after the first attempt', async () => {
    const { fake, table, sleeps } = setup();
    table.updateChain(web('cali-a', [80]));
    fake.onRestore = () => ({ code: 2, stderr: "iptables-restore v1.8.9 (legacy): unknown option \"--bogus\"\nError occurred at line: 3\nTry `iptables-restore -h' for more information.\n" });
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as RestoreFailedError).retryable).toBe(false);
    expect((error as RestoreFailedError).failedLine).toBe((error as RestoreFailedError).input.split('\n')[2]);
    expect(fake.restores).toHaveLength(1);
    expect(sleeps).toEqual([]);

    fake.onRestore = undefined;
    fake.onSave = () => ({ code: 255, stderr: 'Cannot open network namespace "gone": No such file or directory\n' });
    table.invalidateDataplaneCache('test');
    const saves = fake.saves.length;
    const saveError = await rejectionOf(table.apply());
    expect(saveError).toBeInstanceOf(SaveFailedError);
    expect((saveError as SaveFailedError).message).toContain('Cannot open network namespace "gone"');
    expect(fake.saves.length - saves).toBe(1);
  });
});

describe('Table with a fake iptables: post-write re-reads and the refresh interval', () => {
  it('re-reads at 50 ms doubling up to an hour after a write; apply() resolves to the time left', async () => {
    const { fake, table, clock } = setup();
    const t0 = clock.t;
    table.updateChain(web('cali-a', [80]));
    expect(await table.apply()).toBe(50);
    expect(fake.restores).toHaveLength(1);

    let interval = 50;
    let reads = fake.saves.length;
    for (;;) {
      // Just before the next re-read is due: no read, resolves to the 1 ms left.
      clock.t = t0 + interval - 1;
      expect(await table.apply()).toBe(1);
      expect(fake.saves).toHaveLength(reads);
      // Due: one re-read, and the interval doubles.
      clock.t = t0 + interval;
      const delay = await table.apply();
      expect(fake.saves).toHaveLength(++reads);
      interval *= 2;
      if (interval >= 3_600_000) {
        // 50 · 2^17 ≥ an hour: the schedule is over.
        expect(delay).toBe(0);
        break;
      }
      expect(delay).toBe(interval / 2); // next due at t0 + interval
    }
    // Reads happened at 50, 100, 200, …, 50·2^16 ms after the write: 17 re-reads.
    expect(reads).toBe(1 + 17);
    // Nothing re-reads any more, however long we wait.
    clock.t = t0 + 100 * 3_600_000;
    expect(await table.apply()).toBe(0);
    expect(fake.saves).toHaveLength(reads);
    expect(fake.restores).toHaveLength(1);
  });

  it('a new write restarts the schedule at 50 ms; an apply that writes nothing does not', async () => {
    const { fake, table, clock } = setup();
    const t0 = clock.t;
    table.updateChain(web('cali-a', [80]));
    expect(await table.apply()).toBe(50);
    clock.t = t0 + 50;
    expect(await table.apply()).toBe(50); // re-read, next at +100
    clock.t = t0 + 60;
    // An update to the same content: re-read, nothing to write, schedule unchanged.
    table.updateChain(web('cali-a', [80]));
    expect(await table.apply()).toBe(40);
    expect(fake.restores).toHaveLength(1);
    // A real change: written at t0+70, re-read due at t0+120.
    clock.t = t0 + 70;
    table.updateChain(web('cali-a', [81]));
    expect(await table.apply()).toBe(50);
    expect(fake.restores).toHaveLength(2);
    clock.t = t0 + 119;
    const reads = fake.saves.length;
    expect(await table.apply()).toBe(1);
    expect(fake.saves).toHaveLength(reads);
    clock.t = t0 + 120;
    expect(await table.apply()).toBe(50);
    expect(fake.saves).toHaveLength(reads + 1);
  });

  it('postWriteIntervalMs below 50 is clamped to 50; a larger one starts the doubling there', async () => {
    for (const [given, first] of [
      [0, 50],
      [10, 50],
      [49, 50],
      [200, 200],
    ] as const) {
      const { fake, table, clock } = setup({ postWriteIntervalMs: given });
      const t0 = clock.t;
      table.updateChain(web('cali-a', [80]));
      expect(await table.apply()).toBe(first);
      const reads = fake.saves.length;
      clock.t = t0 + Math.min(given, first - 1);
      await table.apply();
      expect(fake.saves).toHaveLength(reads); // no re-read before `first`
      clock.t = t0 + first;
      expect(await table.apply()).toBe(first);
      expect(fake.saves).toHaveLength(reads + 1);
    }
  });

  it('refreshIntervalMs forces a re-read once that long has passed since the last read', async () => {
    // Nothing to write ever, so only the refresh timer causes reads.
    const { fake, table, clock } = setup({ refreshIntervalMs: 1000 });
    const t0 = clock.t;
    expect(await table.apply()).toBe(1000);
    expect(fake.saves).toHaveLength(1);
    expect(fake.restores).toHaveLength(0);
    clock.t = t0 + 999;
    expect(await table.apply()).toBe(1);
    expect(fake.saves).toHaveLength(1);
    clock.t = t0 + 1001;
    expect(await table.apply()).toBe(1000);
    expect(fake.saves).toHaveLength(2);
    clock.t = t0 + 1500;
    expect(await table.apply()).toBe(501);
    expect(fake.saves).toHaveLength(2);

    // With refresh off, a table that never wrote never asks to be called again.
    const off = setup();
    expect(await off.table.apply()).toBe(0);
    off.clock.t += 10 * 3_600_000;
    expect(await off.table.apply()).toBe(0);
    expect(off.fake.saves).toHaveLength(1);
  });

  it('the earlier of the refresh and the post-write re-read wins', async () => {
    const { fake, table, clock } = setup({ refreshIntervalMs: 300 });
    const t0 = clock.t;
    table.updateChain(web('cali-a', [80]));
    expect(await table.apply()).toBe(50); // post-write 50 < refresh 300
    clock.t = t0 + 200;
    expect(await table.apply()).toBe(200); // re-read (post-write, interval now 400); refresh due at +500
    clock.t = t0 + 400;
    expect(await table.apply()).toBe(300); // re-read; post-write next at +800, refresh at +700
    expect(fake.saves).toHaveLength(3);
  });

  // SPEC 4: refreshIntervalMs "forces a re-read that long after the last read", and apply()
  // "resolves to the delay until the next needed apply" (0 = none needed). A caller that calls
  // again exactly when told (ms timers make exact hits common) must not lose the refresh timer.
  it('an apply exactly refreshIntervalMs after the last read re-reads and asks again in refreshIntervalMs', async () => {
    const { fake, table, clock } = setup({ refreshIntervalMs: 1000 });
    const t0 = clock.t;
    const delay = await table.apply();
    expect(delay).toBe(1000);
    clock.t = t0 + delay; // called back exactly when asked
    const next = await table.apply();
    // (It once did neither, and resolved to 0: the refresh timer stopped for good.)
    expect(fake.saves).toHaveLength(2);
    expect(next).toBe(1000);
  });
});

describe('Table with a fake iptables: versions and locks', () => {
  it('iptables-legacy-restore (1.8.0 or later by its name): asks no --version, passes --wait <lock timeout s>, never takes the lock', async () => {
    const { fake, table, lock } = setup({ lockTimeoutMs: 2500 });
    table.updateChain(web('cali-a', [80]));
    await table.apply();
    table.updateChain(web('cali-a', [81]));
    await table.apply();
    expect(fake.calls.filter((c) => c.kind === 'version')).toEqual([]);
    expect(fake.saves.map((c) => [c.command, ...c.args])).toEqual([
      ['iptables-legacy-save', '-t', 'filter'],
      ['iptables-legacy-save', '-t', 'filter'],
    ]);
    expect(fake.restores.map((c) => [c.command, ...c.args])).toEqual([
      ['iptables-legacy-restore', '--noflush', '--verbose', '--wait', '3'],
      ['iptables-legacy-restore', '--noflush', '--verbose', '--wait', '3'],
    ]);
    expect(lock.locks).toBe(0);
    expect(lock.unlocks).toBe(0);

    // The default lock timeout is 10 s.
    const dflt = setup();
    dflt.table.updateChain(web('cali-a', [80]));
    await dflt.table.apply();
    expect(dflt.fake.restores[0]?.args).toEqual(['--noflush', '--verbose', '--wait', '10']);
  });

  // iptables before 1.8.0 had only the plain names, so only there is a version asked.
  it('iptables-restore v1.6.1 (plain names only): no --wait, and lock()/unlock() wrap exactly each restore (not the saves)', () => withPlainIptables('legacy', async () => {
    const fake = new FakeIptables();
    fake.version = 'v1.6.1';
    const { table, lock } = setup({}, 'filter', 4, fake);
    let heldDuringSave = false;
    fake.onSave = () => {
      if (lock.held !== 0) heldDuringSave = true;
      return undefined;
    };
    table.updateChain(web('cali-a', [80]));
    table.updateChain(web('cali-gone', [1]));
    await table.apply();
    table.removeChainByName('cali-gone'); // a second restore run, for the deletion
    table.updateChain(web('cali-a', [81]));
    await table.apply();
    expect(fake.restores.map((c) => c.args)).toEqual([
      ['--noflush', '--verbose'],
      ['--noflush', '--verbose'],
      ['--noflush', '--verbose'],
    ]);
    expect(heldDuringSave).toBe(false);
    expect(fake.events.filter((e) => e !== 'spawn version' && e !== 'exit version')).toEqual([
      'spawn save',
      'exit save',
      'lock',
      'spawn restore',
      'exit restore',
      'unlock',
      'spawn save',
      'exit save',
      'lock',
      'spawn restore',
      'exit restore',
      'unlock',
      'lock',
      'spawn restore',
      'exit restore',
      'unlock',
    ]);
    expect(fake.chains.has('cali-gone')).toBe(false);
    expect(new Set(fake.calls.map((c) => c.command))).toEqual(new Set(['iptables-restore', 'iptables-save']));
    expect(fake.calls.filter((c) => c.kind === 'version')).toHaveLength(1); // named the backend and the lock mode
  }));

  it('iptables-restore v1.6.1 (plain names only): a failing restore still unlocks after every attempt', () => withPlainIptables('legacy', async () => {
    const fake = new FakeIptables();
    fake.version = 'v1.6.1';
    const { table, lock } = setup({}, 'filter', 4, fake);
    table.updateChain(new Chain({ name: 'cali-x', rules: [{ action: new JumpAction({ target: 'ext-missing' }) }] }));
    await expect(table.apply()).rejects.toBeInstanceOf(RestoreFailedError);
    expect(lock.locks).toBe(11);
    expect(lock.unlocks).toBe(11);
    expect(lock.held).toBe(0);
  }));

  it("backend 'nft' never takes the lock, whatever version the binary reports", async () => {
    for (const version of ['v1.8.9', 'v1.6.1', 'garbage']) {
      const fake = new FakeIptables();
      fake.version = version;
      const { table, lock } = setup({ backend: 'nft' }, 'filter', 4, fake);
      table.updateChain(web('cali-a', [80]));
      table.updateChain(web('cali-gone', [80]));
      await table.apply();
      table.removeChainByName('cali-gone');
      await table.apply();
      expect(lock.locks).toBe(0);
      expect(new Set(fake.calls.map((c) => c.command))).toEqual(new Set(['iptables-nft-restore', 'iptables-nft-save']));
      expect(fake.restores.map((c) => c.args)).toEqual([
        ['--noflush', '--verbose', '--wait', '10'],
        ['--noflush', '--verbose', '--wait', '10'],
      ]);
    }
  });

  it('IPv6 uses the ip6tables binaries', async () => {
    const { fake, table } = setup({ backend: 'nft' }, 'nat', 6);
    table.updateChain(new Chain({ name: 'cali-n', rules: [{ action: new DropAction() }] }));
    await table.apply();
    // nft tools never need the xtables lock, so there is no --version probe.
    expect(fake.calls.map((c) => [c.command, ...c.args])).toEqual([
      ['ip6tables-nft-save', '-t', 'nat'],
      ['ip6tables-nft-restore', '--noflush', '--verbose', '--wait', '10'],
    ]);
  });
});

describe('Table with a fake iptables: async safety', () => {
  it('apply() calls never overlap; calls made while one runs wait for it and share one run', async () => {
    const { fake, table } = setup();
    const gate = holdFirstRestore(fake);
    table.updateChain(web('cali-a', [80]));
    const first = table.apply();
    await until(() => fake.restores.length === 1, 'the first restore');

    table.updateChain(web('cali-b', [443]));
    const second = table.apply();
    const third = table.apply();
    expect(third).toBe(second); // waiting calls join one run
    let firstDone = false;
    let secondDone = false;
    void first.then(() => {
      firstDone = true;
    });
    void second.then(() => {
      secondDone = true;
    });
    // Nothing of the second run starts while the first is in flight.
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.calls.filter((c) => c.kind !== 'version')).toHaveLength(2);
    expect(firstDone).toBe(false);
    expect(secondDone).toBe(false);

    gate.resolve();
    await Promise.all([first, second, third]);
    expect(fake.maxRunning).toBe(1);
    // One run for the two waiting calls: one re-read (the update invalidated the cache), one write.
    expect(fake.kinds()).toEqual(['save', 'restore', 'save', 'restore']);
    expect(fake.ids('cali-a')).toEqual(web('cali-a', [80]).ruleHashes());
    expect(fake.ids('cali-b')).toEqual(web('cali-b', [443]).ruleHashes());
  });

  it('an update made while an apply is in flight is not lost: it goes out in the next apply', async () => {
    const { fake, table } = setup();
    const gate = holdFirstRestore(fake);
    const v1 = web('cali-a', [80]);
    const v2 = web('cali-a', [80, 443]);
    table.updateChain(v1);
    const first = table.apply();
    await until(() => fake.restores.length === 1, 'the first restore');
    table.updateChain(v2); // same chain, new content, while v1 is being written
    table.setRuleInsertions('FORWARD', [{ action: new JumpAction({ target: 'cali-a' }) }]);
    gate.resolve();
    await first;
    expect(fake.ids('cali-a')).toEqual(v1.ruleHashes());
    expect((fake.restores[0] as Call).input).not.toContain('FORWARD');

    await table.apply();
    expect(fake.ids('cali-a')).toEqual(v2.ruleHashes());
    expect(fake.ids('FORWARD')).toEqual(new Chain({ name: 'FORWARD', rules: [{ action: new JumpAction({ target: 'cali-a' }) }] }).ruleHashes());
    // And then nothing is dirty any more.
    await expectNothingDirty(fake, table);
  });

  it('a removal made while the chain is being created is not lost: the chain is gone after the next apply', async () => {
    const { fake, table } = setup();
    const gate = holdFirstRestore(fake);
    table.updateChains([web('cali-a', [80]), web('cali-b', [81])]);
    const first = table.apply();
    await until(() => fake.restores.length === 1, 'the first restore');
    table.removeChainByName('cali-b');
    gate.resolve();
    await first;
    await table.apply();
    expect([...fake.chains.keys()].filter((c) => c.startsWith('cali-'))).toEqual(['cali-a']);
    await expectNothingDirty(fake, table);
  });

  it('the desired state is copied: mutating what was passed in afterwards changes nothing', async () => {
    const { fake, table } = setup();
    const rules: RuleSpec[] = [tcp(80), tcp(443)];
    const spec = { name: 'cali-a', rules };
    table.updateChain(spec);
    const inserts: RuleSpec[] = [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-a' }) }];
    table.setRuleInsertions('INPUT', inserts);
    const chains = [{ name: 'cali-b', rules: [tcp(1)] }];
    table.updateChains(chains);

    // Mutate everything the caller still holds.
    rules.push(tcp(8080));
    rules[0] = tcp(9);
    spec.name = 'cali-renamed';
    inserts.push({ action: new DropAction() });
    (chains[0] as { rules: RuleSpec[] }).rules.push(tcp(2));
    chains.push({ name: 'cali-c', rules: [] });

    await table.apply();
    expect([...fake.chains.keys()].filter((c) => c.startsWith('cali-')).sort()).toEqual(['cali-a', 'cali-b']);
    expect(fake.ids('cali-a')).toEqual(web('cali-a', [80, 443]).ruleHashes());
    expect(fake.ids('cali-b')).toEqual(web('cali-b', [1]).ruleHashes());
    expect(fake.ids('INPUT')).toHaveLength(1);
    expect(table.desiredChainNames()).toEqual(['cali-a', 'cali-b']);
  });
});

describe('Table options', () => {
  const noLock = { lock: (): void => undefined, unlock: (): void => undefined };
  const bad: [string, () => unknown, string][] = [
    ["insertMode 'bogus'", () => new Table('filter', 4, 'cali:', noLock, { insertMode: 'bogus' as never }), 'insertMode'],
    ['table name', () => new Table('bogus' as never, 4, 'cali:', noLock), 'name'],
    ['ipVersion 5', () => new Table('filter', 5 as never, 'cali:', noLock), 'ipVersion'],
    ['bad regex', () => new Table('filter', 4, 'cali:', noLock, { extraCleanupRegexPattern: '(unclosed' }), 'extraCleanupRegexPattern'],
    ['backend', () => new Table('filter', 4, 'cali:', noLock, { backend: 'iptables' as never }), 'backend'],
    ['negative refresh', () => new Table('filter', 4, 'cali:', noLock, { refreshIntervalMs: -1 }), 'refreshIntervalMs'],
    ['NaN post-write', () => new Table('filter', 4, 'cali:', noLock, { postWriteIntervalMs: Number.NaN }), 'postWriteIntervalMs'],
    ['lock', () => new Table('filter', 4, 'cali:', {} as never), 'lock'],
  ];
  it.each(bad)('%s throws InvalidOptionError naming the option', (_what, make, option) => {
    let error: unknown;
    try {
      make();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
  });
});
