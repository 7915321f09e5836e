// A re-read of a big table starts without a long synchronous stretch: the per-chain work on the
// Table's belief (picking our chains, joining their IDs for the native scanner) is done in
// slices before iptables-save is started (issue #15).
import { performance } from 'node:perf_hooks';
import { afterEach, expect, it, vi } from 'vitest';
import { spawnCommand, type CommandFactory } from '../src/commands';
import { loadDataplane } from '../src/dataplane-resync';
import { SILENT_LOGGER } from '../src/logger';
import type { DataplaneChain } from '../src/reader';
import { SLICE_MS } from '../src/time-slice';

const CHAINS = 10_000;
const id = (c: number, r: number): string => `${String(c).padStart(8, '0')}${String(r).padStart(8, '0')}`;

afterEach(() => {
  vi.restoreAllMocks();
});

it('the belief of 10k chains is prepared in slices before iptables-save starts', async () => {
  const dataplane = new Map<string, DataplaneChain>();
  for (let c = 0; c < CHAINS; c++) dataplane.set(`cali-${c}`, { ids: Array.from({ length: 10 }, (_, r) => id(c, r)), savedRules: new Map() });
  dataplane.set('FORWARD', { ids: [''], savedRules: new Map() });
  // A clock that races (a slice per look): every clock check of a slicer finds its slice used up.
  let fake = performance.now();
  vi.spyOn(performance, 'now').mockImplementation(() => (fake += SLICE_MS + 1));
  let turns = 0;
  let counting = true;
  const count = (): void => {
    turns++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  let turnsAtSpawn = -1;
  const run: CommandFactory = Object.assign(
    (command: string, args: readonly string[], options?: Parameters<CommandFactory>[2]) => {
      turnsAtSpawn = turns;
      return spawnCommand(command, args, options);
    },
    { acceptsStdoutFd: true },
  );
  const dirtyChains = new Set<string>();
  try {
    const snapshot = await loadDataplane({
      table: 'filter',
      insertMode: 'insert',
      logger: SILENT_LOGGER,
      dataplane,
      insertRules: new Map(),
      appendRulesByChain: new Map(),
      dirtyChains,
      dirtyInserts: new Set(),
      isOurChain: (name) => name.startsWith('cali-'),
      run,
      save: 'true', // prints nothing: an empty table
      readerConfig: { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'] },
      readerImplementation: 'auto',
      commandTimeoutMs: 10_000,
      sleep: async () => undefined,
      now: () => Date.now(),
      onRun: () => undefined,
      onFailure: () => undefined,
    });
    expect(snapshot.size).toBe(0);
  } finally {
    counting = false;
  }
  // 10k chains at one clock check per 256: dozens of slices before the spawn.
  expect(turnsAtSpawn).toBeGreaterThanOrEqual(Math.floor(CHAINS / 256) - 1);
  expect(dirtyChains.size).toBe(CHAINS);
});
