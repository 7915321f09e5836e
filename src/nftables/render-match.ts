// Match criteria (the tokens of MatchCriteria.render()) to nft expressions. See render.ts.
import { isIP } from 'node:net';
import { InvalidRuleError } from '../errors';
import { AddrType, protocolNumbers } from '../match';
import { hex } from '../validate';
import { nftQuoted } from './nft-names';
import type { NftFamily, NftRenderContext } from './render-context';

/** The rule's protocol criterion, as far as later statements (ports, ICMP, NAT ports) need it. */
export interface NftProtocol {
  /** The protocol number (0: every protocol). */
  readonly number: number;
  /** Any protocol but this one (`! -p`). */
  readonly negated: boolean;
}

/** The nft statements of a match, and its protocol criterion (undefined: none). */
export interface NftMatch {
  /** The nft expressions, in iptables' order of evaluation (IP header criteria first). */
  readonly statements: string[];
  /** The match's protocol criterion, if it has one. */
  readonly protocol: NftProtocol | undefined;
}

/** The reason text every refusal ends with, so a message alone names the backend. */
export const BACKEND = 'backend nftables';

/** The InvalidRuleError of a refusal: `where` is the builder method or action field, `fragment`
 *  the iptables text refused. */
export function refuse(where: string, fragment: string, reason: string): InvalidRuleError {
  return new InvalidRuleError(where, fragment, `${BACKEND}: ${reason}`);
}

// --- protocols -----------------------------------------------------------------------------

// Protocol names resolve as the match builder resolves them (its built-ins, then /etc/protocols).

/** Protocols nft names as iptables does; any other is written as its number (nft lists it by
 *  name either way), so no /etc/protocols name can clash with an nft keyword. */
const NFT_PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite',
};
/** Protocols with ports, by number, and nft's header keyword for each. */
const PORT_HEADERS: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp', 136: 'udplite', 132: 'sctp', 33: 'dccp' };

/** nft's text for a protocol number. */
export function nftProtocol(number: number): string {
  return NFT_PROTOCOL_NAMES[number] ?? String(number);
}

/** The protocol match statement for the family: `ip protocol` for IPv4 (the header field, as
 *  iptables-translate writes it), `meta l4proto` for IPv6 (the upper-layer protocol after the
 *  extension headers, which is what ip6tables' -p matches). */
export function protocolStatement(family: NftFamily, number: number, negated: boolean): string {
  return `${family === 'ip' ? 'ip protocol' : 'meta l4proto'} ${negated ? '!= ' : ''}${nftProtocol(number)}`;
}

/** The nft header keyword of the rule's protocol when it is one with ports, else undefined. */
export function portHeader(protocol: NftProtocol | undefined): string | undefined {
  return protocol === undefined || protocol.negated ? undefined : PORT_HEADERS[protocol.number];
}

// --- the match -----------------------------------------------------------------------------

const ADDR_TYPE_NUMBERS: Readonly<Record<string, string>> = {
  // nft has no names for these route types (fib's symbol table stops at prohibit).
  THROW: '9', NAT: '10', XRESOLVE: '11',
};
const ADDR_TYPES: ReadonlySet<string> = new Set(Object.values(AddrType));
const CT_STATES: ReadonlySet<string> = new Set(['INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED']);
const CT_STATUSES: ReadonlySet<string> = new Set(['SNAT', 'DNAT']);
const LIMIT_UNITS: Readonly<Record<string, string>> = { second: 'second', sec: 'second', s: 'second', minute: 'minute', min: 'minute', m: 'minute', hour: 'hour', h: 'hour', day: 'day', d: 'day' };
const VXLAN_U32 = /^0>>22&0x3C@12>>8=(0x[0-9a-f]{1,6})$/;
const MARK = /^(0|0x[0-9a-f]{1,8})\/(0x[0-9a-f]{1,8})$/;
const ICMP_TYPE = /^(\d{1,3})(?:\/(\d{1,3}))?$/;
const PORT_LIST = /^\d{1,5}(?::\d{1,5})?(?:,\d{1,5}(?::\d{1,5})?)*$/;

/** IFNAMSIZ less the NUL, as the builder allows (a wildcard's "+" included). */
const MAX_INTERFACE_BYTES = 15;
const isPort = (text: string): boolean => /^\d{1,5}$/.test(text) && Number(text) <= 65535;

/** A builder method name, negated as the builder spells it (`notSourceNet`). */
const method = (negated: boolean, name: string): string => (negated ? `not${name[0]?.toUpperCase()}${name.slice(1)}` : name);
const ne = (negated: boolean): string => (negated ? '!= ' : '');

/** Where a statement goes: iptables checks the IP header criteria (interfaces, protocol,
 *  addresses) before any match extension, whatever their order in the rule, so they come first
 *  (in iptables-translate's order). It matters: `limit` counts only the packets before it. */
type Slot = 'iif' | 'oif' | 'protocol' | 'saddr' | 'daddr' | 'extension';

/** Reads the match tokens one criterion at a time; every read checks the exact builder form. */
class MatchReader {
  private at = 0;
  private start = 0;
  private readonly slots: Record<Slot, string[]> = { iif: [], oif: [], protocol: [], saddr: [], daddr: [], extension: [] };
  constructor(
    private readonly tokens: readonly string[],
    private readonly ctx: NftRenderContext,
    readonly protocol: NftProtocol | undefined,
  ) {}

  /** The text of the criterion being read, for error messages. */
  private fragment(): string {
    return this.tokens.slice(this.start, Math.max(this.at, this.start + 1)).join(' ');
  }
  private next(): string {
    const t = this.tokens[this.at++];
    if (t === undefined) throw this.unknown();
    return t;
  }
  private peekIs(t: string): boolean {
    return this.tokens[this.at] === t;
  }
  private eat(t: string): boolean {
    if (!this.peekIs(t)) return false;
    this.at++;
    return true;
  }
  private expect(t: string): void {
    if (this.next() !== t) throw this.unknown();
  }
  private unknown(): InvalidRuleError {
    return refuse('MatchCriteria', this.fragment(), 'not a criterion of the Match() builder that the nftables renderer knows');
  }
  private refuse(where: string, reason: string): InvalidRuleError {
    return refuse(where, this.fragment(), reason);
  }

  /** The statements in iptables' order of evaluation. */
  statements(): string[] {
    const s = this.slots;
    return [...s.iif, ...s.oif, ...s.protocol, ...s.saddr, ...s.daddr, ...s.extension];
  }

  private push(statement: string, slot: Slot = 'extension'): void {
    this.slots[slot].push(statement);
  }

  read(): void {
    while (this.at < this.tokens.length) {
      this.start = this.at;
      const negated = this.eat('!');
      const t = this.next();
      if (t === '-p') this.skipProtocol();
      else if (t === '--source' || t === '--destination') this.net(negated, t === '--source');
      else if (t === '--in-interface' || t === '--out-interface') this.iface(negated, t === '--in-interface');
      else if (t === '--dport') this.destPort(negated);
      else if (t === '-m' && !negated) this.module(this.next());
      else throw this.unknown();
    }
  }

  private skipProtocol(): void {
    this.next();
    const p = this.protocol;
    if (p === undefined) throw this.unknown();
    if (p.number !== 0) this.push(protocolStatement(this.ctx.family, p.number, p.negated), 'protocol');
  }

  private net(negated: boolean, source: boolean): void {
    const where = method(negated, source ? 'sourceNet' : 'destNet');
    const net = this.next();
    const slash = net.indexOf('/');
    const version = isIP(slash < 0 ? net : net.slice(0, slash));
    const bits = slash < 0 ? '' : net.slice(slash + 1);
    if (version === 0 || (slash >= 0 && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128)))) throw this.unknown();
    const family: NftFamily = version === 4 ? 'ip' : 'ip6';
    if (family !== this.ctx.family) throw this.refuse(where, `an IPv${version} net does not fit the ${this.ctx.family} table`);
    // A /0 matches every packet of the family (iptables-translate leaves it out, too).
    if (!negated && /\/0+$/.test(net)) return;
    this.push(`${family} ${source ? 'saddr' : 'daddr'} ${ne(negated)}${net}`, source ? 'saddr' : 'daddr');
  }

  private iface(negated: boolean, input: boolean): void {
    const where = input ? 'inInterface' : 'outInterface';
    const name = this.next();
    const wildcard = name.endsWith('+');
    const base = wildcard ? name.slice(0, -1) : name;
    // `+` alone matches every packet, with or without an interface.
    if (wildcard && base === '' && !negated) return;
    // nft reads a trailing "*" as its wildcard and keeps an escaped "\*" elsewhere as two
    // characters, so a name with a literal "*" cannot be written.
    if (base.includes('*') || base === '') throw this.refuse(where, 'nft reads "*" in an interface name as its wildcard; such a name cannot be matched');
    const quoted = nftQuoted(where, wildcard ? `${base}*` : base, 'interface name', MAX_INTERFACE_BYTES);
    this.push(`${input ? 'iifname' : 'oifname'} ${ne(negated)}${quoted}`, input ? 'iif' : 'oif');
  }

  private needsPorts(where: string): string {
    const header = portHeader(this.protocol);
    if (header === undefined) throw this.refuse(where, 'needs a protocol with ports (tcp, udp, udplite, sctp or dccp) in the match');
    return header;
  }

  private destPort(negated: boolean): void {
    const port = this.next();
    if (!isPort(port)) throw this.unknown();
    this.push(`${this.needsPorts('destPort')} dport ${ne(negated)}${port}`);
  }

  private module(name: string): void {
    switch (name) {
      case 'mark':
        return this.mark();
      case 'addrtype':
        return this.addrType();
      case 'conntrack':
        return this.conntrack();
      case 'multiport':
        return this.multiport();
      case 'icmp':
      case 'icmp6':
        return this.icmp(name === 'icmp6');
      case 'limit':
        return this.limit();
      case 'rpfilter':
        return this.rpfilter();
      case 'u32':
        return this.u32();
      case 'set':
        return this.ipSet();
      case 'ipvs':
        return this.ipvs();
      default:
        throw this.unknown();
    }
  }

  private mark(): void {
    const negated = this.eat('!');
    this.expect('--mark');
    const m = MARK.exec(this.next());
    if (!m) throw this.unknown();
    const [value, mask] = [Number(m[1]), Number(m[2])];
    const lhs = mask === 0xffffffff ? 'meta mark' : `meta mark & ${hex(mask)}`;
    this.push(mask === 0xffffffff ? `${lhs} ${ne(negated)}${hex(value)}` : `${lhs} ${negated ? '!=' : '=='} ${hex(value)}`);
  }

  private addrType(): void {
    const negated = this.eat('!');
    const option = this.next();
    if (option !== '--src-type' && option !== '--dst-type') throw this.unknown();
    const type = this.next();
    const limitOut = option === '--src-type' && this.eat('--limit-iface-out');
    if (!ADDR_TYPES.has(type)) throw this.unknown();
    const nftType = ADDR_TYPE_NUMBERS[type] ?? type.toLowerCase();
    const key = option === '--src-type' ? `saddr${limitOut ? ' . oif' : ''}` : 'daddr';
    this.push(`fib ${key} type ${ne(negated)}${nftType}`);
  }

  private conntrack(): void {
    const negated = this.eat('!');
    this.expect('--ctstate');
    const states = this.next().split(',');
    const where = method(negated, 'conntrackState');
    if (!states.every((s) => CT_STATES.has(s) || CT_STATUSES.has(s))) throw this.unknown();
    const statuses = states.filter((s) => CT_STATUSES.has(s));
    const plain = states.filter((s) => CT_STATES.has(s));
    if (statuses.length > 0 && plain.length > 0) {
      throw this.refuse(where, 'SNAT/DNAT are conntrack status bits in nftables (ct status), other states are ct state: one nft rule cannot match either of the two');
    }
    if (statuses.length > 0 && negated) {
      throw this.refuse(where, 'nft\'s "ct status" does not match packets without a connection (invalid, untracked) where iptables\' negated SNAT/DNAT state does');
    }
    const key = statuses.length > 0 ? 'ct status' : 'ct state';
    this.push(`${key} ${negated ? '! ' : ''}${[...new Set(states)].map((s) => s.toLowerCase()).join(',')}`);
  }

  private multiport(): void {
    const negated = this.eat('!');
    const option = this.next();
    if (option !== '--source-ports' && option !== '--destination-ports') throw this.unknown();
    const list = this.next();
    if (!PORT_LIST.test(list) || !list.split(/[,:]/).every(isPort)) throw this.unknown();
    const source = option === '--source-ports';
    const where = method(negated, `${source ? 'source' : 'dest'}Port${list.includes(':') ? 'Range' : ''}s`);
    const header = this.needsPorts(where);
    const items = list.split(',').map((p) => p.replace(':', '-'));
    const value = items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
    this.push(`${header} ${source ? 'sport' : 'dport'} ${ne(negated)}${value}`);
  }

  private icmp(v6: boolean): void {
    const negated = this.eat('!');
    this.expect(v6 ? '--icmpv6-type' : '--icmp-type');
    const m = ICMP_TYPE.exec(this.next());
    if (!m || Number(m[1]) > 255 || Number(m[2] ?? 0) > 255) throw this.unknown();
    const type = Number(m[1]);
    const code = m[2] === undefined ? undefined : Number(m[2]);
    const where = method(negated, `${v6 ? 'icmpV6' : 'icmp'}Type${code === undefined ? '' : 'AndCode'}`);
    if (v6 !== (this.ctx.family === 'ip6')) {
      throw this.refuse(where, `the ${v6 ? 'icmp6' : 'icmp'} match is for IPv${v6 ? 6 : 4}; the table is ${this.ctx.family}`);
    }
    const p = this.protocol;
    if (p === undefined || p.negated || p.number !== (v6 ? 58 : 1)) {
      throw this.refuse(where, `needs protocol ${v6 ? 'ipv6-icmp' : 'icmp'} in the match`);
    }
    const header = v6 ? 'icmpv6' : 'icmp';
    // iptables' IPv4 icmp match reads type 255 as "any type" (any code, too).
    if (!v6 && type === 255) {
      if (negated) throw this.refuse(where, 'iptables reads ICMP type 255 as any type, so its negation matches no packet; nft has no rule for that');
      return;
    }
    if (code === undefined) this.push(`${header} type ${ne(negated)}${type}`);
    else if (!negated) this.push(`${header} type ${type} ${header} code ${code}`);
    else this.push(`${header} type . ${header} code != { ${type} . ${code} }`);
  }

  private limit(): void {
    this.expect('--limit');
    const rate = /^(\d{1,10})\/([a-z]+)$/.exec(this.next());
    const unit = rate ? LIMIT_UNITS[rate[2] as string] : undefined;
    if (!rate || unit === undefined || !Object.prototype.hasOwnProperty.call(LIMIT_UNITS, rate[2] as string)) throw this.unknown();
    let burst = '5'; // iptables' default
    if (this.eat('--limit-burst')) {
      burst = this.next();
      if (!/^\d{1,5}$/.test(burst)) throw this.unknown();
    }
    this.push(limitStatement(rate[1] as string, unit, burst));
  }

  private rpfilter(): void {
    const invert = this.eat('--invert');
    const validMark = this.eat('--validmark');
    const acceptLocal = validMark && this.eat('--accept-local');
    const where = invert ? 'rpfCheckFailed' : 'rpfCheckPassed';
    const lookup = `fib saddr . ${validMark ? 'mark . ' : ''}iif oif`;
    if (!invert) {
      if (acceptLocal) throw this.refuse(where, 'passing with --accept-local is "local source or route back": one nft rule cannot match either of the two');
      this.push(`${lookup} != 0`);
      return;
    }
    // Failing with --accept-local: the source is not local and the route lookup fails.
    if (acceptLocal) this.push('fib saddr type != local');
    this.push(`${lookup} 0`);
  }

  private u32(): void {
    this.expect('--u32');
    const m = VXLAN_U32.exec(this.next());
    if (!m) throw this.unknown();
    // The u32 program reads the 24 bits at byte 12 after the IPv4 header (IHL); nft's @th is
    // that offset. Over an IPv6 header the same program reads other fields.
    if (this.ctx.family !== 'ip') throw this.refuse('vxlanVni', 'the VXLAN VNI match reads past an IPv4 header; the table is ip6');
    this.push(`@th,96,24 ${m[1] as string}`);
  }

  private ipSet(): void {
    const negated = this.eat('!');
    this.expect('--match-set');
    this.next();
    const flags = this.next();
    const kind = { src: 'sourceIpSet', 'src,src': 'sourceIpPortSet', dst: 'destIpSet', 'dst,dst': 'destIpPortSet' }[flags];
    if (kind === undefined) throw this.unknown();
    throw this.refuse(method(negated, kind), 'nftables cannot see the sets of ipset (use nftables sets)');
  }

  private ipvs(): void {
    const negated = this.eat('!');
    this.expect('--ipvs');
    throw this.refuse(negated ? 'notIpvsConnection' : 'ipvsConnection', 'nftables has no match for IPVS connections');
  }
}

/** `limit rate N/unit burst B packets` (nft's unit names). */
export function limitStatement(rate: string, unit: string, burst: string): string {
  return `limit rate ${rate}/${unit} burst ${burst} packets`;
}

/** The rule's protocol criterion from the match tokens (the builder allows at most one). */
function protocolOf(tokens: readonly string[]): NftProtocol | undefined {
  let found: NftProtocol | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    // Interface names are the only builder values that may look like options.
    if (t === '--in-interface' || t === '--out-interface') i++;
    if (t !== '-p') continue;
    const value = tokens[i + 1] ?? '';
    const number = /^\d{1,3}$/.test(value) ? Number(value) : protocolNumbers().get(value.toLowerCase());
    if (number === undefined || number > 255 || found !== undefined) {
      throw refuse('protocol', tokens.slice(i, i + 2).join(' '), 'not a protocol criterion of the Match() builder (one known protocol per rule)');
    }
    found = { number, negated: tokens[i - 1] === '!' };
  }
  return found;
}

/** The nft statements of a match's tokens, in order, and its protocol criterion. */
export function renderNftMatch(tokens: readonly string[], ctx: NftRenderContext): NftMatch {
  const reader = new MatchReader(tokens, ctx, protocolOf(tokens));
  reader.read();
  return { statements: reader.statements(), protocol: reader.protocol };
}
