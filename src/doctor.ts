// `iptables-sync doctor`: what this host gives iptables-sync, probe by probe. Every probe has its
// own deadline and its own verdict, so one that hangs or fails is reported and the rest still run.
import { accessSync, constants as fsConstants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import {
  binariesFor,
  detectBackendWithCounts,
  parseIptablesVersion,
  parseTableBackendChoice,
  restoreTakesLockItself,
  type Backend,
  type BackendDetection,
  type IpVersion,
  type TableBackendChoice,
} from './backend';
import { describeOutcome, inNetns, runCommand, spawnCommand, spawnImplementation, succeeded, type CommandFactory, type SpawnImplementation } from './commands';
import type { LockHolder } from './errors';
import { detectFeatures, type Features } from './features';
import { DEFAULT_LOCK_FILE_PATH, findLockHolder } from './locks';
import { nativeInfo } from './native';
import { checkNftables, type NftablesCheck } from './nftables/doctor-check';
export type { NftablesCheck } from './nftables/doctor-check';
import type { DoctorCheck, DoctorStatus } from './doctor-verdict';
export type { DoctorCheck, DoctorStatus } from './doctor-verdict';

/** The native addon: loaded from where, or why not (nativeInfo()). */
export interface AddonCheck extends DoctorCheck {
  /** Whether the addon loaded (the locks need it; readers and hashing fall back to TypeScript). */
  readonly loaded: boolean;
  /** The file that loaded; undefined when none did. */
  readonly path: string | undefined;
  /** Why it did not load: each file tried and the loader's error; undefined when it loaded. */
  readonly reason: string | undefined;
  /** The addon files tried, in order. */
  readonly tried: readonly string[];
  /** Who starts the children: the addon's posix_spawn, or Node's spawn (no addon, or
   *  IPTABLES_SYNC_SPAWN=node). */
  readonly spawn: SpawnImplementation;
}

/** Whether we may change iptables: root, or at least CAP_NET_ADMIN. */
export interface PrivilegeCheck extends DoctorCheck {
  /** The effective user id; undefined where the platform has none. */
  readonly uid: number | undefined;
  /** Whether the effective user is root (uid 0). */
  readonly root: boolean;
  /** Whether the process has CAP_NET_ADMIN (from /proc/self/status), which iptables needs. */
  readonly netAdmin: boolean;
}

/** The network namespace asked for (`--netns`), if any. */
export interface NetnsCheck extends DoctorCheck {
  /** The namespace asked for; undefined for none (this one). */
  readonly name: string | undefined;
  /** Whether `ip netns` lists it; undefined when none was asked for. */
  readonly exists: boolean | undefined;
}

/** One executable looked up on PATH, with its `--version` (`-V` for ip). */
export interface BinaryCheck extends DoctorCheck {
  /** The executable name, e.g. `iptables-legacy-save`. */
  readonly name: string;
  /** Needed for what was asked (the chosen backend's save/restore, `ip` with a namespace). */
  readonly required: boolean;
  /** Where it was found on PATH; undefined when missing. */
  readonly path: string | undefined;
  /** The first line of its version output; undefined when missing or when the probe failed. */
  readonly version: string | undefined;
}

/** Backend detection as a Table with `backend: 'auto'` runs it, with the counts it decided on. */
export interface BackendCheck extends DoctorCheck {
  /** The backend option given: 'legacy', 'nft', 'auto' or 'nftables'. */
  readonly choice: TableBackendChoice;
  /** The iptables backend a Table would use: the one chosen, else the one detected (undefined
   *  with 'nftables', which uses none). */
  readonly backend: Backend | undefined;
  /** What detection found (with 'auto'); undefined when detection was not run or failed. */
  readonly detection: BackendDetection | undefined;
}

/** Whether the restore binary takes `--wait` (locks itself, iptables >= 1.6.2 or nft). */
export interface RestoreWaitCheck extends DoctorCheck {
  /** The restore binary of the backend a Table would use; undefined when unknown. */
  readonly binary: string | undefined;
  /** Its version, as `--version` printed it; undefined when unknown. */
  readonly version: string | undefined;
  /** Whether it takes `--wait` and so locks itself; undefined when unknown. */
  readonly takesWait: boolean | undefined;
}

/** What `features: 'auto'` detects for the restore binary. */
export interface FeaturesCheck extends DoctorCheck {
  /** The detected host features; undefined when detection failed. */
  readonly features: Features | undefined;
}

/** The xtables lock file and who holds it now. */
export interface LockFileCheck extends DoctorCheck {
  /** The lock file path in use. */
  readonly path: string;
  /** Where the path came from: the option, $XTABLES_LOCKFILE, or the default /run/xtables.lock. */
  readonly source: 'option' | 'XTABLES_LOCKFILE' | 'default';
  /** Whether the file exists now. */
  readonly exists: boolean;
  /** The process holding the lock now (from /proc/locks); undefined when free or unknown. */
  readonly holder: LockHolder | undefined;
}

/** Everything `diagnose()` found. `ok` is false when any check is an error. */
export interface DoctorReport {
  /** False when any check is an error. */
  readonly ok: boolean;
  /** The IP version diagnosed (4 or 6). */
  readonly ipVersion: IpVersion;
  /** The native addon. */
  readonly addon: AddonCheck;
  /** Root and CAP_NET_ADMIN. */
  readonly privileges: PrivilegeCheck;
  /** The network namespace asked for. */
  readonly netns: NetnsCheck;
  /** Every iptables binary (both backends), `iptables`, `ip` and `nft`, with path and version. */
  readonly binaries: readonly BinaryCheck[];
  /** Backend detection and its rule counts. */
  readonly backend: BackendCheck;
  /** Whether restore takes `--wait`. */
  readonly restoreWait: RestoreWaitCheck;
  /** What `features: 'auto'` detects. */
  readonly features: FeaturesCheck;
  /** The xtables lock file and its holder. */
  readonly lockFile: LockFileCheck;
  /** With backend 'nftables': nf_tables in the namespace, our table names, the listing worker;
   *  undefined otherwise. */
  readonly nftables: NftablesCheck | undefined;
}

/** What to diagnose; every field is optional. */
export interface DoctorOptions {
  /** The network namespace commands would run in (`ip netns`); default: none (this one). */
  readonly netns?: string;
  /** The backend a Table would be given (default 'auto': detect it); 'nftables' checks nft. */
  readonly backend?: TableBackendChoice;
  /** With backend 'nftables': the `nftTableName` a Table would be given (default: `ipts-<table>`
   *  for each table). */
  readonly nftTableName?: string;
  /** With backend 'nftables': our tables are `<nftTablePrefix><table>` (the CLI's
   *  `--nft-table-prefix`); not with `nftTableName`. */
  readonly nftTablePrefix?: string;
  /** 4 (iptables, default) or 6 (ip6tables): which binaries are required and probed. */
  readonly ipVersion?: IpVersion;
  /** The xtables lock file; default $XTABLES_LOCKFILE, else /run/xtables.lock. */
  readonly lockFile?: string;
  /** Deadline of each probe in ms (each child is killed after it); default 5000. */
  readonly probeTimeoutMs?: number;
  /** The PATH binaries are looked up on; default $PATH (what spawned commands use). */
  readonly searchPath?: string;
  /** Spawns the probes' commands; default: real processes. */
  readonly commandFactory?: CommandFactory;
}

/** Default deadline of each doctor probe (ms). */
export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;

/** The binaries doctor looks for: both backends and both IP versions, plus ip and nft. */
export const DOCTOR_BINARIES: readonly string[] = [
  'iptables-legacy-save',
  'iptables-legacy-restore',
  'iptables-nft-save',
  'iptables-nft-restore',
  'ip6tables-legacy-save',
  'ip6tables-legacy-restore',
  'ip6tables-nft-save',
  'ip6tables-nft-restore',
  'iptables',
  'ip',
  'nft',
];

const CAP_NET_ADMIN = 12;
// `ip netns add` keeps its namespaces here (iproute2's NETNS_RUN_DIR).
const NETNS_RUN_DIR = '/run/netns';

/**
 * Looks at this host as iptables-sync would use it: the native addon, privileges, the namespace,
 * the binaries and their versions, backend detection (with the rule counts it decided on),
 * whether restore takes `--wait`, the features detected, and the lock file and its holder.
 * Never rejects and never changes anything: each probe is bounded by `probeTimeoutMs` and a
 * failing probe becomes an `error` or `warn` item of the report.
 */
export async function diagnose(options: DoctorOptions = {}): Promise<DoctorReport> {
  const ipVersion = options.ipVersion ?? 4;
  const choice = parseTableBackendChoice(options.backend ?? 'auto');
  const timeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const run = options.commandFactory ?? spawnCommand;
  const searchPath = options.searchPath ?? process.env.PATH ?? '';

  const netns = checkNetns(options.netns);
  const privileges = guardSync(checkPrivileges, (message) => ({ status: 'error', message, uid: undefined, root: false, netAdmin: false }));
  const lockFile = guardSync(
    () => checkLockFile(options.lockFile),
    (message) => ({ status: 'error', message, path: options.lockFile ?? DEFAULT_LOCK_FILE_PATH, source: 'default' as const, exists: false, holder: undefined }),
  );
  const backend = await guard(
    checkBackend(choice, ipVersion, netns, run, timeoutMs),
    timeoutMs * 2,
    (message): BackendCheck => ({ status: 'error', message, choice, backend: iptablesBackendOf(choice), detection: undefined }),
  );
  const required = requiredBinaries(backend.backend, ipVersion, options.netns);
  if (choice === 'nftables') (required as Set<string>).add('nft');
  const binaries = await Promise.all(
    DOCTOR_BINARIES.map((name) =>
      guard(
        checkBinary(name, required, searchPath, run, timeoutMs),
        timeoutMs * 2,
        (message): BinaryCheck => ({ status: required.has(name) ? 'error' : 'warn', message: `${name}: ${message}`, name, required: required.has(name), path: findOnPath(name, searchPath), version: undefined }),
      ),
    ),
  );
  const native = choice === 'nftables';
  const restoreWait: RestoreWaitCheck = native
    ? { status: 'ok', message: 'not used: backend nftables writes with nft -f, which takes no xtables lock', binary: undefined, version: undefined, takesWait: undefined }
    : checkRestoreWait(backend.backend, ipVersion, binaries);
  const features = native
    ? { status: 'ok' as const, message: 'not used: backend nftables renders nft statements, not iptables targets', features: undefined }
    : await guard(checkFeatures(restoreWait.binary, binaries, run, timeoutMs), timeoutMs * 2, (message): FeaturesCheck => ({ status: 'warn', message, features: undefined }));
  // nftables: no lock to take, hashing by node:crypto and reads scanned by a worker thread.
  const addon = checkAddon(native ? true : restoreWait.takesWait);
  const nftables = native
    ? await guard(
        netns.status === 'error'
          ? Promise.resolve<NftablesCheck>({ status: 'error', message: `not checked: ${netns.message}`, usable: false, tables: [], present: [], reader: false })
          : checkNftables(netns.name !== undefined ? inNetns(netns.name, run) : run, ipVersion, timeoutMs, { nftTableName: options.nftTableName, nftTablePrefix: options.nftTablePrefix }),
        timeoutMs * 3,
        (message): NftablesCheck => ({ status: 'error', message, usable: false, tables: [], present: [], reader: false }),
      )
    : undefined;
  const all: DoctorCheck[] = [addon, privileges, netns, ...binaries, backend, restoreWait, features, lockFile, ...(nftables ? [nftables] : [])];
  return { ok: all.every((c) => c.status !== 'error'), ipVersion, addon, privileges, netns, binaries, backend, restoreWait, features, lockFile, nftables };
}

function iptablesBackendOf(choice: TableBackendChoice): Backend | undefined {
  return choice === 'auto' || choice === 'nftables' ? undefined : choice;
}

// --- probes -----------------------------------------------------------------------------------

function checkAddon(restoreTakesWait: boolean | undefined): AddonCheck {
  const info = nativeInfo();
  const spawn = spawnImplementation();
  const base = { loaded: info.loaded, path: info.path, reason: info.reason, tried: info.tried ?? [], spawn };
  if (info.loaded) {
    const skipped = info.reason ? ` (skipped first: ${info.reason})` : '';
    const children = spawn === 'native' ? 'children started by its posix_spawn' : "children started by Node's spawn (IPTABLES_SYNC_SPAWN=node)";
    return { ...base, status: 'ok', message: `loaded ${info.path ?? ''}${skipped}; ${children}` };
  }
  // Without the addon the TypeScript reader still works; only the lock functions do not, and a
  // Table needs them only for a restore binary that does not lock itself.
  if (restoreTakesWait === true) {
    return {
      ...base,
      status: 'warn',
      message: `not loaded: ${info.reason ?? 'unknown reason'}. Usable here (the restore binary takes --wait and locks itself; rules are read by the slower TypeScript reader), but the lock functions throw LockUnavailableError`,
    };
  }
  return {
    ...base,
    status: 'error',
    message: `not loaded: ${info.reason ?? 'unknown reason'}. The restore binary does not lock itself, so every write needs the addon's locks`,
  };
}

function checkPrivileges(): PrivilegeCheck {
  const uid = process.getuid?.();
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1];
  const netAdmin = capEff !== undefined && (BigInt(`0x${capEff}`) & (1n << BigInt(CAP_NET_ADMIN))) !== 0n;
  const root = uid === 0;
  if (netAdmin) return { status: 'ok', message: root ? 'running as root (CAP_NET_ADMIN)' : `uid ${uid ?? '?'} with CAP_NET_ADMIN`, uid, root, netAdmin };
  return { status: 'error', message: `uid ${uid ?? '?'} without CAP_NET_ADMIN: iptables needs root (or CAP_NET_ADMIN) to read and write rules`, uid, root, netAdmin };
}

function checkNetns(name: string | undefined): NetnsCheck {
  if (name === undefined) return { status: 'ok', message: 'none given: the current network namespace', name, exists: undefined };
  if (name === '' || name.includes('/') || name === '.' || name === '..') {
    return { status: 'error', message: `invalid namespace name ${JSON.stringify(name)}`, name, exists: false };
  }
  const exists = existsSync(join(NETNS_RUN_DIR, name));
  return exists
    ? { status: 'ok', message: `${name} exists (${join(NETNS_RUN_DIR, name)})`, name, exists }
    : { status: 'error', message: `${name} does not exist (no ${join(NETNS_RUN_DIR, name)}; see ip netns list)`, name, exists };
}

function checkLockFile(option: string | undefined): LockFileCheck {
  const fromEnv = process.env.XTABLES_LOCKFILE;
  const [path, source] =
    option !== undefined ? [option, 'option' as const] : fromEnv ? [fromEnv, 'XTABLES_LOCKFILE' as const] : [DEFAULT_LOCK_FILE_PATH, 'default' as const];
  let exists = false;
  try {
    const st = statSync(path);
    exists = true;
    if (!st.isFile()) return { status: 'error', message: `${path} is not a regular file: the locks refuse it`, path, source, exists, holder: undefined };
  } catch {
    return { status: 'ok', message: `${path} (${source}) does not exist yet; the first lock creates it`, path, source, exists, holder: undefined };
  }
  const holder = findLockHolder(path);
  if (holder) {
    return { status: 'warn', message: `${path} (${source}) is held by pid ${holder.pid}${holder.command ? ` (${holder.command})` : ''}: writes wait for it`, path, source, exists, holder };
  }
  return { status: 'ok', message: `${path} (${source}) is free`, path, source, exists, holder };
}

function requiredBinaries(backend: Backend | undefined, ipVersion: IpVersion, netns: string | undefined): ReadonlySet<string> {
  const required = new Set<string>();
  if (backend) {
    const b = binariesFor(backend, ipVersion);
    required.add(b.save).add(b.restore);
  }
  if (netns !== undefined) required.add('ip');
  return required;
}

/** The first executable `name` on the search path, as spawn would find it. */
export function findOnPath(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      accessSync(file, fsConstants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function checkBinary(name: string, required: ReadonlySet<string>, searchPath: string, run: CommandFactory, timeoutMs: number): Promise<BinaryCheck> {
  const isRequired = required.has(name);
  const path = findOnPath(name, searchPath);
  if (!path) {
    return { status: isRequired ? 'error' : 'warn', message: `${name}: not found on PATH${isRequired ? ' (needed)' : ''}`, name, required: isRequired, path, version: undefined };
  }
  // Versions do not depend on the namespace: asked on the host, as the Table does.
  const out = await runCommand(run, path, [name === 'ip' ? '-V' : '--version'], '', timeoutMs);
  const version = `${out.stdout}\n${out.stderr}`.split('\n').map((l) => l.trim()).find((l) => l !== '');
  if (!succeeded(out) || version === undefined) {
    return { status: isRequired ? 'error' : 'warn', message: `${path}: version probe ${describeOutcome(out, timeoutMs)}`, name, required: isRequired, path, version };
  }
  return { status: 'ok', message: `${path}: ${version}`, name, required: isRequired, path, version };
}

async function checkBackend(choice: TableBackendChoice, ipVersion: IpVersion, netns: NetnsCheck, run: CommandFactory, timeoutMs: number): Promise<BackendCheck> {
  if (netns.status === 'error') {
    return { status: 'error', message: `not detected: ${netns.message}`, choice, backend: iptablesBackendOf(choice), detection: undefined };
  }
  if (choice === 'nftables') return { status: 'ok', message: 'nftables as asked: native nftables in tables of our own, no iptables backend', choice, backend: undefined, detection: undefined };
  const inside = netns.name !== undefined ? inNetns(netns.name, run) : run;
  const detection = await detectBackendWithCounts(inside, ipVersion, timeoutMs);
  const seen = `legacy ${detection.legacyRules} rules${detection.legacyHint ? ' + KUBE-IPTABLES-HINT' : ''}, nft ${detection.nftRules} rules${detection.nftHint ? ' + KUBE-IPTABLES-HINT' : ''}`;
  const why = { hint: 'it has the KUBE-IPTABLES-HINT chain', 'rule-count': 'it holds more rules', 'system-default': 'equal counts and no hint: the system default, iptables --version' }[detection.decidedBy];
  if (choice === 'auto') return { status: 'ok', message: `auto: ${detection.backend} (${why}; ${seen})`, choice, backend: detection.backend, detection };
  if (choice !== detection.backend && detection.decidedBy !== 'system-default') {
    return { status: 'warn', message: `${choice} as asked, but the host uses ${detection.backend} (${seen}): rules in the other backend still filter packets`, choice, backend: choice, detection };
  }
  return { status: 'ok', message: `${choice} as asked (auto would pick ${detection.backend}: ${seen})`, choice, backend: choice, detection };
}

function checkRestoreWait(backend: Backend | undefined, ipVersion: IpVersion, binaries: readonly BinaryCheck[]): RestoreWaitCheck {
  if (!backend) return { status: 'error', message: 'unknown: no backend', binary: undefined, version: undefined, takesWait: undefined };
  const binary = binariesFor(backend, ipVersion).restore;
  const found = binaries.find((b) => b.name === binary);
  if (!found?.path) return { status: 'error', message: `${binary} not found`, binary, version: undefined, takesWait: undefined };
  if (backend === 'nft') {
    return { status: 'ok', message: `${binary} takes --wait (the nft backend needs no xtables lock)`, binary, version: found.version, takesWait: true };
  }
  const parsed = parseIptablesVersion(found.version ?? '');
  // The Table's own rule: an unreadable version counts as a modern, self-locking binary.
  const takesWait = restoreTakesLockItself(parsed);
  const shown = parsed ? `v${parsed.major}.${parsed.minor}.${parsed.patch}` : 'unknown version';
  return takesWait
    ? { status: parsed ? 'ok' : 'warn', message: `${binary} ${shown} takes --wait: it locks itself and iptables-sync holds no lock`, binary, version: found.version, takesWait }
    : { status: 'ok', message: `${binary} ${shown} (< 1.6.2) has no --wait: iptables-sync holds the xtables locks around each restore`, binary, version: found.version, takesWait };
}

async function checkFeatures(binary: string | undefined, binaries: readonly BinaryCheck[], run: CommandFactory, timeoutMs: number): Promise<FeaturesCheck> {
  const path = binaries.find((b) => b.name === binary)?.path;
  if (!binary || !path) return { status: 'warn', message: 'not detected: no restore binary', features: undefined };
  const features = await detectFeatures(run, path, timeoutMs);
  const yes = (on: boolean): string => (on ? 'yes' : 'no');
  return {
    status: 'ok',
    message: `SNAT --random-fully: ${yes(features.snatFullyRandom)}, MASQUERADE --random-fully: ${yes(features.masqFullyRandom)}, NFLOG --nflog-size: ${yes(features.nfLogSize)}`,
    features,
  };
}

// --- bounding -----------------------------------------------------------------------------------

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

function guardSync<T extends DoctorCheck>(probe: () => T, failed: (message: string) => T): T {
  try {
    return probe();
  } catch (error) {
    return failed(`probe failed: ${errorText(error)}`);
  }
}

/** The probe's result, or a failed item when it rejects or outlives `limitMs` (a safety net:
 *  the probes' children have their own, shorter deadlines). */
async function guard<T extends DoctorCheck>(probe: Promise<T>, limitMs: number, failed: (message: string) => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(failed(`probe gave no answer within ${limitMs} ms`)), limitMs);
  });
  try {
    return await Promise.race([probe.catch((error: unknown) => failed(`probe failed: ${errorText(error)}`)), late]);
  } finally {
    clearTimeout(timer);
  }
}

// --- text ---------------------------------------------------------------------------------------

const LABEL: Readonly<Record<DoctorStatus, string>> = { ok: 'ok   ', warn: 'WARN ', error: 'ERROR' };

/** The report for people: one line per check, a summary line last. */
export function formatDoctorReport(report: DoctorReport): string {
  const line = (what: string, c: DoctorCheck): string => `${LABEL[c.status]}  ${what.padEnd(24)} ${c.message}\n`;
  let text = '';
  text += line('native addon', report.addon);
  if (!report.addon.loaded && report.addon.tried.length > 0) text += `${' '.repeat(31)}tried: ${report.addon.tried.join(', ')}\n`;
  text += line('privileges', report.privileges);
  text += line('network namespace', report.netns);
  for (const b of report.binaries) text += line(b.name, b);
  text += line(`backend (IPv${report.ipVersion})`, report.backend);
  text += line('restore --wait', report.restoreWait);
  text += line('features', report.features);
  text += line('lock file', report.lockFile);
  if (report.nftables) text += line('nftables', report.nftables);
  const all = [report.addon, report.privileges, report.netns, ...report.binaries, report.backend, report.restoreWait, report.features, report.lockFile, ...(report.nftables ? [report.nftables] : [])];
  const count = (s: DoctorStatus): number => all.filter((c) => c.status === s).length;
  const errors = count('error');
  const warnings = count('warn');
  text += `\n${report.ok ? 'usable' : 'NOT usable'}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`;
  return text;
}
