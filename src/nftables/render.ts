// The nftables renderer: a Rule's match and action, as the builder rendered them for iptables,
// translated into the statements of one nft rule (without `add rule …`, `counter` or `comment`,
// which the nftables backend adds).
//
// It reads exactly the fragments Match() and the action classes produce (tokenized by
// src/save-line.ts, the one reader of iptables rule text) and refuses anything else: every
// criterion nftables cannot express here, or could only express with a different meaning, is an
// InvalidRuleError naming the builder method (or action field) and the backend, so a rule that
// renders is one `nft -f` takes and means what the iptables rule means.
//
// Where the nft text is not a word-for-word translation (each checked against the real nft, and
// against iptables-translate where it translates: test/nftables-render*.test.ts):
//  - Order: iptables checks the IP header criteria (interfaces, protocol, addresses) before any
//    match extension, so they come first; the rest keep their order (a `limit` counts only the
//    packets that reach it, in both).
//  - Protocol: `ip protocol` for IPv4, `meta l4proto` for IPv6 (ip6tables' -p is the protocol
//    after the extension headers); protocol 0/all and a positive /0 net match everything and are
//    left out; protocols nft may not know by name are written as numbers.
//  - Conntrack: states are `ct state a,b` (a packet has one state, so this is "any of");
//    SNAT/DNAT are `ct status snat,dnat`. A list mixing the two, and negated SNAT/DNAT (which
//    iptables also matches for packets without a connection, and nft's ct status does not), are
//    refused.
//  - ICMP: iptables' IPv4 type 255 means any type, so it is left out (its negation, which
//    matches nothing, is refused); a negated type/code is `icmp type . icmp code != { t . c }`.
//  - rpfilter is fib's reverse lookup (`fib saddr [. mark] . iif oif`), as iptables-translate
//    writes it; passing with --accept-local (local source OR route back) is refused.
//  - vxlanVni's u32 program is `@th,96,24` (the 24 bits at byte 12 after the IPv4 header); the
//    one difference is a non-first fragment, which nft's transport header never matches.
//  - NFLOG's --nflog-range is left out: the kernel never used it (iptables-translate drops it
//    too); --nflog-size is `snaplen`.
//  - LimitNumConnectionsAction's connlimit over mask 0 counts the connections the rule saw:
//    nft's per-rule `ct count over N`.
//  - CONNMARK --save-mark/--restore-mark are exact only for the whole mark; with a mask they
//    combine two marks, which nft 1.0 cannot, so they are refused.
// Hooks: as in iptables, some statements work only in some base chains (NAT, reject, notrack,
// fib with iif or oif); nft checks that when a base chain reaches the rule, at commit.
import type { Rule } from '../rule';
import { saveLineTokens } from '../save-line';
import { renderNftAction } from './render-action';
import type { NftRenderContext } from './render-context';
import { renderNftMatch } from './render-match';

export type { NftFamily, NftRenderContext } from './render-context';

/** A rendered rule in two parts, so a `counter` can go between them and count what the
 *  iptables rule's counter counts: the packets that match. */
export interface NftRuleParts {
  /** Every match expression, in iptables' order of evaluation, including those an action
   *  brings (LimitPacketRateAction's limit, LimitNumConnectionsAction's protocol, TCP flags
   *  and connection count); "" when the rule matches every packet. */
  readonly matches: string;
  /** The one statement the action ends in: a verdict, a jump, NAT, a mark write, a log, … */
  readonly statement: string;
}

// Rules are immutable, so a rule renders once per context (a Table keeps one context; its
// rules are rendered again on every apply and resync otherwise).
const rendered = new WeakMap<NftRenderContext, WeakMap<Rule, NftRuleParts>>();

/**
 * A rule's nft text in its two parts (see {@link NftRuleParts}); cached per rule and context.
 * @throws {@link InvalidRuleError} as {@link renderNftRule} does.
 */
export function renderNftRuleParts(rule: Rule, ctx: NftRenderContext): NftRuleParts {
  let cache = rendered.get(ctx);
  if (cache === undefined) rendered.set(ctx, (cache = new WeakMap()));
  let parts = cache.get(rule);
  if (parts === undefined) cache.set(rule, (parts = render(rule, ctx)));
  return parts;
}

/**
 * The nft statements for a rule: its match criteria, then its action, such as
 * `ip protocol tcp tcp dport { 80, 443 } ct state invalid drop`. Without `counter` and without
 * `comment` (the caller adds them, and the rule's own comment is the caller's to place; a
 * counter belongs between the two parts of {@link renderNftRuleParts}).
 * @throws {@link InvalidRuleError} naming the builder method or action field, for a criterion or
 *   action nftables cannot express with the same meaning (ipsets, IPVS, a conntrack state list
 *   mixing SNAT/DNAT with other states, …), one that does not fit the family or table, or a
 *   name or string that nft's grammar cannot carry safely.
 */
export function renderNftRule(rule: Rule, ctx: NftRenderContext): string {
  const { matches, statement } = renderNftRuleParts(rule, ctx);
  return matches === '' ? statement : `${matches} ${statement}`;
}

function render(rule: Rule, ctx: NftRenderContext): NftRuleParts {
  const { statements, protocol } = renderNftMatch(saveLineTokens(rule.match.render()), ctx);
  const fragment = rule.features === undefined ? rule.action.toFragment() : rule.action.toFragment(rule.features);
  const action = renderNftAction(fragment, protocol, ctx);
  // Every action ends in exactly one statement; what comes before it are matches.
  statements.push(...action.slice(0, -1));
  return Object.freeze({ matches: statements.join(' '), statement: action[action.length - 1] as string });
}

/** Throws what {@link renderNftRule} would throw for this rule and context; returns nothing.
 *  For checking rules when they are given (at build or plan time), not at apply time. */
export function checkNftRule(rule: Rule, ctx: NftRenderContext): void {
  renderNftRule(rule, ctx);
}
