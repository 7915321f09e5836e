// The first apply's critical path is the read: the save is spawned before the restore binary's
// one-off --version probe, which then runs beside the read; a probe that cannot start meanwhile
// is never an unhandled rejection.
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import type { CommandFactory, SpawnedCommand } from '../src/commands';
import { AcceptAction, Chain } from '../src/index';
import { NO_OP_LOCK } from '../src/locks';
import { Table } from '../src/table';
import { TimingFake as FakeIptables } from './helpers/fake-timing';

const chain = (name: string): Chain => new Chain({ name, rules: [{ action: new AcceptAction() }] });

/** A child that could not be started (as spawn reports ENOENT). */
function unstartableChild(): SpawnedCommand {
  const out = new PassThrough();
  const err = new PassThrough();
  out.end();
  err.end();
  const exited = new Promise<never>((_, reject) => setImmediate(() => reject(Object.assign(new Error('spawn iptables-legacy-restore ENOENT'), { code: 'ENOENT' }))));
  return { stdin: new PassThrough(), stdout: out, stderr: err, exited, kill: () => undefined };
}

it('spawns the first read before the --version probe', async () => {
  const fake = new FakeIptables('filter');
  const table = new Table('filter', 4, 'cali:', NO_OP_LOCK, { backend: 'legacy', historicChainPrefixes: ['cali-'], commandFactory: fake.factory });
  table.updateChain(chain('cali-a'));
  await table.apply();
  const spawns = fake.events.filter((e) => e.startsWith('spawn'));
  expect(spawns.slice(0, 3)).toEqual(['spawn save', 'spawn version', 'spawn restore']);
});

it('a --version probe that cannot start while the read runs leaves no unhandled rejection; the apply writes (an unknown version counts as a modern one)', async () => {
  const fake = new FakeIptables('filter');
  let openSave!: () => void;
  fake.onSave = (n) => (n === 0 ? { gate: new Promise<void>((r) => (openSave = r)) } : undefined);
  let versionRuns = 0;
  const factory: CommandFactory = (command, args, options) => {
    if (args.includes('--version') && versionRuns++ === 0) return unstartableChild();
    return fake.factory(command, args, options);
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const table = new Table('filter', 4, 'cali:', NO_OP_LOCK, { backend: 'legacy', historicChainPrefixes: ['cali-'], commandFactory: factory, sleep: async () => undefined });
    table.updateChain(chain('cali-a'));
    const first = table.apply();
    // The probe has failed by now; the read is still held open.
    await new Promise((r) => setTimeout(r, 30));
    openSave();
    await first;
    expect(unhandled).toEqual([]);
    expect(fake.ids('cali-a')?.length).toBe(1);
    expect(fake.restores.at(-1)?.args).toContain('--wait');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
