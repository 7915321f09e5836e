// The Table's one-time setup (which binaries, whether iptables-restore locks itself), apart from
// the Table so the apply path reads without the probing details.
import {
  detectBackend,
  namedByBackend,
  resolveBinaries,
  restoreTakesLockItself,
  type Backend,
  type BackendChoice,
  type Binaries,
  type IpVersion,
} from './backend';
import type { CommandFactory } from './commands';
import { binaryVersionOnce, detectFeatures, type Features } from './features';
import type { Logger } from './logger';
import type { Chain, Rule } from './rule';
import type { TableName } from './table-names';
import { TimeSlicer } from './time-slice';

/** How iptables-restore is run on this host. */
export interface RestoreMode {
  readonly args: readonly string[];
  /** Hold the caller's lock around restore: only for binaries older than 1.6.2. */
  readonly holdLock: boolean;
}

/** What the first apply or plan settles, once. */
export interface Setup {
  readonly binaries: Binaries;
  /** Settled on the first call; asks no child on a modern host (probeRestoreMode). */
  readonly restoreMode: () => Promise<RestoreMode>;
}

/** What the setup needs to know of its Table. */
export interface SetupContext {
  readonly table: TableName;
  readonly ipVersion: IpVersion;
  readonly backendChoice: BackendChoice;
  readonly run: CommandFactory;
  readonly runOnHost: CommandFactory;
  readonly commandTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * The first apply's or plan's setup: the binaries; then, when 'auto' feature detection is still
 * pending, the features (handed to `adopt`, which re-renders what was accepted before); the
 * restore mode is settled when the first write needs it.
 */
export async function setUp(c: SetupContext, adopt: ((features: Features) => Promise<void>) | undefined): Promise<Setup> {
  const binaries = await chooseBinaries(c);
  if (adopt) {
    const features = await detectFeatures(c.runOnHost, binaries.restore, c.commandTimeoutMs);
    c.logger.info({ table: c.table, ipVersion: c.ipVersion, features }, 'iptables features detected');
    await adopt(features);
  }
  let mode: Promise<RestoreMode> | undefined;
  const restoreMode = (): Promise<RestoreMode> => {
    if (mode === undefined) {
      mode = probeRestoreMode(c, binaries);
      // Once per Table; a failed probe is the awaiting write's error, never an unhandled rejection.
      mode.catch(() => undefined);
    }
    return mode;
  };
  return { binaries, restoreMode };
}

/** The binaries of the chosen (or detected) backend; warns when only the other one's exist. */
export async function chooseBinaries(c: SetupContext): Promise<Binaries> {
  const backend: Backend = c.backendChoice === 'auto' ? await detectBackend(c.run, c.ipVersion, c.commandTimeoutMs) : c.backendChoice;
  const binaries = await resolveBinaries(backend, c.ipVersion, c.runOnHost, c.commandTimeoutMs);
  if (binaries.backend !== backend) {
    c.logger.warn({ table: c.table, ipVersion: c.ipVersion, wanted: backend, found: binaries.backend, save: binaries.save }, "only plain iptables binaries are installed, and they are the other backend's: using them");
  }
  return binaries;
}

/** From 1.6.2 iptables-restore takes the xtables lock itself: give it --wait, hold nothing.
 *  The nft backend never needs the lock, and a `*-legacy-restore` binary is 1.8.0 or later, so
 *  neither is asked. Plain `iptables-restore` was asked for its backend already (versionTextOnce:
 *  once per process and binary), and that answer says its version. */
export async function probeRestoreMode(c: SetupContext, binaries: Binaries): Promise<RestoreMode> {
  const backend = binaries.backend;
  const waitSeconds = String(Math.max(1, Math.ceil(c.lockTimeoutMs / 1000)));
  let version;
  if (backend === 'legacy' && !namedByBackend(binaries)) version = await binaryVersionOnce(c.runOnHost, binaries.restore, c.commandTimeoutMs);
  const selfLocking = backend === 'nft' || restoreTakesLockItself(version);
  c.logger.info({ table: c.table, ipVersion: c.ipVersion, backend, restoreVersion: version, selfLocking }, 'iptables backend chosen');
  return { args: ['--noflush', '--verbose', ...(selfLocking ? ['--wait', waitSeconds] : [])], holdLock: !selfLocking };
}

/** Re-renders, in place, the desired state accepted before 'auto' feature detection ended
 *  (yielding to the event loop now and then: it may be 100k rules). */
export async function renderForHost(
  chains: Map<string, Chain>,
  ruleLists: readonly Map<string, readonly Rule[]>[],
  forHost: <T extends Chain | Rule>(item: T) => T,
): Promise<void> {
  const slicer = new TimeSlicer();
  for (const [name, chain] of chains) {
    if (slicer.due()) await slicer.yield();
    chains.set(name, forHost(chain));
  }
  for (const lists of ruleLists) for (const [name, rules] of lists) lists.set(name, Object.freeze(rules.map((r) => forHost(r))));
}

/** The binaries and restore arguments a failed write ran with, for replaying it on a copy. */
export async function replayBinaries(setup: Setup): Promise<{ readonly save: string; readonly restore: string; readonly restoreArgs: readonly string[] }> {
  return { save: setup.binaries.save, restore: setup.binaries.restore, restoreArgs: (await setup.restoreMode()).args };
}
