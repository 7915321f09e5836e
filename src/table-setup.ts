// The Table's one-time setup (which binaries, whether iptables-restore locks itself), apart from
// the Table so the apply path reads without the probing details.
import {
  detectBackend,
  resolveBinaries,
  restoreTakesLockItself,
  type Backend,
  type BackendChoice,
  type Binaries,
  type IpVersion,
} from './backend';
import type { CommandFactory } from './commands';
import { binaryVersionOnce } from './features';
import type { Logger } from './logger';
import type { TableName } from './table-names';

/** How iptables-restore is run on this host. */
export interface RestoreMode {
  readonly args: readonly string[];
  /** Hold the caller's lock around restore: only for binaries older than 1.6.2. */
  readonly holdLock: boolean;
}

/** What the first apply or plan settles, once. */
export interface Setup {
  readonly binaries: Binaries;
  /** Settled by the `--version` probe, which runs beside the first read. */
  readonly restoreMode: Promise<RestoreMode>;
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
 *  The nft backend never needs the lock, so it needs no probe either. The version is asked
 *  once per process and binary (binaryVersionOnce), beside the first read. */
export async function probeRestoreMode(c: SetupContext, binaries: Binaries): Promise<RestoreMode> {
  const backend = binaries.backend;
  const waitSeconds = String(Math.max(1, Math.ceil(c.lockTimeoutMs / 1000)));
  let version;
  if (backend === 'legacy') version = await binaryVersionOnce(c.runOnHost, binaries.restore, c.commandTimeoutMs);
  const selfLocking = backend === 'nft' || restoreTakesLockItself(version);
  c.logger.info({ table: c.table, ipVersion: c.ipVersion, backend, restoreVersion: version, selfLocking }, 'iptables backend chosen');
  return { args: ['--noflush', '--verbose', ...(selfLocking ? ['--wait', waitSeconds] : [])], holdLock: !selfLocking };
}
