// How a Table learns whether iptables-restore takes the xtables lock itself, without a child on
// the first apply's path: the `*-legacy-restore` names ship only from iptables 1.8.0 (the split
// into legacy and nft), and every restore from 1.6.2 locks itself, so such a binary is never
// asked. Plain `iptables-restore` is asked once (the answer also names its backend), in
// test/table-plain-binaries.test.ts on the real binaries.
import { expect, it } from 'vitest';
import { NO_OP_LOCK, type TableLock } from '../src/locks';
import { AcceptAction, Chain } from '../src/index';
import { Table } from '../src/table';
import { TimingFake as FakeIptables } from './helpers/fake-timing';

const chain = (name: string): Chain => new Chain({ name, rules: [{ action: new AcceptAction() }] });

it('a legacy Table on iptables-legacy-restore asks no --version: the restore gets --wait and the caller\'s lock is never taken', async () => {
  const fake = new FakeIptables('filter');
  let locked = 0;
  const lock: TableLock = { lock: () => void locked++, unlock: () => undefined };
  const table = new Table('filter', 4, 'cali:', lock, { backend: 'legacy', historicChainPrefixes: ['cali-'], commandFactory: fake.factory });
  table.updateChain(chain('cali-a'));
  await table.apply();
  table.updateChain(chain('cali-b'));
  await table.apply();
  expect(fake.calls.filter((c) => c.kind === 'version')).toEqual([]);
  expect(fake.restores.length).toBe(2);
  for (const r of fake.restores) expect(r.args).toEqual(expect.arrayContaining(['--noflush', '--wait']));
  expect(locked).toBe(0);
});

it("with features 'auto', two Tables on one command factory ask the restore's --version once between them; another factory asks again", async () => {
  const versions: number[] = [];
  for (let round = 0; round < 2; round++) {
    const fake = new FakeIptables('filter');
    const options = { backend: 'legacy' as const, features: 'auto' as const, historicChainPrefixes: ['cali-'], commandFactory: fake.factory };
    const first = new Table('filter', 4, 'cali:', NO_OP_LOCK, options);
    const second = new Table('filter', 4, 'cali:', NO_OP_LOCK, options);
    first.updateChain(chain('cali-a'));
    second.updateChain(chain('cali-b'));
    await first.apply();
    await second.apply();
    expect(fake.calls.filter((c) => c.kind === 'version').map((c) => [c.command, ...c.args])).toEqual([['iptables-legacy-restore', '--version']]);
    versions.push(fake.calls.filter((c) => c.kind === 'version').length);
  }
  expect(versions).toEqual([1, 1]);
});
