// Which iptables binaries to run, and whether the restore binary takes the xtables lock itself.
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { runCommand, succeeded, type CommandFactory } from './commands';
import { InvalidOptionError } from './errors';

/** Which iptables binaries run: `iptables-legacy-*` or `iptables-nft-*`. */
export type Backend = 'legacy' | 'nft';
/** A backend, or `'auto'`: the one the host already uses (its mangle table's KUBE-IPTABLES-HINT
 *  chain, else the one holding more rules, else what plain `iptables --version` reports). */
export type BackendChoice = Backend | 'auto';
/** 4 for iptables, 6 for ip6tables. */
export type IpVersion = 4 | 6;

export interface Binaries {
  readonly backend: Backend;
  readonly save: string;
  readonly restore: string;
  /** The one-rule command of the same backend (the canary's cheap check). */
  readonly iptables: string;
}

export function binariesFor(backend: Backend, ipVersion: IpVersion): Binaries {
  const family = ipVersion === 6 ? 'ip6tables' : 'iptables';
  return { backend, save: `${family}-${backend}-save`, restore: `${family}-${backend}-restore`, iptables: `${family}-${backend}` };
}

/** Whether these are a backend's own binaries (`iptables-legacy-restore` …): iptables ships
 *  those names from 1.8.0 on, its split into legacy and nft; plain names may be older. */
export function namedByBackend(binaries: Binaries): boolean {
  return /(^|\/)ip6?tables-(legacy|nft)-restore$/.test(binaries.restore);
}

/** Whether an executable of this name is on $PATH (what spawn would find). */
export function isOnPath(name: string, path = process.env.PATH ?? ''): boolean {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** The backend a plain binary's `--version` names: "(nf_tables)" or "(legacy)"; iptables
 *  before 1.8 names none and is legacy (nf_tables came with 1.8). */
export function backendOfVersionText(text: string): Backend {
  return /\(nf_tables\)/.test(text) ? 'nft' : 'legacy';
}

/**
 * The binaries to run for a backend, as latest Felix's binary search picks them: the
 * backend's own (`iptables-legacy-save` …) when both are on $PATH, else plain
 * `iptables-save`/`iptables-restore` (iptables < 1.8 has no others), whose backend is then
 * learned from `--version`. With neither, the backend's own names (the error names them).
 */
export async function resolveBinaries(
  backend: Backend,
  ipVersion: IpVersion,
  run: CommandFactory,
  timeoutMs: number,
  onPath: (name: string) => boolean = isOnPath,
): Promise<Binaries> {
  const specific = binariesFor(backend, ipVersion);
  if (onPath(specific.save) && onPath(specific.restore)) return specific;
  const family = ipVersion === 6 ? 'ip6tables' : 'iptables';
  const plain = { save: `${family}-save`, restore: `${family}-restore`, iptables: family };
  if (!onPath(plain.save) || !onPath(plain.restore)) return specific;
  return { backend: backendOfVersionText(await versionTextOnce(run, plain.restore, timeoutMs)), ...plain };
}

const versionTexts = new WeakMap<CommandFactory, Map<string, Promise<string>>>();

/**
 * What `<binary> --version` prints (stdout and stderr), asked once per command factory and binary
 * for the whole process: every Table of a process shares it (the binaries run on the host, so a
 * network namespace does not change the answer), and one answer serves the backend, the lock
 * mode and the features. A run that fails is not remembered: the next caller asks again.
 */
export function versionTextOnce(run: CommandFactory, binary: string, timeoutMs: number): Promise<string> {
  let byBinary = versionTexts.get(run);
  if (!byBinary) versionTexts.set(run, (byBinary = new Map()));
  let text = byBinary.get(binary);
  if (!text) {
    const asked = runCommand(run, binary, ['--version'], '', timeoutMs).then((out) => `${out.stdout} ${out.stderr}`);
    asked.catch(() => {
      if (byBinary.get(binary) === asked) byBinary.delete(binary);
    });
    byBinary.set(binary, asked);
    text = asked;
  }
  return text;
}

/** What a Table's `backend` option takes: a {@link BackendChoice}, or `'nftables'` (native
 *  nftables through `nft`, in a table of the Table's own; no iptables binaries). */
export type TableBackendChoice = BackendChoice | 'nftables';

/** A Table's `backend` option, validated. */
export function parseTableBackendChoice(value: unknown): TableBackendChoice {
  if (value === 'nftables' || value === 'legacy' || value === 'nft' || value === 'auto') return value;
  throw new InvalidOptionError('backend', value, 'expected "legacy", "nft", "auto" or "nftables"');
}

export function parseBackendChoice(value: unknown): BackendChoice {
  if (value === 'legacy' || value === 'nft' || value === 'auto') return value;
  throw new InvalidOptionError('backend', value, 'expected "legacy", "nft" or "auto"');
}

const HINT_CHAIN = 'KUBE-IPTABLES-HINT';

function countRules(dump: string): number {
  let n = 0;
  for (const line of dump.split('\n')) if (line.startsWith('-A ')) n++;
  return n;
}

/** What backend detection saw, and the backend it picked from that. */
export interface BackendDetection {
  /** The backend chosen. */
  readonly backend: Backend;
  /** What decided: the KUBE-IPTABLES-HINT chain, the rule counts, or the system default. */
  readonly decidedBy: 'hint' | 'rule-count' | 'system-default';
  /** `-A` lines in iptables-legacy-save (0 when no legacy table is loaded). */
  readonly legacyRules: number;
  /** `-A` lines in iptables-nft-save. */
  readonly nftRules: number;
  /** Whether the legacy mangle table holds the KUBE-IPTABLES-HINT chain (kube marks the backend it uses with it). */
  readonly legacyHint: boolean;
  /** Whether the nft mangle table holds the KUBE-IPTABLES-HINT chain. */
  readonly nftHint: boolean;
  /** Whether `iptables --version` names legacy; undefined when it was not asked. */
  readonly systemDefault?: Backend;
}

/**
 * Picks the backend the host already uses, as kube-proxy and later Felix learned to: the one whose
 * mangle table holds KUBE-IPTABLES-HINT, else the one holding more rules, else the system default
 * (what plain `iptables --version` reports). Legacy tables are only listed through
 * /proc/net/ip_tables_names, so looking never loads the legacy kernel modules.
 */
export async function detectBackend(run: CommandFactory, ipVersion: IpVersion, timeoutMs = 120_000): Promise<Backend> {
  return (await detectBackendWithCounts(run, ipVersion, timeoutMs)).backend;
}

/** The tables the legacy backend's kernel modules hold now, from /proc (reading it loads nothing). */
export async function loadedLegacyTables(run: CommandFactory, ipVersion: IpVersion, timeoutMs = 120_000): Promise<string[]> {
  const procFile = ipVersion === 6 ? '/proc/net/ip6_tables_names' : '/proc/net/ip_tables_names';
  return (await runCommand(run, 'cat', [procFile], '', timeoutMs)).stdout.split('\n').filter((t) => t !== '');
}

/** detectBackend, also returning the hints and rule counts it decided on (for `doctor`). */
export async function detectBackendWithCounts(run: CommandFactory, ipVersion: IpVersion, timeoutMs = 120_000): Promise<BackendDetection> {
  const family = ipVersion === 6 ? 'ip6tables' : 'iptables';
  const legacyTables = await loadedLegacyTables(run, ipVersion, timeoutMs);
  const saveOf = async (backend: Backend): Promise<string> => {
    if (backend === 'legacy' && legacyTables.length === 0) return '';
    const res = await runCommand(run, binariesFor(backend, ipVersion).save, [], '', timeoutMs);
    return succeeded(res) ? res.stdout : '';
  };
  const [legacyDump, nftDump] = await Promise.all([saveOf('legacy'), saveOf('nft')]);
  const hasHint = (dump: string): boolean => dump.includes(`:${HINT_CHAIN} `);
  const seen = { legacyRules: countRules(legacyDump), nftRules: countRules(nftDump), legacyHint: hasHint(legacyDump), nftHint: hasHint(nftDump) };
  if (seen.nftHint !== seen.legacyHint) return { ...seen, backend: seen.nftHint ? 'nft' : 'legacy', decidedBy: 'hint' };
  if (seen.legacyRules !== seen.nftRules) return { ...seen, backend: seen.legacyRules > seen.nftRules ? 'legacy' : 'nft', decidedBy: 'rule-count' };
  const version = await runCommand(run, family, ['--version'], '', timeoutMs);
  const systemDefault: Backend = version.stdout.includes('legacy') ? 'legacy' : 'nft';
  return { ...seen, backend: systemDefault, decidedBy: 'system-default', systemDefault };
}

export interface RestoreVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export function parseIptablesVersion(text: string): RestoreVersion | undefined {
  const m = /v(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/**
 * From 1.6.2 iptables-restore takes the xtables lock itself (and waits for it with --wait);
 * holding the lock around such a child deadlocks it (calico issue 2179).
 */
export function restoreTakesLockItself(version: RestoreVersion | undefined): boolean {
  if (!version) return true; // unknown output: assume a modern binary, never deadlock it
  const { major, minor, patch } = version;
  return major > 1 || (major === 1 && (minor > 6 || (minor === 6 && patch >= 2)));
}
