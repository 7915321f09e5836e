// Concurrency on real iptables, both backends:
//  (a) two Tables of one process (filter and nat) sharing one SharedLock apply concurrently,
//      round after round, and both converge. With the real (>= 1.6.2) restore binary the lock is
//      never taken; with the version probe faked to v1.6.1 the SharedLock is really held
//      (flock on its file) around every restore, released at the end, and both still converge
//      (on nft it is never taken whatever the version).
//  (b) two child processes, each with its own Table (built library, dist/) on its own chains of
//      the filter table, apply in a loop while a third process clobbers them (deletes their
//      rules, flushes their chains, adds foreign rules). After a final apply in each, both
//      converge and nothing of anyone's is lost: the foreign rules are all still there.
// The children get the namespace on the command line and inherit this file's XTABLES_LOCKFILE.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCommand, type CommandFactory, type SpawnedCommand } from '../src/commands';
import { AcceptAction, Chain, DNATAction, JumpAction, Match, MasqAction, type RuleSpec } from '../src/index';
import { SharedLock, tryFlockOnce, type TableLock } from '../src/locks';
import { Table, type TableName } from '../src/table';
import { BACKENDS, type Backend, chainRules, hasChain, Netns, useOwnXtablesLockfile, useNamespace } from './helpers/netns';
import { withPlainIptables } from './helpers/plain-path';
import { idsByChain } from './helpers/table-env';

const FIXTURES = join(__dirname, 'fixtures');
const DIST_INDEX = join(__dirname, '..', 'dist', 'index.js');
const ITERATIONS = 20;

// ------------------------------------------------------------------------------------------
// (a) helpers

/** Answers `<restore> --version` with an old version; everything else runs for real. */
function withRestoreVersion(version: string, inner: CommandFactory): CommandFactory {
  return (command, args) => {
    if (!args.includes('--version')) return inner(command, args);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const stdin = new PassThrough();
    stdin.resume();
    stdout.end(`iptables-restore ${version}\n`);
    stderr.end();
    const child: SpawnedCommand = { stdin, stdout, stderr, exited: Promise.resolve({ code: 0, signal: null }), kill: () => undefined };
    return child;
  };
}

/** Wraps the real spawn: for each restore (not --version), notes whether the lock file is flocked. */
function watchingRestores(lockFile: string, inner: CommandFactory, seen: { restores: number; unlocked: number }): CommandFactory {
  return (command, args) => {
    if (args.includes('--noflush')) {
      seen.restores++;
      const probe = tryFlockOnce(lockFile);
      if (probe) {
        seen.unlocked++;
        probe.release();
      }
    }
    return inner(command, args);
  };
}

/** Counts lock()/unlock() and the most holders at once. */
class CountingLock implements TableLock {
  locks = 0;
  unlocks = 0;
  holders = 0;
  maxHolders = 0;
  constructor(readonly inner: SharedLock) {}
  async lock(): Promise<void> {
    this.locks++;
    await this.inner.lock();
    this.holders++;
    this.maxHolders = Math.max(this.maxHolders, this.holders);
  }
  unlock(): void {
    this.unlocks++;
    this.holders--;
    this.inner.unlock();
  }
}

const tcp = (port: number): RuleSpec => ({ match: Match().protocol('tcp').destPorts(port), action: new AcceptAction() });

function filterState(round: number): { chains: Chain[]; inserts: RuleSpec[] } {
  const web = new Chain({ name: 'cali-web', rules: Array.from({ length: 1 + (round % 3) }, (_, k) => tcp(8000 + 10 * round + k)) });
  const chains = [web];
  if (round % 2 === 0) chains.push(new Chain({ name: 'cali-churn', rules: [tcp(9000 + round)] }));
  return { chains, inserts: [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-web' }) }] };
}

function natState(round: number): { chains: Chain[]; inserts: RuleSpec[] } {
  const dnat = new Chain({
    name: 'cali-dnat',
    rules: Array.from({ length: 1 + ((round + 1) % 3) }, (_, k) => ({
      match: Match().protocol('tcp').destPorts(80 + k),
      action: new DNATAction({ destAddr: `10.0.${round}.${k + 1}`, destPort: 8080 }),
    })),
  });
  const masq = new Chain({ name: 'cali-masq', rules: [{ match: Match().sourceNet(`10.${round}.0.0/16`), action: new MasqAction() }] });
  return { chains: [dnat, masq], inserts: [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-dnat' }) }] };
}

const INSERT_CHAIN: Record<'filter' | 'nat', string> = { filter: 'FORWARD', nat: 'PREROUTING' };

function setState(table: Table, state: { chains: Chain[]; inserts: RuleSpec[] }, prefixChains: readonly string[]): void {
  table.updateChains(state.chains);
  for (const name of prefixChains) if (!state.chains.some((c) => c.name === name)) table.removeChainByName(name);
  table.setRuleInsertions(INSERT_CHAIN[table.name as 'filter' | 'nat'], state.inserts);
}

async function expectConverged(ns: Netns, backend: Backend, name: TableName, state: { chains: Chain[]; inserts: RuleSpec[] }): Promise<void> {
  const dump = await ns.save(backend, name);
  const ids = idsByChain(dump);
  for (const chain of state.chains) expect(ids.get(chain.name), `${name} ${chain.name}`).toEqual(chain.ruleHashes());
  const ours = [...ids.keys()].filter((c) => c.startsWith('cali-')).sort();
  expect(ours).toEqual(state.chains.map((c) => c.name).sort());
  const insertChain = INSERT_CHAIN[name as 'filter' | 'nat'];
  expect(ids.get(insertChain)).toEqual(new Chain({ name: insertChain, rules: state.inserts }).ruleHashes());
}

// ------------------------------------------------------------------------------------------
// (b) helpers

interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Resolves with the next JSON line the child prints. */
  next(): Promise<Record<string, unknown>>;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

function startChild(script: string, args: readonly string[]): Child {
  const proc = spawn(process.execPath, [join(FIXTURES, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
  let err = '';
  proc.stderr.on('data', (b: Buffer) => {
    err += b.toString('utf8');
  });
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  return {
    proc,
    stderr: () => err,
    exited,
    next: () =>
      new Promise((resolve, reject) => {
        const take = (line: string): void => {
          try {
            resolve(JSON.parse(line) as Record<string, unknown>);
          } catch (e) {
            reject(new Error(`${script}: not JSON: ${line}`, { cause: e }));
          }
        };
        const line = lines.shift();
        if (line !== undefined) take(line);
        else {
          waiters.push(take);
          void exited.then((code) => reject(new Error(`${script} exited (${code}) before answering: ${err}`)));
        }
      }),
  };
}

interface WorkerFinal {
  readonly prefix: string;
  readonly chains: Record<string, string[]>;
  readonly inserts: Record<string, string[]>;
}

/** Our rule IDs, per position, for one hash prefix; "" for everyone else's rules. */
function idsFor(dump: string, chain: string, prefix: string): string[] {
  return idsByChain(dump, prefix).get(chain) ?? [];
}

// ------------------------------------------------------------------------------------------

describe.each(BACKENDS)('Table concurrency (%s)', (backend) => {
  const ns = useNamespace(`tc${backend}`, { resetBeforeEach: backend });
  const children: Child[] = [];
  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  });

  async function twoTables(lock: TableLock, factory?: CommandFactory): Promise<void> {
    const opts = { netns: ns.name, backend, historicChainPrefixes: ['cali-'], ...(factory ? { commandFactory: factory } : {}) };
    const filter = new Table('filter', 4, 'cali:', lock, opts);
    const nat = new Table('nat', 4, 'cali:', lock, opts);
    for (let round = 0; round < 6; round++) {
      setState(filter, filterState(round), ['cali-web', 'cali-churn']);
      setState(nat, natState(round), ['cali-dnat', 'cali-masq']);
      await Promise.all([filter.apply(), nat.apply(), filter.apply(), nat.apply()]);
      await expectConverged(ns, backend, 'filter', filterState(round));
      await expectConverged(ns, backend, 'nat', natState(round));
    }
  }

  it('(a) filter and nat Tables sharing one SharedLock apply concurrently and converge; the real binary never needs the lock', async () => {
    const lockFile = useOwnXtablesLockfile();
    const shared = new SharedLock(lockFile, 10_000, 20, `@ipts-tc-${process.pid}-${randomBytes(3).toString('hex')}`);
    const lock = new CountingLock(shared);
    await twoTables(lock);
    expect(lock.locks).toBe(0); // iptables-restore 1.8 takes the xtables lock itself (--wait)
    expect(shared.held).toBe(false);
  });

  it('(a) with an old (v1.6.1) restore binary the SharedLock is held around every restore and released at the end', async () => {
    // The SharedLock uses its own file: the real 1.8 binary (which locks XTABLES_LOCKFILE
    // itself) is not blocked by it, so holding it cannot deadlock this test.
    const lockFile = join(mkdtempSync(join(tmpdir(), 'ipts-shared-')), 'shared.lock');
    const shared = new SharedLock(lockFile, 10_000, 20, `@ipts-tc-${process.pid}-${randomBytes(3).toString('hex')}`);
    const lock = new CountingLock(shared);
    const seen = { restores: 0, unlocked: 0 };
    const factory = withRestoreVersion('v1.6.1', watchingRestores(lockFile, spawnCommand, seen));
    // Versions before 1.8.0 had only the plain names, and only those are asked their version.
    if (backend === 'legacy') await withPlainIptables('legacy', () => twoTables(lock, factory));
    else await twoTables(lock, factory);
    expect(seen.restores).toBeGreaterThanOrEqual(12);
    if (backend === 'legacy') {
      expect(seen.unlocked).toBe(0); // flocked at every restore spawn
      expect(lock.locks).toBe(seen.restores);
      expect(lock.unlocks).toBe(lock.locks);
    } else {
      expect(lock.locks).toBe(0); // nft never takes the xtables lock
      expect(seen.unlocked).toBe(seen.restores);
    }
    expect(lock.holders).toBe(0);
    expect(shared.held).toBe(false);
    const probe = tryFlockOnce(lockFile);
    expect(probe).toBeDefined();
    probe?.release();
  });

  it(`(b) two processes with their own Tables apply ${ITERATIONS} times while a third clobbers; all converge, nothing is lost`, async () => {
    expect(existsSync(DIST_INDEX), 'run `npm run build` first (dist/ is what the child processes load)').toBe(true);
    useOwnXtablesLockfile();
    const a = startChild('table-worker.js', [ns.name, backend, 'a', String(ITERATIONS)]);
    const b = startChild('table-worker.js', [ns.name, backend, 'b', String(ITERATIONS)]);
    const clobber = startChild('clobber.js', [ns.name, backend]);
    children.push(a, b, clobber);

    const [loopA, loopB] = await Promise.all([a.next(), b.next()]);
    clobber.proc.stdin.write('stop\n');
    const clobbered = (await clobber.next()) as { foreign: Record<string, string[]>; actions: number };
    expect(await clobber.exited).toBe(0);
    expect(clobbered.actions).toBeGreaterThan(5);
    if (process.env.DEBUG_CONC) console.info(JSON.stringify({ backend, clobbered, loopA, loopB }));

    a.proc.stdin.write('final\n');
    b.proc.stdin.write('final\n');
    const [finalA, finalB] = (await Promise.all([a.next(), b.next()])).map((m) => m.final as WorkerFinal) as [WorkerFinal, WorkerFinal];
    expect(await a.exited, a.stderr()).toBe(0);
    expect(await b.exited, b.stderr()).toBe(0);
    // Applies in the loop may fail after their retries while being clobbered; report them.
    for (const [who, loop] of [
      ['a', loopA],
      ['b', loopB],
    ] as const) {
      for (const e of (loop.errors as string[]) ?? []) console.warn(`worker ${who} (${backend}) loop error: ${e}`);
    }

    const dump = await ns.save(backend, 'filter');
    for (const w of [finalA, finalB]) {
      // Each worker's chains hold exactly its rules; no stale chain of its prefix is left.
      const chainPrefix = w.prefix === 'proca:' ? 'pa-' : 'pb-';
      for (const [chain, ids] of Object.entries(w.chains)) expect(idsFor(dump, chain, w.prefix), `${w.prefix} ${chain}`).toEqual(ids);
      const present = [...idsByChain(dump).keys()].filter((c) => c.startsWith(chainPrefix)).sort();
      expect(present).toEqual(Object.keys(w.chains).sort());
    }
    for (const chain of ['FORWARD', 'INPUT']) {
      const lines = chainRules(dump, chain);
      // a (insert mode): its inserts are the top of the chain, in order.
      const wantA = finalA.inserts[chain] ?? [];
      expect(idsFor(dump, chain, 'proca:').slice(0, wantA.length), `a's inserts at the top of ${chain}`).toEqual(wantA);
      expect(idsFor(dump, chain, 'proca:').filter((id) => id !== ''), `a's inserts in ${chain}`).toEqual(wantA);
      // b (append mode): its inserts are one contiguous block, in order.
      const wantB = finalB.inserts[chain] ?? [];
      const idsB = idsFor(dump, chain, 'procb:');
      const start = idsB.findIndex((id) => id !== '');
      expect(idsB.filter((id) => id !== ''), `b's inserts in ${chain}`).toEqual(wantB);
      expect(idsB.slice(start, start + wantB.length), `b's block in ${chain}`).toEqual(wantB);
      // Every foreign rule the clobberer added is still there, and nothing else is.
      const foreignHere = lines.filter((l) => !/--comment "?proc[ab]:/.test(l));
      expect([...foreignHere].sort(), `foreign rules of ${chain}`).toEqual([...(clobbered.foreign[chain] ?? [])].sort());
    }
    // No chain of ours that nobody wants, and no foreign chain appeared.
    for (const line of dump.split('\n').filter((l) => l.startsWith(':'))) {
      expect(line).toMatch(/^:(INPUT|FORWARD|OUTPUT|pa-\d|pb-\d) /);
    }
    expect(hasChain(dump, 'pa-2')).toBe(false); // the last iteration (odd) removes it
  }, 90_000);
});
