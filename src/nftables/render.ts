// The nftables renderer: a Rule's match and action, as the builder rendered them for iptables,
// translated into the statements of one nft rule (without `add rule …`, `counter` or `comment`,
// which the nftables backend adds).
//
// It reads exactly the fragments Match() and the action classes produce (tokenized by
// src/save-line.ts, the one reader of iptables rule text) and refuses anything else: every
// criterion nftables cannot express here, or could only express with a different meaning, is an
// InvalidRuleError naming the builder method (or action field) and the backend, so a rule that
// renders is one `nft -f` takes and means what the iptables rule means.
import type { Rule } from '../rule';
import { saveLineTokens } from '../save-line';
import type { TableName } from '../table-names';
import { renderNftAction } from './render-action';
import { renderNftMatch } from './render-match';

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
   *  plain nft name (see nftName in nft-names.ts) or the rule is refused. It must always give the
   *  same name for the same chain: renderings are cached per context object. */
  readonly chainName: (iptablesChain: string) => string;
}

// Rules are immutable, so a rule renders once per context (a Table keeps one context; its
// rules are rendered again on every apply and resync otherwise).
const rendered = new WeakMap<NftRenderContext, WeakMap<Rule, string>>();

/**
 * The nft statements for a rule: its match criteria in order, then its action, such as
 * `ip protocol tcp tcp dport { 80, 443 } ct state invalid drop`. Without `counter` and without
 * `comment` (the caller adds them, and the rule's own comment is the caller's to place).
 * @throws {@link InvalidRuleError} naming the builder method or action field, for a criterion or
 *   action nftables cannot express with the same meaning (ipsets, IPVS, a conntrack state list
 *   mixing SNAT/DNAT with other states, …), one that does not fit the family or table, or a
 *   name or string that nft's grammar cannot carry safely.
 */
export function renderNftRule(rule: Rule, ctx: NftRenderContext): string {
  let cache = rendered.get(ctx);
  if (cache === undefined) rendered.set(ctx, (cache = new WeakMap()));
  let text = cache.get(rule);
  if (text === undefined) cache.set(rule, (text = render(rule, ctx)));
  return text;
}

function render(rule: Rule, ctx: NftRenderContext): string {
  const matchTokens = saveLineTokens(rule.match.render());
  const { statements, protocol } = renderNftMatch(matchTokens, ctx);
  const fragment = rule.features === undefined ? rule.action.toFragment() : rule.action.toFragment(rule.features);
  statements.push(...renderNftAction(fragment, protocol, ctx));
  return statements.join(' ');
}

/** Throws what {@link renderNftRule} would throw for this rule and context; returns nothing.
 *  For checking rules when they are given (at build or plan time), not at apply time. */
export function checkNftRule(rule: Rule, ctx: NftRenderContext): void {
  renderNftRule(rule, ctx);
}
