// Which nftables table a Table owns (family and name) and which base chains stand for the
// iptables kernel chains: a leaf module, so validating options needs nothing of the engine.
import type { IpVersion } from '../backend';
import { InvalidOptionError } from '../errors';
import { KERNEL_CHAINS, TABLE_NAMES, type TableName } from '../table-names';
import { nftNameProblem } from './nft-names';
import type { NftFamily } from './render';

/** The family a Table of this IP version owns its table in. */
export function familyOf(ipVersion: IpVersion): NftFamily {
  return ipVersion === 6 ? 'ip6' : 'ip';
}

/** The prefix of our nftables tables' default names: `ipts-filter`, `ipts-nat`, … */
export const DEFAULT_NFT_TABLE_PREFIX = 'ipts-';

/** The name of our nftables table for iptables table `table` under `prefix` (not validated):
 *  by default `ipts-` and the iptables table's name. */
export function nftTableNameFor(table: TableName, prefix: string = DEFAULT_NFT_TABLE_PREFIX): string {
  return `${prefix}${table}`;
}

/** The tables iptables-nft keeps its rules in (in families ip and ip6): never ours to own, as a
 *  Table empties its table of everything not desired and deletes it when nothing is. */
const IPTABLES_NFT_TABLES: ReadonlySet<string> = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

/** Why `value` cannot name our nftables table (not a name nft takes unquoted, or one of
 *  iptables-nft's tables), or undefined when it can. */
export function nftTableNameProblem(value: unknown): string | undefined {
  const problem = nftNameProblem(value);
  if (problem !== undefined) return problem;
  if (IPTABLES_NFT_TABLES.has(value as string)) return `"${value as string}" is a table of iptables-nft's own, which we must never change or delete`;
  return undefined;
}

/** The nftables table name option, validated: a name nft takes unquoted (nft 1.0.x takes no
 *  quoted table names), so it can never break out of a command of `nft -f`, and not one of
 *  iptables-nft's tables.
 *  @throws {@link InvalidOptionError} naming `nftTableName` and the value. */
export function nftTableName(value: unknown, table: TableName): string {
  if (value === undefined) return nftTableNameFor(table);
  const problem = nftTableNameProblem(value);
  if (problem !== undefined) throw new InvalidOptionError('nftTableName', value, problem);
  return value as string;
}

/** Why `prefix` cannot prefix our nftables tables' names (the first table whose name
 *  {@link nftTableNameProblem} refuses, with the reason), or undefined when it can. */
export function nftTablePrefixProblem(prefix: string): string | undefined {
  for (const table of TABLE_NAMES) {
    const name = nftTableNameFor(table, prefix);
    const problem = nftTableNameProblem(name);
    if (problem !== undefined) return `the nftables table name of ${table} would be ${JSON.stringify(name)}, and ${problem}`;
  }
  return undefined;
}

/** How a base chain hooks into netfilter: the `{ type … hook … priority …; policy accept; }` of
 *  `add chain`, which nft lists back byte for byte as written here. */
export interface BaseChainSpec {
  readonly type: 'filter' | 'nat' | 'route';
  readonly hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** A priority nft names (filter, mangle, raw, dstnat, srcnat) or a number where nft has no
   *  name for it (nat input 100, nat output -100). */
  readonly priority: string;
}

/** The text nft lists as a base chain's first line, and `add chain` takes between braces. */
export function baseChainDeclaration(spec: BaseChainSpec): string {
  return `type ${spec.type} hook ${spec.hook} priority ${spec.priority}; policy accept;`;
}

const HOOKS: Readonly<Record<string, BaseChainSpec['hook']>> = {
  PREROUTING: 'prerouting',
  INPUT: 'input',
  FORWARD: 'forward',
  OUTPUT: 'output',
  POSTROUTING: 'postrouting',
};

/**
 * The base chain standing for an iptables kernel chain, at the priority iptables registers that
 * table's hook with (NF_IP_PRI_*): filter 0, mangle -150, raw -300, nat dstnat -100 and srcnat
 * 100. nat INPUT is source NAT (100) and nat OUTPUT destination NAT (-100), as in iptables; mangle
 * OUTPUT is `type route`, which re-routes a packet whose mark or address a rule changed.
 */
export function baseChainSpec(table: TableName, chain: string): BaseChainSpec | undefined {
  if (!KERNEL_CHAINS[table].includes(chain)) return undefined;
  const hook = HOOKS[chain] as BaseChainSpec['hook'];
  switch (table) {
    case 'filter':
      return { type: 'filter', hook, priority: 'filter' };
    case 'raw':
      return { type: 'filter', hook, priority: 'raw' };
    case 'mangle':
      return { type: hook === 'output' ? 'route' : 'filter', hook, priority: 'mangle' };
    case 'nat': {
      const priority = hook === 'prerouting' ? 'dstnat' : hook === 'postrouting' ? 'srcnat' : hook === 'input' ? '100' : '-100';
      return { type: 'nat', hook, priority };
    }
  }
}
