// The nftables engine against real nft in a throwaway namespace: each scenario checks the table
// with an independent reading of `nft -a list table` (test/nftables-env.ts), not the engine's.
import { beforeEach, describe, expect, it } from 'vitest';
import { AcceptAction, DropAction, JumpAction } from '../src/actions';
import { ChainDeletionError, InvalidRuleError, RestoreFailedError } from '../src/errors';
import { Match } from '../src/match';
import { Chain, Rule } from '../src/rule';
import { ECHO_MAX_RULES, type NftDesiredState } from '../src/nftables/dataplane';
import { useNamespace } from './helpers/netns';
import { listTable, makeEngine, ruleset, tableText } from './nftables-env';
import { readdirSync } from 'node:fs';
import { inNetns, type CommandFactory } from '../src/commands';
import { SILENT_LOGGER } from '../src/logger';
import { listTable as engineListTable, writeNft } from '../src/nftables/nft-run';

const independentList = listTable;

const ns = useNamespace('nfteng');
beforeEach(async () => {
  await ns.execOk('nft', ['flush', 'ruleset']);
});

const port = (p: number, action = new AcceptAction()): Rule => new Rule({ match: Match().protocol('tcp').destPorts(p), action });
const chain = (name: string, ports: readonly number[]): Chain => new Chain({ name, rules: ports.map((p) => port(p)) });
const state = (chains: readonly Chain[], inserts: Record<string, readonly Rule[]> = {}, appends: Record<string, readonly Rule[]> = {}): NftDesiredState => ({
  chains: new Map(chains.map((c) => [c.name, c])),
  inserts: new Map(Object.entries(inserts)),
  appends: new Map(Object.entries(appends)),
});
const texts = async (name: string, family = 'ip', table = 'ipts-filter'): Promise<string[]> =>
  ((await listTable(ns, family, table))?.get(name)?.rules ?? []).map((r) => r.text);
const handles = async (name: string): Promise<number[]> => ((await listTable(ns, 'ip', 'ipts-filter'))?.get(name)?.rules ?? []).map((r) => r.handle);
const commands = (input: string): string[] => input.split('\n').filter((l) => l !== '');

describe('nftables engine on real nft', () => {
  it('reads the same listing through a file (a factory with acceptsStdoutFd) and through the pipe (one without), leaving no file behind', async () => {
    await makeEngine(ns).apply(state([chain('ipts-a', [22, 80, 443]), chain('ipts-b', [53])], { INPUT: [new Rule({ action: new JumpAction({ target: 'ipts-a' }) })] }));
    const o = { family: 'ip' as const, table: 'ipts-filter', timeoutMs: 30_000, hashPrefix: 'ipts:', sleep: async () => undefined, logger: SILENT_LOGGER, withDetails: true };
    const viaFile = inNetns(ns.name);
    expect(viaFile.acceptsStdoutFd).toBe(true);
    const viaPipe: CommandFactory = (command, args, options) => viaFile(command, args, options); // no acceptsStdoutFd
    const before = readdirSync('/dev/shm').filter((f) => f.startsWith('iptables-sync-nft-'));
    const fromFile = await engineListTable({ ...o, run: viaFile });
    const fromPipe = await engineListTable({ ...o, run: viaPipe });
    expect(fromFile).toEqual(fromPipe);
    expect(Object.fromEntries(fromFile.chains.map((c) => [c.name, c.ids.length]))).toEqual({ 'ipts-a': 3, 'ipts-b': 1, INPUT: 1 });
    const seen = await independentList(ns, 'ip', 'ipts-filter');
    expect(fromFile.chains.find((c) => c.name === 'ipts-a')?.handles).toEqual(seen?.get('ipts-a')?.rules.map((r) => r.handle));
    expect(readdirSync('/dev/shm').filter((f) => f.startsWith('iptables-sync-nft-'))).toEqual(before);
  });

  it('creates our table, its chains and a base chain holding the inserts, every rule with a counter and our ID comment', async () => {
    const engine = makeEngine(ns);
    await engine.apply(state([chain('ipts-a', [22, 80])], { INPUT: [new Rule({ action: new JumpAction({ target: 'ipts-a' }) })] }));
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    expect(seen?.get('INPUT')?.declaration).toBe('type filter hook input priority filter; policy accept;');
    expect(seen?.get('INPUT')?.rules.map((r) => r.text)).toEqual(['counter jump ipts-a']);
    expect(seen?.get('ipts-a')?.declaration).toBeUndefined();
    expect(await texts('ipts-a')).toEqual(['tcp dport 22 counter accept', 'tcp dport 80 counter accept']);
    for (const rule of seen?.get('ipts-a')?.rules ?? []) expect(rule.comment).toMatch(/^ipts:[A-Za-z0-9_-]{16}$/);
    // Kernel chains without rules get no base chain.
    expect([...(seen?.keys() ?? [])].sort()).toEqual(['INPUT', 'ipts-a']);
    // Applied again: nothing to write.
    expect((await engine.plan(state([chain('ipts-a', [22, 80])], { INPUT: [new Rule({ action: new JumpAction({ target: 'ipts-a' }) })] }))).input).toBe('');
  });

  it('changes one rule in the middle with exactly one replace command, other rules keeping their handles', async () => {
    const engine = makeEngine(ns);
    await engine.apply(state([chain('ipts-a', [1, 2, 3, 4, 5])]));
    const before = await handles('ipts-a');
    const next = state([chain('ipts-a', [1, 2, 33, 4, 5])]);
    const plan = await engine.plan(next);
    expect(commands(plan.input)).toEqual([
      expect.stringMatching(new RegExp(`^replace rule ip ipts-filter ipts-a handle ${before[2]} (?:ip protocol tcp )?tcp dport 33 counter accept comment "ipts:.{16}"$`)),
    ]);
    expect(plan.summary.rulesToReplace).toBe(1);
    const result = await engine.apply(next);
    expect(result.writes.map((w) => w.input)).toEqual([plan.input]);
    expect(await texts('ipts-a')).toEqual([1, 2, 33, 4, 5].map((p) => `tcp dport ${p} counter accept`));
    expect(await handles('ipts-a')).toEqual(before);
  });

  it('grows (a rule inserted in the middle, rules appended) and shrinks, keeping the untouched rules', async () => {
    const engine = makeEngine(ns);
    await engine.apply(state([chain('ipts-a', [1, 2, 3])]));
    const [h1, h2, h3] = await handles('ipts-a');
    await engine.apply(state([chain('ipts-a', [1, 10, 2, 3, 4, 5])]));
    expect(await texts('ipts-a')).toEqual([1, 10, 2, 3, 4, 5].map((p) => `tcp dport ${p} counter accept`));
    const grown = await handles('ipts-a');
    expect([grown[0], grown[2], grown[3]]).toEqual([h1, h2, h3]);
    const plan = await engine.plan(state([chain('ipts-a', [2, 5])]));
    expect(commands(plan.input).filter((l) => l.startsWith('delete rule'))).toHaveLength(4);
    expect(commands(plan.input).filter((l) => !l.startsWith('delete rule') && l !== 'create table ip ipts-filter')).toEqual([]);
    await engine.apply(state([chain('ipts-a', [2, 5])]));
    expect(await texts('ipts-a')).toEqual([2, 5].map((p) => `tcp dport ${p} counter accept`));
    expect(await handles('ipts-a')).toEqual([h2, grown[5]]);
  });

  it('deletes chains no longer wanted, but not one a desired rule still jumps to (ChainDeletionError naming the referrer; the rest lands)', async () => {
    const engine = makeEngine(ns);
    const jumper = new Chain({ name: 'ipts-from', rules: [new Rule({ action: new JumpAction({ target: 'ipts-to' }) })] });
    await engine.apply(state([jumper, chain('ipts-to', [1]), chain('ipts-gone', [2])]));
    const error = await engine.apply(state([jumper, chain('ipts-new', [3])])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainDeletionError);
    expect((error as ChainDeletionError).failures).toEqual([{ chain: 'ipts-to', referrers: ['ipts-from'] }]);
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    expect([...(seen?.keys() ?? [])].sort()).toEqual(['ipts-from', 'ipts-new', 'ipts-to']);
    // Once nothing jumps to it, it goes.
    await engine.apply(state([chain('ipts-new', [3])]));
    expect([...((await listTable(ns, 'ip', 'ipts-filter'))?.keys() ?? [])]).toEqual(['ipts-new']);
  });

  it('keeps inserts above appends in base chains, and edits them as rules', async () => {
    const engine = makeEngine(ns);
    const drop = new Rule({ action: new DropAction() });
    await engine.apply(state([], { INPUT: [port(1), port(2)], OUTPUT: [port(7)] }, { INPUT: [drop] }));
    expect(await texts('INPUT')).toEqual(['tcp dport 1 counter accept', 'tcp dport 2 counter accept', 'counter drop']);
    expect(await texts('OUTPUT')).toEqual(['tcp dport 7 counter accept']);
    expect((await listTable(ns, 'ip', 'ipts-filter'))?.get('OUTPUT')?.declaration).toBe('type filter hook output priority filter; policy accept;');
    const plan = await engine.plan(state([], { INPUT: [port(1), port(2), port(3)], OUTPUT: [] }, { INPUT: [drop] }));
    expect(plan.summary).toMatchObject({ insertsToAdd: 1, chainsToDelete: 1 });
    await engine.apply(state([], { INPUT: [port(1), port(2), port(3)], OUTPUT: [] }, { INPUT: [drop] }));
    expect(await texts('INPUT')).toEqual(['tcp dport 1 counter accept', 'tcp dport 2 counter accept', 'tcp dport 3 counter accept', 'counter drop']);
    expect((await listTable(ns, 'ip', 'ipts-filter'))?.has('OUTPUT')).toBe(false);
  });

  it('refuses inserts into a chain that is no kernel chain of the table, at plan time', async () => {
    const engine = makeEngine(ns);
    await expect(engine.plan(state([], { FOO: [port(1)] }))).rejects.toThrow(/backend nftables.*INPUT, FORWARD, OUTPUT/);
  });

  it("repairs another program's clobbering of our table on the next read: rule deleted, chain flushed, rule inserted", async () => {
    const engine = makeEngine(ns);
    const want = state([chain('ipts-a', [1, 2, 3]), chain('ipts-b', [4, 5])], { INPUT: [port(9)] });
    await engine.apply(want);
    const h = await handles('ipts-a');
    await ns.execOk('nft', ['delete', 'rule', 'ip', 'ipts-filter', 'ipts-a', 'handle', String(h[1])]);
    await ns.execOk('nft', ['flush', 'chain', 'ip', 'ipts-filter', 'ipts-b']);
    await ns.execOk('nft', ['insert', 'rule', 'ip', 'ipts-filter', 'INPUT', 'tcp', 'dport', '666', 'drop']);
    // The cached view still believes all is well…
    expect((await engine.plan(want)).input).toBe('');
    // …until the next read.
    engine.invalidate();
    await engine.apply(want);
    expect(await texts('ipts-a')).toEqual([1, 2, 3].map((p) => `tcp dport ${p} counter accept`));
    expect(await texts('ipts-b')).toEqual([4, 5].map((p) => `tcp dport ${p} counter accept`));
    expect(await texts('INPUT')).toEqual(['tcp dport 9 counter accept']);
    expect([h[0], h[2]]).toEqual([(await handles('ipts-a'))[0], (await handles('ipts-a'))[2]]);
  });

  it('removes stale chains and foreign rules an earlier run left in our table', async () => {
    await ns.execOk('nft', ['-f', '-'], 'add table ip ipts-filter\nadd chain ip ipts-filter ipts-old\nadd rule ip ipts-filter ipts-old accept comment "ipts:AAAAAAAAAAAAAAAA"\nadd chain ip ipts-filter ipts-a\nadd rule ip ipts-filter ipts-a tcp dport 1 accept\n');
    const engine = makeEngine(ns);
    await engine.apply(state([chain('ipts-a', [1])]));
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    expect([...(seen?.keys() ?? [])]).toEqual(['ipts-a']);
    expect(seen?.get('ipts-a')?.rules.map((r) => r.comment)).toEqual([expect.stringMatching(/^ipts:/)]);
  });

  it('writes nat, mangle and raw base chains with the hooks and priorities of their iptables chains', async () => {
    const cases = [
      { tableName: 'nat', chains: { PREROUTING: 'type nat hook prerouting priority dstnat;', INPUT: 'type nat hook input priority 100;', OUTPUT: 'type nat hook output priority -100;', POSTROUTING: 'type nat hook postrouting priority srcnat;' } },
      { tableName: 'mangle', chains: { PREROUTING: 'type filter hook prerouting priority mangle;', INPUT: 'type filter hook input priority mangle;', FORWARD: 'type filter hook forward priority mangle;', OUTPUT: 'type route hook output priority mangle;', POSTROUTING: 'type filter hook postrouting priority mangle;' } },
      { tableName: 'raw', chains: { PREROUTING: 'type filter hook prerouting priority raw;', OUTPUT: 'type filter hook output priority raw;' } },
    ] as const;
    for (const c of cases) {
      const engine = makeEngine(ns, { tableName: c.tableName });
      const inserts = Object.fromEntries(Object.keys(c.chains).map((k) => [k, [port(5)]]));
      await engine.apply(state([], inserts));
      const seen = await listTable(ns, 'ip', `ipts-${c.tableName}`);
      for (const [name, decl] of Object.entries(c.chains)) expect(seen?.get(name)?.declaration, `${c.tableName} ${name}`).toBe(`${decl} policy accept;`);
    }
  });

  it('owns an ip6 table for IPv6', async () => {
    const engine = makeEngine(ns, { ipVersion: 6 });
    await engine.apply(state([new Chain({ name: 'ipts-v6', rules: [new Rule({ match: Match().sourceNet('fd00::/8'), action: new AcceptAction() })] })]));
    expect(await texts('ipts-v6', 'ip6')).toEqual(['ip6 saddr fd00::/8 counter accept']);
    expect(await listTable(ns, 'ip', 'ipts-filter')).toBeUndefined();
  });

  it("never touches another program's table or iptables-nft's rules, and a Table wanting nothing deletes only its own table", async () => {
    await ns.execOk('nft', ['-f', '-'], 'add table ip other\nadd chain ip other INPUT { type filter hook input priority 0; policy accept; }\nadd rule ip other INPUT tcp dport 22 counter accept comment "ipts:BBBBBBBBBBBBBBBB"\n');
    await ns.execOk('iptables-nft', ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '23', '-j', 'ACCEPT']);
    const before = await ruleset(ns);
    const engine = makeEngine(ns);
    await engine.apply(state([chain('ipts-a', [1])], { INPUT: [port(2)] }));
    const during = await ruleset(ns);
    expect(tableText(during, 'ip', 'other')).toBe(tableText(before, 'ip', 'other'));
    expect(tableText(during, 'ip', 'filter')).toBe(tableText(before, 'ip', 'filter'));
    expect(tableText(during, 'ip', 'ipts-filter')).not.toBe('');
    await engine.apply(state([]));
    expect(await ruleset(ns)).toBe(before);
  });

  it("fails with a RestoreFailedError carrying nft's stderr and the input line it blamed, without retrying a syntax error", async () => {
    const engine = makeEngine(ns, { render: (rule) => (rule.action instanceof DropAction ? 'counter bogus' : 'counter accept') });
    const rules = [new Rule({ action: new AcceptAction() }), new Rule({ action: new DropAction() })];
    const error = (await engine.apply(state([new Chain({ name: 'ipts-a', rules })])).catch((e: unknown) => e)) as RestoreFailedError;
    expect(error).toBeInstanceOf(RestoreFailedError);
    expect(error.stderr).toMatch(/syntax error/);
    expect(error.failedLine).toMatch(/^add rule ip ipts-filter ipts-a counter bogus comment "ipts:.{16}"$/);
    expect(error.retryable).toBe(false);
    expect(engine.reads).toBe(0); // a first apply writes without reading
    expect(await listTable(ns, 'ip', 'ipts-filter')).toBeUndefined(); // nothing of the transaction landed
  });

  it('refuses, at plan time, a jump to a chain that is not one of ours', async () => {
    const engine = makeEngine(ns);
    const bad = new Chain({ name: 'ipts-a', rules: [new Rule({ action: new JumpAction({ target: 'ipts-missing' }) })] });
    await expect(engine.plan(state([bad]))).rejects.toThrow(/ipts-missing.*|backend nftables/);
    await expect(engine.plan(state([], { INPUT: [new Rule({ action: new JumpAction({ target: 'KUBE-SERVICES' }) })] }))).rejects.toThrow(InvalidRuleError);
  });

  it('learns new rules\' handles from a small transaction\'s echo (the next change needs no read), and reads before editing after a big one', async () => {
    const engine = makeEngine(ns);
    await engine.apply(state([chain('ipts-a', [1, 2])]));
    expect(engine.reads).toBe(0); // the first apply wrote without reading, learning the handles from the echo
    await engine.apply(state([chain('ipts-a', [1, 2, 3])]));
    await engine.apply(state([chain('ipts-a', [1, 2, 4])])); // replaces the rule added just before, by its echoed handle
    expect(engine.reads).toBe(0);
    expect(await texts('ipts-a')).toEqual([1, 2, 4].map((p) => `tcp dport ${p} counter accept`));
    const big = Array.from({ length: ECHO_MAX_RULES + 1 }, (_, k) => 1000 + k);
    await engine.apply(state([chain('ipts-a', [1, 2, 4]), chain('ipts-big', big)]));
    expect(engine.reads).toBe(0);
    await engine.apply(state([chain('ipts-a', [1, 2, 4]), chain('ipts-big', [...big.slice(0, -1), 9])]));
    expect(engine.reads).toBe(1);
    expect((await texts('ipts-big')).slice(-2)).toEqual([`tcp dport ${big[big.length - 2]} counter accept`, 'tcp dport 9 counter accept']);
  });

  it('starts nft -f with the first line of a transaction, before it produces the second (nft starts up while the rest is made)', async () => {
    const real = inNetns(ns.name);
    let started = 0;
    const run: CommandFactory = Object.assign((command: string, args: readonly string[], options?: Parameters<CommandFactory>[2]) => (started++, real(command, args, options)), { acceptsStdoutFd: true });
    const seenAt: number[] = [];
    function* lines(): Generator<string> {
      for (const line of ['create table ip ipts-filter', 'add chain ip ipts-filter ipts-a', 'add rule ip ipts-filter ipts-a counter accept']) {
        yield line;
        seenAt.push(started);
      }
    }
    const outcome = await writeNft({ run, family: 'ip', table: 'ipts-filter', timeoutMs: 30_000 }, lines(), false);
    expect(outcome.lines).toBe(3);
    expect(seenAt).toEqual([1, 1, 1]);
    expect(await texts('ipts-a')).toEqual(['counter accept']);
  });

  it('tells which rules a chain lacks (checkRulesPresent), by their IDs there', async () => {
    const engine = makeEngine(ns);
    await engine.apply(state([chain('ipts-a', [1, 2])]));
    const missing = await engine.missingRules('ipts-a', [port(1), port(2), port(3)]);
    expect(missing.map((r) => r.match.render())).toEqual([port(3).match.render()]);
    expect(await engine.missingRules('ipts-none', [port(1)])).toHaveLength(1);
  });
});
