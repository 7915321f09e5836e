// The nftables backend's first apply without a read, against real nft in a throwaway namespace:
// an engine that knows nothing of its table writes at once, one `nft -f -` that begins with
// `create table` (which fails, aborting the whole transaction, when the table exists), and falls
// back to read-diff-write when the table was there. Every scenario checks the table with an
// independent reading of `nft -a list table` (test/nftables-env.ts) and counts the nft runs
// through a recording command factory wrapping the real one.
import { execFileSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { AcceptAction, DropAction, JumpAction } from '../src/actions';
import { inNetns, type CommandFactory, type SpawnedCommand } from '../src/commands';
import { RestoreFailedError } from '../src/errors';
import { NO_OP_LOCK } from '../src/locks';
import { Match } from '../src/match';
import type { NftDesiredState } from '../src/nftables/dataplane';
import { Chain, Rule } from '../src/rule';
import { Table } from '../src/table';
import { useNamespace } from './helpers/netns';
import { recordingFactory, type RecordedCall, type Recorder } from './helpers/recording';
import { listTable, makeEngine, ruleset, tableText } from './nftables-env';

const ns = useNamespace('nfw');
beforeEach(async () => {
  await ns.execOk('nft', ['flush', 'ruleset']);
});

const port = (p: number, action = new AcceptAction()): Rule => new Rule({ match: Match().protocol('tcp').destPorts(p), action });
const chain = (name: string, ports: readonly number[]): Chain => new Chain({ name, rules: ports.map((p) => port(p)) });
const jump = (target: string): Rule => new Rule({ action: new JumpAction({ target }) });
const state = (chains: readonly Chain[], inserts: Record<string, readonly Rule[]> = {}): NftDesiredState => ({
  chains: new Map(chains.map((c) => [c.name, c])),
  inserts: new Map(Object.entries(inserts)),
  appends: new Map(),
});
const texts = async (name: string): Promise<string[]> => ((await listTable(ns, 'ip', 'ipts-filter'))?.get(name)?.rules ?? []).map((r) => r.text);
const chainNames = async (): Promise<string[]> => [...((await listTable(ns, 'ip', 'ipts-filter'))?.keys() ?? [])].sort();
const accepts = (ports: readonly number[]): string[] => ports.map((p) => `tcp dport ${p} counter accept`);

/** The nft runs recorded, each as 'list' or 'write' (anything else fails the test). */
const nftRuns = (calls: readonly RecordedCall[]): ('list' | 'write')[] =>
  calls.map((c) => {
    const words = [c.command, ...c.args];
    if (!words.includes('nft')) throw new Error(`not an nft run: ${words.join(' ')}`);
    if (words.includes('list')) return 'list';
    if (words.includes('-f')) return 'write';
    throw new Error(`unexpected nft run: ${words.join(' ')}`);
  });
const recorder = (inner: CommandFactory = inNetns(ns.name)): Recorder => recordingFactory(inner);

/** Runs `fn` around the n-th (from 1) `nft -f` the factory starts: before it starts, or once it
 *  has exited (as another program would, between our runs). */
function aroundWrite(inner: CommandFactory, n: number, when: 'before' | 'after', fn: () => void): CommandFactory {
  let writes = 0;
  const hooked = (command: string, args: readonly string[], options?: Parameters<CommandFactory>[2]): SpawnedCommand => {
    const isWrite = args.includes('-f');
    if (isWrite) writes++;
    const mine = isWrite && writes === n;
    if (mine && when === 'before') fn();
    const child = inner(command, args, options);
    if (!mine || when === 'before') return child;
    return { ...child, kill: child.kill, exited: child.exited.then((e) => (fn(), e)) };
  };
  return Object.assign(hooked, { acceptsStdoutFd: inner.acceptsStdoutFd === true });
}
const nftHere = (input: string): void => void execFileSync('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input });

/** What an earlier run of ours left: chains ipts-a (ports 1, 2, 3) and ipts-stale, INPUT
 *  jumping to ipts-a, and counters (7 packets, 700 bytes) on every rule of ipts-a. */
async function earlierRun(): Promise<void> {
  await makeEngine(ns).apply(state([chain('ipts-a', [1, 2, 3]), chain('ipts-stale', [9])], { INPUT: [jump('ipts-a')] }));
  for (const rule of (await listTable(ns, 'ip', 'ipts-filter'))?.get('ipts-a')?.rules ?? []) {
    const text = rule.text.replace('counter', 'counter packets 7 bytes 700');
    await ns.execOk('nft', ['replace', 'rule', 'ip', 'ipts-filter', 'ipts-a', 'handle', String(rule.handle), ...text.split(' '), 'comment', `"${rule.comment}"`]);
  }
}

describe('nftables: the first apply writes without reading', () => {
  it('on a fresh host runs exactly one nft command (create table …, with --echo --handle), leaving the desired table', async () => {
    const rec = recorder();
    const engine = makeEngine(ns, { run: rec.factory });
    const want = state([chain('ipts-a', [22, 80]), chain('ipts-b', [53])], { INPUT: [jump('ipts-a'), jump('ipts-b')] });
    const result = await engine.apply(want);
    expect(nftRuns(rec.calls)).toEqual(['write']);
    expect(rec.calls[0]?.args).toEqual(expect.arrayContaining(['--echo', '--handle', '-f', '-']));
    expect(rec.calls[0]?.input.split('\n')[0]).toBe('create table ip ipts-filter');
    expect(result).toMatchObject({ reads: 0, attempts: 1, speculativeWrite: 'landed' });
    expect(result.writes.map((w) => w.input)).toEqual([rec.calls[0]?.input]);
    // The table, read independently, is the desired state.
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    expect([...(seen?.keys() ?? [])].sort()).toEqual(['INPUT', 'ipts-a', 'ipts-b']);
    expect(seen?.get('INPUT')?.declaration).toBe('type filter hook input priority filter; policy accept;');
    expect(seen?.get('INPUT')?.rules.map((r) => r.text)).toEqual(['counter jump ipts-a', 'counter jump ipts-b']);
    expect(seen?.get('ipts-a')?.rules.map((r) => r.text)).toEqual(accepts([22, 80]));
    expect(seen?.get('ipts-b')?.rules.map((r) => r.text)).toEqual(accepts([53]));
    for (const c of seen?.values() ?? []) for (const r of c.rules) expect(r.comment).toMatch(/^ipts:[A-Za-z0-9_-]{16}$/);
    // The belief is what it wrote plus the echoed handles: a one-rule change needs no read and
    // replaces exactly the rule at the handle nft lists.
    rec.clear();
    const h80 = seen?.get('ipts-a')?.rules[1]?.handle;
    const change = await engine.apply(state([chain('ipts-a', [22, 81]), chain('ipts-b', [53])], { INPUT: [jump('ipts-a'), jump('ipts-b')] }));
    expect(nftRuns(rec.calls)).toEqual(['write']);
    expect(change.writes[0]?.input).toMatch(new RegExp(`^replace rule ip ipts-filter ipts-a handle ${h80} .*tcp dport 81 counter accept comment "ipts:.{16}"\n$`));
    expect(await texts('ipts-a')).toEqual(accepts([22, 81]));
    // A re-read finds nothing to do.
    engine.invalidate();
    expect((await engine.plan(state([chain('ipts-a', [22, 81]), chain('ipts-b', [53])], { INPUT: [jump('ipts-a'), jump('ipts-b')] }))).input).toBe('');
  });

  it('when an earlier run left the table: falls back to read and diff, removing stale chains and keeping the counters of unchanged rules', async () => {
    await earlierRun();
    const before = await listTable(ns, 'ip', 'ipts-filter');
    const rec = recorder();
    const engine = makeEngine(ns, { run: rec.factory });
    const result = await engine.apply(state([chain('ipts-a', [1, 2, 4])], { INPUT: [jump('ipts-a')] }));
    expect(nftRuns(rec.calls)).toEqual(['write', 'list', 'write']);
    expect(result).toMatchObject({ reads: 1, attempts: 2, speculativeWrite: 'table existed', deletedChains: ['ipts-stale'] });
    // Only the fallback's transaction landed, and it is a diff (no create, no re-made chains).
    expect(result.writes).toHaveLength(1);
    expect(result.writes[0]?.input).not.toMatch(/create table|add chain/);
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    expect([...(seen?.keys() ?? [])].sort()).toEqual(['INPUT', 'ipts-a']);
    expect(seen?.get('ipts-a')?.rules.map((r) => r.text)).toEqual(accepts([1, 2, 4]));
    expect(seen?.get('ipts-a')?.rules.map((r) => r.packets)).toEqual([7, 7, 0]);
    const kept = (name: string): number[] => (seen?.get(name)?.rules ?? []).map((r) => r.handle);
    expect(kept('ipts-a').slice(0, 2)).toEqual((before?.get('ipts-a')?.rules ?? []).slice(0, 2).map((r) => r.handle));
    expect(kept('INPUT')).toEqual((before?.get('INPUT')?.rules ?? []).map((r) => r.handle));
  });

  it("when a foreign program made a table of our name: takes it over as a first apply after a read always did (foreign chains and rules removed, a base chain with another hook re-made), other tables untouched", async () => {
    nftHere(
      [
        'add table ip ipts-filter',
        'add chain ip ipts-filter INPUT { type filter hook output priority 10; policy drop; }',
        'add rule ip ipts-filter INPUT tcp dport 22 accept',
        'add chain ip ipts-filter theirs',
        'add rule ip ipts-filter theirs counter drop',
        'add chain ip ipts-filter ipts-a',
        'add rule ip ipts-filter ipts-a tcp dport 1 accept',
        'add table ip other',
        'add chain ip other c',
        'add rule ip other c accept',
        '',
      ].join('\n'),
    );
    const other = tableText(await ruleset(ns), 'ip', 'other');
    const rec = recorder();
    const result = await makeEngine(ns, { run: rec.factory }).apply(state([chain('ipts-a', [1])], { INPUT: [jump('ipts-a')] }));
    expect(nftRuns(rec.calls)).toEqual(['write', 'list', 'write']);
    expect(result.speculativeWrite).toBe('table existed');
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    expect([...(seen?.keys() ?? [])].sort()).toEqual(['INPUT', 'ipts-a']);
    expect(seen?.get('INPUT')?.declaration).toBe('type filter hook input priority filter; policy accept;');
    expect(seen?.get('INPUT')?.rules.map((r) => r.text)).toEqual(['counter jump ipts-a']);
    expect(seen?.get('ipts-a')?.rules.map((r) => [r.text, /^ipts:/.test(r.comment ?? '')])).toEqual([['tcp dport 1 counter accept', true]]);
    expect(tableText(await ruleset(ns), 'ip', 'other')).toBe(other);
  });

  it('after a failed first write (a rule nft refuses): nothing landed, no read was made; the next apply writes without a read again', async () => {
    const rec = recorder();
    let bogus = true;
    const engine = makeEngine(ns, { run: rec.factory, render: (rule) => (bogus && rule.action instanceof DropAction ? 'counter bogus' : 'counter accept') });
    const rules = [new Rule({ action: new AcceptAction() }), new Rule({ action: new DropAction() })];
    const error = await engine.apply(state([new Chain({ name: 'ipts-a', rules })])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect((error as RestoreFailedError).failedLine).toMatch(/^add rule ip ipts-filter ipts-a counter bogus comment/);
    expect(nftRuns(rec.calls)).toEqual(['write']);
    expect(await listTable(ns, 'ip', 'ipts-filter')).toBeUndefined();
    rec.clear();
    bogus = false;
    const result = await engine.apply(state([new Chain({ name: 'ipts-a', rules: [new Rule({ action: new AcceptAction() })] })]));
    expect(nftRuns(rec.calls)).toEqual(['write']);
    expect(result.speculativeWrite).toBe('landed');
    expect(await texts('ipts-a')).toEqual(['counter accept']);
  });

  it('after a first write that failed in a way a retry can pass: re-reads and writes the diff', async () => {
    // The first nft -f fails as a busy kernel would (EBUSY on a line that is not the create).
    let failed = false;
    const real = inNetns(ns.name);
    const flaky: CommandFactory = Object.assign(
      (command: string, args: readonly string[], options?: Parameters<CommandFactory>[2]): SpawnedCommand => {
        if (!failed && args.includes('-f')) {
          failed = true;
          return real('sh', ['-c', 'cat >/dev/null; echo "/dev/stdin:2:1-9: Error: Could not process rule: Device or resource busy" >&2; exit 1'], options);
        }
        return real(command, args, options);
      },
      { acceptsStdoutFd: true },
    );
    const rec = recorder(flaky);
    const result = await makeEngine(ns, { run: rec.factory }).apply(state([chain('ipts-a', [1, 2])]));
    expect(nftRuns(rec.calls)).toEqual(['write', 'list', 'write']); // the first one ran the failing stand-in
    expect(result).toMatchObject({ reads: 1, attempts: 2, speculativeWrite: 'failed' });
    expect(await texts('ipts-a')).toEqual(accepts([1, 2]));
  });

  it('races: the table deleted between the failed first write and the fallback read, then made again by another program just before the fallback write', async () => {
    await earlierRun();
    const foreign = 'add table ip ipts-filter\nadd chain ip ipts-filter theirs\nadd rule ip ipts-filter theirs counter drop\n';
    let run = inNetns(ns.name);
    run = aroundWrite(run, 1, 'after', () => nftHere('delete table ip ipts-filter\n'));
    run = aroundWrite(run, 2, 'before', () => nftHere(foreign));
    const rec = recorder(run);
    const result = await makeEngine(ns, { run: rec.factory }).apply(state([chain('ipts-a', [1, 2])], { INPUT: [jump('ipts-a')] }));
    // Miss, read (no table), write with create (fails: the table is back), re-read, write the diff.
    expect(nftRuns(rec.calls)).toEqual(['write', 'list', 'write', 'list', 'write']);
    expect(rec.calls[2]?.input.split('\n')[0]).toBe('create table ip ipts-filter');
    expect(result).toMatchObject({ reads: 2, speculativeWrite: 'table existed' });
    expect(await chainNames()).toEqual(['INPUT', 'ipts-a']);
    expect(await texts('ipts-a')).toEqual(accepts([1, 2]));
    expect(await texts('INPUT')).toEqual(['counter jump ipts-a']);
  });

  it('a write planned against a read that found no table fails, and re-reads, when another program made the table meanwhile (no merging into it)', async () => {
    const rec = recorder(aroundWrite(inNetns(ns.name), 1, 'before', () => nftHere('add table ip ipts-filter\nadd chain ip ipts-filter theirs\nadd rule ip ipts-filter theirs counter drop\n')));
    const engine = makeEngine(ns, { run: rec.factory });
    const want = state([chain('ipts-a', [1])]);
    const plan = await engine.plan(want);
    expect(plan.input.split('\n')[0]).toBe('create table ip ipts-filter');
    const result = await engine.apply(want);
    expect(nftRuns(rec.calls)).toEqual(['list', 'write', 'list', 'write']);
    expect(result.speculativeWrite).toBeUndefined();
    expect(await chainNames()).toEqual(['ipts-a']);
    expect(await texts('ipts-a')).toEqual(accepts([1]));
  });

  it('a plan() before the first apply reads (it shows a diff against the table as it is), and the apply then writes exactly that input, without speculating', async () => {
    await earlierRun();
    const rec = recorder();
    const engine = makeEngine(ns, { run: rec.factory });
    const want = state([chain('ipts-a', [1, 2, 3])], { INPUT: [jump('ipts-a')] });
    const plan = await engine.plan(want);
    expect(plan.input).toMatch(/^flush chain ip ipts-filter ipts-stale\ndelete chain ip ipts-filter ipts-stale\n$/);
    const result = await engine.apply(want);
    expect(nftRuns(rec.calls)).toEqual(['list', 'write']);
    expect(result.writes.map((w) => w.input)).toEqual([plan.input]);
    expect(result.speculativeWrite).toBeUndefined();
  });

  it('a first apply whose rules jump to a chain it no longer wants reads first (the chain an earlier run left stays until nothing jumps to it, with a ChainDeletionError)', async () => {
    await makeEngine(ns).apply(state([chain('ipts-old', [5]), chain('ipts-a', [1])]));
    const rec = recorder();
    const jumper = new Chain({ name: 'ipts-a', rules: [port(1), jump('ipts-old')] });
    const error = await makeEngine(ns, { run: rec.factory }).apply(state([jumper])).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ChainDeletionError', failures: [{ chain: 'ipts-old', referrers: ['ipts-a'] }] });
    expect(nftRuns(rec.calls)).toEqual(['list', 'write']);
    expect(await chainNames()).toEqual(['ipts-a', 'ipts-old']);
    expect(await texts('ipts-a')).toEqual(['tcp dport 1 counter accept', 'counter jump ipts-old']);
  });

  it('a first apply wanting nothing still reads, and deletes the table an earlier run left', async () => {
    await earlierRun();
    const rec = recorder();
    const result = await makeEngine(ns, { run: rec.factory }).apply(state([]));
    expect(nftRuns(rec.calls)).toEqual(['list', 'write']);
    expect(result.speculativeWrite).toBeUndefined();
    expect(await listTable(ns, 'ip', 'ipts-filter')).toBeUndefined();
  });

  it('a big first write (more rules than echo is used for) lands without a read; the next change reads first, as after any big write', async () => {
    const rec = recorder();
    const engine = makeEngine(ns, { run: rec.factory });
    const many = Array.from({ length: 300 }, (_, k) => 1000 + k);
    await engine.apply(state([chain('ipts-big', many)]));
    expect(nftRuns(rec.calls)).toEqual(['write']);
    expect(rec.calls[0]?.args).not.toContain('--echo');
    rec.clear();
    await engine.apply(state([chain('ipts-big', [...many.slice(0, -1), 9])]));
    expect(nftRuns(rec.calls)).toEqual(['list', 'write']);
    expect((await texts('ipts-big')).slice(-2)).toEqual(accepts([1298, 9]));
  });
});

describe('nftables: the first apply without a read, through a Table', () => {
  const table = (run: CommandFactory, registry: Registry, now: () => number = Date.now): Table =>
    new Table('filter', 4, 'ipts:', NO_OP_LOCK, { backend: 'nftables', commandFactory: run, registry, refreshIntervalMs: 90_000, now });

  const metric = async (registry: Registry, name: string): Promise<number> =>
    ((await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values[0]?.value as number | undefined) ?? 0;

  it('counts one restore call and no save on a fresh host, reports the speculative write, and schedules the post-write re-read (not an immediate refresh)', async () => {
    const registry = new Registry();
    const rec = recorder();
    const now = 1_000_000;
    const t = table(rec.factory, registry, () => now);
    t.updateChain(chain('ipts-a', [1]));
    const report = await t.applyWithReport();
    expect(nftRuns(rec.calls)).toEqual(['write']);
    expect(report).toMatchObject({ reads: 0, attempts: 1, speculativeWrite: 'landed' });
    expect(report.rescheduleAfterMs).toBeGreaterThan(1);
    expect(report.rescheduleAfterMs).toBeLessThan(90_000);
    expect(await metric(registry, 'iptables_sync_restore_calls_total')).toBe(1);
    expect(await metric(registry, 'iptables_sync_restore_errors_total')).toBe(0);
    expect(await metric(registry, 'iptables_sync_save_calls_total')).toBe(0);
    expect(await metric(registry, 'iptables_sync_restore_retries_total')).toBe(0);
  });

  it('counts the failed first write as a restore call but not as an error or a retry when the table existed', async () => {
    await earlierRun();
    const registry = new Registry();
    const rec = recorder();
    const t = table(rec.factory, registry);
    t.updateChain(chain('ipts-a', [1, 2, 3]));
    t.setRuleInsertions('INPUT', [jump('ipts-a')]);
    const report = await t.applyWithReport();
    expect(nftRuns(rec.calls)).toEqual(['write', 'list', 'write']);
    expect(report).toMatchObject({ reads: 1, attempts: 2, speculativeWrite: 'table existed', deletedChains: ['ipts-stale'] });
    expect(await metric(registry, 'iptables_sync_restore_calls_total')).toBe(2);
    expect(await metric(registry, 'iptables_sync_restore_errors_total')).toBe(0);
    expect(await metric(registry, 'iptables_sync_restore_retries_total')).toBe(0);
    expect(await metric(registry, 'iptables_sync_save_calls_total')).toBe(1);
    expect(await chainNames()).toEqual(['INPUT', 'ipts-a']);
  });
});
