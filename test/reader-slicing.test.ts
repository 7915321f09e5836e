// A re-read of a big table starts without a long synchronous stretch: the per-chain work on the
// Table's belief (picking our chains, joining their IDs for the native scanner) is done in
// slices before iptables-save is started (issue #15).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, expect, it, vi } from 'vitest';
import { spawnCommand, type CommandFactory } from '../src/commands';
import { loadDataplane, type DataplaneLoad } from '../src/dataplane-resync';
import { SILENT_LOGGER } from '../src/logger';
import type { DataplaneChain } from '../src/reader';
import { SLICE_MS } from '../src/time-slice';

const CHAINS = 10_000;
const id = (c: number, r: number): string => `${String(c).padStart(8, '0')}${String(r).padStart(8, '0')}`;

/** A read as the Table makes it, of `save` through `run`, with `dataplane` as the belief. */
function loadOf(dataplane: ReadonlyMap<string, DataplaneChain>, run: CommandFactory, save: string, dirtyChains: Set<string>): DataplaneLoad {
  return {
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
    save,
    readerConfig: { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'] },
    readerImplementation: 'auto',
    commandTimeoutMs: 10_000,
    sleep: async () => undefined,
    now: () => Date.now(),
    onRun: () => undefined,
    onFailure: () => undefined,
  };
}

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
    const snapshot = await loadDataplane(loadOf(dataplane, run, 'true', dirtyChains)); // `true` prints nothing: an empty table
    expect(snapshot.size).toBe(0);
  } finally {
    counting = false;
  }
  // 10k chains at one clock check per 256: dozens of slices before the spawn.
  expect(turnsAtSpawn).toBeGreaterThanOrEqual(Math.floor(CHAINS / 256) - 1);
  expect(dirtyChains.size).toBe(CHAINS);
});

it('a retried read compares against the expectation prepared for its first attempt', async () => {
  const belief = (ids: readonly string[]): DataplaneChain => ({ ids, savedRules: new Map() });
  const dataplane = new Map([
    ['cali-same', belief([id(1, 1), id(1, 2)])],
    ['cali-changed', belief([id(2, 1)])],
  ]);
  const rule = (chain: string, c: number, r: number): string => `-A ${chain} -m comment --comment "cali:${id(c, r)}" -j ACCEPT`;
  const dump = ['*filter', ':cali-same - [0:0]', ':cali-changed - [0:0]', rule('cali-same', 1, 1), rule('cali-same', 1, 2), rule('cali-changed', 2, 9), 'COMMIT', ''].join('\n');
  const file = join(mkdtempSync(join(tmpdir(), 'ipts-rrd-')), 'dump.txt');
  writeFileSync(file, dump);
  let runs = 0;
  // The first run fails (exit 1, no stderr: worth a retry); the second prints the dump.
  const run: CommandFactory = Object.assign(
    (_command: string, _args: readonly string[], options?: Parameters<CommandFactory>[2]) =>
      ++runs === 1 ? spawnCommand('false', [], options) : spawnCommand('cat', [file], options),
    { acceptsStdoutFd: true },
  );
  const dirtyChains = new Set<string>();
  const snapshot = await loadDataplane(loadOf(dataplane, run, 'iptables-save', dirtyChains));
  expect(runs).toBe(2);
  // Found unchanged by the scanner: the belief's own entry, by identity.
  expect(snapshot.get('cali-same')).toBe(dataplane.get('cali-same'));
  expect(snapshot.get('cali-changed')?.ids).toEqual([id(2, 9)]);
  expect([...dirtyChains]).toEqual(['cali-changed']);
});
