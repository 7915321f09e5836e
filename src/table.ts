// Table: the desired state of one iptables table (filter, nat, mangle or raw) for one IP
// version, brought into the dataplane by apply(). See README.md "How the Table works".
//
// Data flows one way: updates → desired state + dirty sets → computePlan() → iptables-restore;
// iptables-save → reader → rule IDs → dirty sets. Nothing touches the dataplane until apply().
import type { Registry } from 'prom-client';
import {
  detectBackend,
  parseBackendChoice,
  parseIptablesVersion,
  resolveBinaries,
  restoreTakesLockItself,
  type Backend,
  type BackendChoice,
  type Binaries,
  type IpVersion,
} from './backend';
import { classifyFailure } from './command-failure';
import { describeOutcome, inNetns, runCommand, spawnCommand, startCommand, succeeded, type CommandFactory, type CommandOutcome } from './commands';
import {
  ChainDeletionError,
  formatCommandLine,
  InvalidOptionError,
  InvalidRuleError,
  LockTimeoutError,
  RestoreFailedError,
  RestoreTimeoutError,
  SaveFailedError,
  SaveTimeoutError,
} from './errors';
import { DEFAULT_LOCK_FILE_PATH, findLockHolder, type TableLock } from './locks';
import { detectFeatures, NO_FEATURES, parseFeaturesOption, type Features, type FeaturesOption } from './features';
import { SILENT_LOGGER, type Logger } from './logger';
import { metricsFor, type MetricNames, type TableMetrics } from './metrics';
import { referencedChains } from './chain-references';
import { CanaryWatch } from './canary';
import { openSavePipe, readSaveOutput, type DataplaneChain, type ReaderConfig } from './reader';
import {
  appendIds,
  chainsToDeleteOf,
  computePlan,
  deletionLines,
  insertIds,
  insertsInPlace,
  newPlanProgress,
  planLines,
  type InsertMode,
  type PlanInput,
  type RestorePlan,
} from './restore-plan';
import { findRefusedRule } from './restore-bisect';
import { streamRestore } from './restore-writer';
import { TimeSlicer } from './time-slice';
import { Chain, Rule, type ChainSpec, type RuleSpec } from './rule';
import { ReturnAction } from './actions';
import { ruleHashesFor } from './hash';
import { chainName, isWellFormed, MAX_COMMENT_BYTES, wordProblem } from './validate';
import { RULE_ID_LENGTH } from './save-line';

/** The iptables tables a {@link Table} can manage. */
export type TableName = 'filter' | 'nat' | 'mangle' | 'raw';

/** The built-in chains of each table: we may insert into them but never own them. */
export const KERNEL_CHAINS: Readonly<Record<TableName, readonly string[]>> = Object.freeze({
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
});

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
   *  longer than this, and reaps it. In ms; default (and what 0 means) 120000. */
  readonly commandTimeoutMs?: number;
  /** Which iptables binaries to run: `'legacy'`, `'nft'`, or `'auto'` (default: the backend the
   *  host already uses, detected once at the first apply() or plan()). */
  readonly backend?: BackendChoice;
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

const MIN_POST_WRITE_INTERVAL_MS = 50;
/** Each observation decays the peak save/restore time by 1% (latest Felix's factor). */
const PEAK_DECAY = 0.99;
const MAX_POST_WRITE_INTERVAL_MS = 60 * 60 * 1000;
const RESTORE_RETRIES = 10;
const SAVE_RETRIES = 3;
const SAVE_FIRST_BACKOFF_MS = 100;
/** Attempts a child killed at its deadline gets in one apply (a hung binary rarely recovers). */
const TIMEOUT_ATTEMPTS = 2;

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

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The longest delay Node's timers can wait: a longer one is clamped to 1 ms and fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function nonNegativeMs(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, value, 'expected a non-negative number of milliseconds');
  }
  if (value > MAX_TIMER_MS) {
    throw new InvalidOptionError(option, value, `at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest delay Node's timers can wait`);
  }
  return value;
}

interface RestoreMode {
  readonly args: readonly string[];
  /** Hold the caller's lock around restore: only for binaries older than 1.6.2. */
  readonly holdLock: boolean;
}

interface Setup {
  readonly binaries: Binaries;
  /** Settled by the `--version` probe, which runs beside the first read. */
  readonly restoreMode: Promise<RestoreMode>;
}

/**
 * The desired state of one iptables table (filter, nat, mangle or raw) for one IP version, and
 * the machinery that brings the dataplane to it. Updates (updateChain(s), removeChains,
 * setRuleInsertions) only change the desired state; apply() reads the dataplane when needed,
 * writes the difference in one iptables-restore transaction, and deletes chains no longer
 * wanted. Rules carry an ID comment (`hashPrefix` + 16 characters) so ours are told apart from
 * other programs' rules, which are left alone.
 *
 * @example
 * ```ts
 * const table = new Table('filter', 4, 'ipts:', NO_OP_LOCK, { historicChainPrefixes: ['ipts-'] });
 * table.updateChain({ name: 'ipts-in', rules: [{ action: new AcceptAction() }] });
 * table.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'ipts-in' }) }]);
 * await table.apply();
 * ```
 */
export class Table {
  /** The table this instance manages. */
  readonly name: TableName;
  /** 4 (iptables) or 6 (ip6tables). */
  readonly ipVersion: IpVersion;
  /** The prefix of our rules' ID comments, as given to the constructor. */
  readonly hashPrefix: string;
  private readonly lock: TableLock;
  private readonly insertMode: InsertMode;
  private readonly historicPrefixes: readonly string[];
  private readonly readerConfig: ReaderConfig;
  private readonly refreshIntervalMs: number;
  private readonly initialPostWriteIntervalMs: number;
  private readonly lockTimeoutMs: number;
  private readonly lockFile: string | undefined;
  private readonly commandTimeoutMs: number;
  private readonly backendChoice: BackendChoice;
  private readonly run: CommandFactory;
  /** The same factory without the netns wrapper: a binary's version is the same in every
   *  namespace, and `ip netns exec` would double the probe's cost. */
  private readonly runOnHost: CommandFactory;
  private readonly logger: Logger;
  private readonly metrics: TableMetrics | undefined;
  private readonly labels: { table: string; ip_version: string };
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly readerImplementation: 'auto' | 'native' | 'js';
  /** What rules render with; undefined until 'auto' detection has run (in the first setup). */
  private features: Features | undefined;

  // Desired state.
  private readonly desiredChains = new Map<string, Chain>();
  /** Every chain ever given to updateChain(s): ours to remove even without a historic prefix. */
  private readonly managedChains = new Set<string>();
  private readonly insertRules = new Map<string, readonly Rule[]>();
  private readonly appendRulesByChain = new Map<string, readonly Rule[]>();
  private readonly onlyReferenced: boolean;
  /** onlyReferencedChains: the chains written, recomputed after any update (undefined = stale). */
  private programmedCache: ReadonlyMap<string, Chain> | undefined;
  private lastProgrammed: ReadonlyMap<string, Chain> = new Map();
  private readonly canaryIntervalMs: number;
  private readonly canaryChain: string | undefined;
  private canary: CanaryWatch | undefined;
  private closed = false;
  private readonly dirtyChains = new Set<string>();
  private readonly dirtyInserts = new Set<string>();

  // What we believe the dataplane holds: the last read, plus our writes since.
  private dataplane = new Map<string, DataplaneChain>();
  private inSync = false;
  private invalidations = 0;
  private lastReadTime = 0;
  private lastWriteTime = 0;
  private postWriteIntervalMs: number;
  /** Longest recent iptables-save / -restore run (ms, decaying): re-reads after a write are
   *  never sooner than twice their sum, so a huge table is not re-read every 50 ms. */
  private peakSaveMs = 0;
  private peakRestoreMs = 0;
  private lockWaitEnded = 0;

  private setup: Setup | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private pendingApply: Promise<number> | undefined;

  /**
   * Makes a Table; nothing runs until the first apply() or plan(). At the start it wants no
   * inserts in any kernel chain, so the first apply() removes inserts an earlier run left.
   *
   * @param name - The table: filter, nat, mangle or raw.
   * @param ipVersion - 4 or 6.
   * @param hashPrefix - Starts every rule ID comment of ours, such as `'ipts:'`: one word of at
   *   most 239 bytes (the ID comment must fit iptables' 255-byte comment).
   * @param lock - The xtables lock to hold around iptables-restore older than 1.6.2 (newer ones
   *   take it themselves): a {@link SharedLock}, or {@link NO_OP_LOCK}.
   * @param options - See {@link TableOptions}.
   * @throws {@link InvalidOptionError} for a bad argument or option, naming it and the value.
   */
  constructor(name: TableName, ipVersion: IpVersion, hashPrefix: string, lock: TableLock, options: TableOptions = {}) {
    if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(KERNEL_CHAINS, name)) {
      throw new InvalidOptionError('name', name, 'expected one of filter, nat, mangle, raw');
    }
    if (ipVersion !== 4 && ipVersion !== 6) throw new InvalidOptionError('ipVersion', ipVersion, 'expected 4 or 6');
    hashPrefixChecked(hashPrefix);
    if (typeof lock !== 'object' || lock === null || typeof lock.lock !== 'function' || typeof lock.unlock !== 'function') {
      throw new InvalidOptionError('lock', lock, 'expected an object with lock() and unlock()');
    }
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'expected an object');
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

    this.name = name;
    this.ipVersion = ipVersion;
    this.hashPrefix = hashPrefix;
    this.lock = lock;
    this.insertMode = insertMode;
    this.historicPrefixes = Object.freeze([...prefixes]);
    this.readerConfig = Object.freeze({
      hashPrefix,
      historicChainPrefixes: this.historicPrefixes,
      ...(extra !== '' ? { extraCleanupPattern: extra } : {}),
    });
    this.refreshIntervalMs = nonNegativeMs('refreshIntervalMs', options.refreshIntervalMs, 0);
    this.initialPostWriteIntervalMs = Math.max(
      MIN_POST_WRITE_INTERVAL_MS,
      nonNegativeMs('postWriteIntervalMs', options.postWriteIntervalMs, MIN_POST_WRITE_INTERVAL_MS),
    );
    this.postWriteIntervalMs = this.initialPostWriteIntervalMs;
    this.lockTimeoutMs = nonNegativeMs('lockTimeoutMs', options.lockTimeoutMs, 10_000);
    this.lockFile = options.lockFile;
    this.commandTimeoutMs = nonNegativeMs('commandTimeoutMs', options.commandTimeoutMs, 120_000) || 120_000;
    this.backendChoice = parseBackendChoice(options.backend ?? 'auto');
    const base = options.commandFactory ?? spawnCommand;
    this.runOnHost = base;
    this.run = options.netns !== undefined ? inNetns(options.netns, base) : base;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.metrics = options.registry ? metricsFor(options.registry, metricNames) : undefined;
    this.onlyReferenced = onlyReferenced;
    this.canaryIntervalMs = canaryIntervalMs;
    this.canaryChain = canaryChain;
    this.labels = { table: name, ip_version: String(ipVersion) };
    this.sleep = options.sleep ?? realSleep;
    this.now = options.now ?? Date.now;
    this.readerImplementation = options.readerImplementation ?? 'auto';
    const features = parseFeaturesOption(options.features);
    this.features = features === 'auto' ? undefined : features;

    const scope = `${options.netns ?? ''}\0${name}\0${ipVersion}`;
    for (const o of registerAndFindOverlaps(this, scope, hashPrefix, this.historicPrefixes)) {
      this.logger.warn(
        { table: name, ipVersion, netns: options.netns, chainPrefix: o.mine, otherChainPrefix: o.theirs, otherHashPrefix: o.otherHashPrefix },
        "chain prefix overlaps that of another Table with a different hash prefix: each would delete the other's chains; use chain prefixes of which neither is a prefix of the other",
      );
    }

    // Start of day: every kernel chain wants no inserts, so the first apply removes inserts
    // left behind by an earlier run.
    for (const chain of KERNEL_CHAINS[name]) {
      this.insertRules.set(chain, Object.freeze([]));
      this.dirtyInserts.add(chain);
    }
    // The canary is one of our chains: one RETURN rule (harmless, and nothing jumps to it), so
    // a flush that keeps the chain shows as well as a deletion.
    if (canaryChain !== undefined) {
      const canary = new Chain({ name: canaryChain, rules: [{ action: new ReturnAction() }], forceProgramming: true });
      this.desiredChains.set(canaryChain, canary);
      this.managedChains.add(canaryChain);
      this.dirtyChains.add(canaryChain);
    }
  }

  // --- desired state ------------------------------------------------------------------------

  /**
   * Sets (adds or replaces) one chain of ours in the desired state; apply() writes it.
   *
   * @throws {@link InvalidRuleError} for an invalid chain, a kernel chain (use setRuleInsertions),
   *   or a rule for the other IP version; the desired state is then unchanged.
   */
  updateChain(chain: Chain | ChainSpec): void {
    this.updateChains([chain]);
  }

  /**
   * Sets several chains of ours at once. All are validated before any is accepted.
   *
   * @throws {@link InvalidRuleError} as {@link Table.updateChain} does, or when `chains` is not an
   *   array; the desired state is then unchanged.
   */
  updateChains(chains: readonly (Chain | ChainSpec)[]): void {
    if (!Array.isArray(chains)) throw new InvalidRuleError('updateChains', chains, 'expected an array of chains');
    // Validate all before accepting any: a bad chain never loses state already accepted.
    // (Array.from: a hole in a sparse array is a missing chain, not something to skip.)
    const accepted = Array.from(chains, (c: Chain | ChainSpec) => {
      const chain = Chain.from(c);
      if (KERNEL_CHAINS[this.name].includes(chain.name)) {
        throw new InvalidRuleError('updateChain', chain.name, `is a kernel chain of table ${this.name}; use setRuleInsertions`);
      }
      if (chain.name === this.canaryChain) throw new InvalidRuleError('updateChain', chain.name, 'is the canary chain (canaryChain): the Table keeps it itself');
      for (const rule of chain.rules) rule.checkIpVersion(this.ipVersion, `updateChain(${chain.name})`);
      return this.forHost(chain);
    });
    for (const chain of accepted) {
      // IDs are computed when a chain is accepted (a chain's worth of hashing, spread over the
      // updates) rather than all at once inside the next apply.
      if (this.features) chain.ruleIds();
      this.desiredChains.set(chain.name, chain);
      this.managedChains.add(chain.name);
      this.dirtyChains.add(chain.name);
    }
    this.programmedCache = undefined;
    this.updateGauges();
    this.invalidateDataplaneCache('chain update');
  }

  /**
   * Removes chains of ours by the names of the given chains, as {@link Table.removeChainByName}
   * does for each; apply() deletes them. All names are validated before any is removed.
   *
   * @throws {@link InvalidRuleError} when `chains` is not an array, or for an invalid name or a
   *   kernel chain.
   */
  removeChains(chains: readonly (Chain | ChainSpec)[]): void {
    if (!Array.isArray(chains)) throw new InvalidRuleError('removeChains', chains, 'expected an array of chains');
    // Validate all names before removing any.
    const names = Array.from(chains, (c: Chain | ChainSpec) => this.removableName('removeChains', (c as ChainSpec | undefined)?.name));
    for (const name of names) this.removeChainByName(name);
  }

  /**
   * Removes a chain of ours. A kernel chain is an error (it belongs to everyone); a chain this
   * Table never managed and that has none of the historic prefixes is not ours, so nothing
   * happens to it (a debug line says so). apply() deletes the chain.
   *
   * @throws {@link InvalidRuleError} for an invalid chain name or a kernel chain.
   */
  removeChainByName(name: string): void {
    this.removableName('removeChainByName', name);
    if (!this.managedChains.has(name) && !this.historicPrefixes.some((p) => name.startsWith(p))) {
      this.logger.debug(
        { table: this.name, chain: name, historicChainPrefixes: this.historicPrefixes },
        'not removing chain: this Table never managed it and it has none of the historic chain prefixes',
      );
      return;
    }
    this.desiredChains.delete(name);
    this.dirtyChains.add(name);
    this.programmedCache = undefined;
    this.updateGauges();
    this.invalidateDataplaneCache('chain removal');
  }

  private removableName(where: string, name: unknown): string {
    const valid = chainName(where, name);
    if (valid === this.canaryChain) throw new InvalidRuleError(where, valid, 'is the canary chain (canaryChain): it goes when the canary is turned off');
    if (KERNEL_CHAINS[this.name].includes(valid)) {
      throw new InvalidRuleError(where, valid, `is a kernel chain of table ${this.name}: it cannot be removed; setRuleInsertions(${JSON.stringify(valid)}, []) removes our inserts`);
    }
    return valid;
  }

  /**
   * Sets our rules in a chain we do not own (usually a kernel chain such as INPUT), replacing
   * any given before; `[]` removes ours. Other programs' rules in that chain are left alone.
   * `insertMode` decides whether ours go at the top or the end.
   *
   * @throws {@link InvalidRuleError} for an invalid chain name, a rules argument that is not an
   *   array, an invalid rule, or a rule for the other IP version.
   */
  setRuleInsertions(chainName: string, rules: readonly (Rule | RuleSpec)[]): void {
    const name = new Chain({ name: chainName, rules: [] }).name; // validates the name
    if (!Array.isArray(rules)) throw new InvalidRuleError('setRuleInsertions', rules, 'expected an array of rules');
    const accepted = Array.from(rules, (r: Rule | RuleSpec) => {
      const rule = Rule.from(r);
      rule.checkIpVersion(this.ipVersion, `setRuleInsertions(${name})`);
      return this.forHost(rule);
    });
    this.insertRules.set(name, Object.freeze(accepted));
    this.dirtyInserts.add(name);
    this.programmedCache = undefined;
    this.invalidateDataplaneCache('insertion update');
  }

  /**
   * Sets the rules kept at the end of a chain we do not own (a kernel chain, or another
   * program's), below any foreign rules, whatever the insert mode; beside the inserts of
   * setRuleInsertions, which stay at the top (or, in append mode, above these). When another
   * program appends below ours, the next resync moves ours back to the end, as latest Felix
   * does. Their IDs are hashed apart from the inserts' (seed "<chain>*appends*"), so the same
   * rule may be both inserted and appended. An empty list removes them.
   */
  appendRules(chainName: string, rules: readonly (Rule | RuleSpec)[]): void {
    const name = new Chain({ name: chainName, rules: [] }).name; // validates the name
    if (!Array.isArray(rules)) throw new InvalidRuleError('appendRules', rules, 'expected an array of rules');
    if (this.desiredChains.has(name) || this.historicPrefixes.some((p) => name.startsWith(p))) {
      throw new InvalidRuleError('appendRules', name, 'is a chain of ours: put the rules in the chain itself');
    }
    const accepted = Array.from(rules, (r: Rule | RuleSpec) => {
      const rule = Rule.from(r);
      rule.checkIpVersion(this.ipVersion, `appendRules(${name})`);
      return this.forHost(rule);
    });
    this.appendRulesByChain.set(name, Object.freeze(accepted));
    this.dirtyInserts.add(name);
    this.programmedCache = undefined;
    this.invalidateDataplaneCache('append update');
  }

  /**
   * Which of the given rules the dataplane does not hold in this chain, by rule ID (the IDs
   * the rules get as a chain of that name, or as its appends). Reads the dataplane first when
   * the cached view is invalid; otherwise answers from it. (Latest Felix's CheckRulesPresent
   * returns the present ones and always reads; this returns the missing ones.)
   */
  checkRulesPresent(chainName: string, rules: readonly (Rule | RuleSpec)[]): Promise<Rule[]> {
    const name = new Chain({ name: chainName, rules: [] }).name;
    if (!Array.isArray(rules)) throw new InvalidRuleError('checkRulesPresent', rules, 'expected an array of rules');
    const accepted = Array.from(rules, (r: Rule | RuleSpec) => this.forHost(Rule.from(r)));
    const next = this.tail.then(
      () => this.missingRules(name, accepted),
      () => this.missingRules(name, accepted),
    );
    this.tail = next;
    return next;
  }

  private async missingRules(name: string, given: readonly Rule[]): Promise<Rule[]> {
    const setup = await this.ensureSetup();
    // The rules as rendered after detection (ensureSetup may have just learned the features).
    const rules = given.map((r) => this.forHost(r));
    if (!this.inSync) await this.loadDataplaneState(setup);
    const held = new Set(this.dataplane.get(name)?.ids ?? []);
    const asChain = ruleHashesFor(name, rules);
    const asAppends = appendIds(name, rules);
    return given.filter((_, i) => !held.has(asChain[i] as string) && !held.has(asAppends[i] as string));
  }

  /** A chain or rule as this host renders it (as given while 'auto' detection is pending; the
   *  desired state is re-rendered when it ends). No features: as given, no extra work. */
  private forHost<T extends Chain | Rule>(item: T): T {
    return this.features === undefined || this.features === NO_FEATURES ? item : (item.withFeatures(this.features) as T);
  }

  /** Makes the next apply() or plan() re-read the dataplane (say, after another program changed
   *  it). `reason` goes to the debug log. */
  invalidateDataplaneCache(reason: string): void {
    if (this.inSync) this.logger.debug({ table: this.name, reason }, 'invalidating dataplane cache');
    this.inSync = false;
    this.invalidations++;
  }

  /** The desired chains that get written: all of them, or with onlyReferencedChains the
   *  referenced ones. A chain whose standing changed since the last look becomes dirty. */
  private programmed(): ReadonlyMap<string, Chain> {
    if (!this.onlyReferenced) return this.desiredChains;
    if (this.programmedCache !== undefined) return this.programmedCache;
    const next = referencedChains(this.desiredChains, [...this.insertRules.values(), ...this.appendRulesByChain.values()]);
    for (const name of this.lastProgrammed.keys()) if (!next.has(name)) this.dirtyChains.add(name);
    for (const [name, chain] of next) if (this.lastProgrammed.get(name) !== chain) this.dirtyChains.add(name);
    this.lastProgrammed = next;
    this.programmedCache = next;
    return next;
  }

  private startCanary(setup: Setup, chain: string): void {
    this.canary = new CanaryWatch({
      run: this.run,
      command: setup.binaries.iptables,
      table: this.name,
      chain,
      intervalMs: this.canaryIntervalMs,
      timeoutMs: this.commandTimeoutMs,
      waitSeconds: Math.max(1, Math.ceil(this.lockTimeoutMs / 1000)),
      onGone: () => {
        this.logger.warn({ table: this.name, ipVersion: this.ipVersion, chain }, 'canary chain gone or flushed: re-reading and repairing now');
        this.dirtyChains.add(chain);
        this.invalidateDataplaneCache('canary gone');
        return this.apply().then(
          () => undefined,
          (error: unknown) => this.logger.error({ table: this.name, err: (error as Error).message }, 'repair after the canary went failed'),
        );
      },
    });
  }

  /** Stops the canary check (if any). The Table stays usable; apply() does not restart it. */
  close(): void {
    this.closed = true;
    this.canary?.stop();
    this.canary = undefined;
  }

  /** The names of the chains in the desired state, sorted. */
  desiredChainNames(): string[] {
    return [...this.desiredChains.keys()].sort();
  }

  // --- apply and plan -----------------------------------------------------------------------

  /**
   * Brings the dataplane in line with the desired state. Resolves to how many ms from now
   * apply() should be called again (0: not needed). Calls never overlap: a call made while one
   * runs waits for it and then runs (calls waiting together share that one run).
   *
   * Retries a failed iptables-restore up to 10 times (re-reading first) and a failed
   * iptables-save up to 3 times; a run killed at `commandTimeoutMs` is tried twice at most.
   *
   * @throws {@link LockTimeoutError} when the xtables lock stayed busy for about `lockTimeoutMs`.
   * @throws {@link RestoreFailedError} (or {@link RestoreTimeoutError}) when iptables-restore
   *   keeps failing, or fails in a way a retry cannot fix (such as a rule the kernel refuses).
   * @throws {@link SaveFailedError} (or {@link SaveTimeoutError}) when iptables-save keeps failing.
   * @throws {@link ChainDeletionError} when chains to delete are still referenced by other rules.
   */
  apply(): Promise<number> {
    if (this.pendingApply) return this.pendingApply;
    const next = this.tail.then(
      () => this.startApply(),
      () => this.startApply(),
    );
    this.pendingApply = next;
    this.tail = next;
    return next;
  }

  private startApply(): Promise<number> {
    this.pendingApply = undefined;
    return this.metrics ? this.timedApply(this.metrics) : this.applyNow();
  }

  private async timedApply(metrics: TableMetrics): Promise<number> {
    const started = performance.now();
    try {
      const delay = await this.applyNow();
      metrics.lastSuccessfulSync.set(this.labels, this.now() / 1000);
      return delay;
    } finally {
      metrics.applyDurationSeconds.observe(this.labels, (performance.now() - started) / 1000);
    }
  }

  /** Reads the dataplane if needed and returns the transaction apply() would run, without
   *  running it. Waits for a running apply() first.
   *
   *  @throws {@link SaveFailedError} (or {@link SaveTimeoutError}) when iptables-save keeps failing. */
  plan(): Promise<RestorePlan> {
    const next = this.tail.then(
      () => this.planNow(),
      () => this.planNow(),
    );
    this.tail = next;
    return next;
  }

  private async planNow(): Promise<RestorePlan> {
    const setup = await this.ensureSetup();
    if (!this.inSync) await this.loadDataplaneState(setup);
    return this.computePlan();
  }

  private computePlan(): RestorePlan {
    return computePlan(this.planInput());
  }

  /** A consistent copy of what the plan needs: updates made while a plan streams out do not
   *  change it, and stay dirty for the next apply. */
  private planInput(): PlanInput {
    const programmed = this.programmed(); // first: it may mark chains dirty
    return {
      table: this.name,
      hashPrefix: this.hashPrefix,
      insertMode: this.insertMode,
      desiredChains: new Map(programmed),
      insertRules: new Map(this.insertRules),
      ...(this.appendRulesByChain.size > 0 ? { appendRules: new Map(this.appendRulesByChain) } : {}),
      dirtyChains: new Set(this.dirtyChains),
      dirtyInserts: new Set(this.dirtyInserts),
      dataplane: this.dataplane,
    };
  }

  private async applyNow(): Promise<number> {
    const setup = await this.ensureSetup();
    const now = this.now();
    let invalidated = false;
    if (this.refreshIntervalMs > 0 && now - this.lastReadTime >= this.refreshIntervalMs) {
      this.invalidateDataplaneCache('refresh timer');
      invalidated = true;
    }
    // After a write, re-read at growing intervals in case another program clobbers us.
    while (this.postWriteIntervalMs < MAX_POST_WRITE_INTERVAL_MS && now >= this.lastWriteTime + this.postWriteIntervalMs) {
      this.postWriteIntervalMs *= 2;
      if (!invalidated) {
        this.invalidateDataplaneCache('post-write re-read');
        invalidated = true;
      }
    }

    let backoffMs = 1;
    let timeouts = 0;
    let bisected = false;
    // Lock waits share one budget: the whole apply gives up after about lockTimeoutMs.
    const lockDeadline = this.now() + this.lockTimeoutMs;
    for (let retriesLeft = RESTORE_RETRIES; ; retriesLeft--) {
      if (!this.inSync) await this.loadDataplaneState(setup);
      try {
        await this.writeMain(setup);
        break;
      } catch (error) {
        if (error instanceof LockTimeoutError) {
          if (retriesLeft === 0 || this.now() >= lockDeadline) throw error;
        } else {
          if (!(error instanceof RestoreFailedError)) throw error;
          if (!bisected && blamesOnlyCommit(error)) {
            bisected = true;
            const refused = await this.findRefusedRule(setup, error);
            if (refused) throw refused;
          }
          if (!error.retryable || retriesLeft === 0) throw error;
          if (error instanceof RestoreTimeoutError && ++timeouts >= TIMEOUT_ATTEMPTS) throw error;
        }
        this.metrics?.restoreRetries.inc(this.labels);
        this.logger.warn({ table: this.name, err: error.message, backoffMs }, 'iptables-restore failed, will re-read and retry');
        this.invalidateDataplaneCache('restore failed');
        await this.sleep(backoffMs);
        backoffMs *= 2;
      }
    }
    await this.deleteChains(setup);

    // Never re-read sooner than twice what a read and a write have lately taken.
    const dynamicMinMs = 2 * (this.peakSaveMs + this.peakRestoreMs);
    if (this.postWriteIntervalMs < dynamicMinMs) this.postWriteIntervalMs = dynamicMinMs;
    if (this.canaryChain !== undefined && this.canary === undefined && !this.closed) this.startCanary(setup, this.canaryChain);

    let rescheduleAfterMs = 0;
    // Never 0 while a refresh is due: 0 means "no need to call again".
    if (this.refreshIntervalMs > 0) rescheduleAfterMs = Math.max(1, this.refreshIntervalMs - (now - this.lastReadTime));
    if (this.postWriteIntervalMs < MAX_POST_WRITE_INTERVAL_MS) {
      const untilPostWrite = this.lastWriteTime + this.postWriteIntervalMs - now;
      if (untilPostWrite <= 0) rescheduleAfterMs = 1;
      else if (this.refreshIntervalMs <= 0 || untilPostWrite < rescheduleAfterMs) rescheduleAfterMs = untilPostWrite;
    }
    return Math.max(0, rescheduleAfterMs);
  }

  /** The rule the kernel refuses, found in a throwaway namespace, as a permanent error; undefined
   *  when the copy there takes the transaction (the failure depended on something else). */
  private async findRefusedRule(setup: Setup, error: RestoreFailedError): Promise<RestoreFailedError | undefined> {
    const mode = await setup.restoreMode;
    const refused = await findRefusedRule({
      run: this.run,
      runOnHost: this.runOnHost,
      save: setup.binaries.save,
      restore: setup.binaries.restore,
      restoreArgs: mode.args.filter((a) => a !== '--noflush' && a !== '--verbose'),
      table: this.name,
      input: error.input,
      timeoutMs: this.commandTimeoutMs,
    }).catch(() => undefined);
    if (!refused) return undefined;
    this.logger.warn({ table: this.name, line: refused.number, rule: refused.text }, 'the kernel refuses a rule: not retrying');
    return new RestoreFailedError(
      `${error.message}; the kernel refuses input line ${refused.number}: ${refused.text} (found by replaying the transaction on a copy of the table in a throwaway network namespace)`,
      { argv: [error.command, ...error.args], exitCode: error.exitCode, signal: error.signal, stderr: error.stderr, reason: error.reason, retryable: false, cause: error },
      error.input,
      refused.text,
    );
  }

  // --- setup --------------------------------------------------------------------------------

  private async ensureSetup(): Promise<Setup> {
    if (this.setup) return this.setup;
    const backend: Backend = this.backendChoice === 'auto' ? await detectBackend(this.run, this.ipVersion, this.commandTimeoutMs) : this.backendChoice;
    const binaries = await resolveBinaries(backend, this.ipVersion, this.runOnHost, this.commandTimeoutMs);
    if (binaries.backend !== backend) {
      this.logger.warn({ table: this.name, ipVersion: this.ipVersion, wanted: backend, found: binaries.backend, save: binaries.save }, "only plain iptables binaries are installed, and they are the other backend's: using them");
    }
    if (!this.features) await this.adoptFeatures(await detectFeatures(this.runOnHost, binaries.restore, this.commandTimeoutMs));
    this.setup = { binaries, restoreMode: this.probeRestoreMode(binaries.backend, binaries) };
    return this.setup;
  }

  /** Re-renders the desired state accepted before detection finished (nothing is planned yet). */
  private async adoptFeatures(features: Features): Promise<void> {
    this.features = features;
    this.logger.info({ table: this.name, ipVersion: this.ipVersion, features }, 'iptables features detected');
    if (features === NO_FEATURES) return;
    const slicer = new TimeSlicer();
    for (const [name, chain] of this.desiredChains) {
      if (slicer.due()) await slicer.yield();
      this.desiredChains.set(name, this.forHost(chain));
    }
    for (const [name, rules] of this.insertRules) this.insertRules.set(name, Object.freeze(rules.map((r) => this.forHost(r))));
    for (const [name, rules] of this.appendRulesByChain) this.appendRulesByChain.set(name, Object.freeze(rules.map((r) => this.forHost(r))));
    this.programmedCache = undefined;
  }

  /** From 1.6.2 iptables-restore takes the xtables lock itself: give it --wait, hold nothing.
   *  The nft backend never needs the lock, so it needs no probe either. */
  private async probeRestoreMode(backend: Backend, binaries: Binaries): Promise<RestoreMode> {
    const waitSeconds = String(Math.max(1, Math.ceil(this.lockTimeoutMs / 1000)));
    let version;
    if (backend === 'legacy') {
      const out = await runCommand(this.runOnHost, binaries.restore, ['--version'], '', this.commandTimeoutMs);
      version = parseIptablesVersion(`${out.stdout} ${out.stderr}`);
    }
    const selfLocking = backend === 'nft' || restoreTakesLockItself(version);
    this.logger.info({ table: this.name, ipVersion: this.ipVersion, backend, restoreVersion: version, selfLocking }, 'iptables backend chosen');
    return { args: ['--noflush', '--verbose', ...(selfLocking ? ['--wait', waitSeconds] : [])], holdLock: !selfLocking };
  }

  // --- reading ------------------------------------------------------------------------------

  private isOurChain(name: string): boolean {
    return this.desiredChains.has(name) || this.historicPrefixes.some((p) => name.startsWith(p));
  }

  private async loadDataplaneState(setup: Setup): Promise<void> {
    const generation = this.invalidations;
    this.lastReadTime = this.now();
    const snapshot = await this.readWithRetries(setup);
    const slicer = new TimeSlicer();

    // Our model of each chain we know of, against what is there now.
    for (const [name, expected] of this.dataplane) {
      if (slicer.due()) await slicer.yield();
      if (this.dirtyChains.has(name) || this.dirtyInserts.has(name)) continue;
      const actual = snapshot.get(name);
      if (!this.isOurChain(name)) {
        const wanted = insertIds(name, this.insertRules.get(name) ?? []);
        const appends = appendIds(name, this.appendRulesByChain.get(name) ?? []);
        if (!insertsInPlace(actual, wanted, this.insertMode, appends)) {
          this.logger.warn({ table: this.name, chain: name, actual: actual?.ids }, 'inserts out of place, marking for resync');
          this.dirtyInserts.add(name);
        }
      } else if (!sameIds(actual?.ids, expected.ids)) {
        this.logger.warn({ table: this.name, chain: name }, 'chain out of sync, marking for resync');
        this.dirtyChains.add(name);
      }
    }
    // Chains we did not know of: leftovers of ours, or foreign chains holding our inserts.
    for (const [name, actual] of snapshot) {
      if (slicer.due()) await slicer.yield();
      if (this.dirtyChains.has(name) || this.dirtyInserts.has(name) || this.dataplane.has(name)) continue;
      if (this.isOurChain(name)) {
        this.logger.info({ table: this.name, chain: name }, 'found unexpected chain of ours, marking for cleanup');
        this.dirtyChains.add(name);
      } else if (actual.ids.some((id) => id !== '')) {
        this.logger.info({ table: this.name, chain: name }, 'found unexpected inserts, marking for cleanup');
        this.dirtyInserts.add(name);
      }
    }
    this.dataplane = new Map(snapshot);
    // An update that arrived while we read keeps the cache invalid.
    if (this.invalidations === generation) this.inSync = true;
  }

  private async readWithRetries(setup: Setup): Promise<ReadonlyMap<string, DataplaneChain>> {
    let backoffMs = SAVE_FIRST_BACKOFF_MS;
    let timeouts = 0;
    for (let retriesLeft = SAVE_RETRIES; ; retriesLeft--) {
      const started = this.now();
      try {
        return await this.readOnce(setup);
      } catch (error) {
        if (!(error instanceof SaveFailedError) || !error.retryable || retriesLeft === 0) throw error;
        if (error instanceof SaveTimeoutError && ++timeouts >= TIMEOUT_ATTEMPTS) throw error;
        this.logger.warn({ table: this.name, err: error.message, backoffMs }, 'iptables-save failed, will retry');
        await this.sleep(backoffMs);
        backoffMs *= 2;
      } finally {
        this.peakSaveMs = peakAfter(this.peakSaveMs, this.now() - started);
      }
    }
  }

  private async readOnce(setup: Setup): Promise<ReadonlyMap<string, DataplaneChain>> {
    const command = setup.binaries.save;
    const args = ['-t', this.name];
    this.metrics?.saveCalls.inc(this.labels);
    const fail = (outcome: CommandOutcome, problem?: string, cause?: unknown): SaveFailedError => {
      this.metrics?.saveErrors.inc(this.labels);
      const err = outcome.stderr.trim();
      const failure = {
        argv: outcome.argv,
        exitCode: outcome.code,
        signal: outcome.signal,
        stderr: outcome.stderr,
        reason: outcome.spawnError ? 'spawn' : outcome.timedOut ? 'timeout' : outcome.signal ? 'signal' : 'exit',
        // Unreadable output of a run that exited 0 (cut short): another read may be whole.
        retryable: problem !== undefined || classifyFailure(outcome) !== 'permanent',
        ...(cause !== undefined || outcome.spawnError ? { cause: cause ?? outcome.spawnError } : {}),
      } as const;
      const message = `${formatCommandLine(outcome.argv)}: ${problem ?? describeOutcome(outcome, this.commandTimeoutMs)}${err ? `: ${err}` : ''}`;
      return outcome.timedOut ? new SaveTimeoutError(message, failure, this.commandTimeoutMs) : new SaveFailedError(message, failure);
    };
    // Fastest path: the addon reads the child's stdout pipe itself, off the main thread.
    let pipe;
    try {
      pipe = this.readerImplementation !== 'js' && this.run.acceptsStdoutFd === true ? openSavePipe(this.readerConfig) : undefined;
    } catch (error) {
      // pipe2 failed: out of file descriptors, as a spawn would be.
      const spawnError = Object.assign(error as Error, { code: /Too many open files/.test((error as Error).message) ? 'EMFILE' : undefined });
      throw fail({ argv: [command, ...args], code: null, signal: null, timedOut: false, spawnError, stderr: '' });
    }
    const child = startCommand(this.run, command, args, {
      timeoutMs: this.commandTimeoutMs,
      ...(pipe ? { stdoutFd: pipe.fd } : {}),
      onTimeout: () => pipe?.cancel(),
    });
    pipe?.closeWriteEnd(); // the child holds its copy; ours must go or EOF never comes
    child.stdin.on('error', () => undefined);
    if (!child.stdin.destroyed) child.stdin.end();
    const parsing = pipe ? pipe.result : readSaveOutput(child.stdout, this.readerConfig, { implementation: this.readerImplementation });
    parsing.catch(() => undefined); // observed below, after the exit status
    const outcome = await child.done;
    if (!succeeded(outcome)) {
      pipe?.cancel();
      await parsing.catch(() => undefined);
      throw fail(outcome);
    }
    try {
      return (await parsing).snapshot;
    } catch (error) {
      throw fail(outcome, `unreadable output: ${(error as Error).message}`, error);
    }
  }

  // --- writing ------------------------------------------------------------------------------

  private async writeMain(setup: Setup): Promise<void> {
    const plan = this.planInput();
    const progress = newPlanProgress();
    const outcome = await this.restore(setup, planLines(plan, progress));
    if (outcome.lines > 0) {
      this.lastWriteTime = this.now();
      this.postWriteIntervalMs = this.initialPostWriteIntervalMs;
    }
    for (const [name, chain] of progress.afterWrite) this.dataplane.set(name, chain);
    // Clear only what this plan covered: a chain updated since stays dirty.
    for (const name of plan.dirtyChains) {
      const planned = plan.desiredChains.get(name);
      const programmed = this.programmed();
      if (planned !== undefined && programmed.get(name) === planned) this.dirtyChains.delete(name);
      // Removal of a chain the dataplane never had: nothing to delete.
      if (planned === undefined && !programmed.has(name) && !this.dataplane.has(name)) this.dirtyChains.delete(name);
    }
    for (const name of plan.dirtyInserts) {
      if (this.insertRules.get(name) === plan.insertRules.get(name)) this.dirtyInserts.delete(name);
    }
  }

  private async deleteChains(setup: Setup): Promise<void> {
    // Read-only use, so the live state will do (no copies of 10k-entry maps).
    const programmed = this.programmed();
    const doomed = chainsToDeleteOf({ dirtyChains: this.dirtyChains, desiredChains: programmed, dataplane: this.dataplane });
    if (doomed.length === 0) return;
    const done = (name: string): void => {
      this.dataplane.delete(name);
      if (!programmed.has(name)) this.dirtyChains.delete(name);
    };
    try {
      await this.restore(setup, deletionLines(doomed));
      doomed.forEach(done);
      this.lastWriteTime = this.now();
      this.postWriteIntervalMs = this.initialPostWriteIntervalMs;
      return;
    } catch (error) {
      if (!(error instanceof RestoreFailedError)) throw error;
    }
    // Land what can be landed one chain at a time; report the rest with who refers to them.
    const failed: string[] = [];
    let lastStderr = '';
    for (const name of doomed) {
      try {
        await this.restore(setup, deletionLines([name]));
        done(name);
      } catch (error) {
        if (!(error instanceof RestoreFailedError)) throw error;
        failed.push(name);
        lastStderr = error.stderr;
      }
    }
    if (failed.length === 0) return;
    const referrers = await this.findReferrers(setup, failed);
    throw new ChainDeletionError(
      failed.map((chain) => ({ chain, referrers: referrers.get(chain) ?? [] })),
      lastStderr,
    );
  }

  /** Which chains jump or go to each of the given chains (a failure path: plain text scan). */
  private async findReferrers(setup: Setup, chains: readonly string[]): Promise<Map<string, string[]>> {
    const result = new Map<string, string[]>(chains.map((c) => [c, []]));
    const dump = await runCommand(this.run, setup.binaries.save, ['-t', this.name], '', this.commandTimeoutMs);
    for (const line of dump.stdout.split('\n')) {
      const m = /^-A (\S+)(?:\s.*)?\s(?:-j|--jump|-g|--goto) (\S+)/.exec(line);
      if (!m) continue;
      const list = result.get(m[2] as string);
      if (list && !list.includes(m[1] as string)) list.push(m[1] as string);
    }
    return result;
  }

  /** Streams lines to one iptables-restore run (none is started for no lines). */
  private async restore(setup: Setup, lines: Iterable<string>): Promise<{ lines: number }> {
    const mode = await setup.restoreMode;
    const lockFile = this.lockFile ?? (process.env.XTABLES_LOCKFILE || DEFAULT_LOCK_FILE_PATH);
    let lockStarted = 0;
    const started = this.now();
    try {
      const outcome = await streamRestore(
        {
          run: this.run,
          command: setup.binaries.restore,
          args: mode.args,
          table: this.name,
          timeoutMs: this.commandTimeoutMs,
          // A self-locking binary takes the lock file we were given, not its compiled-in default.
          ...(!mode.holdLock && this.lockFile !== undefined ? { env: { XTABLES_LOCKFILE: this.lockFile } } : {}),
          lock: { file: lockFile, timeoutMs: this.lockTimeoutMs, holder: () => findLockHolder(lockFile) },
          ...(mode.holdLock
            ? {
                beforeStart: async () => {
                  lockStarted = this.now();
                  await this.lock.lock();
                  this.lockWaitEnded = this.now();
                  this.metrics?.lockAcquireSeconds.observe(this.labels, (this.now() - lockStarted) / 1000);
                },
                afterEnd: () => this.lock.unlock(),
              }
            : {}),
        },
        lines,
      );
      if (outcome.lines > 0) {
        this.metrics?.restoreCalls.inc(this.labels);
        this.metrics?.linesExecuted.inc(this.labels, outcome.lines);
        if (this.logger.isLevelEnabled?.('debug') ?? true) {
          this.logger.debug({ table: this.name, input: outcome.input() }, 'iptables-restore input');
        }
      }
      return outcome;
    } catch (error) {
      // A run that happened and failed (not our own lock timing out before it started).
      if (error instanceof RestoreFailedError || (error instanceof LockTimeoutError && error.failure !== undefined)) {
        this.metrics?.restoreCalls.inc(this.labels);
        this.metrics?.restoreErrors.inc(this.labels);
      }
      throw error;
    } finally {
      // The lock wait is not the binary's time (for a self-locking binary it is, as for Felix).
      const lockWaitMs = lockStarted === 0 ? 0 : Math.max(0, this.lockWaitEnded - lockStarted);
      this.peakRestoreMs = peakAfter(this.peakRestoreMs, this.now() - started - lockWaitMs);
    }
  }

  private updateGauges(): void {
    if (!this.metrics) return;
    let rules = 0;
    for (const chain of this.desiredChains.values()) rules += chain.rules.length;
    this.metrics.chains.set(this.labels, this.desiredChains.size);
    this.metrics.rules.set(this.labels, rules);
  }
}

// --- two instances side by side ------------------------------------------------------------------

interface LiveTable {
  readonly scope: string;
  readonly hashPrefix: string;
  readonly prefixes: readonly string[];
  readonly table: WeakRef<Table>;
}
const liveTables: LiveTable[] = [];

/**
 * Two Tables of one table (and namespace) with different hash prefixes never touch each other's
 * rules; but chains are ours by prefix, so when one's chain prefix is a prefix of the other's,
 * each deletes the other's chains. Finds such overlaps among the live Tables of this process.
 */
function registerAndFindOverlaps(
  table: Table,
  scope: string,
  hashPrefix: string,
  prefixes: readonly string[],
): { mine: string; theirs: string; otherHashPrefix: string }[] {
  const found: { mine: string; theirs: string; otherHashPrefix: string }[] = [];
  for (let i = liveTables.length - 1; i >= 0; i--) {
    const other = liveTables[i] as LiveTable;
    if (other.table.deref() === undefined) {
      liveTables.splice(i, 1);
      continue;
    }
    // The same hash prefix is the same program (a Table made again), not a second instance.
    if (other.scope !== scope || other.hashPrefix === hashPrefix) continue;
    for (const mine of prefixes) {
      const theirs = other.prefixes.find((p) => p.startsWith(mine) || mine.startsWith(p));
      if (theirs !== undefined) found.push({ mine, theirs, otherHashPrefix: other.hashPrefix });
    }
  }
  liveTables.push({ scope, hashPrefix, prefixes, table: new WeakRef(table) });
  return found;
}

/** Legacy iptables-restore's whole verdict when the kernel refuses the new table: "line N failed"
 *  with N the COMMIT line. */
function blamesOnlyCommit(error: RestoreFailedError): boolean {
  return error.failedLine === 'COMMIT' && /^\S+: line \d+ failed\s*$/.test(error.stderr.trim());
}

/** A peak that decays by 1% per observation and jumps to any longer one (latest Felix's). */
function peakAfter(peakMs: number, observedMs: number): number {
  return Math.max(peakMs * PEAK_DECAY, observedMs);
}

function sameIds(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
