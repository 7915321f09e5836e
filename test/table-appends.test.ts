// appendRules and checkRulesPresent on real iptables, both backends: our appends stay the last
// rules of a kernel chain, beside our inserts at the top, across foreign edits and re-reads.
import { beforeEach, describe, expect, it } from 'vitest';
import { AcceptAction, Chain, DropAction, JumpAction, Match, type RuleSpec } from '../src/index';
import { appendIds } from '../src/restore-plan';
import { Rule } from '../src/rule';
import { BACKENDS, chainRules, useNamespace } from './helpers/netns';
import { idsByChain, makeTable } from './helpers/table-env';

const fw = new Chain({ name: 'cali-fw', rules: [{ match: Match().protocol('tcp').destPorts(22), action: new AcceptAction() }] });
const hook: RuleSpec[] = [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-fw' }) }];
const tail: RuleSpec[] = [
  { match: Match().inInterface('tap+'), action: new DropAction() },
  { match: Match().outInterface('tap+'), action: new DropAction() },
];
const hookIds = new Chain({ name: 'FORWARD', rules: hook }).ruleHashes();
const tailIds = appendIds('FORWARD', tail.map((r) => Rule.from(r)));

describe.each(BACKENDS)('Table appendRules and checkRulesPresent (%s)', (backend) => {
  const ns = useNamespace(`tfa${backend}`, { resetBeforeEach: backend });
  beforeEach(async () => {
    await ns.iptables(backend, ['-A', 'FORWARD', '-i', 'eth9', '-j', 'ACCEPT']);
  });

  const forward = async (): Promise<string[] | undefined> => idsByChain(await ns.save(backend, 'filter')).get('FORWARD');

  it('appends go below the foreign rules, inserts above them, with IDs of their own', async () => {
    const { table } = makeTable(ns, backend);
    table.updateChain(fw);
    table.setRuleInsertions('FORWARD', hook);
    table.appendRules('FORWARD', tail);
    await table.apply();
    expect(await forward()).toEqual([...hookIds, '', ...tailIds]);
    // The same rule inserted and appended gets two different IDs.
    expect(appendIds('FORWARD', [Rule.from(hook[0] as RuleSpec)])).not.toEqual(hookIds);
    const rules = chainRules(await ns.save(backend, 'filter'), 'FORWARD');
    expect(rules[1]).toBe('-A FORWARD -i eth9 -j ACCEPT');
    expect(rules[3]).toMatch(/^-A FORWARD -o tap\+ .*-j DROP$/);
  });

  it('a foreign -A below ours: the resync moves ours back to the end (as latest Felix does); a foreign -I leaves them in place', async () => {
    const { table, rec } = makeTable(ns, backend);
    table.updateChain(fw);
    table.setRuleInsertions('FORWARD', hook);
    table.appendRules('FORWARD', tail);
    await table.apply();

    await ns.iptables(backend, ['-A', 'FORWARD', '-i', 'late0', '-j', 'ACCEPT']);
    table.invalidateDataplaneCache('test');
    await table.apply();
    expect(await forward()).toEqual([...hookIds, '', '', ...tailIds]);
    const rules = chainRules(await ns.save(backend, 'filter'), 'FORWARD');
    expect(rules.slice(1, 3)).toEqual(['-A FORWARD -i eth9 -j ACCEPT', '-A FORWARD -i late0 -j ACCEPT']);

    // A foreign insert at the top puts our inserts out of place (repaired), appends stay last.
    await ns.iptables(backend, ['-I', 'FORWARD', '1', '-i', 'top0', '-j', 'ACCEPT']);
    table.invalidateDataplaneCache('test');
    await table.apply();
    expect(await forward()).toEqual([...hookIds, '', '', '', ...tailIds]);

    // A plain re-read of a chain in place writes nothing.
    rec.clear();
    table.invalidateDataplaneCache('test');
    await table.apply();
    expect(rec.restoreInputs()).toEqual([]);
    expect(await forward()).toEqual([...hookIds, '', '', '', ...tailIds]);
  });

  it('in append mode the appends still come after our inserts and every foreign rule', async () => {
    const { table } = makeTable(ns, backend, { insertMode: 'append' });
    table.updateChain(fw);
    table.setRuleInsertions('FORWARD', hook);
    table.appendRules('FORWARD', tail);
    await table.apply();
    expect(await forward()).toEqual(['', ...hookIds, ...tailIds]);
  });

  it('start of day: a new Table removes the appends a previous run left, and keeps the foreign rules', async () => {
    const first = makeTable(ns, backend).table;
    first.updateChain(fw);
    first.appendRules('FORWARD', tail);
    await first.apply();
    expect(await forward()).toEqual(['', ...tailIds]);

    const second = makeTable(ns, backend).table;
    second.updateChain(fw);
    await second.apply();
    expect(await forward()).toEqual(['']);
    expect(chainRules(await ns.save(backend, 'filter'), 'FORWARD')).toEqual(['-A FORWARD -i eth9 -j ACCEPT']);
  });

  it('an empty appendRules removes ours', async () => {
    const { table } = makeTable(ns, backend);
    table.appendRules('FORWARD', tail);
    await table.apply();
    table.appendRules('FORWARD', []);
    await table.apply();
    expect(await forward()).toEqual(['']);
  });

  it('checkRulesPresent reports exactly the rules a foreign delete took away, reading first', async () => {
    const { table, rec } = makeTable(ns, backend);
    const rules: RuleSpec[] = [0, 1, 2].map((i) => ({ match: Match().protocol('tcp').destPorts(1000 + i), action: new AcceptAction() }));
    table.updateChain(new Chain({ name: 'cali-three', rules }));
    table.appendRules('FORWARD', tail);
    await table.apply();
    expect(await table.checkRulesPresent('cali-three', rules)).toEqual([]);
    expect(await table.checkRulesPresent('FORWARD', tail)).toEqual([]);

    // Another program deletes the last rule of our chain and one of our appends.
    await ns.iptables(backend, ['-D', 'cali-three', '3']);
    await ns.iptables(backend, ['-D', 'FORWARD', String(chainRules(await ns.save(backend, 'filter'), 'FORWARD').length)]);
    // The cache is still valid: it answers from what we believe (nothing read).
    rec.clear();
    expect(await table.checkRulesPresent('cali-three', rules)).toEqual([]);
    expect(rec.saveCount()).toBe(0);
    // Invalid: it reads first and finds the missing ones.
    table.invalidateDataplaneCache('test');
    const missing = await table.checkRulesPresent('cali-three', rules);
    expect(missing.map((r) => r.body)).toEqual([Rule.from(rules[2] as RuleSpec).body]);
    expect(rec.saveCount()).toBe(1);
    expect((await table.checkRulesPresent('FORWARD', tail)).map((r) => r.body)).toEqual([Rule.from(tail[1] as RuleSpec).body]);
    // A rule the chain never had is missing; no chain at all: all are missing.
    expect(await table.checkRulesPresent('cali-none', rules)).toHaveLength(3);
  });
});
