// TableOptions.features on real iptables, both backends: with 'auto' this host (iptables 1.8.9,
// kernel 6.x) gets --random-fully on MASQUERADE and SNAT and --nflog-size on NFLOG; with the
// default ('none') the text and rule IDs are Felix v3.2.2's. Also: rules accepted before 'auto'
// detection ran are rendered with the detected features, and a reject type of the other IP
// version is refused by the Table.
import { describe, expect, it } from 'vitest';
import { Chain, InvalidOptionError, InvalidRuleError, MasqAction, Match, NflogAction, RejectAction, SNATAction } from '../src/index';
import { BACKENDS, chainRules, useNamespace } from './helpers/netns';
import { idsByChain, makeTable } from './helpers/table-env';

const natChain = (): Chain =>
  new Chain({
    name: 'cali-par-nat',
    rules: [
      { match: Match().sourceNet('10.1.0.0/16'), action: new SNATAction({ toAddr: '192.0.2.1' }) },
      { match: Match().protocol('tcp'), action: new MasqAction({ toPorts: '1024-65535' }) },
      { action: new MasqAction() },
    ],
  });

describe.each(BACKENDS)('features on iptables-%s', (backend) => {
  const ns = useNamespace(`par-tf-${backend}`, { resetBeforeEach: backend });

  it("default: no --random-fully, and the rule IDs are v3.2.2's", async () => {
    const { table, rec } = makeTable(ns, backend, {}, 'nat');
    const chain = natChain();
    table.updateChain(chain);
    table.setRuleInsertions('POSTROUTING', [{ action: new MasqAction() }]);
    await table.apply();
    const dump = await ns.save(backend, 'nat');
    for (const line of [...chainRules(dump, 'cali-par-nat'), ...chainRules(dump, 'POSTROUTING')]) expect(line).not.toContain('random-fully');
    expect(idsByChain(dump).get('cali-par-nat')).toEqual(chain.ruleHashes());
    expect(rec.restoreInputs().join('')).not.toContain('random-fully');
  });

  it("'auto': MASQUERADE and SNAT get --random-fully here, in chains and inserts, with the IDs of that text", async () => {
    const { table, rec } = makeTable(ns, backend, { features: 'auto' }, 'nat');
    // Accepted before the first apply, so before detection: rendered once features are known.
    table.updateChain(natChain());
    table.setRuleInsertions('POSTROUTING', [{ match: Match().outInterface('eth0'), action: new MasqAction() }]);
    await table.apply();
    const dump = await ns.save(backend, 'nat');
    const lines = chainRules(dump, 'cali-par-nat');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/ --random-fully$/);
    const [insert] = chainRules(dump, 'POSTROUTING');
    expect(insert).toMatch(/-o eth0 .*-j MASQUERADE --random-fully$/);
    const input = rec.restoreInputs().join('');
    expect(input).toContain('--jump SNAT --to-source 192.0.2.1 --random-fully');
    expect(input).toContain('--jump MASQUERADE --to-ports 1024-65535 --random-fully');
    // The IDs are those of the rendered text (latest Felix hashes the rendered rule).
    const rendered = natChain().withFeatures({ snatFullyRandom: true, masqFullyRandom: true, nfLogSize: true });
    expect(idsByChain(dump).get('cali-par-nat')).toEqual(rendered.ruleHashes());
    expect(rendered.ruleHashes()).not.toEqual(natChain().ruleHashes());
    // Updates after detection are rendered at once; a second apply writes nothing new.
    table.updateChain(new Chain({ name: 'cali-par-nat2', rules: [{ action: new SNATAction({ toAddr: '192.0.2.2' }) }] }));
    await table.apply();
    expect(chainRules(await ns.save(backend, 'nat'), 'cali-par-nat2')).toEqual([expect.stringMatching(/-j SNAT --to-source 192.0.2.2 --random-fully$/)]);
    rec.clear();
    table.invalidateDataplaneCache('test');
    await table.apply();
    expect(rec.restoreInputs()).toEqual([]);
  });

  it("'auto': NFLOG gets --nflog-size (kernel 4.8+); an explicit object picks exactly what it names", async () => {
    const { table } = makeTable(ns, backend, { features: 'auto' });
    table.updateChain(new Chain({ name: 'cali-par-log', rules: [{ action: new NflogAction({ group: 5, prefix: 'P', size: 128 }) }] }));
    await table.apply();
    expect(chainRules(await ns.save(backend, 'filter'), 'cali-par-log')).toEqual([expect.stringMatching(/--nflog-group 5 --nflog-size 128$/)]);

    const { table: nat } = makeTable(ns, backend, { features: { masqFullyRandom: true } }, 'nat');
    nat.updateChain(natChain());
    await nat.apply();
    const lines = chainRules(await ns.save(backend, 'nat'), 'cali-par-nat');
    expect(lines[0]).toMatch(/-j SNAT --to-source 192\.0\.2\.1$/);
    expect(lines[1]).toMatch(/--random-fully$/);
    expect(lines[2]).toMatch(/-j MASQUERADE --random-fully$/);
  });

  it('a reject type of the other IP version is refused when given to the Table', () => {
    const { table: v4 } = makeTable(ns, backend);
    const { table: v6 } = makeTable(ns, backend, {}, 'filter', 6);
    const v6only = new Chain({ name: 'cali-par-rej', rules: [{ action: new RejectAction({ with: 'icmp6-adm-prohibited' }) }] });
    expect(() => v4.updateChain(v6only)).toThrow(InvalidRuleError);
    expect(() => v4.setRuleInsertions('INPUT', v6only.rules)).toThrow(/IPv6 only, but the table is IPv4/);
    expect(() => v6.setRuleInsertions('INPUT', [{ action: new RejectAction({ with: 'icmp-net-prohibited' }) }])).toThrow(InvalidRuleError);
    v6.updateChain(v6only);
    expect(v6.desiredChainNames()).toEqual(['cali-par-rej']);
  });

  it('a bad features option is refused', () => {
    expect(() => makeTable(ns, backend, { features: 'yes' as never })).toThrow(InvalidOptionError);
    expect(() => makeTable(ns, backend, { features: { randomFully: true } as never })).toThrow(/features\.randomFully/);
  });
});
