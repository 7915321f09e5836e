// The nftables backend's engine: one nftables table owned by one Table. It renders the desired
// state (rules by the nft renderer, each with a counter and our ID comment), reads what the
// table holds, plans the difference (plan.ts) and writes it as one `nft -f -` transaction per
// apply, with retries. A first apply that wants something writes without reading (see apply()).
// Everything in our table is ours: a rule without our ID there (another
// program's) is removed, a chain we do not want is deleted, and a Table that wants nothing
// deletes the table.
import { ChainDeletionError, InvalidRuleError, RestoreFailedError } from '../errors';
import type { Logger } from '../logger';
import type { TableMetrics } from '../metrics';
import type { PlanSummary, RestorePlan } from '../restore-plan';
import { writeWithRetries } from '../restore-retry';
import type { Chain, Rule } from '../rule';
import type { CommandFactory } from '../commands';
import { KERNEL_CHAINS, type TableName } from '../table-names';
import { appliedWrite, type AppliedWrite, type SpeculativeWrite } from '../apply-report';
import type { Listing } from './listing';
import { createdTableExisted, listTable, writeNft, type NftWriteOutcome } from './nft-run';
import { NO_TABLE, opLine, planNft, type DesiredNftChain, type NftChainState, type NftPlan, type NftTableState } from './plan';
import { nftName } from './nft-names';
import { nftComment, nftRuleIds } from './rule-ids';
import type { NftFamily } from './render';
import { baseChainDeclaration, baseChainSpec } from './table-spec';

/** Renders one rule as nft statements: its matches, then `counter`, then its action (no
 *  comment: the engine adds ours). Throws InvalidRuleError for what nft cannot express. */
export type NftRuleRenderer = (rule: Rule) => string;

/** Transactions adding or replacing at most this many rules run with `--echo --handle`, which
 *  tells the new rules' handles (so the next change needs no read first); bigger ones run
 *  without (echo doubles nft's time at 100k rules) and the next change reads first. */
export const ECHO_MAX_RULES = 256;

/** What the engine needs of its Table. */
export interface NftEngineOptions {
  /** The iptables table it stands for (which base chains exist). */
  readonly tableName: TableName;
  readonly family: NftFamily;
  /** Our nftables table's name. */
  readonly nftTable: string;
  readonly hashPrefix: string;
  readonly render: NftRuleRenderer;
  readonly run: CommandFactory;
  readonly commandTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly logger: Logger;
  readonly metrics?: TableMetrics | undefined;
  readonly labels?: { readonly table: string; readonly ip_version: string };
}

/** The desired state as the Table holds it. */
export interface NftDesiredState {
  /** Our chains (regular chains of our table). */
  readonly chains: ReadonlyMap<string, Chain>;
  /** Per kernel chain: the rules at its top (setRuleInsertions). */
  readonly inserts: ReadonlyMap<string, readonly Rule[]>;
  /** Per kernel chain: the rules at its end (appendRules). */
  readonly appends: ReadonlyMap<string, readonly Rule[]>;
}

/** What one apply did, counted as it happens (the Table passes its apply report). */
export interface NftApplyResult {
  /** The transactions that landed (at most one, unless a retry followed a failure). */
  writes: AppliedWrite[];
  /** Chains deleted. */
  deletedChains: string[];
  /** nft list runs. */
  reads: number;
  /** Tries of the transaction. */
  attempts: number;
  /** Present when the apply wrote without reading first: what became of that write. */
  speculativeWrite?: SpeculativeWrite;
}

const NO_RULES: readonly Rule[] = Object.freeze([]);

/** The nftables dataplane of one Table. */
export class NftablesDataplane {
  private state: NftTableState = NO_TABLE;
  private inSync = false;
  /** Whether the engine has learned what the table holds (a read, or a write that landed).
   *  Until then an apply writes without reading: see apply(). */
  private known = false;
  private invalidations = 0;
  private readonly renderedChains = new WeakMap<Chain, DesiredNftChain>();
  private readonly renderedRules = new WeakMap<readonly Rule[], readonly string[]>();
  /** Reads (`nft list` runs) in the engine's lifetime: the Table's refresh clock and its report. */
  reads = 0;
  /** Transactions that landed in the engine's lifetime: the Table's post-write re-reads. */
  writes = 0;
  /** Of those, written without a read first: each told the engine what the table holds, as a
   *  read does (the Table's refresh clock counts it as one). */
  speculativeWrites = 0;

  constructor(private readonly o: NftEngineOptions) {}

  /** Renders a chain of the desired state now (the Table does as it accepts one), so a rule nft
   *  cannot express is refused when it is given and the apply finds it rendered.
   *  @throws {@link InvalidRuleError} for a rule the renderer refuses or a chain name nft cannot take. */
  prepareChain(chain: Chain): void {
    this.renderChain(chain);
  }

  /** Renders inserted or appended rules now, as {@link NftablesDataplane.prepareChain} does. */
  prepareRules(rules: readonly Rule[]): void {
    this.texts(rules);
  }

  /** Makes the next plan or apply read the table first. */
  invalidate(): void {
    this.inSync = false;
    this.invalidations++;
  }

  /** Reads the table now. */
  async read(): Promise<void> {
    const generation = this.invalidations;
    const listing = await listTable({
      run: this.o.run,
      family: this.o.family,
      table: this.o.nftTable,
      timeoutMs: this.o.commandTimeoutMs,
      hashPrefix: this.o.hashPrefix,
      sleep: this.o.sleep,
      logger: this.o.logger,
      onRun: () => {
        this.reads++;
        if (this.o.labels) this.o.metrics?.saveCalls.inc(this.o.labels);
      },
      onFailure: () => {
        if (this.o.labels) this.o.metrics?.saveErrors.inc(this.o.labels);
      },
    });
    this.state = stateOf(listing);
    this.known = true;
    // An invalidation that came while we read keeps the view stale.
    this.inSync = this.invalidations === generation;
  }

  /** The desired state rendered: every chain our table should hold.
   *  @throws {@link InvalidRuleError} for a rule nft cannot express, or an insert into a chain
   *   that is no kernel chain of the table. */
  desiredChains(d: NftDesiredState): Map<string, DesiredNftChain> {
    const out = new Map<string, DesiredNftChain>();
    for (const [name, chain] of d.chains) out.set(name, this.renderChain(chain));
    const kernel = new Set([...d.inserts.keys(), ...d.appends.keys()]);
    for (const name of [...kernel].sort()) {
      const inserts = d.inserts.get(name) ?? NO_RULES;
      const appends = d.appends.get(name) ?? NO_RULES;
      if (inserts.length + appends.length === 0) continue;
      const spec = baseChainSpec(this.o.tableName, name);
      if (spec === undefined) {
        throw new InvalidRuleError(
          'setRuleInsertions',
          name,
          `backend nftables: our table has base chains only for the kernel chains of ${this.o.tableName} (${KERNEL_CHAINS[this.o.tableName].join(', ')}); other programs' chains live in their own tables, which it never touches`,
        );
      }
      out.set(name, this.renderBase(name, baseChainDeclaration(spec), inserts, appends));
    }
    return out;
  }

  /** The transaction apply() would write now, reading first when the view is stale. It never
   *  writes without a read: its input is a diff against the table as it is (a first plan()
   *  reads, so the apply after it knows the table and writes exactly this input). */
  async plan(d: NftDesiredState): Promise<RestorePlan> {
    const desired = this.desiredChains(d);
    const plan = await this.currentPlan(desired);
    return this.restorePlanOf(plan, desired);
  }

  /**
   * Brings the table to the desired state: one transaction (retried after a re-read when it
   * fails in a way that may pass), then a ChainDeletionError for chains a desired rule still
   * refers to.
   *
   * While the engine knows nothing of the table (no read yet, no write landed) and something is
   * wanted, it does not read first: the table is ours by construction, so it writes the whole
   * state as one transaction beginning with `create table`. On a fresh host that is the only
   * nft run. If the table exists, `create` fails with EEXIST and the kernel aborts the whole
   * transaction; the engine then reads the table and writes the difference, as it always did
   * (stale chains and another program's rules go, unchanged rules keep their counters).
   * @throws {@link RestoreFailedError}, {@link SaveFailedError}, {@link ChainDeletionError}.
   */
  async apply(d: NftDesiredState, into: NftApplyResult = { writes: [], deletedChains: [], reads: 0, attempts: 0 }): Promise<NftApplyResult> {
    const desired = this.desiredChains(d);
    const readsBefore = this.reads;
    let stuck: NftPlan['stuck'] = [];
    let speculative = this.known || desired.size === 0 ? undefined : this.planWithoutTable(desired);
    try {
      await writeWithRetries({
        lockTimeoutMs: this.o.lockTimeoutMs,
        now: this.o.now,
        sleep: this.o.sleep,
        prepare: async () => {
          if (!this.inSync && speculative === undefined) await this.read();
        },
        write: async () => {
          into.attempts++;
          if (speculative !== undefined) {
            const first = speculative;
            speculative = undefined; // one try: a retry reads first
            if (await this.writeSpeculatively(first, desired, into)) return;
            into.attempts++;
            await this.read();
          }
          const plan = await this.currentPlan(desired);
          stuck = plan.stuck;
          const outcome = await this.write(plan, desired);
          if (outcome.lines > 0) into.writes.push(appliedWrite(outcome.input, plan.summary));
          into.deletedChains.push(...plan.chainsToDelete);
        },
        refusedRule: async () => undefined, // nft names the failing line itself
        onRetry: (error, backoffMs) => {
          if (this.o.labels) this.o.metrics?.restoreRetries.inc(this.o.labels);
          this.o.logger.warn({ table: this.o.nftTable, err: error.message, backoffMs }, 'nft -f failed, will re-read and retry');
          this.invalidate();
        },
      });
    } finally {
      into.reads += this.reads - readsBefore;
    }
    if (stuck.length > 0) throw new ChainDeletionError(stuck, 'nftables: a rule of ours still jumps or goes to the chain');
    return into;
  }

  /** Which of `rules` the table does not hold in `chain` (reading first when the view is stale),
   *  by the IDs they get there: as the chain's own rules in this order. */
  async missingRules(chain: string, rules: readonly Rule[]): Promise<Rule[]> {
    if (!this.inSync) await this.read();
    const held = new Set(this.state.chains.get(chain)?.ids ?? []);
    const ids = nftRuleIds(rules.map((r) => this.o.render(r)));
    return rules.filter((_, i) => !held.has(ids[i] as string));
  }

  /** The whole state as a transaction into a table that does not exist yet; undefined when
   *  that plan is refused (a desired rule jumps to a chain it does not want: only a read tells
   *  whether an earlier run left that chain, which then stays until nothing jumps to it). */
  private planWithoutTable(desired: ReadonlyMap<string, DesiredNftChain>): NftPlan | undefined {
    try {
      return planNft({ family: this.o.family, table: this.o.nftTable, desired, state: NO_TABLE });
    } catch (error) {
      if (error instanceof InvalidRuleError) return undefined;
      throw error;
    }
  }

  /** Writes a plan made without a read; false when it failed because the table exists (the
   *  caller reads and plans again). Any other failure is thrown, as for any write. */
  private async writeSpeculatively(plan: NftPlan, desired: ReadonlyMap<string, DesiredNftChain>, into: NftApplyResult): Promise<boolean> {
    const generation = this.invalidations;
    try {
      const outcome = await this.write(plan, desired, true);
      into.writes.push(appliedWrite(outcome.input, plan.summary));
      into.speculativeWrite = 'landed';
      this.speculativeWrites++;
      // What it wrote is what the table holds (it did not exist): as good as a read.
      this.inSync = this.invalidations === generation;
      return true;
    } catch (error) {
      if (error instanceof RestoreFailedError && createdTableExisted(error)) {
        into.speculativeWrite = 'table existed';
        this.o.logger.debug({ table: this.o.nftTable }, 'our nftables table exists: reading it to write the difference');
        return false;
      }
      into.speculativeWrite = 'failed';
      throw error;
    }
  }

  private async currentPlan(desired: ReadonlyMap<string, DesiredNftChain>): Promise<NftPlan> {
    if (!this.inSync) await this.read();
    let plan = planNft({ family: this.o.family, table: this.o.nftTable, desired, state: this.state });
    if (plan.needsRead) {
      await this.read();
      plan = planNft({ family: this.o.family, table: this.o.nftTable, desired, state: this.state });
    }
    return plan;
  }

  private async write(plan: NftPlan, desired: ReadonlyMap<string, DesiredNftChain>, speculative = false): Promise<NftWriteOutcome> {
    if (plan.ops.length === 0) return { lines: 0, input: () => '', echoed: undefined };
    const ruleWrites = plan.summary.rulesToAppend + plan.summary.rulesToReplace + plan.summary.insertsToAdd;
    const echo = ruleWrites <= ECHO_MAX_RULES;
    const p = { family: this.o.family, table: this.o.nftTable, desired };
    const labels = this.o.labels;
    let outcome: NftWriteOutcome;
    try {
      outcome = await writeNft({ run: this.o.run, family: this.o.family, table: this.o.nftTable, timeoutMs: this.o.commandTimeoutMs }, lazyLines(plan, p), echo);
    } catch (error) {
      if (labels && error instanceof RestoreFailedError) {
        this.o.metrics?.restoreCalls.inc(labels);
        // A first write finding the table there is what a restart expects, not an error.
        if (!(speculative && createdTableExisted(error))) this.o.metrics?.restoreErrors.inc(labels);
      }
      throw error;
    }
    if (labels) {
      this.o.metrics?.restoreCalls.inc(labels);
      this.o.metrics?.linesExecuted.inc(labels, outcome.lines);
    }
    this.writes++;
    this.known = true;
    this.state = withEchoedHandles(plan.after, outcome.echoed, desired);
    return outcome;
  }

  private restorePlanOf(plan: NftPlan, desired: ReadonlyMap<string, DesiredNftChain>): RestorePlan {
    const lines = [...lazyLines(plan, { family: this.o.family, table: this.o.nftTable, desired })];
    const afterWrite = new Map([...plan.after.chains].map(([name, c]) => [name, { ids: c.ids, savedRules: new Map<number, string>() }]));
    return {
      table: this.o.nftTable,
      input: lines.length === 0 ? '' : `${lines.join('\n')}\n`,
      deletionInput: '',
      chainsToDelete: plan.chainsToDelete,
      summary: plan.summary as PlanSummary,
      afterWrite,
    };
  }

  private renderChain(chain: Chain): DesiredNftChain {
    const cached = this.renderedChains.get(chain);
    if (cached) return cached;
    nftName('updateChain', chain.name);
    const rendered = this.desiredOf(chain.name, undefined, chain.rules, this.texts(chain.rules));
    this.renderedChains.set(chain, rendered);
    return rendered;
  }

  private renderBase(name: string, declaration: string, inserts: readonly Rule[], appends: readonly Rule[]): DesiredNftChain {
    return this.desiredOf(name, declaration, [...inserts, ...appends], [...this.texts(inserts), ...this.texts(appends)]);
  }

  private texts(rules: readonly Rule[]): readonly string[] {
    const cached = this.renderedRules.get(rules);
    if (cached) return cached;
    const texts = rules.map((r) => this.o.render(r));
    this.renderedRules.set(rules, texts);
    return texts;
  }

  private desiredOf(name: string, declaration: string | undefined, rules: readonly Rule[], texts: readonly string[]): DesiredNftChain {
    const ids = nftRuleIds(texts);
    const comments = ids.map((id, i) => nftComment(this.o.hashPrefix, id, (rules[i] as Rule).comment, name));
    return { declaration, rules, texts, ids, comments };
  }
}

function* lazyLines(plan: NftPlan, p: Parameters<typeof opLine>[1]): Generator<string> {
  for (const op of plan.ops) yield opLine(op, p);
}

/** The engine's view after a read. */
export function stateOf(listing: Listing): NftTableState {
  if (!listing.found) return NO_TABLE;
  const chains = new Map<string, NftChainState>();
  for (const c of listing.chains) chains.set(c.name, { declaration: c.declaration, ids: c.ids, handles: c.handles });
  return { exists: true, chains };
}

function withEchoedHandles(after: NftTableState, echoed: NftWriteOutcome['echoed'], desired: ReadonlyMap<string, DesiredNftChain>): NftTableState {
  if (!echoed) return after;
  const chains = new Map(after.chains);
  for (const [name, byComment] of echoed) {
    const state = chains.get(name);
    const want = desired.get(name);
    if (!state || !want) continue;
    const handles = state.handles.map((h, i) => h ?? byComment.get(want.comments[i] as string));
    chains.set(name, { ...state, handles });
  }
  return { exists: after.exists, chains };
}
