// Table on real iptables, both backends: creating, editing and deleting chains with the
// minimal restore input that chained rule IDs require.
import { describe, expect, it } from 'vitest';
import { AcceptAction, Chain, DropAction, JumpAction, Match, ReturnAction, SetMarkAction } from '../src/index';
import { nativeInfo } from '../src/native';
import { BACKENDS, chainRules, hasChain, useNamespace } from './helpers/netns';
import { bodyLines, idsByChain, makeTable } from './helpers/table-env';

function webChain(name: string, ports: readonly number[]): Chain {
  return new Chain({
    name,
    rules: ports.map((port) => ({ match: Match().protocol('tcp').destPorts(port), action: new AcceptAction() })),
  });
}

describe.each(BACKENDS)('Table basics (%s)', (backend) => {
  const ns = useNamespace(`tb${backend}`, { resetBeforeEach: backend });

  it('creates chains, then an unchanged table writes nothing', async () => {
    const { table, rec } = makeTable(ns, backend);
    const a = webChain('cali-a', [22, 80, 443]);
    const b = new Chain({ name: 'cali-b', rules: [{ action: new JumpAction({ target: 'cali-a' }) }, { action: new DropAction(), comment: 'default deny' }] });
    table.updateChains([a, b]);
    table.setRuleInsertions('FORWARD', [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-b' }) }]);
    await table.apply();
    const ids = idsByChain(await ns.save(backend, 'filter'));
    expect(ids.get('cali-a')).toEqual(a.ruleHashes());
    expect(ids.get('cali-b')).toEqual(b.ruleHashes());
    expect(ids.get('FORWARD')).toEqual(new Chain({ name: 'FORWARD', rules: [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-b' }) }] }).ruleHashes());
    expect(rec.restoreInputs()).toHaveLength(1);

    rec.clear();
    table.invalidateDataplaneCache('test');
    await table.apply();
    expect(rec.saveCount()).toBe(1);
    expect(rec.restoreInputs()).toEqual([]);
    const plan = await table.plan();
    expect(plan.input).toBe('');
  });

  it('reads through the native pipe reader when the addon is loaded, and through the stream when told to', async () => {
    const native = nativeInfo().loaded;
    const { table, rec } = makeTable(ns, backend);
    table.updateChain(webChain('cali-p', [1]));
    await table.apply();
    expect(rec.saveCalls().map((c) => typeof c.stdoutFd)).toEqual([native ? 'number' : 'undefined']);
    const js = makeTable(ns, backend, { readerImplementation: 'js' });
    js.table.updateChain(webChain('cali-p', [1]));
    await js.table.apply();
    expect(js.rec.saveCalls().map((c) => c.stdoutFd)).toEqual([undefined]);
    expect(js.rec.restoreInputs()).toEqual([]); // both readers agree the table is in sync
  });

  it('replaces exactly rules k..n when rule k of n changes, and one line for the last rule', async () => {
    const { table, rec } = makeTable(ns, backend);
    const ports = [1, 2, 3, 4, 5, 6];
    table.updateChain(webChain('cali-k', ports));
    await table.apply();

    // Last rule changes: one -R line.
    rec.clear();
    const lastChanged = webChain('cali-k', [1, 2, 3, 4, 5, 60]);
    table.updateChain(lastChanged);
    await table.apply();
    const [lastInput] = rec.restoreInputs();
    expect(bodyLines(lastInput as string)).toEqual([
      lastChanged.rules[5]?.renderReplace('cali-k', 6, `-m comment --comment "cali:${lastChanged.ruleHashes()[5]}"`),
    ]);

    // Rule 3 of 6 changes: rules 3..6 (n-k+1 = 4 lines) are replaced, nothing else.
    rec.clear();
    const midChanged = webChain('cali-k', [1, 2, 33, 4, 5, 60]);
    table.updateChain(midChanged);
    await table.apply();
    const hashes = midChanged.ruleHashes();
    const expected = [2, 3, 4, 5].map((i) =>
      midChanged.rules[i]?.renderReplace('cali-k', i + 1, `-m comment --comment "cali:${hashes[i]}"`),
    );
    expect(bodyLines(rec.restoreInputs()[0] as string)).toEqual(expected);
    expect(idsByChain(await ns.save(backend, 'filter')).get('cali-k')).toEqual(hashes);
  });

  it('grows and shrinks a chain with appends and deletes at the end', async () => {
    const { table, rec } = makeTable(ns, backend);
    table.updateChain(webChain('cali-g', [1, 2]));
    await table.apply();
    rec.clear();
    const grown = webChain('cali-g', [1, 2, 3, 4]);
    table.updateChain(grown);
    await table.apply();
    expect(bodyLines(rec.restoreInputs()[0] as string).map((l) => l.slice(0, 10))).toEqual(['-A cali-g ', '-A cali-g ']);
    expect(idsByChain(await ns.save(backend, 'filter')).get('cali-g')).toEqual(grown.ruleHashes());

    rec.clear();
    const shrunk = webChain('cali-g', [1]);
    table.updateChain(shrunk);
    await table.apply();
    expect(bodyLines(rec.restoreInputs()[0] as string)).toEqual(['-D cali-g 2', '-D cali-g 2', '-D cali-g 2']);
    expect(idsByChain(await ns.save(backend, 'filter')).get('cali-g')).toEqual(shrunk.ruleHashes());
  });

  it('deletes a chain in the same apply as its referrer stops jumping to it', async () => {
    const { table } = makeTable(ns, backend);
    table.updateChains([
      new Chain({ name: 'cali-from', rules: [{ action: new JumpAction({ target: 'cali-to' }) }] }),
      new Chain({ name: 'cali-to', rules: [{ action: new ReturnAction() }] }),
    ]);
    await table.apply();
    table.updateChain(new Chain({ name: 'cali-from', rules: [{ action: new DropAction() }] }));
    table.removeChainByName('cali-to');
    await table.apply();
    const dump = await ns.save(backend, 'filter');
    expect(hasChain(dump, 'cali-to')).toBe(false);
    expect(chainRules(dump, 'cali-from')).toHaveLength(1);
    expect(chainRules(dump, 'cali-from')[0]).toMatch(/-j DROP$/);
  });

  it('takes over a table written by Felix v3.2.2 without writing a single rule', async () => {
    // Felix's initial write: ":name - -" then "-A name -m comment --comment "cali:ID" …", with the
    // same rendering and IDs (byte-exact, see test/hash.test.ts for the independent vectors).
    const chains = [webChain('cali-x', [80, 443]), new Chain({ name: 'cali-y', rules: [{ match: Match().markClear(0x10), action: new SetMarkAction({ mark: 0x10 }) }] })];
    const insert = [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-x' }) }];
    const insertIds = new Chain({ name: 'FORWARD', rules: insert }).ruleHashes();
    const felixInput = [
      '*filter',
      ...chains.map((c) => `:${c.name} - -`),
      ...chains.flatMap((c) => c.rules.map((r, i) => r.renderAppend(c.name, `-m comment --comment "cali:${c.ruleHashes()[i]}"`))),
      new Chain({ name: 'FORWARD', rules: insert }).rules[0]?.renderInsert('FORWARD', `-m comment --comment "cali:${insertIds[0]}"`),
      'COMMIT',
      '',
    ].join('\n');
    await ns.restore(backend, felixInput);

    const { table, rec } = makeTable(ns, backend);
    table.updateChains(chains);
    table.setRuleInsertions('FORWARD', insert);
    await table.apply();
    expect(rec.restoreInputs()).toEqual([]);
    expect(rec.saveCount()).toBe(1);
  });

  it('deletes stale chains of ours and old unhashed inserts (jump, goto and the extra pattern)', async () => {
    await ns.restore(
      backend,
      [
        '*filter',
        ':cali-stale - -',
        ':cali-old - -',
        ':felix-legacy - -',
        ':other - -',
        '-A cali-stale -j ACCEPT',
        '-A FORWARD -j cali-old',
        '-A INPUT -g cali-old',
        '-A OUTPUT -j felix-legacy',
        '-A FORWARD -j other',
        '-A other -j ACCEPT',
        'COMMIT',
        '',
      ].join('\n'),
    );
    const { table } = makeTable(ns, backend, { historicChainPrefixes: ['cali-', 'felix-'], extraCleanupRegexPattern: '-j other-never' });
    table.updateChain(webChain('cali-live', [80]));
    await table.apply();
    const dump = await ns.save(backend, 'filter');
    expect(hasChain(dump, 'cali-stale')).toBe(false);
    expect(hasChain(dump, 'cali-old')).toBe(false);
    expect(hasChain(dump, 'felix-legacy')).toBe(false);
    expect(hasChain(dump, 'cali-live')).toBe(true);
    // The foreign chain and the foreign jump to it are untouched.
    expect(hasChain(dump, 'other')).toBe(true);
    expect(chainRules(dump, 'FORWARD')).toEqual(['-A FORWARD -j other']);
    expect(chainRules(dump, 'INPUT')).toEqual([]);
    expect(chainRules(dump, 'OUTPUT')).toEqual([]);
  });

  it('removes inserts matching the extra cleanup pattern', async () => {
    await ns.restore(backend, ['*filter', '-A FORWARD -i legacyif0 -j ACCEPT', '-A FORWARD -i keep0 -j ACCEPT', 'COMMIT', ''].join('\n'));
    const { table } = makeTable(ns, backend, { extraCleanupRegexPattern: '-i legacyif0' });
    await table.apply();
    expect(chainRules(await ns.save(backend, 'filter'), 'FORWARD')).toEqual(['-A FORWARD -i keep0 -j ACCEPT']);
  });
});
