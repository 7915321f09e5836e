// The Table's seam to the nftables engine: what a Table on backend 'nftables' delegates to. It
// makes the engine from the Table's options, renders rules as the Table accepts them, keeps the
// re-read clock of this backend (refresh timer, growing post-write re-reads, as the Table's own
// for iptables) and runs apply and plan through the engine.
import type { ReportInProgress } from '../apply-report';
import { peakAfter, rereadDue, rescheduleAfter } from '../apply-timing';
import type { IpVersion } from '../backend';
import { InvalidOptionError } from '../errors';
import type { RestorePlan } from '../restore-plan';
import type { Chain, Rule } from '../rule';
import { RULE_ID_LENGTH } from '../save-line';
import type { TableName } from '../table-names';
import { NftablesDataplane, type NftDesiredState, type NftEngineOptions } from './dataplane';
import { NFT_MAX_COMMENT_BYTES, nftStringProblem } from './nft-names';
import { nftRuleRenderer } from './rule-text';
import { familyOf } from './table-spec';

/** What the backend needs of a Table. */
export interface NftTableContext {
  readonly name: TableName;
  readonly ipVersion: IpVersion;
  readonly hashPrefix: string;
  /** Our nftables table's name (the `nftTableName` option, validated). */
  readonly nftTableName: string;
  readonly labels: { readonly table: string; readonly ip_version: string };
  readonly options: Pick<NftEngineOptions, 'run' | 'commandTimeoutMs' | 'lockTimeoutMs' | 'sleep' | 'now' | 'logger' | 'metrics'> & {
    readonly refreshIntervalMs: number;
    readonly initialPostWriteIntervalMs: number;
  };
}

// The Table invalidates its cache after each update of the desired state (Felix re-reads before
// every write, in case another program changed the rules meanwhile). This backend need not: it
// edits by handle, so a stale view fails the transaction (and the retry reads again) instead of
// editing the wrong rule. Timers, retries and the caller's own calls still re-read.
const DESIRED_STATE_REASONS: ReadonlySet<string> = new Set(['chain update', 'chain removal', 'insertion update', 'append update']);

/** A Table's nftables backend. */
export class NftablesBackend {
  /** The engine (tests read its counters). */
  readonly engine: NftablesDataplane;
  private lastReadTime = 0;
  private lastWriteTime = 0;
  private postWriteIntervalMs: number;
  /** Longest recent apply (ms, decaying): post-write re-reads are never sooner than twice it,
   *  so a table of 100k rules is not listed every 50 ms. */
  private peakApplyMs = 0;

  /** @throws {@link InvalidOptionError} for a hash prefix nft's quoted comment cannot carry. */
  constructor(private readonly c: NftTableContext) {
    // The ID comment is a quoted nft string: no `"`, `\` or `$` (nft expands `$name` inside quotes).
    const problem = nftStringProblem(c.hashPrefix, NFT_MAX_COMMENT_BYTES - RULE_ID_LENGTH);
    if (problem !== undefined) throw new InvalidOptionError('hashPrefix', c.hashPrefix, `on backend nftables the hash prefix ${problem}`);
    const family = familyOf(c.ipVersion);
    this.postWriteIntervalMs = c.options.initialPostWriteIntervalMs;
    this.engine = new NftablesDataplane({
      ...c.options,
      tableName: c.name,
      family,
      nftTable: c.nftTableName,
      hashPrefix: c.hashPrefix,
      render: nftRuleRenderer(family, c.name),
      labels: c.labels,
    });
  }

  /** Renders chains the Table is about to accept: a rule nft cannot express is refused now.
   *  @throws {@link InvalidRuleError} as the renderer does. */
  acceptChains(chains: readonly Chain[]): void {
    for (const chain of chains) this.engine.prepareChain(chain);
  }

  /** Renders inserted or appended rules the Table is about to accept.
   *  @throws {@link InvalidRuleError} as the renderer does. */
  acceptRules(rules: readonly Rule[]): void {
    this.engine.prepareRules(rules);
  }

  /** The Table's cache invalidation, passed on unless the Table only changed its desired state. */
  invalidate(reason: string): void {
    if (!DESIRED_STATE_REASONS.has(reason)) this.engine.invalidate();
  }

  /** One apply; resolves to when the Table should apply again (ms from now, 0: no need). */
  async apply(desired: NftDesiredState, report: ReportInProgress | undefined): Promise<number> {
    const now = this.c.options.now();
    const clock = (): Parameters<typeof rereadDue>[0] => ({
      refreshIntervalMs: this.c.options.refreshIntervalMs,
      lastReadTime: this.lastReadTime,
      lastWriteTime: this.lastWriteTime,
      postWriteIntervalMs: this.postWriteIntervalMs,
    });
    const due = rereadDue(clock(), now);
    this.postWriteIntervalMs = due.postWriteIntervalMs;
    if (due.reason !== undefined) this.engine.invalidate();
    const { reads, writes, speculativeWrites } = this.engine;
    const started = performance.now();
    try {
      await this.engine.apply(desired, report);
    } finally {
      this.peakApplyMs = peakAfter(this.peakApplyMs, performance.now() - started);
      // A write without a read that landed tells what the table holds, as a read does.
      if (this.engine.reads > reads || this.engine.speculativeWrites > speculativeWrites) this.lastReadTime = now;
      if (this.engine.writes > writes) {
        this.lastWriteTime = now;
        this.postWriteIntervalMs = Math.max(this.c.options.initialPostWriteIntervalMs, 2 * this.peakApplyMs);
      }
    }
    return rescheduleAfter(clock(), now);
  }

  /** The transaction apply() would write now. */
  plan(desired: NftDesiredState): Promise<RestorePlan> {
    return this.engine.plan(desired);
  }

  /** checkRulesPresent on this backend. */
  missingRules(chain: string, rules: readonly Rule[]): Promise<Rule[]> {
    return this.engine.missingRules(chain, rules);
  }
}
