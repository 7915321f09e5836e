// Real packets through a veth pair between two namespaces bump our rules' counters, and an apply
// that changes other rules keeps those counters (and handles): only changed rules are rewritten.
import { beforeAll, describe, expect, it } from 'vitest';
import { AcceptAction, JumpAction } from '../src/actions';
import { Match } from '../src/match';
import { Chain, Rule } from '../src/rule';
import type { NftDesiredState } from '../src/nftables/dataplane';
import { useNamespace } from './helpers/netns';
import { listTable, makeEngine } from './nftables-env';

const ours = useNamespace('nftcnt');
const peer = useNamespace('nftpeer');
const OUR_ADDR = '10.231.0.1';

beforeAll(async () => {
  const a = `vA${process.pid % 100000}`;
  const b = `vB${process.pid % 100000}`;
  await ours.execOk('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', peer.name]);
  await ours.execOk('ip', ['addr', 'add', `${OUR_ADDR}/24`, 'dev', a]);
  await ours.execOk('ip', ['link', 'set', a, 'up']);
  await peer.execOk('ip', ['addr', 'add', '10.231.0.2/24', 'dev', b]);
  await peer.execOk('ip', ['link', 'set', b, 'up']);
});

const udp = (port: number): Rule => new Rule({ match: Match().protocol('udp').destPorts(port), action: new AcceptAction() });
const send = async (port: number, count: number): Promise<void> => {
  for (let i = 0; i < count; i++) await peer.execOk('bash', ['-c', `echo x > /dev/udp/${OUR_ADDR}/${port}`]);
};
const packets = async (chain: string): Promise<{ text: string; packets: number; handle: number }[]> =>
  ((await listTable(ours, 'ip', 'ipts-filter'))?.get(chain)?.rules ?? []).map((r) => ({ text: r.text, packets: r.packets, handle: r.handle }));

describe('nftables counters with real packets', () => {
  it('counts packets per rule and keeps the counts of rules an apply did not change', async () => {
    const engine = makeEngine(ours);
    const state = (inputPorts: number[], chainPorts: number[]): NftDesiredState => ({
      chains: new Map([['ipts-udp', new Chain({ name: 'ipts-udp', rules: chainPorts.map(udp) })]]),
      inserts: new Map([['INPUT', [...inputPorts.map(udp), new Rule({ action: new JumpAction({ target: 'ipts-udp' }) })]]]),
      appends: new Map(),
    });
    await engine.apply(state([9001, 9002], [9101, 9102]));
    await send(9001, 3);
    await send(9102, 2);
    const before = await packets('INPUT');
    // 9001's packets are accepted by the first rule and never reach the jump.
    expect(before.map((r) => r.packets)).toEqual([3, 0, 2]);
    expect((await packets('ipts-udp')).map((r) => r.packets)).toEqual([0, 2]);

    // Change the second INPUT rule and the first rule of the chain: their counters start again,
    // the others' stay.
    const result = await engine.apply(state([9001, 9003], [9100, 9102]));
    expect(result.writes).toHaveLength(1);
    expect(result.writes[0]?.summary).toMatchObject({ rulesToReplace: 2, rulesToAppend: 0, rulesToDelete: 0, insertsToAdd: 0, insertsToDelete: 0 });
    const after = await packets('INPUT');
    expect(after.map((r) => r.packets)).toEqual([3, 0, 2]);
    expect(after.map((r) => r.handle)).toEqual(before.map((r) => r.handle));
    expect((await packets('ipts-udp')).map((r) => [r.text, r.packets])).toEqual([
      ['udp dport 9100 counter accept', 0],
      ['udp dport 9102 counter accept', 2],
    ]);
    await send(9003, 1);
    expect((await packets('INPUT')).map((r) => r.packets)).toEqual([3, 1, 2]);
  });
});
