// The match builder: an immutable list of iptables match fragments.
//
// Every method validates its arguments when called (so a bad value is reported where it was
// written, not at apply time) and returns a new MatchCriteria; the receiver never changes.
import { readFileSync } from 'node:fs';
import { InvalidRuleError } from './errors';
import { formatPortRanges, formatPorts, type PortRange } from './multiport';
import { cidr, hex, interfaceName, ipSetName, nonZeroMark, port, uint, uint32, uint8, word } from './validate';

/** Address types of the addrtype match (Go's AddrTypeLocal is AddrType.Local). */
export const AddrType = {
  Unspec: 'UNSPEC',
  Unicast: 'UNICAST',
  Local: 'LOCAL',
  Broadcast: 'BROADCAST',
  Anycast: 'ANYCAST',
  Multicast: 'MULTICAST',
  Blackhole: 'BLACKHOLE',
  Unreachable: 'UNREACHABLE',
  Prohibit: 'PROHIBIT',
  Throw: 'THROW',
  Nat: 'NAT',
  XResolve: 'XRESOLVE',
} as const;
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
  else if (!knownProtocolNames().has(name.toLowerCase())) {
    throw new InvalidRuleError(where, value, 'unknown protocol name (iptables knows its built-ins and /etc/protocols)');
  }
  return name;
}

// The names iptables resolves itself, plus those of /etc/protocols (read once, on first use).
const BUILTIN_PROTOCOLS = ['all', 'tcp', 'udp', 'udplite', 'icmp', 'icmpv6', 'ipv6-icmp', 'esp', 'ah', 'sctp', 'mh', 'dccp', 'gre', 'ipip'];
let protocolNames: ReadonlySet<string> | undefined;
function knownProtocolNames(): ReadonlySet<string> {
  if (protocolNames) return protocolNames;
  const names = new Set(BUILTIN_PROTOCOLS);
  try {
    for (const line of readFileSync('/etc/protocols', 'latin1').split('\n')) {
      const fields = line.replace(/#.*/, '').trim().split(/\s+/);
      if (fields.length >= 2) for (const f of [fields[0], ...fields.slice(2)]) if (f) names.add(f.toLowerCase());
    }
  } catch {
    // No /etc/protocols: the built-ins are what iptables can resolve then, too.
  }
  protocolNames = names;
  return names;
}

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

export class MatchCriteria {
  // Only the rendered text is kept: 100k rules' matches are one string each, not arrays.
  private readonly rendered: string;

  /** Use Match() to start a builder. */
  constructor(fragments: readonly string[] = []) {
    if (!Array.isArray(fragments) || !Array.from(fragments).every((f) => typeof f === 'string')) {
      throw new InvalidRuleError('MatchCriteria', fragments, 'expected an array of strings (use Match() to build one)');
    }
    this.rendered = fragments.join(' ');
    Object.freeze(this);
  }

  private with(fragment: string): MatchCriteria {
    return new MatchCriteria(this.rendered === '' ? [fragment] : [this.rendered, fragment]);
  }

  /** The fragments joined by single spaces ("" for no match). */
  render(): string {
    return this.rendered;
  }

  toString(): string {
    return `MatchCriteria[${this.render()}]`;
  }

  // --- marks -------------------------------------------------------------------------------

  markClear(mark: number): MatchCriteria {
    return this.with(`-m mark --mark 0/${hex(nonZeroMark('markClear', mark))}`);
  }

  markNotClear(mark: number): MatchCriteria {
    return this.with(`-m mark ! --mark 0/${hex(nonZeroMark('markNotClear', mark))}`);
  }

  markSingleBitSet(mark: number): MatchCriteria {
    const m = uint32('markSingleBitSet', mark, 'mark');
    if (m === 0 || (m & (m - 1)) !== 0) throw new InvalidRuleError('markSingleBitSet', mark, 'mark must have exactly one bit set');
    return this.with(`-m mark --mark ${markWithMask('markSingleBitSet', m, m)}`);
  }

  markMatchesWithMask(mark: number, mask: number): MatchCriteria {
    return this.with(`-m mark --mark ${markWithMask('markMatchesWithMask', mark, mask)}`);
  }

  notMarkMatchesWithMask(mark: number, mask: number): MatchCriteria {
    return this.with(`-m mark ! --mark ${markWithMask('notMarkMatchesWithMask', mark, mask)}`);
  }

  // --- interfaces, rpf, ipvs, addrtype, conntrack --------------------------------------------

  inInterface(ifaceMatch: string): MatchCriteria {
    return this.with(`--in-interface ${interfaceName('inInterface', ifaceMatch)}`);
  }

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

  ipvsConnection(): MatchCriteria {
    return this.with('-m ipvs --ipvs');
  }

  notIpvsConnection(): MatchCriteria {
    return this.with('-m ipvs ! --ipvs');
  }

  srcAddrType(type: AddrType, limitIfaceOut: boolean): MatchCriteria {
    return this.addrTypeMatch('srcAddrType', false, type, limitIfaceOut);
  }

  notSrcAddrType(type: AddrType, limitIfaceOut: boolean): MatchCriteria {
    return this.addrTypeMatch('notSrcAddrType', true, type, limitIfaceOut);
  }

  destAddrType(type: AddrType): MatchCriteria {
    return this.with(`-m addrtype --dst-type ${addrType('destAddrType', type)}`);
  }

  notDestAddrType(type: AddrType): MatchCriteria {
    return this.with(`-m addrtype ! --dst-type ${addrType('notDestAddrType', type)}`);
  }

  private addrTypeMatch(where: string, negate: boolean, type: AddrType, limitIfaceOut: boolean): MatchCriteria {
    const suffix = limitIfaceOut ? ' --limit-iface-out' : '';
    return this.with(`-m addrtype ${not(negate)}--src-type ${addrType(where, type)}${suffix}`);
  }

  conntrackState(stateNames: string): MatchCriteria {
    return this.with(`-m conntrack --ctstate ${conntrackStates('conntrackState', stateNames)}`);
  }

  notConntrackState(stateNames: string): MatchCriteria {
    return this.with(`-m conntrack ! --ctstate ${conntrackStates('notConntrackState', stateNames)}`);
  }

  // --- protocol ----------------------------------------------------------------------------

  protocol(name: string): MatchCriteria {
    return this.with(`-p ${protocolName('protocol', name)}`);
  }

  notProtocol(name: string): MatchCriteria {
    const p = protocolName('notProtocol', name);
    if (p.toLowerCase() === 'all' || (/^\d+$/.test(p) && Number(p) === 0)) throw notAll('notProtocol', name);
    return this.with(`! -p ${p}`);
  }

  protocolNum(num: number): MatchCriteria {
    return this.with(`-p ${uint8('protocolNum', num, 'protocol number')}`);
  }

  notProtocolNum(num: number): MatchCriteria {
    if (uint8('notProtocolNum', num, 'protocol number') === 0) throw notAll('notProtocolNum', num);
    return this.with(`! -p ${num}`);
  }

  // --- addresses ---------------------------------------------------------------------------

  sourceNet(net: string): MatchCriteria {
    return this.with(`--source ${cidr('sourceNet', net)}`);
  }

  notSourceNet(net: string): MatchCriteria {
    return this.with(`! --source ${notEverything('notSourceNet', net)}`);
  }

  destNet(net: string): MatchCriteria {
    return this.with(`--destination ${cidr('destNet', net)}`);
  }

  notDestNet(net: string): MatchCriteria {
    return this.with(`! --destination ${notEverything('notDestNet', net)}`);
  }

  // --- ipsets ------------------------------------------------------------------------------

  sourceIpSet(name: string): MatchCriteria {
    return this.ipSet('sourceIpSet', false, name, 'src');
  }

  notSourceIpSet(name: string): MatchCriteria {
    return this.ipSet('notSourceIpSet', true, name, 'src');
  }

  sourceIpPortSet(name: string): MatchCriteria {
    return this.ipSet('sourceIpPortSet', false, name, 'src,src');
  }

  notSourceIpPortSet(name: string): MatchCriteria {
    return this.ipSet('notSourceIpPortSet', true, name, 'src,src');
  }

  destIpSet(name: string): MatchCriteria {
    return this.ipSet('destIpSet', false, name, 'dst');
  }

  notDestIpSet(name: string): MatchCriteria {
    return this.ipSet('notDestIpSet', true, name, 'dst');
  }

  destIpPortSet(name: string): MatchCriteria {
    return this.ipSet('destIpPortSet', false, name, 'dst,dst');
  }

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

  sourcePorts(...ports: number[]): MatchCriteria {
    return this.multiport(false, 'source', formatPorts('sourcePorts', ports));
  }

  notSourcePorts(...ports: number[]): MatchCriteria {
    return this.multiport(true, 'source', formatPorts('notSourcePorts', ports));
  }

  destPorts(...ports: number[]): MatchCriteria {
    return this.multiport(false, 'destination', formatPorts('destPorts', ports));
  }

  notDestPorts(...ports: number[]): MatchCriteria {
    return this.multiport(true, 'destination', formatPorts('notDestPorts', ports));
  }

  sourcePortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport(false, 'source', formatPortRanges('sourcePortRanges', ranges));
  }

  notSourcePortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport(true, 'source', formatPortRanges('notSourcePortRanges', ranges));
  }

  destPortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport(false, 'destination', formatPortRanges('destPortRanges', ranges));
  }

  notDestPortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport(true, 'destination', formatPortRanges('notDestPortRanges', ranges));
  }

  private multiport(negate: boolean, direction: 'source' | 'destination', ports: string): MatchCriteria {
    return this.with(`-m multiport ${not(negate)}--${direction}-ports ${ports}`);
  }

  /** `--dport N`: needs a protocol with ports (tcp, udp, …) matched before it. */
  destPort(destPort: number): MatchCriteria {
    return this.with(`--dport ${port('destPort', destPort)}`);
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

  icmpType(type: number): MatchCriteria {
    return this.with(`-m icmp --icmp-type ${uint8('icmpType', type, 'ICMP type')}`);
  }

  notIcmpType(type: number): MatchCriteria {
    return this.with(`-m icmp ! --icmp-type ${uint8('notIcmpType', type, 'ICMP type')}`);
  }

  icmpTypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp --icmp-type ${typeAndCode('icmpTypeAndCode', type, code)}`);
  }

  notIcmpTypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp ! --icmp-type ${typeAndCode('notIcmpTypeAndCode', type, code)}`);
  }

  icmpV6Type(type: number): MatchCriteria {
    return this.with(`-m icmp6 --icmpv6-type ${uint8('icmpV6Type', type, 'ICMPv6 type')}`);
  }

  notIcmpV6Type(type: number): MatchCriteria {
    return this.with(`-m icmp6 ! --icmpv6-type ${uint8('notIcmpV6Type', type, 'ICMPv6 type')}`);
  }

  icmpV6TypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp6 --icmpv6-type ${typeAndCode('icmpV6TypeAndCode', type, code)}`);
  }

  notIcmpV6TypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp6 ! --icmpv6-type ${typeAndCode('notIcmpV6TypeAndCode', type, code)}`);
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
