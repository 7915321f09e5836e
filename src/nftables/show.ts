// `iptables-sync show --backend nftables`: our nftables tables as nft holds them, each chain and
// rule with its counters, read by the engine's own listing (nft-run.ts, the listing worker).
// In our table everything is ours to manage; a rule without our ID comment (another program's)
// is shown as not ours, as the next apply would remove it.
import type { IpVersion } from '../backend';
import { inNetns, spawnCommand, type CommandFactory } from '../commands';
import { SILENT_LOGGER } from '../logger';
import type { ShownChain, ShownTable } from '../show';
import type { TableName } from '../table-names';
import { listTable } from './nft-run';
import { familyOf, nftTableNameFor } from './table-spec';

/** What to show. */
export interface NftShowOptions {
  readonly tables: readonly TableName[];
  readonly ipVersion: IpVersion;
  readonly hashPrefix: string;
  /** Our tables are `<nftTablePrefix><table>`; default `ipts-`. */
  readonly nftTablePrefix?: string;
  readonly netns?: string;
  readonly commandFactory?: CommandFactory;
  /** Per listing (ms); default 60 s. */
  readonly timeoutMs?: number;
}

/** Lists our nftables table of each iptables table (`<nftTablePrefix><table>`); one that does not exist is
 *  shown with no chains.
 *  @throws {@link SaveFailedError} when nft fails to list a table. */
export async function showNftTables(options: NftShowOptions): Promise<ShownTable[]> {
  const base = options.commandFactory ?? spawnCommand;
  const run = options.netns !== undefined ? inNetns(options.netns, base) : base;
  const family = familyOf(options.ipVersion);
  const out: ShownTable[] = [];
  for (const table of options.tables) {
    const nftTable = nftTableNameFor(table, options.nftTablePrefix);
    const listing = await listTable({
      run,
      family,
      table: nftTable,
      timeoutMs: options.timeoutMs ?? 60_000,
      hashPrefix: options.hashPrefix,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      logger: SILENT_LOGGER,
      withDetails: true,
    });
    const chains: ShownChain[] = listing.chains.map((c) => ({
      name: c.name,
      rules: (c.details ?? []).map((d, i) => ({ num: i + 1, id: c.ids[i] || null, packets: d.packets, bytes: d.bytes, rule: d.text })),
    }));
    chains.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    out.push({ table, ipVersion: options.ipVersion, backend: 'nftables', nftTable: `${family} ${nftTable}`, chains, inserts: [] });
  }
  return out;
}
