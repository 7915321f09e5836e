// After an apply the Table prepares what its next read expects (the believed chains in the
// native scanner's form) in the background, so a re-read spawns its save at once instead of
// first spending turns of its own on 100k rules' IDs (10-12 ms at 100k). A stale preparation
// can only make fewer chains come back unchanged, never a wrong one: each chain is compared
// with the very entry that is handed back.
import { expect, it } from 'vitest';
import { AcceptAction, Chain, DropAction } from '../src/index';
import { NO_OP_LOCK } from '../src/locks';
import { Table } from '../src/table';
import { TimingFake as FakeIptables } from './helpers/fake-timing';

const chain = (name: string, n: number): Chain =>
  new Chain({ name, rules: Array.from({ length: n }, (_, i) => ({ action: i % 2 === 0 ? new AcceptAction() : new DropAction() })) });
const settled = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

it('a re-read after an apply spawns its save before the event loop turns: the expectation was prepared ahead', async () => {
  const fake = new FakeIptables('filter');
  const table = new Table('filter', 4, 'cali:', NO_OP_LOCK, { backend: 'legacy', historicChainPrefixes: ['cali-'], commandFactory: fake.factory });
  for (let i = 0; i < 50; i++) table.updateChain(chain(`cali-c${i}`, 4));
  await table.apply();
  await settled();
  table.invalidateDataplaneCache('test');
  let loopTurned = false;
  setImmediate(() => (loopTurned = true));
  let turnedBeforeSave: boolean | undefined;
  fake.onSpawn = (call) => {
    if (call.kind === 'save' && turnedBeforeSave === undefined) turnedBeforeSave = loopTurned;
  };
  await table.apply();
  expect(turnedBeforeSave).toBe(false);
  expect(fake.saves.length).toBe(2);
  expect(fake.restores.length).toBe(1); // nothing changed: nothing written
});

it('an expectation made before a write is stale at the next read, and the read is still right: repaired chains, the rest unchanged', async () => {
  const fake = new FakeIptables('filter');
  const table = new Table('filter', 4, 'cali:', NO_OP_LOCK, { backend: 'legacy', historicChainPrefixes: ['cali-'], commandFactory: fake.factory });
  for (let i = 0; i < 20; i++) table.updateChain(chain(`cali-c${i}`, 3));
  await table.apply(); // its background preparation starts now; the next apply writes meanwhile
  table.updateChain(chain('cali-c3', 5));
  table.removeChainByName('cali-c7');
  await table.apply();
  // Another program edits two of ours the way the Table's belief cannot know.
  fake.restore('*filter\n-D cali-c3 2\n:cali-c9 - [0:0]\nCOMMIT\n');
  table.invalidateDataplaneCache('test');
  await table.apply();
  expect(fake.ids('cali-c3')).toEqual(chain('cali-c3', 5).ruleHashes());
  expect(fake.ids('cali-c9')).toEqual(chain('cali-c9', 3).ruleHashes());
  expect(fake.chains.has('cali-c7')).toBe(false);
  for (const i of [0, 1, 2, 4, 19]) expect(fake.ids(`cali-c${i}`)).toEqual(chain(`cali-c${i}`, 3).ruleHashes());
  const last = fake.restores.at(-1)?.input ?? '';
  expect(last).toMatch(/cali-c3 /);
  expect(last).toMatch(/cali-c9 /);
  expect(last).not.toMatch(/cali-c(0|1|2|4|19) /); // found unchanged: not rewritten
});
