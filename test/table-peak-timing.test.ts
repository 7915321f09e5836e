// The re-read after a write is never sooner than twice the recent peak iptables-save plus
// iptables-restore time (latest Felix), against the fake command factory with a fake clock: each
// save and restore "takes" as long as the test says by moving the clock while it runs.
import { describe, expect, it } from 'vitest';
import { AcceptAction, Chain, Match } from '../src/index';
import { Table } from '../src/table';
import { FakeIptables } from '../src/testing';

const NO_LOCK = { lock: (): void => undefined, unlock: (): void => undefined };
const chain = (port: number): Chain => new Chain({ name: 'cali-a', rules: [{ match: Match().protocol('tcp').destPorts(port), action: new AcceptAction() }] });

function setup(): { table: Table; fake: FakeIptables; clock: { t: number }; took: { save: number; restore: number } } {
  const clock = { t: 1_700_000_000_000 };
  const took = { save: 0, restore: 0 };
  const fake = new FakeIptables();
  fake.onSave = () => {
    clock.t += took.save;
    return undefined;
  };
  fake.onRestore = () => {
    clock.t += took.restore;
    return undefined;
  };
  const table = new Table('filter', 4, 'cali:', NO_LOCK, {
    backend: 'legacy',
    historicChainPrefixes: ['cali-'],
    commandFactory: fake.commandFactory,
    sleep: () => Promise.resolve(),
    now: () => clock.t,
  });
  return { table, fake, clock, took };
}

describe('post-write re-read minimum from observed save and restore times', () => {
  it('instant commands keep the 50 ms first re-read; slow ones push it to twice their peak sum, and it doubles from there', async () => {
    const fast = setup();
    fast.table.updateChain(chain(1));
    expect(await fast.table.apply()).toBe(50);

    const { table, fake, clock, took } = setup();
    took.save = 400;
    took.restore = 100;
    const t0 = clock.t;
    table.updateChain(chain(1));
    // Read 400 ms, write 100 ms: the write ends at t0 + 500, the re-read is due 2 × 500 after it.
    expect(await table.apply()).toBe(500 + 1000);
    const written = t0 + 500;
    expect(fake.saves).toHaveLength(1);

    clock.t = written + 999;
    await table.apply();
    expect(fake.saves).toHaveLength(1); // not yet
    clock.t = written + 1000;
    const saves = fake.saves.length;
    await table.apply();
    expect(fake.saves).toHaveLength(saves + 1); // due: re-read, and the interval doubles
    const after = clock.t;
    expect(await table.apply()).toBe(written + 2000 - after);
  });

  it('the peak decays by 1% per observation rather than following a single fast run down', async () => {
    const { table, clock, took } = setup();
    took.save = 1000;
    table.updateChain(chain(1));
    await table.apply(); // peak save 1000 ms
    took.save = 0;
    took.restore = 0;
    table.updateChain(chain(2));
    table.invalidateDataplaneCache('test');
    const start = clock.t;
    // One more (instant) read decays the save peak to 990 ms; the write is instant.
    expect(await table.apply()).toBe(2 * 990);
    expect(clock.t).toBe(start);
  });
});
