// nat, mangle and raw tables with their actions, and IPv6, on both backends; plus counters
// that survive edits to other rules of the same chain.
import { describe, expect, it } from 'vitest';
import {
  AcceptAction,
  Chain,
  ClearMarkAction,
  DNATAction,
  JumpAction,
  MasqAction,
  Match,
  NoTrackAction,
  ReturnAction,
  SetMarkAction,
  SetMaskedMarkAction,
  SNATAction,
  type TableName,
} from '../src/index';
import { BACKENDS, useNamespace } from './helpers/netns';
import { idsByChain, makeTable } from './helpers/table-env';

interface Case {
  readonly table: TableName;
  readonly ipVersion: 4 | 6;
  readonly chain: Chain;
  readonly hookChain: string;
}

const cases: readonly Case[] = [
  {
    table: 'nat',
    ipVersion: 4,
    hookChain: 'PREROUTING',
    chain: new Chain({
      name: 'cali-nat',
      rules: [
        { match: Match().protocol('tcp').destNet('10.96.0.10/32').destPorts(80), action: new DNATAction({ destAddr: '10.1.0.5', destPort: 8080 }) },
        { match: Match().protocol('udp').destNet('10.96.0.11/32'), action: new DNATAction({ destAddr: '10.1.0.6' }) },
      ],
    }),
  },
  {
    // SNAT and MASQUERADE are only valid on the way out.
    table: 'nat',
    ipVersion: 4,
    hookChain: 'POSTROUTING',
    chain: new Chain({
      name: 'cali-snat',
      rules: [
        { match: Match().sourceNet('10.1.0.0/16').notDestNet('10.0.0.0/8'), action: new SNATAction({ toAddr: '192.0.2.1' }) },
        { match: Match().protocol('tcp').outInterface('eth+'), action: new MasqAction({ toPorts: '1024-65535' }) },
        { action: new MasqAction() },
      ],
    }),
  },
  {
    table: 'nat',
    ipVersion: 6,
    hookChain: 'PREROUTING',
    chain: new Chain({
      name: 'cali-nat6',
      rules: [{ match: Match().protocol('tcp').destNet('fd00::10/128'), action: new DNATAction({ destAddr: 'fd00::1:5', destPort: 8443 }) }],
    }),
  },
  {
    table: 'mangle',
    ipVersion: 4,
    hookChain: 'PREROUTING',
    chain: new Chain({
      name: 'cali-mangle',
      rules: [
        { match: Match().markClear(0x100), action: new SetMarkAction({ mark: 0x100 }) },
        { match: Match().markSingleBitSet(0x100), action: new ClearMarkAction({ mark: 0x100 }) },
        { action: new SetMaskedMarkAction({ mark: 0x20, mask: 0xf0 }) },
        { match: Match().rpfCheckFailed(), action: new ReturnAction() },
      ],
    }),
  },
  {
    table: 'raw',
    ipVersion: 4,
    hookChain: 'PREROUTING',
    chain: new Chain({ name: 'cali-raw', rules: [{ match: Match().protocol('udp').destPorts(4789), action: new NoTrackAction() }] }),
  },
  {
    table: 'filter',
    ipVersion: 6,
    hookChain: 'INPUT',
    chain: new Chain({
      name: 'cali-v6',
      rules: [
        { match: Match().protocol('ipv6-icmp').icmpV6TypeAndCode(128, 0), action: new AcceptAction() },
        { match: Match().sourceNet('2001:db8::/32').protocol('tcp').destPorts(22), action: new AcceptAction() },
      ],
    }),
  },
];

describe.each(BACKENDS)('Table on every table and IPv6 (%s)', (backend) => {
  const ns = useNamespace(`tt${backend}`, { resetBeforeEach: backend });

  it.each(cases)('$table IPv$ipVersion: writes, finds its IDs, edits minimally, then writes nothing', async ({ table: name, ipVersion, chain, hookChain }) => {
    const { table, rec } = makeTable(ns, backend, {}, name, ipVersion);
    const hook = [{ action: new JumpAction({ target: chain.name }) }];
    table.updateChain(chain);
    table.setRuleInsertions(hookChain, hook);
    await table.apply();
    let ids = idsByChain(await ns.save(backend, name, ipVersion));
    expect(ids.get(chain.name)).toEqual(chain.ruleHashes());
    expect(ids.get(hookChain)).toEqual(new Chain({ name: hookChain, rules: hook }).ruleHashes());

    // Change the last rule only: one -R line.
    const edited = new Chain({ name: chain.name, rules: [...chain.rules.slice(0, -1), { action: new ReturnAction(), comment: 'edited' }] });
    rec.clear();
    table.updateChain(edited);
    await table.apply();
    const [input] = rec.restoreInputs();
    expect(input?.split('\n').filter((l) => l.startsWith('-'))).toEqual([
      `-R ${chain.name} ${chain.rules.length} -m comment --comment "cali:${edited.ruleHashes().at(-1)}" -m comment --comment "edited" --jump RETURN`,
    ]);
    ids = idsByChain(await ns.save(backend, name, ipVersion));
    expect(ids.get(chain.name)).toEqual(edited.ruleHashes());

    rec.clear();
    table.invalidateDataplaneCache('test');
    await table.apply();
    expect(rec.restoreInputs()).toEqual([]);
  });

  it('keeps the counters of rules before a change', async () => {
    const { table } = makeTable(ns, backend);
    const counted = { match: Match().protocol('udp').destPorts(9999), action: new AcceptAction() };
    const v1 = new Chain({ name: 'cali-cnt', rules: [counted, { match: Match().protocol('tcp').destPorts(80), action: new AcceptAction() }, { match: Match().protocol('tcp').destPorts(81), action: new AcceptAction() }] });
    table.updateChain(v1);
    table.setRuleInsertions('OUTPUT', [{ action: new JumpAction({ target: 'cali-cnt' }) }]);
    await table.apply();
    // Real packets on the namespace's loopback bump rule 1.
    for (let i = 0; i < 3; i++) await ns.execOk('bash', ['-c', 'echo ping > /dev/udp/127.0.0.1/9999']);
    const countersOf = async (): Promise<string[]> =>
      (await ns.save(backend, 'filter', 4, true)).split('\n').filter((l) => l.replace(/^\[\d+:\d+\] /, '').startsWith('-A cali-cnt '));
    const before = (await countersOf())[0] as string;
    expect(before).toMatch(/^\[3:\d+\] /);

    // Changing rules 2 and 3 (chained IDs: 2..3 replaced) leaves rule 1 and its counters alone.
    table.updateChain(new Chain({ name: 'cali-cnt', rules: [counted, { match: Match().protocol('tcp').destPorts(8080), action: new AcceptAction() }, { match: Match().protocol('tcp').destPorts(81), action: new AcceptAction() }] }));
    await table.apply();
    const after = await countersOf();
    expect(after[0]).toBe(before);
    expect(after[1]).toMatch(/^\[0:0\] .*8080/);
  });
});
