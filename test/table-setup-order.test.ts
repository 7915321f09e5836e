// The first apply's critical path: on a modern host no child runs before or beside the first
// read (the restore's lock mode needs no --version probe, test/table-version-probe.test.ts); a
// --version that cannot start (features 'auto') is never an unhandled rejection.
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

it('the first apply spawns its read first and its write second, nothing else', async () => {
  const fake = new FakeIptables('filter');
  const table = new Table('filter', 4, 'cali:', NO_OP_LOCK, { backend: 'legacy', historicChainPrefixes: ['cali-'], commandFactory: fake.factory });
  table.updateChain(chain('cali-a'));
  await table.apply();
  expect(fake.events.filter((e) => e.startsWith('spawn'))).toEqual(['spawn save', 'spawn restore']);
});

it("with features 'auto', a --version that cannot start leaves no unhandled rejection; the apply writes without features, with --wait", async () => {
  const fake = new FakeIptables('filter');
  let versionRuns = 0;
  const factory: CommandFactory = (command, args, options) => {
    if (args.includes('--version') && versionRuns++ === 0) return unstartableChild();
    return fake.factory(command, args, options);
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const table = new Table('filter', 4, 'cali:', NO_OP_LOCK, { backend: 'legacy', features: 'auto', historicChainPrefixes: ['cali-'], commandFactory: factory, sleep: async () => undefined });
    table.updateChain(chain('cali-a'));
    await table.apply();
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
    expect(versionRuns).toBe(1);
    expect(fake.ids('cali-a')?.length).toBe(1);
    expect(fake.restores.at(-1)?.args).toContain('--wait');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
