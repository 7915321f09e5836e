// Protocol dependencies: which criteria of a match, and which actions, need the rule's protocol.
//
// iptables checks some criteria against the rule's protocol (measured on legacy and nft, see
// test/faults-input.test.ts): multiport wants a protocol with ports, not negated, and parsed
// before it; the icmp/icmp6 matches want their own protocol, not negated (the kernel checks at
// commit, in any order); and a rule takes one -p. The builder takes criteria in any order, so
// these are checked when a Rule is built from the whole match.
//
// What the check needs is packed into one small integer per match (no allocation: at 100k
// rules an object per criterion cost 16 MB); only when a rule is refused is the offending
// criterion looked up in the rendered text.

import type { Action } from './actions';
import { InvalidRuleError, MatchDependencyError } from './errors';

export type Needs = 'ports' | 'icmp' | 'icmp6';

const PROTOCOLS_SEEN = 0b11; // 0, 1, or 2 for "more than one"
const FIRST_PROTOCOL_SHIFT = 2; // 8 bits: the number iptables resolves the first -p to
const FIRST_NEGATED = 1 << 10;
const NEEDS: Readonly<Record<Needs, number>> = { ports: 1 << 11, icmp: 1 << 12, icmp6: 1 << 13 };
const PORTS_BEFORE_PROTOCOL = 1 << 14;

/** What a criterion being added is to the dependency check: a protocol, or one that needs one. */
export type CriterionRole = { readonly protocol: number; readonly negated: boolean } | { readonly needs: Needs };

/** A match's dependency bits with one more criterion (see MatchCriteria's `with`). */
export function addCriterion(deps: number, role: CriterionRole): number {
  const protocols = deps & PROTOCOLS_SEEN;
  if ('needs' in role) return deps | NEEDS[role.needs] | (role.needs === 'ports' && protocols === 0 ? PORTS_BEFORE_PROTOCOL : 0);
  if (protocols > 0) return (deps & ~PROTOCOLS_SEEN) | 2;
  return deps | 1 | (role.protocol << FIRST_PROTOCOL_SHIFT) | (role.negated ? FIRST_NEGATED : 0);
}

/** Protocols with ports, by number: tcp, udp, udplite, sctp, dccp. */
const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 136, 132, 33]);
const NEEDED: Readonly<Record<Needs, { readonly ok: (n: number) => boolean; readonly what: string; readonly match: string; readonly module: string }>> = {
  ports: { ok: (n) => PORT_PROTOCOLS.has(n), what: 'a protocol with ports (protocol tcp, udp, udplite, sctp or dccp)', match: 'multiport', module: 'multiport' },
  icmp: { ok: (n) => n === 1, what: 'protocol icmp (or protocolNum 1)', match: 'the icmp match', module: 'icmp' },
  icmp6: { ok: (n) => n === 58, what: 'protocol ipv6-icmp or icmpv6 (or protocolNum 58)', match: 'the icmp6 match', module: 'icmp6' },
};

/** A protocol criterion, or one iptables parses only after a protocol, found in a rendered match. */
interface Criterion {
  /** The builder method that writes it, such as `'notProtocol'` or `'destPortRanges'`. */
  readonly where: string;
  /** Its text, such as `! -p tcp`. */
  readonly text: string;
  readonly kind: 'protocol' | 'dport' | Needs;
  /** The protocol name or number, port list or ICMP type. */
  readonly value: string;
  readonly negated: boolean;
}

/** The builder's criteria in a rendered match, each with its text and method name. Builder
 *  values are single tokens; only interface names may look like options, so they are skipped.
 *  The one reader of protocol criteria in match text, for both checks below. */
function criteriaOf(rendered: string): Criterion[] {
  const tokens = rendered.split(' ');
  const out: Criterion[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const negated = tokens[i] === '!';
    const t = negated ? i + 1 : i;
    const token = tokens[t];
    if (token === '--in-interface' || token === '--out-interface') {
      i = t + 1;
    } else if (token === '-p') {
      const value = tokens[t + 1] ?? '';
      const name = /^\d+$/.test(value) ? 'protocolNum' : 'protocol';
      out.push({ where: negated ? `not${name[0]?.toUpperCase()}${name.slice(1)}` : name, text: tokens.slice(i, t + 2).join(' '), kind: 'protocol', value, negated });
      i = t + 1;
    } else if (token === '--dport') {
      out.push({ where: 'destPort', text: tokens.slice(i, t + 2).join(' '), kind: 'dport', value: tokens[t + 1] ?? '', negated });
      i = t + 1;
    } else if (token === '-m' && (tokens[t + 1] === 'multiport' || tokens[t + 1] === 'icmp' || tokens[t + 1] === 'icmp6')) {
      // -m NAME [!] --option VALUE
      const neg = tokens[t + 2] === '!';
      const option = tokens[t + (neg ? 3 : 2)] ?? '';
      const value = tokens[t + (neg ? 4 : 3)] ?? '';
      const end = t + (neg ? 5 : 4);
      const module = tokens[t + 1];
      let where: string;
      if (module === 'multiport') where = `${option === '--source-ports' ? 'source' : 'dest'}Port${value.includes(':') ? 'Range' : ''}s`;
      else where = `${module === 'icmp' ? 'icmp' : 'icmpV6'}Type${value.includes('/') ? 'AndCode' : ''}`;
      if (neg) where = `not${where[0]?.toUpperCase()}${where.slice(1)}`;
      out.push({ where, text: tokens.slice(i, end).join(' '), kind: module === 'multiport' ? 'ports' : (module as Needs), value, negated: neg });
      i = end - 1;
    }
  }
  return out;
}

type Problem = 'none' | 'negated' | 'wrong' | 'after';

/** Why iptables would refuse a builder match for its protocol criteria, from its bits; the
 *  rendered text is read only to name the offending criterion. */
export function dependencyError(deps: number, rendered: string): MatchDependencyError | undefined {
  const protocols = deps & PROTOCOLS_SEEN;
  const number = (deps >> FIRST_PROTOCOL_SHIFT) & 0xff;
  const problemOf = (needs: Needs): Problem | undefined => {
    if ((deps & NEEDS[needs]) === 0) return undefined;
    if (protocols === 0) return 'none';
    if ((deps & FIRST_NEGATED) !== 0) return 'negated';
    if (!NEEDED[needs].ok(number)) return 'wrong';
    if (needs === 'ports' && (deps & PORTS_BEFORE_PROTOCOL) !== 0) return 'after';
    return undefined;
  };
  const refused = protocols > 1 ? undefined : (['ports', 'icmp', 'icmp6'] as const).find((n) => problemOf(n) !== undefined);
  if (protocols <= 1 && refused === undefined) return undefined;
  // Refused: find the criteria in the text (rare, so the hot path keeps nothing but the bits).
  // Method names are read back from the text: destPortRanges of single ports reads as destPorts.
  const criteria = criteriaOf(rendered);
  const protocol = criteria.filter((c) => c.kind === 'protocol');
  const p = `"${protocol[0]?.text ?? ''}"`;
  if (refused === undefined) {
    const second = protocol[1];
    return new MatchDependencyError(second?.where ?? 'protocol', second?.text ?? rendered, `a rule takes one protocol criterion and the match already has ${p}; iptables refuses multiple -p`);
  }
  const { match, what, module } = NEEDED[refused];
  const reason = {
    none: `${match} needs ${what} in the same match; iptables refuses it without one`,
    negated: `${match} needs ${what}, not a negated one (${p} matches every other protocol); iptables refuses it`,
    wrong: `${match} needs ${what}, but the match has ${p}; iptables refuses it`,
    after: `the protocol (${p}) must come before it in the match: iptables reads the protocol first and refuses multiport ahead of it`,
  }[problemOf(refused) as Problem];
  const offending = criteria.find((c) => c.kind === refused);
  return new MatchDependencyError(offending?.where ?? module, offending?.text ?? rendered, reason);
}

/** The parts of an action the protocol check reads (see {@link Action}). */
type ProtocolNeeds = Pick<Action, 'setsProtocol' | 'needsTcpMatch' | 'toString' | 'toFragment'>;

/** Why the kernel (or iptables' parser) would refuse `action` after this match for protocol
 *  reasons, or undefined: an action that writes its own `-p tcp` wants no protocol in the match
 *  and no port or ICMP criterion before its `-p`; REJECT with tcp-reset wants `-p tcp`. Read from
 *  the rendered text, so matches made from raw fragments are checked too. */
export function actionProtocolError(rendered: string, action: ProtocolNeeds): InvalidRuleError | undefined {
  if (action.setsProtocol !== true && action.needsTcpMatch !== true) return undefined;
  const criteria = criteriaOf(rendered);
  const protocols = criteria.filter((c) => c.kind === 'protocol');
  if (action.setsProtocol === true && protocols.length > 0) {
    return new InvalidRuleError('Rule.match', rendered, `${action.toString()} brings its own "-p tcp"; iptables refuses a second protocol match`);
  }
  if (action.setsProtocol === true && criteria.length > 0) {
    return new InvalidRuleError('Rule.match', rendered, `${action.toString()} brings its "-p tcp" after the match, but port and ICMP matches need the protocol before them`);
  }
  if (action.needsTcpMatch === true && !protocols.some((c) => !c.negated && /^(tcp|6)$/i.test(c.value))) {
    return new InvalidRuleError('Rule.match', rendered, `${action.toFragment()} needs the rule to match protocol tcp (the kernel refuses it otherwise): add protocol('tcp')`);
  }
  return undefined;
}
