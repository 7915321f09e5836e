// Inserts into kernel chains beside foreign rules, and repair after other programs clobber us.
import { beforeEach, describe, expect, it } from 'vitest';
import { AcceptAction, Chain, DropAction, JumpAction, Match } from '../src/index';
import { BACKENDS, chainRules, useNamespace } from './helpers/netns';
import { idsByChain, makeTable } from './helpers/table-env';

const hook = [
  { match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-fw' }) },
  { match: Match().outInterface('cali+'), action: new JumpAction({ target: 'cali-fw' }) },
];
const hookIds = new Chain({ name: 'FORWARD', rules: hook }).ruleHashes();
const fw = new Chain({
  name: 'cali-fw',
  rules: [
    { match: Match().conntrackState('RELATED,ESTABLISHED'), action: new AcceptAction() },
    { match: Match().protocol('tcp').destPorts(22), action: new AcceptAction() },
    { action: new DropAction() },
  ],
});

describe.each(BACKENDS)('Table inserts and repair (%s)', (backend) => {
  const ns = useNamespace(`ti${backend}`, { resetBeforeEach: backend });
  beforeEach(async () => {
    await ns.iptables(backend, ['-A', 'FORWARD', '-i', 'eth9', '-j', 'ACCEPT']);
    await ns.iptables(backend, ['-A', 'FORWARD', '-o', 'eth9', '-j', 'DROP']);
  });

  it('insert mode puts ours at the top, above foreign rules, and leaves theirs alone', async () => {
    const { table } = makeTable(ns, backend);
    table.updateChain(fw);
    table.setRuleInsertions('FORWARD', hook);
    await table.apply();
    const ids = idsByChain(await ns.save(backend, 'filter')).get('FORWARD');
    expect(ids).toEqual([...hookIds, '', '']);
    const rules = chainRules(await ns.save(backend, 'filter'), 'FORWARD');
    expect(rules.slice(2)).toEqual(['-A FORWARD -i eth9 -j ACCEPT', '-A FORWARD -o eth9 -j DROP']);
  });

  it('append mode puts ours at the bottom and leaves a foreign rule appended after ours alone', async () => {
    const { table, rec } = makeTable(ns, backend, { insertMode: 'append' });
    table.updateChain(fw);
    table.setRuleInsertions('FORWARD', hook);
    await table.apply();
    expect(idsByChain(await ns.save(backend, 'filter')).get('FORWARD')).toEqual(['', '', ...hookIds]);

    await ns.iptables(backend, ['-A', 'FORWARD', '-i', 'late0', '-j', 'ACCEPT']);
    rec.clear();
    table.invalidateDataplaneCache('test');
    await table.apply();
    expect(rec.restoreInputs()).toEqual([]);
    expect(idsByChain(await ns.save(backend, 'filter')).get('FORWARD')).toEqual(['', '', ...hookIds, '']);
  });

  it('repairs a deleted rule, a flushed chain and a rule inserted above ours, keeping theirs', async () => {
    const { table } = makeTable(ns, backend, { refreshIntervalMs: 1 });
    table.updateChain(fw);
    table.setRuleInsertions('FORWARD', hook);
    await table.apply();

    // Another program deletes our second rule, flushes nothing yet, and inserts above our hook.
    await ns.iptables(backend, ['-D', 'cali-fw', '2']);
    await ns.iptables(backend, ['-I', 'FORWARD', '1', '-i', 'top0', '-j', 'ACCEPT']);
    await new Promise((r) => setTimeout(r, 5));
    await table.apply(); // the refresh interval has passed: re-read, repair
    let dump = await ns.save(backend, 'filter');
    expect(idsByChain(dump).get('cali-fw')).toEqual(fw.ruleHashes());
    expect(idsByChain(dump).get('FORWARD')).toEqual([...hookIds, '', '', '']);
    expect(chainRules(dump, 'FORWARD')).toContain('-A FORWARD -i top0 -j ACCEPT');

    await ns.iptables(backend, ['-F', 'cali-fw']);
    await new Promise((r) => setTimeout(r, 5));
    await table.apply();
    dump = await ns.save(backend, 'filter');
    expect(idsByChain(dump).get('cali-fw')).toEqual(fw.ruleHashes());
  });

  it('the post-write re-read schedule alone finds and repairs a clobber', async () => {
    const { table } = makeTable(ns, backend);
    table.updateChain(fw);
    table.setRuleInsertions('FORWARD', hook);
    const after = await table.apply();
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThanOrEqual(50 + 1000);
    await ns.iptables(backend, ['-D', 'FORWARD', '1']);
    await new Promise((r) => setTimeout(r, after));
    await table.apply();
    expect(idsByChain(await ns.save(backend, 'filter')).get('FORWARD')).toEqual([...hookIds, '', '']);
  });

  it('treats a rule whose later comment looks like ours as foreign and leaves it', async () => {
    await ns.iptables(backend, ['-A', 'INPUT', '-m', 'comment', '--comment', 'theirs', '-m', 'comment', '--comment', `cali:${hookIds[0]}`, '-j', 'ACCEPT']);
    const { table } = makeTable(ns, backend);
    await table.apply();
    expect(chainRules(await ns.save(backend, 'filter'), 'INPUT')).toHaveLength(1);
  });

  it('removes a rule with our ID from a chain where we want none', async () => {
    await ns.iptables(backend, ['-A', 'INPUT', '-m', 'comment', '--comment', 'cali:AAAAAAAAAAAAAAAA', '-j', 'ACCEPT']);
    await ns.iptables(backend, ['-A', 'INPUT', '-i', 'keep1', '-j', 'ACCEPT']);
    const { table } = makeTable(ns, backend);
    await table.apply();
    expect(chainRules(await ns.save(backend, 'filter'), 'INPUT')).toEqual(['-A INPUT -i keep1 -j ACCEPT']);
  });
});
