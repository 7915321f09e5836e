// Table: the desired state of one iptables table (filter, nat, mangle or raw) for one IP
// version, brought into the dataplane by apply(). See README.md "How the Table works".
//
// Data flows one way: updates → desired state + dirty sets → computePlan() → iptables-restore;
// iptables-save → reader → rule IDs → dirty sets. Nothing touches the dataplane until apply().
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { IpVersion } from './backend';
import { InvalidRuleError } from './errors';
import type { TableLock } from './locks';
import { NO_FEATURES, type Features } from './features';
import type { TableMetrics } from './metrics';
import { referencedChains } from './chain-references';
import type { CanaryWatch } from './canary';
import { canaryChainOf, watchCanary } from './table-canary';
import type { DataplaneChain, PreparedExpectation } from './reader';
import {
  chainsToDeleteOf,
  clearCovered,
  computePlan,
  newPlanProgress,
  planInputOf,
  missingFrom,
  planLines,
  summaryOf,
  type LiveState,
  type RestorePlan,
} from './restore-plan';
import type { RestoreOutcome } from './restore-writer';
import { Chain, Rule, type ChainSpec, type RuleSpec } from './rule';
import { acceptChains, acceptRules, removableName, removableNames, ruleTarget, type InputScope } from './desired-state-input';
import { KERNEL_CHAINS, type TableName } from './table-names';
import { resolveTableOptions, type ResolvedTableOptions, type TableOptions } from './table-options';
import { warnAboutOverlaps } from './table-overlaps';
import { appliedWrite, finishReport, startReport, type ApplyReport, type ReportInProgress } from './apply-report';
import { renderForHost, replayBinaries, setUp, type Setup } from './table-setup';
import { loadDataplane, prepareAhead } from './dataplane-resync';
import { loadNative } from './native';
import { writeWithRetries, refusedRuleError } from './restore-retry';
import { deleteChains, findReferrers } from './chain-deletion';
import { runRestore } from './restore-run';
import { peakAfter, rereadDue, rescheduleAfter, type ApplyClock } from './apply-timing';
import { NftablesBackend } from './nftables/table-backend';
import type { NftDesiredState } from './nftables/dataplane';

export { KERNEL_CHAINS, type TableName } from './table-names';
export { MAX_HASH_PREFIX_BYTES, type TableOptions } from './table-options';
export type { AppliedWrite, ApplyReport, SpeculativeWrite } from './apply-report';

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
  /** The constructor's options, validated, with their defaults. */
  private readonly options: ResolvedTableOptions;
  private readonly labels: { table: string; ip_version: string };
  /** What rules render with; undefined until 'auto' detection has run (in the first setup). */
  private features: Features | undefined;
  /** With backend 'nftables', what apply, plan and checkRulesPresent go through instead. */
  private readonly nftables: NftablesBackend | undefined;

  // Desired state.
  private readonly desiredChains = new Map<string, Chain>();
  /** Rules in desiredChains, kept as they change (the gauge costs no walk of 10k chains). */
  private desiredRules = 0;
  /** Every chain ever given to updateChain(s): ours to remove even without a historic prefix. */
  private readonly managedChains = new Set<string>();
  private readonly insertRules = new Map<string, readonly Rule[]>();
  private readonly appendRulesByChain = new Map<string, readonly Rule[]>();
  /** onlyReferencedChains: the chains written, recomputed after any update (undefined = stale). */
  private programmedCache: ReadonlyMap<string, Chain> | undefined;
  private lastProgrammed: ReadonlyMap<string, Chain> = new Map();
  private canary: CanaryWatch | undefined;
  private closed = false;
  private readonly dirtyChains = new Set<string>();
  private readonly dirtyInserts = new Set<string>();

  // What we believe the dataplane holds: the last read, plus our writes since.
  private dataplane = new Map<string, DataplaneChain>();
  private inSync = false;
  /** What the next read expects, prepared after the last apply (prepareNextRead). */
  private nextExpectation: Promise<PreparedExpectation> | undefined;
  private invalidations = 0;
  private lastReadTime = 0;
  private lastWriteTime = 0;
  private postWriteIntervalMs: number;
  /** Longest recent iptables-save / -restore run (ms, decaying): re-reads after a write are
   *  never sooner than twice their sum, so a huge table is not re-read every 50 ms. */
  private peakSaveMs = 0;
  private peakRestoreMs = 0;

  private setup: Setup | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private pendingApply: Promise<ApplyReport> | undefined;
  /** What the apply under way has done so far (calls never overlap, so one is enough). */
  private report: ReportInProgress | undefined;
  private lastReport: ApplyReport | undefined;
  /** apply()'s promise for the run applyWithReport() shares. */
  private delayOf: { readonly report: Promise<ApplyReport>; readonly delay: Promise<number> } | undefined;

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
    const o = resolveTableOptions(name, ipVersion, hashPrefix, lock, options);
    this.options = o;
    this.name = name;
    this.ipVersion = ipVersion;
    this.hashPrefix = hashPrefix;
    this.lock = lock;
    this.postWriteIntervalMs = o.initialPostWriteIntervalMs;
    this.labels = { table: name, ip_version: String(ipVersion) };
    this.features = o.features;
    const nft = o.nftTableName;
    this.nftables = nft === undefined ? undefined : new NftablesBackend({ name, ipVersion, hashPrefix, nftTableName: nft, labels: this.labels, options: o });
    warnAboutOverlaps(this, { netns: options.netns, table: name, ipVersion, hashPrefix, prefixes: o.historicPrefixes, logger: o.logger });
    // The addon (children, reader, hashes) loads with the first Table of a process (~3 ms,
    // once), not inside its first apply. A failure is remembered and reported by doctor.
    loadNative();

    // Start of day: every kernel chain wants no inserts, so the first apply removes inserts
    // left behind by an earlier run.
    for (const chain of KERNEL_CHAINS[name]) {
      this.insertRules.set(chain, Object.freeze([]));
      this.dirtyInserts.add(chain);
    }
    if (o.canaryChain !== undefined) {
      const canary = canaryChainOf(o.canaryChain);
      this.desiredChains.set(canary.name, canary);
      this.desiredRules += canary.ruleCount;
      this.managedChains.add(canary.name);
      this.dirtyChains.add(canary.name);
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
    // Validate all before accepting any: a bad chain never loses state already accepted.
    const accepted = acceptChains(this.inputScope(), chains, (c) => this.forHost(c));
    this.nftables?.acceptChains(accepted);
    for (const chain of accepted) {
      // No IDs yet: the plan hashes dirty chains in batches while the restore already runs.
      this.desiredRules += chain.ruleCount - (this.desiredChains.get(chain.name)?.ruleCount ?? 0);
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
    // Validate all names before removing any.
    const names = removableNames(this.inputScope(), chains);
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
    removableName(this.inputScope(), 'removeChainByName', name);
    if (!this.managedChains.has(name) && !this.options.historicPrefixes.some((p) => name.startsWith(p))) {
      this.options.logger.debug(
        { table: this.name, chain: name, historicChainPrefixes: this.options.historicPrefixes },
        'not removing chain: this Table never managed it and it has none of the historic chain prefixes',
      );
      return;
    }
    this.desiredRules -= this.desiredChains.get(name)?.ruleCount ?? 0;
    this.desiredChains.delete(name);
    this.dirtyChains.add(name);
    this.programmedCache = undefined;
    this.updateGauges();
    this.invalidateDataplaneCache('chain removal');
  }

  private inputScope(): InputScope {
    return { table: this.name, ipVersion: this.ipVersion, canaryChain: this.options.canaryChain };
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
    const name = ruleTarget('setRuleInsertions', chainName, rules);
    const accepted = acceptRules(this.inputScope(), 'setRuleInsertions', name, rules, (r) => this.forHost(r));
    this.nftables?.acceptRules(accepted);
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
    const name = ruleTarget('appendRules', chainName, rules);
    if (this.desiredChains.has(name) || this.options.historicPrefixes.some((p) => name.startsWith(p))) {
      throw new InvalidRuleError('appendRules', name, 'is a chain of ours: put the rules in the chain itself');
    }
    const accepted = acceptRules(this.inputScope(), 'appendRules', name, rules, (r) => this.forHost(r));
    this.nftables?.acceptRules(accepted);
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
    const name = ruleTarget('checkRulesPresent', chainName, rules);
    const accepted = Array.from(rules, (r: Rule | RuleSpec) => this.forHost(Rule.from(r)));
    const next = this.tail.then(
      () => this.missingRules(name, accepted),
      () => this.missingRules(name, accepted),
    );
    this.tail = next;
    return next;
  }

  private async missingRules(name: string, given: readonly Rule[]): Promise<Rule[]> {
    if (this.nftables) return this.nftables.missingRules(name, given);
    const setup = await this.ensureSetup();
    // The rules as rendered after detection (ensureSetup may have just learned the features).
    const rules = given.map((r) => this.forHost(r));
    if (!this.inSync) await this.loadDataplaneState(setup);
    return missingFrom(name, this.dataplane.get(name), given, rules);
  }

  /** A chain or rule as this host renders it (as given while 'auto' detection is pending; the
   *  desired state is re-rendered when it ends). No features: as given, no extra work. */
  private forHost<T extends Chain | Rule>(item: T): T {
    return this.features === undefined || this.features === NO_FEATURES ? item : (item.withFeatures(this.features) as T);
  }

  /** Makes the next apply() or plan() re-read the dataplane (say, after another program changed
   *  it). `reason` goes to the debug log. */
  invalidateDataplaneCache(reason: string): void {
    if (this.inSync) this.options.logger.debug({ table: this.name, reason }, 'invalidating dataplane cache');
    this.inSync = false;
    this.invalidations++;
    this.nftables?.invalidate(reason);
  }

  /** The desired chains that get written: all of them, or with onlyReferencedChains the
   *  referenced ones. A chain whose standing changed since the last look becomes dirty. */
  private programmed(): ReadonlyMap<string, Chain> {
    if (!this.options.onlyReferenced) return this.desiredChains;
    if (this.programmedCache !== undefined) return this.programmedCache;
    const next = referencedChains(this.desiredChains, [...this.insertRules.values(), ...this.appendRulesByChain.values()]);
    for (const name of this.lastProgrammed.keys()) if (!next.has(name)) this.dirtyChains.add(name);
    for (const [name, chain] of next) if (this.lastProgrammed.get(name) !== chain) this.dirtyChains.add(name);
    this.lastProgrammed = next;
    this.programmedCache = next;
    return next;
  }

  private startCanary(setup: Setup, chain: string): void {
    this.canary = watchCanary({
      ...this.options,
      command: setup.binaries.iptables,
      table: this.name,
      ipVersion: this.ipVersion,
      chain,
      markGone: () => {
        this.dirtyChains.add(chain);
        this.invalidateDataplaneCache('canary gone');
      },
      apply: () => this.apply(),
    });
  }

  /** Stops the canary check (if any) and the work an apply does for the next one (preparing its
   *  read). The Table stays usable; apply() restarts neither. */
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
    const report = this.applyWithReport();
    // Calls that join one run get the same promise, as they did before the report existed.
    if (this.delayOf?.report !== report) this.delayOf = { report, delay: report.then((r) => r.rescheduleAfterMs) };
    return this.delayOf.delay;
  }

  /**
   * apply(), resolving to what it did: each restore input it wrote with its summary, the chains
   * it deleted, how often it read and tried. Shares runs with apply().
   */
  applyWithReport(): Promise<ApplyReport> {
    if (this.pendingApply) return this.pendingApply;
    const next = this.tail.then(
      () => this.startApply(),
      () => this.startApply(),
    );
    this.pendingApply = next;
    this.tail = next;
    return next;
  }

  /**
   * The report of the last apply that ended, also when it failed: then it holds what landed
   * before the failure (the rejection carries only the error).
   */
  get lastApplyReport(): ApplyReport | undefined {
    return this.lastReport;
  }

  private async startApply(): Promise<ApplyReport> {
    this.pendingApply = undefined;
    const report = startReport();
    this.report = report;
    const done = (rescheduleAfterMs: number): ApplyReport => finishReport(report, rescheduleAfterMs);
    try {
      const result = done(await (this.options.metrics ? this.timedApply(this.options.metrics) : this.applyNow()));
      this.lastReport = result;
      return result;
    } catch (error) {
      this.lastReport = done(0);
      throw error;
    } finally {
      this.report = undefined;
    }
  }

  private async timedApply(metrics: TableMetrics): Promise<number> {
    const started = performance.now();
    try {
      const delay = await this.applyNow();
      metrics.lastSuccessfulSync.set(this.labels, this.options.now() / 1000);
      return delay;
    } finally {
      metrics.applyDurationSeconds.observe(this.labels, (performance.now() - started) / 1000);
    }
  }

  /** Reads the dataplane if needed and returns the transaction apply() would run, without
   *  running it. Waits for a running apply() first. On backend nftables it reads even where a
   *  first apply would not (that apply writes without a read: see `speculativeWrite` in
   *  {@link ApplyReport}), so the plan is a diff against the table as it is, and the apply
   *  after it writes exactly its input.
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
    if (this.nftables) return this.nftables.plan(this.nftDesired());
    const setup = await this.ensureSetup();
    if (!this.inSync) await this.loadDataplaneState(setup);
    return this.computePlan();
  }

  private computePlan(): RestorePlan {
    return computePlan(planInputOf(this.live()));
  }

  /** The live state a plan is made of; programmed() first: it may mark chains dirty. */
  private live(): LiveState {
    const programmed = this.programmed();
    const { name: table, hashPrefix, insertRules, appendRulesByChain: appendRules, dirtyChains, dirtyInserts, dataplane } = this;
    return { table, hashPrefix, insertMode: this.options.insertMode, programmed, insertRules, appendRules, dirtyChains, dirtyInserts, dataplane };
  }

  /** The desired state as the nftables backend takes it. */
  private nftDesired(): NftDesiredState {
    return { chains: this.programmed(), inserts: this.insertRules, appends: this.appendRulesByChain };
  }

  private async applyNow(): Promise<number> {
    if (this.nftables) return this.nftables.apply(this.nftDesired(), this.report);
    const setup = await this.ensureSetup();
    const now = this.options.now();
    const due = rereadDue(this.clock(), now);
    this.postWriteIntervalMs = due.postWriteIntervalMs;
    if (due.reason !== undefined) this.invalidateDataplaneCache(due.reason);

    await writeWithRetries({
      lockTimeoutMs: this.options.lockTimeoutMs,
      now: this.options.now,
      sleep: this.options.sleep,
      prepare: async () => {
        if (!this.inSync) await this.loadDataplaneState(setup);
      },
      write: () => this.writeMain(setup),
      refusedRule: async (error) => refusedRuleError({ ...this.options, ...(await replayBinaries(setup)), table: this.name }, error),
      onRetry: (error, backoffMs) => {
        this.options.metrics?.restoreRetries.inc(this.labels);
        this.options.logger.warn({ table: this.name, err: error.message, backoffMs }, 'iptables-restore failed, will re-read and retry');
        this.invalidateDataplaneCache('restore failed');
      },
    });
    await this.deleteChains(setup);

    // Never re-read sooner than twice what a read and a write have lately taken.
    const dynamicMinMs = 2 * (this.peakSaveMs + this.peakRestoreMs);
    if (this.postWriteIntervalMs < dynamicMinMs) this.postWriteIntervalMs = dynamicMinMs;
    if (this.options.canaryChain !== undefined && this.canary === undefined && !this.closed) this.startCanary(setup, this.options.canaryChain);
    this.prepareNextRead();
    return rescheduleAfter(this.clock(), now);
  }

  /** The next read's expectation, prepared in the turns after this apply (prepareAhead). */
  private prepareNextRead(): void {
    if (this.options.readerImplementation !== 'js' && !this.closed) this.nextExpectation = prepareAhead(this.options.readerConfig, this.dataplane);
  }

  private clock(): ApplyClock {
    return { refreshIntervalMs: this.options.refreshIntervalMs, lastReadTime: this.lastReadTime, lastWriteTime: this.lastWriteTime, postWriteIntervalMs: this.postWriteIntervalMs };
  }

  private async ensureSetup(): Promise<Setup> {
    this.setup ??= await setUp({ table: this.name, ipVersion: this.ipVersion, ...this.options }, this.features ? undefined : (f) => this.adoptFeatures(f));
    return this.setup;
  }

  /** Re-renders the desired state accepted before detection finished (nothing is planned yet). */
  private async adoptFeatures(features: Features): Promise<void> {
    this.features = features;
    if (features !== NO_FEATURES) await renderForHost(this.desiredChains, [this.insertRules, this.appendRulesByChain], (item) => this.forHost(item));
    this.programmedCache = undefined;
  }

  // --- reading ------------------------------------------------------------------------------

  private async loadDataplaneState(setup: Setup): Promise<void> {
    const generation = this.invalidations;
    this.lastReadTime = this.options.now();
    const prepared = this.nextExpectation;
    this.nextExpectation = undefined;
    this.dataplane = await loadDataplane({
      ...this.options,
      ...(prepared ? { prepared } : {}),
      table: this.name,
      save: setup.binaries.save,
      dataplane: this.dataplane,
      insertRules: this.insertRules,
      appendRulesByChain: this.appendRulesByChain,
      dirtyChains: this.dirtyChains,
      dirtyInserts: this.dirtyInserts,
      isOurChain: (name) => this.desiredChains.has(name) || this.options.historicPrefixes.some((p) => name.startsWith(p)),
      onRun: () => {
        this.options.metrics?.saveCalls.inc(this.labels);
        if (this.report) this.report.reads++;
      },
      onFailure: () => this.options.metrics?.saveErrors.inc(this.labels),
      onAttemptEnd: (ms) => void (this.peakSaveMs = peakAfter(this.peakSaveMs, ms)),
    });
    // An update that arrived while we read keeps the cache invalid.
    if (this.invalidations === generation) this.inSync = true;
  }

  // --- writing ------------------------------------------------------------------------------

  private async writeMain(setup: Setup): Promise<void> {
    const plan = planInputOf(this.live());
    // Copying 10k dirty entries and the plan's first sort are a few ms each on cold code: a
    // turn of their own each, not one long one.
    await yieldToEventLoop();
    const progress = newPlanProgress();
    if (this.report) this.report.attempts++;
    const outcome = await this.restore(setup, planLines(plan, progress));
    if (outcome.lines > 0) {
      this.report?.writes.push(appliedWrite(outcome.input, summaryOf(progress, 0)));
      this.lastWriteTime = this.options.now();
      this.postWriteIntervalMs = this.options.initialPostWriteIntervalMs;
    }
    for (const [name, chain] of progress.afterWrite) this.dataplane.set(name, chain);
    clearCovered(plan, this.live());
  }

  private async deleteChains(setup: Setup): Promise<void> {
    // Read-only use, so the live state will do (no copies of 10k-entry maps).
    const programmed = this.programmed();
    const doomed = chainsToDeleteOf({ dirtyChains: this.dirtyChains, desiredChains: programmed, dataplane: this.dataplane });
    if (doomed.length === 0) return;
    const inOne = await deleteChains(
      {
        restore: (lines) => this.restore(setup, lines),
        onDeleted: (name) => {
          this.dataplane.delete(name);
          if (!programmed.has(name)) this.dirtyChains.delete(name);
          this.report?.deletedChains.push(name);
        },
        onWrite: (outcome, chains) => this.report?.writes.push(appliedWrite(outcome.input, summaryOf(newPlanProgress(), chains))),
        findReferrers: (chains) => findReferrers(this.options.run, setup.binaries.save, this.name, this.options.commandTimeoutMs, chains),
      },
      doomed,
    );
    if (inOne) {
      this.lastWriteTime = this.options.now();
      this.postWriteIntervalMs = this.options.initialPostWriteIntervalMs;
    }
  }

  /** Streams lines to one iptables-restore run (none is started for no lines). */
  private async restore(setup: Setup, lines: Iterable<string>): Promise<RestoreOutcome> {
    return runRestore(
      {
        ...this.options,
        command: setup.binaries.restore,
        mode: await setup.restoreMode(),
        table: this.name,
        lock: this.lock,
        labels: this.labels,
        onEnd: (ms) => void (this.peakRestoreMs = peakAfter(this.peakRestoreMs, ms)),
      },
      lines,
    );
  }

  private updateGauges(): void {
    this.options.metrics?.chains.set(this.labels, this.desiredChains.size);
    this.options.metrics?.rules.set(this.labels, this.desiredRules);
  }
}
