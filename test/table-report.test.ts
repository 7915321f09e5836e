// applyWithReport(): what one apply did, as the Table itself counted it, on real iptables (both
// backends): each restore input byte for byte with its summary, deleted chains, reads, attempts;
// and after a failure, what landed before it.
import { describe, expect, it } from 'vitest';
import { AcceptAction, ChainDeletionError, DropAction, Match, ReturnAction } from '../src/index';
import { BACKENDS, useNamespace } from './helpers/netns';
import { makeTable } from './helpers/table-env';

const rule = (port: number) => ({ match: Match().protocol('tcp').destPorts(port), action: new AcceptAction() });
const NONE = { chainsToCreate: 0, rulesToReplace: 0, rulesToAppend: 0, rulesToDelete: 0, insertsToDelete: 0, insertsToAdd: 0, chainsToDelete: 0 };

describe.each(BACKENDS)('Table.applyWithReport (%s)', (backend) => {
  const ns = useNamespace(`rdrep${backend}`, { resetBeforeEach: backend });

  it('counts chains we own vs. inserts, creates vs. deletion flushes, and gives each input as written', async () => {
    const { table, rec } = makeTable(ns, backend);
    table.updateChains([
      { name: 'cali-b', rules: [rule(1), rule(2), rule(3)] },
      { name: 'cali-old', rules: [{ action: new DropAction() }] },
    ]);
    table.setRuleInsertions('INPUT', [{ match: Match().inInterface('eth1'), action: new ReturnAction() }]);
    const first = await table.applyWithReport();
    expect(first.writes.map((w) => w.summary)).toEqual([{ ...NONE, chainsToCreate: 2, rulesToAppend: 4, insertsToAdd: 1 }]);
    rec.clear();

    table.updateChain({ name: 'cali-a', rules: [rule(9)] });
    table.updateChain({ name: 'cali-b', rules: [rule(1), rule(5)] });
    table.removeChainByName('cali-old');
    table.setRuleInsertions('INPUT', [{ match: Match().inInterface('eth2'), action: new ReturnAction() }]);
    table.setRuleInsertions('FORWARD', [{ match: Match().inInterface('eth3'), action: new ReturnAction() }]);
    const plan = await table.plan();
    const report = await table.applyWithReport();

    expect(report.writes.map((w) => w.summary)).toEqual([
      { chainsToCreate: 1, rulesToReplace: 1, rulesToAppend: 1, rulesToDelete: 1, insertsToDelete: 1, insertsToAdd: 2, chainsToDelete: 0 },
      { ...NONE, chainsToDelete: 1 },
    ]);
    // Byte for byte what iptables-restore read, and what plan() showed before.
    expect(report.writes.map((w) => w.input)).toEqual(rec.restoreInputs());
    expect(report.writes.map((w) => w.input)).toEqual([plan.input, plan.deletionInput]);
    expect(plan.summary).toEqual({ chainsToCreate: 1, rulesToReplace: 1, rulesToAppend: 1, rulesToDelete: 1, insertsToDelete: 1, insertsToAdd: 2, chainsToDelete: 1 });
    expect(report.deletedChains).toEqual(['cali-old']);
    expect(report.attempts).toBe(1);
    expect(report.reads).toBe(0); // plan() read just before, and nothing invalidated that read
    expect(report.rescheduleAfterMs).toBeGreaterThan(0); // the post-write re-read
    expect(table.lastApplyReport).toBe(report);

    // In sync: nothing written, one read (the post-write re-read is due), apply() says the same delay.
    table.invalidateDataplaneCache('test');
    const again = await table.applyWithReport();
    expect(again).toMatchObject({ writes: [], deletedChains: [], reads: 1, attempts: 1 });
    expect(rec.restoreInputs()).toHaveLength(2);
  });

  it('after a failure, lastApplyReport holds what landed before it', async () => {
    const { table } = makeTable(ns, backend);
    // Managed but without the historic prefix: a foreign jump to it is not an old insert of ours.
    table.updateChain({ name: 'mine-old', rules: [{ action: new DropAction() }] });
    await table.apply();
    // Another program's chain jumps to ours: deleting ours fails.
    await ns.iptables(backend, ['-N', 'theirs']);
    await ns.iptables(backend, ['-A', 'theirs', '-j', 'mine-old']);
    table.removeChainByName('mine-old');
    table.updateChain({ name: 'cali-new', rules: [rule(7)] });
    await expect(table.applyWithReport()).rejects.toBeInstanceOf(ChainDeletionError);
    const landed = table.lastApplyReport;
    expect(landed?.writes.map((w) => w.summary)).toEqual([{ ...NONE, chainsToCreate: 1, rulesToAppend: 1 }]);
    expect(landed?.writes[0]?.input).toMatch(/^\*filter\n:cali-new - -\n-A cali-new /);
    expect(landed?.deletedChains).toEqual([]);
    expect(landed?.rescheduleAfterMs).toBe(0);
  });
});
