// The read path's last step: a fresh snapshot of the dataplane against what the Table believes
// it holds, marking each chain that differs dirty (the next plan repairs exactly those).
import type { Logger } from './logger';
import { prepareExpectation, type DataplaneChain, type PreparedExpectation, type ReaderConfig } from './reader';
import { appendIds, insertIds, insertsInPlace, type InsertMode } from './restore-plan';
import type { Rule } from './rule';
import { readDataplane, type SaveTarget } from './save-run';
import { TimeSlicer } from './time-slice';

/** The Table's view, read (and its dirty sets added to) by markOutOfSync. */
export interface ResyncState {
  readonly table: string;
  readonly insertMode: InsertMode;
  readonly logger: Logger;
  /** What the Table believes the dataplane holds. */
  readonly dataplane: ReadonlyMap<string, DataplaneChain>;
  readonly insertRules: ReadonlyMap<string, readonly Rule[]>;
  readonly appendRulesByChain: ReadonlyMap<string, readonly Rule[]>;
  readonly dirtyChains: Set<string>;
  readonly dirtyInserts: Set<string>;
  /** A desired chain, or one with a historic prefix. */
  readonly isOurChain: (name: string) => boolean;
}

/** A mask: the chains that come back unchanged look at the slicer's clock once per 64 (each
 *  look counts as 64 items, so the slicer reads its clock then). */
const FAST_PATH_CHECK = 63;

/** Marks dirty each chain whose snapshot differs from the Table's belief (yielding now and then).
 *  Reads the snapshot only: the Table keeps it as its new belief. */
export async function markOutOfSync(s: ResyncState, snapshot: ReadonlyMap<string, DataplaneChain>): Promise<void> {
  const slicer = new TimeSlicer();
  // Our model of each chain we know of, against what is there now.
  // The common case first, before the slicer's bookkeeping: most chains come back unchanged
  // (the reader hands back the believed entry itself), and a 100k-rule table has 10k of them.
  // Unchanged chains still look at the clock now and then: 10k of them took 7.7 ms in one turn
  // on cold code.
  let seen = 0;
  for (const [name, expected] of s.dataplane) {
    const actual = snapshot.get(name);
    if (actual === expected) {
      if ((++seen & FAST_PATH_CHECK) === 0 && slicer.due(FAST_PATH_CHECK + 1)) await slicer.yield();
      continue;
    }
    if (slicer.due()) await slicer.yield();
    if (s.dirtyChains.has(name) || s.dirtyInserts.has(name)) continue;
    if (!s.isOurChain(name)) {
      const wanted = insertIds(name, s.insertRules.get(name) ?? []);
      const appends = appendIds(name, s.appendRulesByChain.get(name) ?? []);
      if (!insertsInPlace(actual, wanted, s.insertMode, appends)) {
        s.logger.warn({ table: s.table, chain: name, actual: actual?.ids }, 'inserts out of place, marking for resync');
        s.dirtyInserts.add(name);
      }
    } else if (!sameIds(actual?.ids, expected.ids)) {
      s.logger.warn({ table: s.table, chain: name }, 'chain out of sync, marking for resync');
      s.dirtyChains.add(name);
    }
  }
  // Chains we did not know of: leftovers of ours, or foreign chains holding our inserts.
  for (const [name, actual] of snapshot) {
    if (s.dataplane.has(name)) {
      if ((++seen & FAST_PATH_CHECK) === 0 && slicer.due(FAST_PATH_CHECK + 1)) await slicer.yield();
      continue;
    }
    if (slicer.due()) await slicer.yield();
    if (s.dirtyChains.has(name) || s.dirtyInserts.has(name)) continue;
    if (s.isOurChain(name)) {
      s.logger.info({ table: s.table, chain: name }, 'found unexpected chain of ours, marking for cleanup');
      s.dirtyChains.add(name);
    } else if (actual.ids.some((id) => id !== '')) {
      s.logger.info({ table: s.table, chain: name }, 'found unexpected inserts, marking for cleanup');
      s.dirtyInserts.add(name);
    }
  }
}

function sameIds(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One read as the Table makes it: its resync state and the save run's settings. */
export interface DataplaneLoad extends ResyncState, Omit<SaveTarget, 'expected' | 'command' | 'timeoutMs'> {
  /** The save binary. */
  readonly save: string;
  readonly commandTimeoutMs: number;
  /** The expectation, prepared ahead (Table.prepareNextRead); else it is prepared here. */
  readonly prepared?: Promise<PreparedExpectation>;
}

/**
 * Reads the table, with the Table's belief of its own chains as the reader's expectation (the
 * scanner compares those natively: an unchanged chain costs no string per rule), and marks dirty
 * what differs. Resolves to the snapshot that becomes the new belief (a Map of the caller's).
 */
export async function loadDataplane(l: DataplaneLoad): Promise<Map<string, DataplaneChain>> {
  // Prepared in slices before the first attempt (10k chains, done in one go, stalled the loop),
  // unless it was prepared ahead, after the apply that made the belief.
  const expected = l.readerImplementation === 'js' ? undefined : await (l.prepared ?? prepareExpectation(l.readerConfig, l.dataplane));
  const snapshot = await readDataplane({ ...l, command: l.save, timeoutMs: l.commandTimeoutMs, ...(expected ? { expected } : {}) });
  // A small object of its own: `l` carries all the Table's options, a slow shape for a loop
  // that reads these fields for each of 10k chains.
  const { table, insertMode, logger, dataplane, insertRules, appendRulesByChain, dirtyChains, dirtyInserts, isOurChain } = l;
  await markOutOfSync({ table, insertMode, logger, dataplane, insertRules, appendRulesByChain, dirtyChains, dirtyInserts, isOurChain }, snapshot);
  return snapshot;
}

/**
 * The next read's expectation, prepared from `believed` in the turns after the caller's (sliced),
 * so that read spawns its save at once instead of first spending 10-12 ms at 100k rules. The
 * belief may change before the read (a write that needs no read): a stale expectation only
 * makes fewer chains come back unchanged, since a chain found unchanged is handed back as the
 * very entry it was compared with. A rejection is the awaiting read's, never unhandled.
 */
export function prepareAhead(config: ReaderConfig, believed: ReadonlyMap<string, DataplaneChain>): Promise<PreparedExpectation> {
  const prepared = new Promise<void>((resolve) => setImmediate(resolve)).then(() => prepareExpectation(config, believed));
  prepared.catch(() => undefined); // a read that never comes leaves no unhandled rejection
  return prepared;
}
