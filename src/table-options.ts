// A Table's options: what each means, and their validation. Every bad value throws an
// InvalidOptionError naming the option and the value, before the Table does anything.
import { suggest } from './rules-file/suggest';
import type { Registry } from 'prom-client';
import { parseTableBackendChoice, type BackendChoice, type IpVersion, type TableBackendChoice } from './backend';
import { inNetns, spawnCommand, type CommandFactory } from './commands';
import { InvalidOptionError } from './errors';
import { parseFeaturesOption, type Features, type FeaturesOption } from './features';
import type { TableLock } from './locks';
import { SILENT_LOGGER, type Logger } from './logger';
import { metricsFor, type MetricNames, type TableMetrics } from './metrics';
import type { ReaderConfig } from './reader';
import type { InsertMode } from './restore-plan';
import { RULE_ID_LENGTH } from './save-line';
import { isTableName, KERNEL_CHAINS, type TableName } from './table-names';
import { chainName, isWellFormed, MAX_COMMENT_BYTES, nonNegativeMs, wordProblem } from './validate';
import { nftTableName } from './nftables/table-spec';

/** Options of a {@link Table}; every one is optional. Each bad value throws {@link InvalidOptionError}
 *  from the constructor, naming the option. */
export interface TableOptions {
  /** Chains whose names start with one of these are ours: unwanted ones get deleted, and a jump or
   *  goto to one from a kernel chain counts as an old insert of ours. Default: none. */
  readonly historicChainPrefixes?: readonly string[];
  /** Extra regex (JavaScript syntax) for old unhashed inserts to clean up. Default: none. */
  readonly extraCleanupRegexPattern?: string;
  /** Where our rules go in the kernel chains: `'insert'` (default) at the top, `'append'` at
   *  the end. */
  readonly insertMode?: InsertMode;
  /** Force a re-read this many ms after the last read. Default 0 (off). */
  readonly refreshIntervalMs?: number;
  /** First re-read this many ms after a write (minimum and default 50); the interval doubles
   *  at each re-read, up to an hour. */
  readonly postWriteIntervalMs?: number;
  /** How long iptables-restore waits for the xtables lock (--wait), or we wait for the given lock.
   *  Also the budget of one apply() for lock waits: it gives up with LockTimeoutError after
   *  about this long, however many attempts that is. In ms; default 10000 (iptables-restore's
   *  `--wait` gets it rounded up to whole seconds). */
  readonly lockTimeoutMs?: number;
  /** The xtables lock file. Given to iptables-restore >= 1.6.2 as XTABLES_LOCKFILE, and named in
   *  lock errors. Default: $XTABLES_LOCKFILE, else /run/xtables.lock (the binaries' own default). */
  readonly lockFile?: string;
  /** Kills any child (iptables-save, -restore, the version probe, `ip netns exec`) that runs
   *  longer than this, and reaps it. In ms, at least 1; default (and what 0 means) 120000. */
  readonly commandTimeoutMs?: number;
  /** Which iptables binaries to run: `'legacy'`, `'nft'`, or `'auto'` (default: the backend the
   *  host already uses, detected once at the first apply() or plan()); or `'nftables'`: native
   *  nftables through `nft`, in one nftables table of the Table's own (see nftTableName). */
  readonly backend?: TableBackendChoice;
  /** With backend 'nftables': the name of the nftables table this Table owns (`table ip <name>`
   *  or `table ip6 <name>`), an unquoted nft name. Default `ipts-<table>`, such as `ipts-filter`. */
  readonly nftTableName?: string;
  /** Run every command inside this named network namespace (`ip netns exec`). Default: the
   *  caller's namespace. */
  readonly netns?: string;
  /** Where the Table logs (a pino-compatible logger). Default: silent. */
  readonly logger?: Logger;
  /** A prom-client Registry to register the Table's metrics in (Tables may share one; each
   *  series is labelled `table` and `ip_version`). Default: no metrics. The metrics:
   *  `iptables_sync_restore_calls_total`, `iptables_sync_restore_errors_total`,
   *  `iptables_sync_restore_retries_total`, `iptables_sync_save_calls_total`,
   *  `iptables_sync_save_errors_total`, `iptables_sync_lines_executed_total` (restore lines sent),
   *  the gauges `iptables_sync_chains` and `iptables_sync_rules` (of the desired state), and the
   *  histogram `iptables_sync_lock_acquire_seconds` (the lock held around old iptables-restore). */
  readonly registry?: Registry;
  /** Which iptables-save reader to use: `'native'` (the addon), `'js'` (its TypeScript twin) or
   *  `'auto'` (default: the addon when it loaded, else the twin). Both give the same result. */
  readonly readerImplementation?: 'auto' | 'native' | 'js';
  /** Host features actions render with (--random-fully, --nflog-size): 'none' (default: Felix
   *  v3.2.2's text and rule IDs), 'auto' (detected once per binary), or which ones to use. */
  readonly features?: FeaturesOption;
  /** Latest Felix: write a desired chain only while an insert, an append or another written
   *  chain jumps or goes to it, or it is marked forceProgramming; remove it when that ends.
   *  Default false (Felix v3.2.2 writes every desired chain). */
  readonly onlyReferencedChains?: boolean;
  /** Check this often (ms; 0 = off, the default) that our canary chain is still there and
   *  whole, with one cheap `iptables -S`; when it is gone or flushed (firewalld reload,
   *  `iptables -F`/`-X`, a restore without --noflush) the Table re-reads and repairs at once.
   *  Stop it with close(). Needs a chain prefix (historicChainPrefixes) for the canary's name. */
  readonly canaryIntervalMs?: number;
  /** The canary chain's name (default: the first historic chain prefix + "canary"); it must
   *  start with one of historicChainPrefixes so a later run without the canary removes it. */
  readonly canaryChain?: string;
  /** Metric names: ours (default) or latest Felix's ('felix': felix_iptables_restore_calls …). */
  readonly metricNames?: MetricNames;
  /** Tests: spawn commands through this instead of child_process. */
  readonly commandFactory?: CommandFactory;
  /** Tests: replaces the retry backoff sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Tests: replaces Date.now(). */
  readonly now?: () => number;
}

export const MIN_POST_WRITE_INTERVAL_MS = 50;

/** The longest hash prefix whose ID comment (prefix + 16 characters) fits iptables' comment. */
export const MAX_HASH_PREFIX_BYTES = MAX_COMMENT_BYTES - RULE_ID_LENGTH;

function optionWord(option: string, value: unknown, what: string): string {
  const problem = wordProblem(value, what);
  if (problem !== undefined) throw new InvalidOptionError(option, value, problem);
  return value as string;
}

/** A hash prefix must round-trip: iptables-save prints it unescaped and the whole ID comment
 *  fits in 255 bytes (iptables cuts a longer one, and the ID would never read back). */
function hashPrefixChecked(value: unknown): string {
  const prefix = optionWord('hashPrefix', value, 'hash prefix');
  const bytes = Buffer.byteLength(prefix, 'utf8');
  if (bytes > MAX_HASH_PREFIX_BYTES) {
    throw new InvalidOptionError(
      'hashPrefix',
      prefix,
      `the rule ID comment (hash prefix + ${RULE_ID_LENGTH} characters) must fit iptables' ${MAX_COMMENT_BYTES}-byte comment, so the prefix may have at most ${MAX_HASH_PREFIX_BYTES} bytes; this one has ${bytes}`,
    );
  }
  return prefix;
}

function noNftTableName(value: unknown): undefined {
  if (value !== undefined) throw new InvalidOptionError('nftTableName', value, 'is only for backend "nftables"');
  return undefined;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The options with their defaults, validated: what a Table runs with. */
export interface ResolvedTableOptions {
  readonly insertMode: InsertMode;
  readonly historicPrefixes: readonly string[];
  readonly readerConfig: ReaderConfig;
  readonly refreshIntervalMs: number;
  readonly initialPostWriteIntervalMs: number;
  readonly lockTimeoutMs: number;
  readonly lockFile: string | undefined;
  readonly commandTimeoutMs: number;
  readonly backendChoice: BackendChoice;
  /** Spawns commands, inside the namespace when one is given. */
  readonly run: CommandFactory;
  /** The same factory without the netns wrapper. */
  readonly runOnHost: CommandFactory;
  readonly logger: Logger;
  readonly metrics: TableMetrics | undefined;
  readonly onlyReferenced: boolean;
  readonly canaryIntervalMs: number;
  /** Set when the canary is on. */
  readonly canaryChain: string | undefined;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly readerImplementation: 'auto' | 'native' | 'js';
  /** undefined: 'auto', detected at the first setup. */
  readonly features: Features | undefined;
  /** Our nftables table's name with backend 'nftables'; undefined for the iptables backends. */
  readonly nftTableName: string | undefined;
}

/** Every option a Table takes (a key of TableOptions missing here does not compile): any other
 *  key is refused, so a misspelt option is not silently ignored. */
const OPTION_KEYS: { readonly [K in keyof Required<TableOptions>]: true } = {
  historicChainPrefixes: true,
  extraCleanupRegexPattern: true,
  insertMode: true,
  refreshIntervalMs: true,
  postWriteIntervalMs: true,
  lockTimeoutMs: true,
  lockFile: true,
  commandTimeoutMs: true,
  backend: true,
  nftTableName: true,
  netns: true,
  logger: true,
  registry: true,
  readerImplementation: true,
  features: true,
  onlyReferencedChains: true,
  canaryIntervalMs: true,
  canaryChain: true,
  metricNames: true,
  commandFactory: true,
  sleep: true,
  now: true,
};

/** The names of every Table option. */
export const TABLE_OPTION_NAMES: readonly (keyof TableOptions)[] = Object.freeze(Object.keys(OPTION_KEYS) as (keyof TableOptions)[]);

/** Checks the Table constructor's arguments in order and resolves the options' defaults. */
export function resolveTableOptions(name: TableName, ipVersion: IpVersion, hashPrefix: string, lock: TableLock, options: TableOptions): ResolvedTableOptions {
  if (!isTableName(name)) {
    throw new InvalidOptionError('name', name, 'expected one of filter, nat, mangle, raw');
  }
  if (ipVersion !== 4 && ipVersion !== 6) throw new InvalidOptionError('ipVersion', ipVersion, 'expected 4 or 6');
  hashPrefixChecked(hashPrefix);
  if (typeof lock !== 'object' || lock === null || typeof lock.lock !== 'function' || typeof lock.unlock !== 'function') {
    throw new InvalidOptionError('lock', lock, 'expected an object with lock() and unlock()');
  }
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'expected an object');
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(OPTION_KEYS, key)) throw new InvalidOptionError(key, (options as Record<string, unknown>)[key], `is not an option of Table${suggest(key, TABLE_OPTION_NAMES)}`);
  }
  const insertMode = options.insertMode ?? 'insert';
  if (insertMode !== 'insert' && insertMode !== 'append') {
    throw new InvalidOptionError('insertMode', insertMode, 'expected "insert" or "append"');
  }
  const prefixes = options.historicChainPrefixes ?? [];
  if (!Array.isArray(prefixes)) throw new InvalidOptionError('historicChainPrefixes', prefixes, 'expected an array of strings');
  // for...of, not forEach: a hole in a sparse array is an undefined prefix, not nothing.
  for (const p of prefixes) optionWord('historicChainPrefixes', p, 'chain prefix');
  const extra = options.extraCleanupRegexPattern ?? '';
  if (typeof extra !== 'string') throw new InvalidOptionError('extraCleanupRegexPattern', extra, 'expected a string');
  if (!isWellFormed(extra)) throw new InvalidOptionError('extraCleanupRegexPattern', extra, 'must be well-formed Unicode (it has an unpaired UTF-16 surrogate)');
  if (extra !== '') {
    try {
      new RegExp(extra);
    } catch (e) {
      throw new InvalidOptionError('extraCleanupRegexPattern', extra, `not a valid regular expression: ${(e as Error).message}`);
    }
  }
  if (options.netns !== undefined) optionWord('netns', options.netns, 'network namespace name');
  if (options.lockFile !== undefined && (typeof options.lockFile !== 'string' || options.lockFile === '' || options.lockFile.includes('\0'))) {
    throw new InvalidOptionError('lockFile', options.lockFile, 'expected a non-empty path');
  }
  for (const fn of ['commandFactory', 'sleep', 'now'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') throw new InvalidOptionError(fn, options[fn], 'expected a function');
  }
  const logger = options.logger;
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || !(['debug', 'info', 'warn', 'error'] as const).every((l) => typeof logger[l] === 'function'))) {
    throw new InvalidOptionError('logger', logger, 'expected an object with debug, info, warn and error methods');
  }
  const registry = options.registry as unknown;
  if (registry !== undefined && (typeof registry !== 'object' || registry === null || typeof (registry as Registry).registerMetric !== 'function')) {
    throw new InvalidOptionError('registry', registry, 'expected a prom-client Registry');
  }
  const onlyReferenced = options.onlyReferencedChains ?? false;
  if (typeof onlyReferenced !== 'boolean') throw new InvalidOptionError('onlyReferencedChains', onlyReferenced, 'expected a boolean');
  const metricNames = options.metricNames ?? 'iptables-sync';
  if (metricNames !== 'iptables-sync' && metricNames !== 'felix') {
    throw new InvalidOptionError('metricNames', metricNames, 'expected "iptables-sync" or "felix"');
  }
  const canaryIntervalMs = nonNegativeMs('canaryIntervalMs', options.canaryIntervalMs, 0);
  let canaryChain: string | undefined;
  if (canaryIntervalMs > 0) {
    const first = prefixes[0];
    if (options.canaryChain === undefined && first === undefined) {
      throw new InvalidOptionError('canaryIntervalMs', canaryIntervalMs, 'the canary chain is named with a chain prefix: give historicChainPrefixes (or canaryChain)');
    }
    canaryChain = chainName('canaryChain', options.canaryChain ?? `${first}canary`);
    if (!prefixes.some((p) => (canaryChain as string).startsWith(p))) {
      throw new InvalidOptionError('canaryChain', canaryChain, `must start with one of historicChainPrefixes (${prefixes.join(', ') || 'none given'}), so a later run without the canary removes it`);
    }
    if (KERNEL_CHAINS[name].includes(canaryChain)) throw new InvalidOptionError('canaryChain', canaryChain, `is a kernel chain of table ${name}`);
  }
  const reader = options.readerImplementation;
  if (reader !== undefined && reader !== 'auto' && reader !== 'native' && reader !== 'js') {
    throw new InvalidOptionError('readerImplementation', reader, 'expected "auto", "native" or "js"');
  }

  const historicPrefixes = Object.freeze([...prefixes]);
  // The checks below run in this order too (which error a bad set of options gives first).
  const refreshIntervalMs = nonNegativeMs('refreshIntervalMs', options.refreshIntervalMs, 0);
  const initialPostWriteIntervalMs = Math.max(
    MIN_POST_WRITE_INTERVAL_MS,
    nonNegativeMs('postWriteIntervalMs', options.postWriteIntervalMs, MIN_POST_WRITE_INTERVAL_MS),
  );
  const lockTimeoutMs = nonNegativeMs('lockTimeoutMs', options.lockTimeoutMs, 10_000);
  const commandTimeoutMs = nonNegativeMs('commandTimeoutMs', options.commandTimeoutMs, 120_000) || 120_000;
  // Node's timers wait at least 1 ms: a smaller deadline would silently be 1 ms.
  if (commandTimeoutMs < 1) throw new InvalidOptionError('commandTimeoutMs', options.commandTimeoutMs, 'expected 0 (the default, 120 s) or at least 1 ms');
  const tableBackend = parseTableBackendChoice(options.backend ?? 'auto');
  if (tableBackend === 'nftables' && canaryIntervalMs > 0) {
    throw new InvalidOptionError(
      'canaryIntervalMs',
      canaryIntervalMs,
      'is not available on backend "nftables" (no canary watch there yet): the refresh timer (refreshIntervalMs) and the post-write re-reads find a flushed chain or a deleted table',
    );
  }
  // With nftables no iptables backend is chosen (nor detected): 'auto' only fills the field.
  const backendChoice = tableBackend === 'nftables' ? 'auto' : tableBackend;
  const base = options.commandFactory ?? spawnCommand;
  const metrics = options.registry ? metricsFor(options.registry, metricNames) : undefined;
  const features = parseFeaturesOption(options.features);
  return {
    insertMode,
    historicPrefixes,
    readerConfig: Object.freeze({
      hashPrefix,
      historicChainPrefixes: historicPrefixes,
      ...(extra !== '' ? { extraCleanupPattern: extra } : {}),
    }),
    refreshIntervalMs,
    initialPostWriteIntervalMs,
    lockTimeoutMs,
    lockFile: options.lockFile,
    commandTimeoutMs,
    backendChoice,
    runOnHost: base,
    run: options.netns !== undefined ? inNetns(options.netns, base) : base,
    logger: options.logger ?? SILENT_LOGGER,
    metrics,
    onlyReferenced,
    canaryIntervalMs,
    canaryChain,
    sleep: options.sleep ?? realSleep,
    now: options.now ?? Date.now,
    readerImplementation: options.readerImplementation ?? 'auto',
    features: features === 'auto' ? undefined : features,
    nftTableName: tableBackend === 'nftables' ? nftTableName(options.nftTableName, name) : noNftTableName(options.nftTableName),
  };
}
