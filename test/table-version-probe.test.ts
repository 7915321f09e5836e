// The restore binary's --version is asked once per process and command factory: a second Table
// (another table, another IP version's binary aside) reuses the answer instead of spawning again.
import { expect, it } from 'vitest';
import { NO_OP_LOCK } from '../src/locks';
import { AcceptAction, Chain } from '../src/index';
import { Table } from '../src/table';
import { TimingFake as FakeIptables } from './helpers/fake-timing';

const chain = (name: string): Chain => new Chain({ name, rules: [{ action: new AcceptAction() }] });

it('two Tables on one command factory probe iptables-legacy-restore --version once between them', async () => {
  const fake = new FakeIptables('filter');
  const options = { backend: 'legacy' as const, historicChainPrefixes: ['cali-'], commandFactory: fake.factory, sleep: async () => undefined };
  const first = new Table('filter', 4, 'cali:', NO_OP_LOCK, options);
  const second = new Table('filter', 4, 'cali:', NO_OP_LOCK, options);
  first.updateChain(chain('cali-a'));
  second.updateChain(chain('cali-b'));
  await first.apply();
  await second.apply();
  expect(fake.calls.filter((c) => c.kind === 'version').map((c) => [c.command, ...c.args])).toEqual([['iptables-legacy-restore', '--version']]);
  expect(fake.kinds().filter((k) => k === 'restore').length).toBeGreaterThanOrEqual(2); // both wrote
});

it('a factory of its own asks again (the answer is per factory: a fake or wrapper may answer differently)', async () => {
  const counts: number[] = [];
  for (let i = 0; i < 2; i++) {
    const fake = new FakeIptables('filter');
    const table = new Table('filter', 4, 'cali:', NO_OP_LOCK, { backend: 'legacy', historicChainPrefixes: ['cali-'], commandFactory: fake.factory });
    table.updateChain(chain('cali-a'));
    await table.apply();
    counts.push(fake.calls.filter((c) => c.kind === 'version').length);
  }
  expect(counts).toEqual([1, 1]);
});
