// The Table's seam to the nftables engine: the engine made from a Table's resolved options, and
// which of the Table's cache invalidations it passes on.
import type { IpVersion } from '../backend';
import type { TableName } from '../table-names';
import { InvalidOptionError } from '../errors';
import { RULE_ID_LENGTH } from '../save-line';
import { NftablesDataplane, type NftEngineOptions } from './dataplane';
import { NFT_MAX_COMMENT_BYTES, nftStringProblem } from './nft-names';
import { nftRuleRenderer } from './rule-text';
import { familyOf } from './table-spec';

/** What the engine needs of a Table. */
export interface NftTableContext {
  readonly name: TableName;
  readonly ipVersion: IpVersion;
  readonly hashPrefix: string;
  /** Our nftables table's name (the `nftTableName` option, validated). */
  readonly nftTableName: string;
  readonly labels: { readonly table: string; readonly ip_version: string };
  readonly options: Pick<NftEngineOptions, 'run' | 'commandTimeoutMs' | 'lockTimeoutMs' | 'sleep' | 'now' | 'logger' | 'metrics'>;
}

/** The engine of a Table on backend 'nftables'.
 *  @throws {@link InvalidOptionError} for a hash prefix nft's quoted comment cannot carry. */
export function nftablesEngineFor(c: NftTableContext): NftablesDataplane {
  // The ID comment is a quoted nft string: no `"`, `\` or `$` (nft expands `$name` inside quotes).
  const problem = nftStringProblem(c.hashPrefix, NFT_MAX_COMMENT_BYTES - RULE_ID_LENGTH);
  if (problem !== undefined) throw new InvalidOptionError('hashPrefix', c.hashPrefix, `on backend nftables the hash prefix ${problem}`);
  const family = familyOf(c.ipVersion);
  return new NftablesDataplane({
    tableName: c.name,
    family,
    nftTable: c.nftTableName,
    hashPrefix: c.hashPrefix,
    render: nftRuleRenderer(family, c.name),
    ...c.options,
    labels: c.labels,
  });
}

// The Table invalidates its cache after each update of the desired state (Felix re-reads before
// every write, in case another program changed the rules meanwhile). The nftables engine need
// not: it edits by handle, so a stale view fails the transaction (and the retry reads again)
// instead of editing the wrong rule. Timers, retries and the caller's own calls still re-read.
const DESIRED_STATE_REASONS: ReadonlySet<string> = new Set(['chain update', 'chain removal', 'insertion update', 'append update']);

/** Passes the Table's cache invalidation on to the engine, unless the Table only changed its
 *  own desired state. */
export function invalidateNftables(engine: NftablesDataplane | undefined, reason: string): void {
  if (engine !== undefined && !DESIRED_STATE_REASONS.has(reason)) engine.invalidate();
}
