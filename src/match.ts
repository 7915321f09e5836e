// The match builder: an immutable list of iptables match fragments.
//
// Every method validates its arguments when called (so a bad value is reported where it was
// written, not at apply time) and returns a new MatchCriteria; the receiver never changes.
import { readFileSync } from 'node:fs';
import { InvalidRuleError, MatchDependencyError } from './errors';
import { formatPortRanges, formatPorts, type PortRange } from './multiport';
import { cidr, hex, interfaceName, ipSetName, nonZeroMark, uint32, uint8, word } from './validate';

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
  else if (!protocolNumbers().has(name.toLowerCase())) {
    throw new InvalidRuleError(where, value, 'unknown protocol name (iptables knows its built-ins and /etc/protocols)');
  }
  return name;
}

/** The number iptables resolves a protocol name or number to (it lower-cases names first). */
function protocolNumber(name: string): number | undefined {
  return /^\d+$/.test(name) ? Number(name) : protocolNumbers().get(name.toLowerCase());
}

// The names iptables resolves itself, overridden by those of /etc/protocols, which it asks
// first (read once, on first use).
const BUILTIN_PROTOCOLS: Readonly<Record<string, number>> = {
  all: 0, tcp: 6, udp: 17, udplite: 136, icmp: 1, icmpv6: 58, 'ipv6-icmp': 58, esp: 50, ah: 51, sctp: 132, mh: 135, dccp: 33, gre: 47, ipip: 4,
};
let protocolTable: ReadonlyMap<string, number> | undefined;
function protocolNumbers(): ReadonlyMap<string, number> {
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

// --- protocol dependencies ---------------------------------------------------------------------
//
// iptables checks some criteria against the rule's protocol (measured on legacy and nft, see
// test/faults-input.test.ts): multiport wants a protocol with ports, not negated, and parsed
// before it; the icmp/icmp6 matches want their own protocol, not negated (the kernel checks at
// commit, in any order); and a rule takes one -p. The builder takes criteria in any order, so
// these are checked when a Rule is built from the whole match.

type Needs = 'ports' | 'icmp' | 'icmp6';

interface ProtocolCriterion {
  readonly where: string;
  readonly fragment: string;
  readonly number: number | undefined;
  readonly negated: boolean;
}

interface DependentCriterion {
  readonly where: string;
  readonly fragment: string;
  readonly needs: Needs;
  /** Whether a protocol criterion came before this one in the match. */
  readonly protocolBefore: boolean;
}

/** What a criterion being added is to the dependency check: a protocol, or one that needs one. */
type CriterionRole =
  | { readonly where: string; readonly protocol: number | undefined; readonly negated: boolean }
  | { readonly where: string; readonly needs: Needs };

interface DependencyState {
  readonly protocols: readonly ProtocolCriterion[];
  readonly dependents: readonly DependentCriterion[];
}

// Beside the match, not in it: a match stays one rendered string, and one without protocol or
// dependent criteria has no entry here at all.
const DEPENDENCIES = new WeakMap<MatchCriteria, DependencyState>();
const NO_DEPENDENCIES: DependencyState = { protocols: [], dependents: [] };

/** Protocols with ports, by number: tcp, udp, udplite, sctp, dccp. */
const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 136, 132, 33]);
const NEEDED: Readonly<Record<Needs, { readonly ok: (n: number) => boolean; readonly what: string }>> = {
  ports: { ok: (n) => PORT_PROTOCOLS.has(n), what: 'a protocol with ports (protocol tcp, udp, udplite, sctp or dccp)' },
  icmp: { ok: (n) => n === 1, what: 'protocol icmp (or protocolNum 1)' },
  icmp6: { ok: (n) => n === 58, what: 'protocol ipv6-icmp or icmpv6 (or protocolNum 58)' },
};

function dependencyProblem(d: DependentCriterion, protocol: ProtocolCriterion | undefined): string | undefined {
  const need = NEEDED[d.needs];
  const match = d.needs === 'ports' ? 'multiport' : d.needs === 'icmp' ? 'the icmp match' : 'the icmp6 match';
  if (protocol === undefined) return `${match} needs ${need.what} in the same match; iptables refuses it without one`;
  if (protocol.negated) return `${match} needs ${need.what}, not a negated one ("${protocol.fragment}" matches every other protocol); iptables refuses it`;
  if (protocol.number === undefined || !need.ok(protocol.number)) return `${match} needs ${need.what}, but the match has "${protocol.fragment}"; iptables refuses it`;
  if (d.needs === 'ports' && !d.protocolBefore) {
    return `the protocol ("${protocol.fragment}") must come before it in the match: iptables reads the protocol first and refuses multiport ahead of it`;
  }
  return undefined;
}

/** Throws MatchDependencyError when iptables would refuse the match for its protocol
 *  criteria (see above). Matches built from raw fragments are not checked. */
export function checkProtocolDependencies(match: MatchCriteria): void {
  const state = DEPENDENCIES.get(match);
  if (!state) return;
  const [protocol, second] = state.protocols;
  if (protocol && second) {
    throw new MatchDependencyError(second.where, second.fragment, `a rule takes one protocol criterion and the match already has "${protocol.fragment}"; iptables refuses multiple -p`);
  }
  for (const d of state.dependents) {
    const problem = dependencyProblem(d, protocol);
    if (problem !== undefined) throw new MatchDependencyError(d.where, d.fragment, problem);
  }
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

  private with(fragment: string, role?: CriterionRole): MatchCriteria {
    const next = new MatchCriteria(this.rendered === '' ? [fragment] : [this.rendered, fragment]);
    const state = DEPENDENCIES.get(this);
    if (role === undefined) {
      if (state) DEPENDENCIES.set(next, state);
    } else {
      const { protocols, dependents } = state ?? NO_DEPENDENCIES;
      DEPENDENCIES.set(
        next,
        'needs' in role
          ? { protocols, dependents: [...dependents, { where: role.where, fragment, needs: role.needs, protocolBefore: protocols.length > 0 }] }
          : { protocols: [...protocols, { where: role.where, fragment, number: role.protocol, negated: role.negated }], dependents },
      );
    }
    return next;
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

  rpfCheckPassed(): MatchCriteria {
    return this.with('-m rpfilter');
  }

  rpfCheckFailed(): MatchCriteria {
    return this.with('-m rpfilter --invert');
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

  private addrTypeMatch(where: string, negate: boolean, type: AddrType, limitIfaceOut: boolean): MatchCriteria {
    const suffix = limitIfaceOut ? ' --limit-iface-out' : '';
    return this.with(`-m addrtype ${not(negate)}--src-type ${addrType(where, type)}${suffix}`);
  }

  conntrackState(stateNames: string): MatchCriteria {
    const where = 'conntrackState';
    const states = word(where, stateNames, 'conntrack states');
    for (const state of states.split(',')) {
      if (!CONNTRACK_STATES.has(state)) {
        throw new InvalidRuleError(where, stateNames, `expected comma-separated states from ${[...CONNTRACK_STATES].join(', ')}`);
      }
    }
    return this.with(`-m conntrack --ctstate ${states}`);
  }

  // --- protocol ----------------------------------------------------------------------------

  protocol(name: string): MatchCriteria {
    const p = protocolName('protocol', name);
    return this.with(`-p ${p}`, { where: 'protocol', protocol: protocolNumber(p), negated: false });
  }

  notProtocol(name: string): MatchCriteria {
    const p = protocolName('notProtocol', name);
    if (p.toLowerCase() === 'all' || (/^\d+$/.test(p) && Number(p) === 0)) throw notAll('notProtocol', name);
    return this.with(`! -p ${p}`, { where: 'notProtocol', protocol: protocolNumber(p), negated: true });
  }

  protocolNum(num: number): MatchCriteria {
    return this.with(`-p ${uint8('protocolNum', num, 'protocol number')}`, { where: 'protocolNum', protocol: num, negated: false });
  }

  notProtocolNum(num: number): MatchCriteria {
    if (uint8('notProtocolNum', num, 'protocol number') === 0) throw notAll('notProtocolNum', num);
    return this.with(`! -p ${num}`, { where: 'notProtocolNum', protocol: num, negated: true });
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

  // --- ports -------------------------------------------------------------------------------

  sourcePorts(...ports: number[]): MatchCriteria {
    return this.multiport('sourcePorts', false, 'source', formatPorts('sourcePorts', ports));
  }

  notSourcePorts(...ports: number[]): MatchCriteria {
    return this.multiport('notSourcePorts', true, 'source', formatPorts('notSourcePorts', ports));
  }

  destPorts(...ports: number[]): MatchCriteria {
    return this.multiport('destPorts', false, 'destination', formatPorts('destPorts', ports));
  }

  notDestPorts(...ports: number[]): MatchCriteria {
    return this.multiport('notDestPorts', true, 'destination', formatPorts('notDestPorts', ports));
  }

  sourcePortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport('sourcePortRanges', false, 'source', formatPortRanges('sourcePortRanges', ranges));
  }

  notSourcePortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport('notSourcePortRanges', true, 'source', formatPortRanges('notSourcePortRanges', ranges));
  }

  destPortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport('destPortRanges', false, 'destination', formatPortRanges('destPortRanges', ranges));
  }

  notDestPortRanges(ranges: readonly PortRange[]): MatchCriteria {
    return this.multiport('notDestPortRanges', true, 'destination', formatPortRanges('notDestPortRanges', ranges));
  }

  private multiport(where: string, negate: boolean, direction: 'source' | 'destination', ports: string): MatchCriteria {
    return this.with(`-m multiport ${not(negate)}--${direction}-ports ${ports}`, { where, needs: 'ports' });
  }

  // --- ICMP --------------------------------------------------------------------------------

  icmpType(type: number): MatchCriteria {
    return this.with(`-m icmp --icmp-type ${uint8('icmpType', type, 'ICMP type')}`, { where: 'icmpType', needs: 'icmp' });
  }

  notIcmpType(type: number): MatchCriteria {
    return this.with(`-m icmp ! --icmp-type ${uint8('notIcmpType', type, 'ICMP type')}`, { where: 'notIcmpType', needs: 'icmp' });
  }

  icmpTypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp --icmp-type ${typeAndCode('icmpTypeAndCode', type, code)}`, { where: 'icmpTypeAndCode', needs: 'icmp' });
  }

  notIcmpTypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp ! --icmp-type ${typeAndCode('notIcmpTypeAndCode', type, code)}`, { where: 'notIcmpTypeAndCode', needs: 'icmp' });
  }

  icmpV6Type(type: number): MatchCriteria {
    return this.with(`-m icmp6 --icmpv6-type ${uint8('icmpV6Type', type, 'ICMPv6 type')}`, { where: 'icmpV6Type', needs: 'icmp6' });
  }

  notIcmpV6Type(type: number): MatchCriteria {
    return this.with(`-m icmp6 ! --icmpv6-type ${uint8('notIcmpV6Type', type, 'ICMPv6 type')}`, { where: 'notIcmpV6Type', needs: 'icmp6' });
  }

  icmpV6TypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp6 --icmpv6-type ${typeAndCode('icmpV6TypeAndCode', type, code)}`, { where: 'icmpV6TypeAndCode', needs: 'icmp6' });
  }

  notIcmpV6TypeAndCode(type: number, code: number): MatchCriteria {
    return this.with(`-m icmp6 ! --icmpv6-type ${typeAndCode('notIcmpV6TypeAndCode', type, code)}`, { where: 'notIcmpV6TypeAndCode', needs: 'icmp6' });
  }
}

function typeAndCode(where: string, type: number, code: number): string {
  return `${uint8(where, type, 'ICMP type')}/${uint8(where, code, 'ICMP code')}`;
}

/** Starts an empty, immutable match builder. */
export function Match(): MatchCriteria {
  return EMPTY_MATCH;
}

const EMPTY_MATCH = new MatchCriteria();
