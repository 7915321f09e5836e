// The Table on backend 'nftables', against real nft in a throwaway namespace: the scenarios of
// the iptables backends' Table tests, checked with an independent `nft -a list table` /
// `nft list ruleset` reading (test/nftables-env.ts).
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { AcceptAction, Chain, DropAction, InvalidOptionError, InvalidRuleError, JumpAction, Match, NO_OP_LOCK, Rule, Table, type TableOptions } from '../src/index';
import { useNamespace } from './helpers/netns';
import { listTable, ruleset, tableText } from './nftables-env';

const ns = useNamespace('nfttab');
beforeEach(async () => {
  await ns.execOk('nft', ['flush', 'ruleset']);
});

const port = (p: number): Rule => new Rule({ match: Match().protocol('tcp').destPorts(p), action: new AcceptAction() });
const chain = (name: string, ports: readonly number[]): Chain => new Chain({ name, rules: ports.map(port) });
const nftTable = (options: TableOptions = {}, name: 'filter' | 'nat' = 'filter', ipVersion: 4 | 6 = 4): Table =>
  new Table(name, ipVersion, 'ipts:', NO_OP_LOCK, { netns: ns.name, backend: 'nftables', ...options });
const texts = async (name: string, family = 'ip', table = 'ipts-filter'): Promise<string[]> => ((await listTable(ns, family, table))?.get(name)?.rules ?? []).map((r) => r.text);
const lines = (input: string): string[] => input.split('\n').filter((l) => l !== '');

describe('Table on backend nftables', () => {
  it('creates its own table; plan() shows exactly what apply() writes; a second apply writes nothing', async () => {
    const table = nftTable();
    table.updateChain(chain('ipts-a', [22, 80]));
    table.setRuleInsertions('INPUT', [new Rule({ action: new JumpAction({ target: 'ipts-a' }) })]);
    const plan = await table.plan();
    expect(lines(plan.input)[0]).toBe('create table ip ipts-filter');
    expect(plan.summary).toMatchObject({ chainsToCreate: 2, rulesToAppend: 2, insertsToAdd: 1 });
    const report = await table.applyWithReport();
    expect(report.writes.map((w) => w.input)).toEqual([plan.input]);
    expect(await texts('ipts-a')).toEqual(['tcp dport 22 counter accept', 'tcp dport 80 counter accept']);
    expect(await texts('INPUT')).toEqual(['counter jump ipts-a']);
    expect((await table.applyWithReport()).writes).toEqual([]);
  });

  it('writes one command for a one-rule change in the middle', async () => {
    const table = nftTable();
    table.updateChain(chain('ipts-a', [1, 2, 3, 4, 5]));
    await table.apply();
    table.updateChain(chain('ipts-a', [1, 2, 30, 4, 5]));
    const report = await table.applyWithReport();
    expect(report.writes).toHaveLength(1);
    expect(lines(report.writes[0]?.input ?? '')).toEqual([expect.stringMatching(/^replace rule ip ipts-filter ipts-a handle \d+ .*tcp dport 30 counter accept comment "ipts:.{16}"$/)]);
    expect(await texts('ipts-a')).toEqual([1, 2, 30, 4, 5].map((p) => `tcp dport ${p} counter accept`));
  });

  it('grows and shrinks, and removes chains (one a rule still jumps to stays, with a ChainDeletionError)', async () => {
    const table = nftTable();
    table.updateChains([chain('ipts-a', [1]), chain('ipts-b', [2]), new Chain({ name: 'ipts-j', rules: [new Rule({ action: new JumpAction({ target: 'ipts-b' }) })] })]);
    await table.apply();
    table.updateChain(chain('ipts-a', [1, 2, 3, 4]));
    await table.apply();
    expect(await texts('ipts-a')).toHaveLength(4);
    table.updateChain(chain('ipts-a', [4]));
    table.removeChainByName('ipts-b');
    await expect(table.apply()).rejects.toMatchObject({ name: 'ChainDeletionError', failures: [{ chain: 'ipts-b', referrers: ['ipts-j'] }] });
    expect(await texts('ipts-a')).toEqual(['tcp dport 4 counter accept']);
    table.removeChainByName('ipts-j');
    await table.apply();
    expect([...((await listTable(ns, 'ip', 'ipts-filter'))?.keys() ?? [])]).toEqual(['ipts-a']);
  });

  it('puts inserts above appends in the base chains', async () => {
    const table = nftTable();
    table.setRuleInsertions('FORWARD', [port(1)]);
    table.appendRules('FORWARD', [new Rule({ action: new DropAction() })]);
    await table.apply();
    expect(await texts('FORWARD')).toEqual(['tcp dport 1 counter accept', 'counter drop']);
    expect((await listTable(ns, 'ip', 'ipts-filter'))?.get('FORWARD')?.declaration).toBe('type filter hook forward priority filter; policy accept;');
  });

  it("repairs another program's clobbering on the next refresh", async () => {
    let now = 1_000_000;
    const table = nftTable({ refreshIntervalMs: 10_000, now: () => now });
    table.updateChains([chain('ipts-a', [1, 2, 3]), chain('ipts-b', [4])]);
    table.setRuleInsertions('INPUT', [port(9)]);
    await table.apply();
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    await ns.execOk('nft', ['delete', 'rule', 'ip', 'ipts-filter', 'ipts-a', 'handle', String(seen?.get('ipts-a')?.rules[1]?.handle)]);
    await ns.execOk('nft', ['flush', 'chain', 'ip', 'ipts-filter', 'ipts-b']);
    await ns.execOk('nft', ['insert', 'rule', 'ip', 'ipts-filter', 'INPUT', 'udp', 'dport', '53', 'drop']);
    now += 60 * 60 * 1000; // past the refresh interval (and the post-write re-reads)
    await table.apply();
    expect(await texts('ipts-a')).toEqual([1, 2, 3].map((p) => `tcp dport ${p} counter accept`));
    expect(await texts('ipts-b')).toEqual(['tcp dport 4 counter accept']);
    expect(await texts('INPUT')).toEqual(['tcp dport 9 counter accept']);
  });

  it('removes the chains an earlier run left in its table', async () => {
    const first = nftTable();
    first.updateChains([chain('ipts-old', [1]), chain('ipts-keep', [2])]);
    first.setRuleInsertions('OUTPUT', [port(3)]);
    await first.apply();
    const second = nftTable();
    second.updateChain(chain('ipts-keep', [2]));
    await second.apply();
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    expect([...(seen?.keys() ?? [])]).toEqual(['ipts-keep']);
  });

  it('refuses, when given, a rule nft cannot express (an ipset) and an invalid nftTableName', () => {
    const table = nftTable();
    expect(() => table.updateChain(new Chain({ name: 'ipts-a', rules: [new Rule({ match: Match().sourceIpSet('blocked'), action: new DropAction() })] }))).toThrow(InvalidRuleError);
    expect(table.desiredChainNames()).toEqual([]);
    expect(() => nftTable({ nftTableName: 'bad name' })).toThrow(InvalidOptionError);
    expect(() => nftTable({ nftTableName: 'counter' })).toThrow(InvalidOptionError);
    // iptables-nft's own tables: owning one would rewrite (and a cleanup delete) its rules.
    for (const name of ['filter', 'nat', 'mangle', 'raw', 'security']) expect(() => nftTable({ nftTableName: name }), name).toThrow(/option nftTableName: "\w+" is a table of iptables-nft's own/);
    // nft expands $name inside a quoted string: a prefix with $ could inject into the comment.
    expect(() => new Table('filter', 4, 'ipts$x:', NO_OP_LOCK, { netns: ns.name, backend: 'nftables' })).toThrow(InvalidOptionError);
  });

  it('refuses the canary watch (canaryIntervalMs), which this backend does not have', () => {
    const make = (): Table => nftTable({ canaryIntervalMs: 1_000, historicChainPrefixes: ['ipts-'] });
    expect(make).toThrow(InvalidOptionError);
    expect(make).toThrow(/canaryIntervalMs.*backend "nftables"/);
    expect(() => nftTable({ canaryIntervalMs: 0 })).not.toThrow();
  });

  it("leaves another program's table and iptables-nft's rules alone, through apply and cleanup", async () => {
    await ns.execOk('nft', ['-f', '-'], 'add table ip other\nadd chain ip other c { type filter hook input priority 0; policy accept; }\nadd rule ip other c tcp dport 22 counter accept\n');
    await ns.execOk('iptables-nft', ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '23', '-j', 'ACCEPT']);
    const before = await ruleset(ns);
    const table = nftTable({ nftTableName: 'mine' });
    table.updateChain(chain('ipts-a', [1]));
    table.setRuleInsertions('INPUT', [new Rule({ action: new JumpAction({ target: 'ipts-a' }) })]);
    await table.apply();
    const during = await ruleset(ns);
    expect(tableText(during, 'ip', 'mine')).not.toBe('');
    expect(tableText(during, 'ip', 'other')).toBe(tableText(before, 'ip', 'other'));
    expect(tableText(during, 'ip', 'filter')).toBe(tableText(before, 'ip', 'filter'));
    // Cleanup: wanting nothing removes our table and only it.
    table.removeChainByName('ipts-a');
    table.setRuleInsertions('INPUT', []);
    await table.apply();
    expect(await ruleset(ns)).toBe(before);
  });

  it('shares one run among concurrent apply() calls and counts nft runs in its metrics', async () => {
    const registry = new Registry();
    const table = nftTable({ registry });
    table.updateChain(chain('ipts-a', [1]));
    const [a, b] = await Promise.all([table.applyWithReport(), table.applyWithReport()]);
    expect(a).toBe(b);
    const metrics = await registry.getMetricsAsJSON();
    const value = (name: string): number => (metrics.find((m) => m.name === name)?.values[0]?.value as number | undefined) ?? 0;
    expect(value('iptables_sync_restore_calls_total')).toBe(1);
    expect(value('iptables_sync_save_calls_total')).toBe(0); // a first apply writes without reading
  });

  it('owns an ip6 table for IPv6 and a nat table with nat base chains', async () => {
    const v6 = nftTable({}, 'filter', 6);
    v6.updateChain(new Chain({ name: 'ipts-v6', rules: [new Rule({ match: Match().sourceNet('fd00::/8'), action: new AcceptAction() })] }));
    await v6.apply();
    expect(await texts('ipts-v6', 'ip6')).toEqual(['ip6 saddr fd00::/8 counter accept']);
    const nat = nftTable({}, 'nat');
    nat.setRuleInsertions('POSTROUTING', [new Rule({ action: new AcceptAction() })]);
    await nat.apply();
    expect((await listTable(ns, 'ip', 'ipts-nat'))?.get('POSTROUTING')?.declaration).toBe('type nat hook postrouting priority srcnat; policy accept;');
  });
});
