// Fast flush detection on real iptables, both backends: with canaryIntervalMs the Table notices
// that its table was flushed or its chains deleted (iptables -F / -X, a restore without
// --noflush) and repairs it by itself, within two intervals, without anyone calling apply().
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { canaryStateOf } from '../src/canary';
import { InvalidOptionError } from '../src/errors';
import { AcceptAction, Chain, JumpAction, Match } from '../src/index';
import type { Table } from '../src/table';
import { BACKENDS, chainRules, hasChain, useNamespace } from './helpers/netns';
import { idsByChain, makeTable, NO_LOCK } from './helpers/table-env';
import { Table as TableClass } from '../src/table';

const INTERVAL_MS = 1500;
const fw = new Chain({ name: 'cali-fw', rules: [{ match: Match().protocol('tcp').destPorts(22), action: new AcceptAction() }] });
const hook = [{ action: new JumpAction({ target: 'cali-fw' }) }];
const hookIds = new Chain({ name: 'INPUT', rules: hook }).ruleHashes();

describe('canary', () => {
  it('reads one `iptables -S` answer: rules listed = present; chain empty or missing (in legacy or nft wording) = gone; anything else = unknown', () => {
    const base = { timedOut: false, spawnError: undefined, stderr: '' };
    expect(canaryStateOf({ ...base, code: 0, stdout: '-N cali-canary\n-A cali-canary -m comment --comment "cali:x" -j RETURN\n' })).toBe('present');
    expect(canaryStateOf({ ...base, code: 0, stdout: '-N cali-canary\n' })).toBe('gone');
    expect(canaryStateOf({ ...base, code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' })).toBe('gone');
    expect(canaryStateOf({ ...base, code: 1, stdout: '', stderr: "iptables v1.8.9 (nf_tables): chain `cali-canary' in table `filter' is incompatible, use 'nft' tool.\n" })).toBe('gone'); // iptables-nft 1.8.9's word for a missing chain
    expect(canaryStateOf({ ...base, code: 4, stdout: '', stderr: 'iptables v1.8.9 (legacy): Permission denied (you must be root)' })).toBe('unknown');
    expect(canaryStateOf({ ...base, code: 4, stdout: '', stderr: 'Another app is currently holding the xtables lock.' })).toBe('unknown');
    expect(canaryStateOf({ ...base, code: null, stdout: '', timedOut: true })).toBe('unknown');
  });

  it('needs a chain prefix for its name, and the name must have one', () => {
    expect(() => new TableClass('filter', 4, 'cali:', NO_LOCK, { canaryIntervalMs: 100 })).toThrow(InvalidOptionError);
    expect(() => new TableClass('filter', 4, 'cali:', NO_LOCK, { canaryIntervalMs: 100, historicChainPrefixes: ['cali-'], canaryChain: 'other-canary' })).toThrow(/canaryChain/);
    expect(() => new TableClass('filter', 4, 'cali:', NO_LOCK, { canaryIntervalMs: -1, historicChainPrefixes: ['cali-'] })).toThrow(/canaryIntervalMs/);
  });

  it('is the Table\'s own chain: updating or removing it is refused', () => {
    const table = new TableClass('filter', 4, 'cali:', NO_LOCK, { canaryIntervalMs: 100, historicChainPrefixes: ['cali-'] });
    expect(table.desiredChainNames()).toEqual(['cali-canary']);
    expect(() => table.updateChain(new Chain({ name: 'cali-canary', rules: [] }))).toThrow(/canary chain/);
    expect(() => table.removeChainByName('cali-canary')).toThrow(/canary chain/);
    expect(table.desiredChainNames()).toEqual(['cali-canary']);
  });
});

describe.each(BACKENDS)('Table canary (%s)', (backend) => {
  const ns = useNamespace(`tfc${backend}`, { resetBeforeEach: backend });
  const tables: Table[] = [];
  afterAll(async () => {
    for (const t of tables) t.close();
  });
  beforeEach(async () => {
    await ns.iptables(backend, ['-A', 'INPUT', '-i', 'eth9', '-j', 'ACCEPT']);
  });

  const whole = async (): Promise<boolean> => {
    const ids = idsByChain(await ns.save(backend, 'filter'));
    return JSON.stringify(ids.get('cali-fw')) === JSON.stringify(fw.ruleHashes()) && JSON.stringify(ids.get('INPUT')?.slice(0, 1)) === JSON.stringify(hookIds) && ids.get('cali-canary')?.length === 1;
  };
  /** ms from now until the table is whole again, or fails after `limitMs`. */
  const repairedWithin = async (limitMs: number): Promise<number> => {
    const start = Date.now();
    while (Date.now() - start < limitMs) {
      if (await whole()) return Date.now() - start;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`not repaired within ${limitMs} ms`);
  };

  it('repairs -F, -F plus -X, and a restore without --noflush within 2 × canaryIntervalMs, by itself', async () => {
    const { table } = makeTable(ns, backend, { canaryIntervalMs: INTERVAL_MS });
    tables.push(table);
    table.updateChain(fw);
    table.setRuleInsertions('INPUT', hook);
    await table.apply();
    const dump = await ns.save(backend, 'filter');
    expect(chainRules(dump, 'cali-canary')).toHaveLength(1); // our chain, with our one RETURN rule
    expect(await whole()).toBe(true);

    await ns.iptables(backend, ['-F']); // every chain flushed, the chains stay
    expect(await whole()).toBe(false);
    await repairedWithin(2 * INTERVAL_MS);

    await ns.iptables(backend, ['-F']);
    await ns.iptables(backend, ['-X']); // and every user chain deleted
    expect(hasChain(await ns.save(backend, 'filter'), 'cali-fw')).toBe(false);
    await repairedWithin(2 * INTERVAL_MS);

    await ns.restore(backend, '*filter\n-A INPUT -i eth8 -j ACCEPT\nCOMMIT\n', 4, true); // no --noflush
    expect(hasChain(await ns.save(backend, 'filter'), 'cali-fw')).toBe(false);
    await repairedWithin(2 * INTERVAL_MS);
    // The foreign rule the flushing restore wrote is kept, below our insert.
    expect(chainRules(await ns.save(backend, 'filter'), 'INPUT')).toContain('-A INPUT -i eth8 -j ACCEPT');
  });

  it('after close() it no longer repairs; a later Table without a canary removes the canary chain', async () => {
    const { table } = makeTable(ns, backend, { canaryIntervalMs: 200 });
    tables.push(table);
    table.updateChain(fw);
    table.setRuleInsertions('INPUT', hook);
    await table.apply();
    table.close();
    await ns.iptables(backend, ['-F']);
    await new Promise((r) => setTimeout(r, 3 * 200));
    expect(await whole()).toBe(false);

    const { table: next } = makeTable(ns, backend);
    next.updateChain(fw);
    await next.apply();
    const dump = await ns.save(backend, 'filter');
    expect(hasChain(dump, 'cali-canary')).toBe(false);
    expect(hasChain(dump, 'cali-fw')).toBe(true);
  });
});
