// What the nftables renderer's parts share: the family and where a rule goes. A leaf, so the
// renderer and its match and action parts do not import one another in a circle.
import type { TableName } from '../table-names';

/** The nftables address family of a Table: `ip` for IPv4, `ip6` for IPv6. */
export type NftFamily = 'ip' | 'ip6';

/** What the renderer needs to know about where a rule goes. */
export interface NftRenderContext {
  /** The family of the nftables table (`ip` or `ip6`); addresses, ICMP and REJECT types must fit it. */
  readonly family: NftFamily;
  /** The iptables table the rule was written for: NAT actions need `nat`, NOTRACK `raw`, DSCP
   *  `mangle`, REJECT `filter` (as iptables requires). */
  readonly table: TableName;
  /** The nftables chain name for an iptables chain a rule jumps or goes to. Its result must be a
   *  plain nft name (see nftName) or the rule is refused. It must always give the
   *  same name for the same chain: renderings are cached per context object. */
  readonly chainName: (iptablesChain: string) => string;
}
