// The match builder: an immutable list of iptables match fragments.
//
// Every method validates its arguments when called (so a bad value is reported where it was
// written, not at apply time) and returns a new MatchCriteria; the receiver never changes.
import { readFileSync } from 'node:fs';
import { InvalidRuleError, type MatchDependencyError } from './errors';
import { formatPortRanges, formatPorts, type PortRange } from './multiport';
import { addCriterion, type CriterionRole, dependencyError } from './protocol-deps';
import { cidr, hex, interfaceName, ipSetName, nonZeroMark, port, uint, uint32, uint8, word } from './validate';

/** Address types of the addrtype match (Go's AddrTypeLocal is AddrType.Local). */
export const AddrType = {
  /** An unspecified address (0.0.0.0, ::). */
  Unspec: 'UNSPEC',
  /** A unicast address. */
  Unicast: 'UNICAST',
  /** An address of this host. */
  Local: 'LOCAL',
  /** A broadcast address. */
  Broadcast: 'BROADCAST',
  /** An anycast address. */
  Anycast: 'ANYCAST',
  /** A multicast address. */
  Multicast: 'MULTICAST',
  /** An address routed to a blackhole route. */
  Blackhole: 'BLACKHOLE',
  /** An address routed to an unreachable route. */
  Unreachable: 'UNREACHABLE',
  /** An address routed to a prohibit route. */
  Prohibit: 'PROHIBIT',
  /** An address routed to a throw route. */
  Throw: 'THROW',
  /** A NAT address (the kernel's RTN_NAT). */
  Nat: 'NAT',
  /** An address of an external-resolver route (the kernel's RTN_XRESOLVE). */
  XResolve: 'XRESOLVE',
} as const;
/** An address type of the addrtype match, such as `'LOCAL'`. */
export type AddrType = (typeof AddrType)[keyof typeof AddrType];
const ADDR_TYPES: ReadonlySet<string> = new Set(Object.values(AddrType));

const CONNTRACK_STATES: ReadonlySet<string> = new Set([
  'INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'SNAT', 'DNAT',
]);

function addrType(where: string, value: unknown): AddrType {
  if (typeof value !== 'string' || !ADDR_TYPES.has(value)) {
    throw new InvalidRuleError(where, value, `expected one of ${[...ADDR_TYPES].join(', ')}`);
  }
  return value as AddrType;
}

function protocolName(where: string, value: unknown): string {
  const name = word(where, value, 'protocol');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new InvalidRuleError(where, value, 'protocol must be a name like "tcp" or a number');
  }
  if (/^\d+$/.test(name)) uint8(where, Number(name), 'protocol number');
  else if (!protocolNumbers().has(name.toLowerCase())) {
    throw new InvalidRuleError(where, value, 'unknown protocol name (iptables knows its built-ins and /etc/protocols)');
  }
  return name;
}

/** The number iptables resolves a protocol name or number (as protocolName accepted it) to;
 *  it lower-cases names first. */
function protocolNumber(name: string): number {
  return /^\d+$/.test(name) ? Number(name) : (protocolNumbers().get(name.toLowerCase()) as number);
}

// The names iptables resolves itself, overridden by those of /etc/protocols, which it asks
// first (read once, on first use).
const BUILTIN_PROTOCOLS: Readonly<Record<string, number>> = {
  all: 0, tcp: 6, udp: 17, udplite: 136, icmp: 1, icmpv6: 58, 'ipv6-icmp': 58, esp: 50, ah: 51, sctp: 132, mh: 135, dccp: 33, gre: 47, ipip: 4,
};
let protocolTable: ReadonlyMap<string, number> | undefined;
/** Protocol names (lower case) to numbers, as iptables resolves them: its built-ins, then
 *  /etc/protocols (read once). Also what the nftables renderer resolves names with. */
export function protocolNumbers(): ReadonlyMap<string, number> {
  if (protocolTable) return protocolTable;
  const names = new Map(Object.entries(BUILTIN_PROTOCOLS));
  try {
    for (const line of readFileSync('/etc/protocols', 'latin1').split('\n')) {
      const fields = line.replace(/#.*/, '').trim().split(/\s+/);
      const num = Number(fields[1]);
      if (fields.length < 2 || !/^\d+$/.test(fields[1] as string) || num > 255) continue;
      for (const f of [fields[0], ...fields.slice(2)]) if (f) names.set(f.toLowerCase(), num);
    }
  } catch {
    // No /etc/protocols: the built-ins are what iptables can resolve then, too.
  }
  protocolTable = names;
  return names;
}

// --- protocol dependencies (src/protocol-deps.ts) -----------------------------------------------

// with() hands the new match its bits and its text through these, so the public constructor
// keeps its single parameter (and a built match makes no fragment arrays: 300k criteria in 100k
// rules). The constructor takes them first thing, so a throw cannot leave them set.
let handedDeps = 0;
let handedText: string | undefined;

function markWithMask(where: string, mark: unknown, mask: unknown): string {
  const m = uint32(where, mark, 'mark');
  const k = uint32(where, mask, 'mask');
  if (k === 0) throw new InvalidRuleError(where, mask, 'mask must not be 0');
  if ((m & k) >>> 0 !== m) throw new InvalidRuleError(where, mark, `mark has bits outside mask ${hex(k)}`);
  return `${hex(m)}/${hex(k)}`;
}

const not = (negate: boolean): string => (negate ? '! ' : '');

// Protocol 0 / "all" matches every packet; iptables refuses its negation ("rule would never
// match protocol"), so it must not reach iptables-restore.
const notAll = (where: string, value: unknown): InvalidRuleError =>
  new InvalidRuleError(where, value, 'negating protocol 0 ("all") would never match; iptables refuses it');

// A negated /0 net would never match; iptables-nft refuses it (RULE_APPEND failed: Invalid
// argument), failing the whole restore, so it must not reach iptables-restore.
function notEverything(where: string, net: unknown): string {
  const text = cidr(where, net);
  if (/\/0+$/.test(text)) throw new InvalidRuleError(where, net, 'negating a /0 net would never match; iptables-nft refuses it');
  return text;
}

/**
 * An immutable list of iptables match criteria, built with {@link Match}: each method checks its
 * arguments, appends one criterion and returns a new MatchCriteria (the receiver never changes),
 * so `Match().protocol('tcp').destPorts(80, 443)` reads as the rule it renders. Negated forms
 * start with `not`.
 *
 * Every method throws {@link InvalidRuleError} (naming the method and the value) for a value
 * iptables would refuse. Protocol dependencies (multiport and ICMP need their protocol; one
 * protocol criterion per rule) are checked when a {@link Rule} is built from the whole match,
 * which then throws {@link MatchDependencyError}.
 */
export class MatchCriteria {
  // Only the rendered text is kept: 100k rules' matches are one string each, not arrays.
  private readonly rendered: string;
  /** The protocol-dependency bits (see addCriterion); 0 for matches made from raw fragments,
   *  which are not checked. */
  private readonly deps: number;

  /** Wraps raw match fragments as given (not checked); use {@link Match} to start a builder.
   *  @throws {@link InvalidRuleError} unless `fragments` is an array of strings. */
  constructor(fragments: readonly string[] = []) {
    this.deps = handedDeps;
    handedDeps = 0;
    const built = handedText;
    if (built !== undefined) {
      handedText = undefined;
      this.rendered = built;
      Object.freeze(this);
      return;
    }
    if (!Array.isArray(fragments) || !Array.from(fragments).every((f) => typeof f === 'string')) {
      throw new InvalidRuleError('MatchCriteria', fragments, 'expected an array of strings (use Match() to build one)');
    }
    this.rendered = fragments.join(' ');
    Object.freeze(this);
  }

  /** Why iptables would refuse this match for its protocol criteria (one -p; multiport after a
   *  -p with ports; icmp/icmp6 with their own -p; none negated), or undefined. A Rule throws it. */
  protocolDependencyError(): MatchDependencyError | undefined {
    return this.deps === 0 ? undefined : dependencyError(this.deps, this.rendered);
  }

  private with(fragment: string, role?: CriterionRole): MatchCriteria {
    handedDeps = role === undefined ? this.deps : addCriterion(this.deps, role);
    handedText = this.rendered === '' ? fragment : `${this.rendered} ${fragment}`;
    return new MatchCriteria();
  }

  /** The fragments joined by single spaces ("" for no match). */
  render(): string {
    return this.rendered;
  }

  /** For logs: `MatchCriteria[<rendered text>]`. */
  toString(): string {
    return `MatchCriteria[${this.render()}]`;
  }

  // --- marks -------------------------------------------------------------------------------

  /** `-m mark --mark 0/<mark>`: the packet mark has none of these bits (mark non-zero). */
  markClear(mark: number): MatchCriteria {
    return this.with(`-m mark --mark 0/${hex(nonZeroMark('markClear', mark))}`);
  }

  /** `-m mark ! --mark 0/<mark>`: the packet mark has some of these bits (mark non-zero). */
  markNotClear(mark: number): MatchCriteria {
    return this.with(`-m mark ! --mark 0/${hex(nonZeroMark('markNotClear', mark))}`);
  }

  /** `-m mark --mark <mark>/<mark>`: the one bit of `mark` is set (`mark` must have exactly one bit). */
  markSingleBitSet(mark: number): MatchCriteria {
    const m = uint32('markSingleBitSet', mark, 'mark');
    if (m === 0 || (m & (m - 1)) !== 0) throw new InvalidRuleError('markSingleBitSet', mark, 'mark must have exactly one bit set');
    return this.with(`-m mark --mark ${markWithMask('markSingleBitSet', m, m)}`);
  }

  /** `-m mark --mark <mark>/<mask>`: the mark's bits under `mask` equal `mark` (mask non-zero, mark within it). */
  markMatchesWithMask(mark: number, mask: number): MatchCriteria {
    return this.with(`-m mark --mark ${markWithMask('markMatchesWithMask', mark, mask)}`);
  }

  /** `-m mark ! --mark <mark>/<mask>`: negation of markMatchesWithMask. */
  notMarkMatchesWithMask(mark: number, mask: number): MatchCriteria {
    return this.with(`-m mark ! --mark ${markWithMask('notMarkMatchesWithMask', mark, mask)}`);
  }

  // --- interfaces, rpf, ipvs, addrtype, conntrack --------------------------------------------

  /** `--in-interface <ifaceMatch>`: the packet came in on this interface (`+` at the end matches a name prefix). */
  inInterface(ifaceMatch: string): MatchCriteria {
    return this.with(`--in-interface ${interfaceName('inInterface', ifaceMatch)}`);
  }

  /** `--out-interface <ifaceMatch>`: the packet goes out on this interface (`+` at the end matches a name prefix). */
  outInterface(ifaceMatch: string): MatchCriteria {
    return this.with(`--out-interface ${interfaceName('outInterface', ifaceMatch)}`);
  }

  /** Without an argument Felix v3.2.2's `-m rpfilter`; with one latest Felix's `--validmark`
   *  form (the packet's mark takes part in the route lookup), plus `--accept-local` if true. */
  rpfCheckPassed(acceptLocal?: boolean): MatchCriteria {
    return this.with(`-m rpfilter${rpfOptions('rpfCheckPassed', acceptLocal)}`);
  }

  /** As rpfCheckPassed, inverted: `-m rpfilter --invert` (+ `--validmark` …). */
  rpfCheckFailed(acceptLocal?: boolean): MatchCriteria {
    return this.with(`-m rpfilter --invert${rpfOptions('rpfCheckFailed', acceptLocal)}`);
  }

  /** `-m ipvs --ipvs`: the packet belongs to an IPVS connection. */
  ipvsConnection(): MatchCriteria {
    return this.with('-m ipvs --ipvs');
  }

  /** `-m ipvs ! --ipvs`: the packet does not belong to an IPVS connection. */
  notIpvsConnection(): MatchCriteria {
    return this.with('-m ipvs ! --ipvs');
  }

  /** `-m addrtype --src-type <type>` (plus `--limit-iface-out` if `limitIfaceOut`). */
  srcAddrType(type: AddrType, limitIfaceOut: boolean): MatchCriteria {
    return this.addrTypeMatch('srcAddrType', false, type, limitIfaceOut);
  }

  /** `-m addrtype ! --src-type <type>` (plus `--limit-iface-out` if `limitIfaceOut`). */
  notSrcAddrType(type: AddrType, limitIfaceOut: boolean): MatchCriteria {
    return this.addrTypeMatch('notSrcAddrType', true, type, limitIfaceOut);
  }

  /** `-m addrtype --dst-type <type>`. */
  destAddrType(type: AddrType): MatchCriteria {
    return this.with(`-m addrtype --dst-type ${addrType('destAddrType', type)}`);
  }

  /** `-m addrtype ! --dst-type <type>`. */
  notDestAddrType(type: AddrType): MatchCriteria {
    return this.with(`-m addrtype ! --dst-type ${addrType('notDestAddrType', type)}`);
  }

  private addrTypeMatch(where: string, negate: boolean, type: AddrType, limitIfaceOut: boolean): MatchCriteria {
    const suffix = limitIfaceOut ? ' --limit-iface-out' : '';
    return this.with(`-m addrtype ${not(negate)}--src-type ${addrType(where, type)}${suffix}`);
  }

  /** `-m conntrack --ctstate <stateNames>`: comma-separated states from INVALID, NEW, ESTABLISHED, RELATED, UNTRACKED, SNAT, DNAT. */
  conntrackState(stateNames: string): MatchCriteria {
    return this.with(`-m conntrack --ctstate ${conntrackStates('conntrackState', stateNames)}`);
  }

  /** `-m conntrack ! --ctstate <stateNames>` (states as for conntrackState). */
  notConntrackState(stateNames: string): MatchCriteria {
    return this.with(`-m conntrack ! --ctstate ${conntrackStates('notConntrackState', stateNames)}`);
  }

  // --- protocol ----------------------------------------------------------------------------

  /** `-p <name>`: a protocol name iptables knows (its built-ins or /etc/protocols) or a number. A rule takes one protocol criterion. */
  protocol(name: string): MatchCriteria {
    const p = protocolName('protocol', name);
    return this.with(`-p ${p}`, { protocol: protocolNumber(p), negated: false });
  }

  /** `! -p <name>`: any protocol but this one (not `all`/0, which would never match). */
  notProtocol(name: string): MatchCriteria {
    const p = protocolName('notProtocol', name);
    if (p.toLowerCase() === 'all' || (/^\d+$/.test(p) && Number(p) === 0)) throw notAll('notProtocol', name);
    return this.with(`! -p ${p}`, { protocol: protocolNumber(p), negated: true });
  }

  /** `-p <num>`: a protocol by number, 0 to 255. */
  protocolNum(num: number): MatchCriteria {
    return this.with(`-p ${uint8('protocolNum', num, 'protocol number')}`, { protocol: num, negated: false });
  }

  /** `! -p <num>`: any protocol but this number (1 to 255; 0 would never match). */
  notProtocolNum(num: number): MatchCriteria {
    if (uint8('notProtocolNum', num, 'protocol number') === 0) throw notAll('notProtocolNum', num);
    return this.with(`! -p ${num}`, { protocol: num, negated: true });
  }

  // --- addresses ---------------------------------------------------------------------------

  /** `--source <net>`: an IPv4 or IPv6 address or CIDR. */
  sourceNet(net: string): MatchCriteria {
    return this.with(`--source ${cidr('sourceNet', net)}`);
  }

  /** `! --source <net>` (not a /0 net, which would never match). */
  notSourceNet(net: string): MatchCriteria {
    return this.with(`! --source ${notEverything('notSourceNet', net)}`);
  }

  /** `--destination <net>`: an IPv4 or IPv6 address or CIDR. */
  destNet(net: string): MatchCriteria {
    return this.with(`--destination ${cidr('destNet', net)}`);
  }

  /** `! --destination <net>` (not a /0 net, which would never match). */
  notDestNet(net: string): MatchCriteria {
    return this.with(`! --destination ${notEverything('notDestNet', net)}`);
  }

  // --- ipsets ------------------------------------------------------------------------------

  /** `-m set --match-set <name> src`: the source address is in this ipset. */
  sourceIpSet(name: string): MatchCriteria {
    return this.ipSet('sourceIpSet', false, name, 'src');
  }

  /** `-m set ! --match-set <name> src`. */
  notSourceIpSet(name: string): MatchCriteria {
    return this.ipSet('notSourceIpSet', true, name, 'src');
  }

  /** `-m set --match-set <name> src,src`: the source address and port are in this ipset. */
  sourceIpPortSet(name: string): MatchCriteria {
    return this.ipSet('sourceIpPortSet', false, name, 'src,src');
  }

  /** `-m set ! --match-set <name> src,src`. */
  notSourceIpPortSet(name: string): MatchCriteria {
    return this.ipSet('notSourceIpPortSet', true, name, 'src,src');
  }

  /** `-m set --match-set <name> dst`: the destination address is in this ipset. */
  destIpSet(name: string): MatchCriteria {
    return this.ipSet('destIpSet', false, name, 'dst');
  }

  /** `-m set ! --match-set <name> dst`. */
  notDestIpSet(name: string): MatchCriteria {
    return this.ipSet('notDestIpSet', true, name, 'dst');
  }

  /** `-m set --match-set <name> dst,dst`: the destination address and port are in this ipset. */
  destIpPortSet(name: string): MatchCriteria {
    return this.ipSet('destIpPortSet', false, name, 'dst,dst');
  }

  /** `-m set ! --match-set <name> dst,dst`. */
  notDestIpPortSet(name: string): MatchCriteria {
    return this.ipSet('notDestIpPortSet', true, name, 'dst,dst');
  }

  private ipSet(where: string, negate: boolean, name: string, flags: string): MatchCriteria {
    return this.with(`-m set ${not(negate)}--match-set ${ipSetName(where, name)} ${flags}`);
  }

  /** The ipsets this match refers to, in order (a name used twice is listed twice). */
  ipSetNames(): string[] {
    const words = this.rendered.split(' ');
    const names: string[] = [];
    for (let i = 0; i + 1 < words.length; i++) if (words[i] === '--match-set') names.push(words[i + 1] as string);
    return names;
  }

  // --- ports -------------------------------------------------------------------------------

  /** `-m multiport --source-ports <ports>`: at most 15 ports; needs a protocol with ports (tcp, udp, udplite, sctp, dccp) before it in the match. */
  sourcePorts(...ports: number[]): MatchCriteria {
    return this.multiport(false, 'source', formatPorts('sourcePorts', ports));
  }

  /** `-m multiport ! --source-ports <ports>` (as sourcePorts). */
  notSourcePorts(...ports: number[]): MatchCriteria {
    return this.multiport(true, 'source', formatPorts('notSourcePorts', ports));
  }

  /** `-m multiport --destination-ports <ports>`: at most 15 ports; needs a protocol with ports (tcp, udp, udplite, sctp, dccp) before it in the match. */
  destPorts(...ports: number[]): MatchCriteria {
    return this.multiport(false, 'destination', formatPorts('destPorts', ports));
  }

  /** `-m multiport ! --destination-ports <ports>` (as destPorts). */
  notDestPorts(...ports: number[]): MatchCriteria {
    return this.multiport(true, 'destination', formatPorts('notDestPorts', ports));
  }

  /** `-m multiport --source-ports <first:last,…>`: ranges take two of the 15 multiport slots, single ports one; needs a protocol with ports before it. */
  sourcePortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport(false, 'source', formatPortRanges('sourcePortRanges', ranges));
  }

  /** `-m multiport ! --source-ports <first:last,…>` (as sourcePortRanges). */
  notSourcePortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport(true, 'source', formatPortRanges('notSourcePortRanges', ranges));
  }

  /** `-m multiport --destination-ports <first:last,…>`: ranges take two of the 15 multiport slots, single ports one; needs a protocol with ports before it. */
  destPortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport(false, 'destination', formatPortRanges('destPortRanges', ranges));
  }

  /** `-m multiport ! --destination-ports <first:last,…>` (as destPortRanges). */
  notDestPortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport(true, 'destination', formatPortRanges('notDestPortRanges', ranges));
  }

  private multiport(negate: boolean, direction: 'source' | 'destination', ports: string): MatchCriteria {
    return this.with(`-m multiport ${not(negate)}--${direction}-ports ${ports}`, { needs: 'ports' });
  }

  /** `--dport N`: needs a protocol with ports (tcp, udp, …) matched before it. */
  destPort(destPort: number): MatchCriteria {
    const value = port('destPort', destPort);
    // iptables reads a bare --dport that follows a multiport match as that match's --dports
    // (an abbreviation) and refuses the rule; before the multiport match it is the tcp/udp one.
    if (/(?:^| )-m multiport /.test(this.rendered)) {
      throw new InvalidRuleError('destPort', destPort, 'iptables reads --dport after a multiport match (destPorts, sourcePorts, …) as its --dports and refuses the rule; call destPort() before it');
    }
    return this.with(`--dport ${value}`);
  }

  // --- rate limit, VXLAN -------------------------------------------------------------------

  /** The limit match: `rate` as "N/second" (or /minute, /hour, /day; iptables' abbreviations
   *  s, sec, m, min, h, d too); `burst` 0 leaves --limit-burst out (iptables' default 5). */
  limit(rate: string, burst = 0): MatchCriteria {
    const { text: r, interval } = limitRate('limit', rate);
    const b = uint('limit', burst, MAX_LIMIT_BURST, 'burst');
    // xt_limit (legacy) turns interval x burst into credits in 32 bits and refuses the rule when
    // that wraps ("Overflow, try lower"); where it wraps depends on the kernel's HZ, so stay
    // below the lowest such point of the usual HZ values (100, 250, 300, 1000).
    if (interval * (b === 0 ? DEFAULT_LIMIT_BURST : b) > MAX_LIMIT_INTERVAL_TIMES_BURST) {
      throw new InvalidRuleError('limit', rate, `rate ${r} with burst ${b === 0 ? DEFAULT_LIMIT_BURST : b} overflows the kernel's limit match ("Overflow, try lower"): use a faster rate or a smaller burst`);
    }
    return this.with(b === 0 ? `-m limit --limit ${r}` : `-m limit --limit ${r} --limit-burst ${b}`);
  }

  /** The VNI of a VXLAN packet (u32 match over the IPv4 header; use with protocol udp and the
   *  VXLAN port). */
  vxlanVni(vni: number): MatchCriteria {
    return this.with(`-m u32 --u32 "0>>22&0x3C@12>>8=${hex(uint('vxlanVni', vni, 0xffffff, 'VNI'))}"`);
  }

  // --- ICMP --------------------------------------------------------------------------------

  /** `-m icmp --icmp-type <type>` (0 to 255); needs protocol icmp in the match. */
  icmpType(type: number): MatchCriteria {
    return this.with(`-m icmp --icmp-type ${uint8('icmpType', type, 'ICMP type')}`, { needs: 'icmp' });
  }

  /** `-m icmp ! --icmp-type <type>`; needs protocol icmp in the match. */
  notIcmpType(type: number): MatchCriteria {
    return this.with(`-m icmp ! --icmp-type ${uint8('notIcmpType', type, 'ICMP type')}`, { needs: 'icmp' });
  }

  /** `-m icmp --icmp-type <type>/<code>`; needs protocol icmp in the match. */
  icmpTypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp --icmp-type ${typeAndCode('icmpTypeAndCode', type, code)}`, { needs: 'icmp' });
  }

  /** `-m icmp ! --icmp-type <type>/<code>`; needs protocol icmp in the match. */
  notIcmpTypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp ! --icmp-type ${typeAndCode('notIcmpTypeAndCode', type, code)}`, { needs: 'icmp' });
  }

  /** `-m icmp6 --icmpv6-type <type>` (0 to 255); needs protocol ipv6-icmp (58) in the match. */
  icmpV6Type(type: number): MatchCriteria {
    return this.with(`-m icmp6 --icmpv6-type ${uint8('icmpV6Type', type, 'ICMPv6 type')}`, { needs: 'icmp6' });
  }

  /** `-m icmp6 ! --icmpv6-type <type>`; needs protocol ipv6-icmp (58) in the match. */
  notIcmpV6Type(type: number): MatchCriteria {
    return this.with(`-m icmp6 ! --icmpv6-type ${uint8('notIcmpV6Type', type, 'ICMPv6 type')}`, { needs: 'icmp6' });
  }

  /** `-m icmp6 --icmpv6-type <type>/<code>`; needs protocol ipv6-icmp (58) in the match. */
  icmpV6TypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp6 --icmpv6-type ${typeAndCode('icmpV6TypeAndCode', type, code)}`, { needs: 'icmp6' });
  }

  /** `-m icmp6 ! --icmpv6-type <type>/<code>`; needs protocol ipv6-icmp (58) in the match. */
  notIcmpV6TypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp6 ! --icmpv6-type ${typeAndCode('notIcmpV6TypeAndCode', type, code)}`, { needs: 'icmp6' });
  }
}

function rpfOptions(where: string, acceptLocal: unknown): string {
  if (acceptLocal === undefined) return '';
  if (typeof acceptLocal !== 'boolean') throw new InvalidRuleError(where, acceptLocal, 'acceptLocal must be true, false or left out');
  return acceptLocal ? ' --validmark --accept-local' : ' --validmark';
}

function conntrackStates(where: string, stateNames: unknown): string {
  const states = word(where, stateNames, 'conntrack states');
  for (const state of states.split(',')) {
    if (!CONNTRACK_STATES.has(state)) {
      throw new InvalidRuleError(where, stateNames, `expected comma-separated states from ${[...CONNTRACK_STATES].join(', ')}`);
    }
  }
  return states;
}

// XT_LIMIT_SCALE: iptables refuses a burst above it, and a rate above it per second.
const MAX_LIMIT_BURST = 10000;
const DEFAULT_LIMIT_BURST = 5;
// Credits per 1/10000 s are HZ x CREDITS_PER_JIFFY / 10000, at most 38400 / 10000 (HZ 300).
const MAX_LIMIT_INTERVAL_TIMES_BURST = Math.floor(0xffffffff / 38400) * 10000;
const LIMIT_UNITS: Readonly<Record<string, number>> = { second: 1, sec: 1, s: 1, minute: 60, min: 60, m: 60, hour: 3600, h: 3600, day: 86400, d: 86400 };

/** The rate text, and the interval between packets in 1/10000 s as iptables computes it. */
function limitRate(where: string, rate: unknown): { text: string; interval: number } {
  const text = word(where, rate, 'rate');
  const m = /^(\d{1,10})\/([a-z]+)$/.exec(text);
  const perUnit = m ? LIMIT_UNITS[m[2] as string] : undefined;
  if (!m || perUnit === undefined || !Object.prototype.hasOwnProperty.call(LIMIT_UNITS, m[2] as string)) {
    throw new InvalidRuleError(where, rate, 'rate must be "N/second", "N/minute", "N/hour" or "N/day"');
  }
  const n = Number(m[1]);
  // iptables: "bad rate" for 0, "Rate too fast" when the interval rounds to 0.
  if (n < 1 || n > MAX_LIMIT_BURST * perUnit) {
    throw new InvalidRuleError(where, rate, `rate must be 1 to ${MAX_LIMIT_BURST} per second (${MAX_LIMIT_BURST * perUnit} per ${m[2]})`);
  }
  return { text, interval: Math.floor((MAX_LIMIT_BURST * perUnit) / n) };
}

function typeAndCode(where: string, type: number, code: number): string {
  return `${uint8(where, type, 'ICMP type')}/${uint8(where, code, 'ICMP code')}`;
}

/** Starts an empty, immutable match builder. */
export function Match(): MatchCriteria {
  return EMPTY_MATCH;
}

const EMPTY_MATCH = new MatchCriteria();
