// The nftables renderer's exact text for every Match() method and every action, and its
// refusals (InvalidRuleError naming the builder method or field and the backend). The expected
// texts are written here by hand from nft's grammar; test/nftables-render-nft.test.ts shows the
// real nft takes them and test/nftables-render-translate.test.ts compares them with
// iptables-translate.
import { describe, expect, it } from 'vitest';
import {
  AcceptAction,
  type Action,
  ClearMarkAction,
  DNATAction,
  DropAction,
  DSCPAction,
  GotoAction,
  JumpAction,
  LimitNumConnectionsAction,
  LimitPacketRateAction,
  LogAction,
  MasqAction,
  NflogAction,
  NoTrackAction,
  RejectAction,
  RestoreConnMarkAction,
  ReturnAction,
  SaveConnMarkAction,
  SetConnMarkAction,
  SetMarkAction,
  SetMaskedMarkAction,
  SNATAction,
} from '../src/actions';
import { InvalidRuleError } from '../src/errors';
import { AddrType, Match, MatchCriteria } from '../src/match';
import { NFT_KEYWORDS, nftName, nftQuoted } from '../src/nftables/nft-names';
import { checkNftRule, type NftRenderContext, renderNftRule, renderNftRuleParts } from '../src/nftables/render';
import { Rule } from '../src/rule';
import type { TableName } from '../src/table-names';

const ctx = (family: 'ip' | 'ip6' = 'ip', table: TableName = 'filter', chainName: (c: string) => string = (c) => c): NftRenderContext => ({ family, table, chainName });
const V4 = ctx('ip');
const V6 = ctx('ip6');
const render = (match: MatchCriteria, action: Action = new AcceptAction(), c: NftRenderContext = V4, features?: Parameters<Rule['withFeatures']>[0]): string => {
  const rule = new Rule({ match, action });
  return renderNftRule(features === undefined ? rule : rule.withFeatures(features), c);
};
const M = Match;
const tcp = () => M().protocol('tcp');

/** The InvalidRuleError a render throws; fails the test when it renders. */
function refusal(run: () => unknown): InvalidRuleError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidRuleError);
    expect((e as Error).message).toContain('backend nftables');
    return e as InvalidRuleError;
  }
  throw new Error('expected an InvalidRuleError');
}

const tested = new Set<string>();
const note = <T extends readonly [string, ...unknown[]]>(cases: T[]): T[] => {
  for (const c of cases) tested.add(/^[A-Za-z0-9]+/.exec(c[0])?.[0] ?? '');
  return cases;
};

describe('match criteria', () => {
  it.each<[string, MatchCriteria, string]>(note([
    ['markClear', M().markClear(0x10), 'meta mark & 0x10 == 0x0 accept'],
    ['markClear (all bits)', M().markClear(0xffffffff), 'meta mark 0x0 accept'],
    ['markNotClear', M().markNotClear(0x10), 'meta mark & 0x10 != 0x0 accept'],
    ['markSingleBitSet', M().markSingleBitSet(0x80000000), 'meta mark & 0x80000000 == 0x80000000 accept'],
    ['markMatchesWithMask', M().markMatchesWithMask(0xa0, 0xf0), 'meta mark & 0xf0 == 0xa0 accept'],
    ['markMatchesWithMask (full mask)', M().markMatchesWithMask(1, 0xffffffff), 'meta mark 0x1 accept'],
    ['notMarkMatchesWithMask', M().notMarkMatchesWithMask(0xa0, 0xf0), 'meta mark & 0xf0 != 0xa0 accept'],
    ['notMarkMatchesWithMask (full mask)', M().notMarkMatchesWithMask(0, 0xffffffff), 'meta mark != 0x0 accept'],
    ['inInterface', M().inInterface('eth0'), 'iifname "eth0" accept'],
    ['inInterface wildcard', M().inInterface('cali+'), 'iifname "cali*" accept'],
    ['inInterface "+" (any)', M().inInterface('+'), 'accept'],
    ['outInterface', M().outInterface('wg-v6.cali'), 'oifname "wg-v6.cali" accept'],
    ['rpfCheckPassed()', M().rpfCheckPassed(), 'fib saddr . iif oif != 0 accept'],
    ['rpfCheckPassed(false)', M().rpfCheckPassed(false), 'fib saddr . mark . iif oif != 0 accept'],
    ['rpfCheckFailed()', M().rpfCheckFailed(), 'fib saddr . iif oif 0 accept'],
    ['rpfCheckFailed(false)', M().rpfCheckFailed(false), 'fib saddr . mark . iif oif 0 accept'],
    ['rpfCheckFailed(true)', M().rpfCheckFailed(true), 'fib saddr type != local fib saddr . mark . iif oif 0 accept'],
    ['srcAddrType', M().srcAddrType(AddrType.Local, false), 'fib saddr type local accept'],
    ['srcAddrType limitIfaceOut', M().srcAddrType(AddrType.Local, true), 'fib saddr . oif type local accept'],
    ['notSrcAddrType', M().notSrcAddrType(AddrType.Unicast, false), 'fib saddr type != unicast accept'],
    ['notSrcAddrType limitIfaceOut', M().notSrcAddrType(AddrType.Multicast, true), 'fib saddr . oif type != multicast accept'],
    ['destAddrType', M().destAddrType(AddrType.Local), 'fib daddr type local accept'],
    ['notDestAddrType', M().notDestAddrType(AddrType.Local), 'fib daddr type != local accept'],
    ['destAddrType THROW (no nft name)', M().destAddrType(AddrType.Throw), 'fib daddr type 9 accept'],
    ['destAddrType NAT', M().destAddrType(AddrType.Nat), 'fib daddr type 10 accept'],
    ['destAddrType XRESOLVE', M().destAddrType(AddrType.XResolve), 'fib daddr type 11 accept'],
    ['destAddrType BLACKHOLE', M().destAddrType(AddrType.Blackhole), 'fib daddr type blackhole accept'],
    ['conntrackState', M().conntrackState('INVALID'), 'ct state invalid accept'],
    ['conntrackState (several)', M().conntrackState('RELATED,ESTABLISHED'), 'ct state related,established accept'],
    ['conntrackState NEW,UNTRACKED', M().conntrackState('NEW,UNTRACKED'), 'ct state new,untracked accept'],
    ['conntrackState SNAT', M().conntrackState('SNAT'), 'ct status snat accept'],
    ['conntrackState SNAT,DNAT', M().conntrackState('SNAT,DNAT'), 'ct status snat,dnat accept'],
    ['notConntrackState', M().notConntrackState('RELATED,ESTABLISHED'), 'ct state ! related,established accept'],
    ['protocol', M().protocol('tcp'), 'ip protocol tcp accept'],
    ['protocol (upper case)', M().protocol('UDP'), 'ip protocol udp accept'],
    ['protocol from /etc/protocols, as a number', M().protocol('rsvp'), 'ip protocol 46 accept'],
    ['protocol all', M().protocol('all'), 'accept'],
    ['notProtocol', M().notProtocol('udp'), 'ip protocol != udp accept'],
    ['protocolNum', M().protocolNum(6), 'ip protocol tcp accept'],
    ['protocolNum 0', M().protocolNum(0), 'accept'],
    ['protocolNum 255', M().protocolNum(255), 'ip protocol 255 accept'],
    ['notProtocolNum', M().notProtocolNum(17), 'ip protocol != udp accept'],
    ['sourceNet', M().sourceNet('10.0.0.0/8'), 'ip saddr 10.0.0.0/8 accept'],
    ['sourceNet /0', M().sourceNet('0.0.0.0/0'), 'accept'],
    ['notSourceNet', M().notSourceNet('192.168.0.0/16'), 'ip saddr != 192.168.0.0/16 accept'],
    ['destNet', M().destNet('1.2.3.4'), 'ip daddr 1.2.3.4 accept'],
    ['notDestNet', M().notDestNet('0.0.0.0/1'), 'ip daddr != 0.0.0.0/1 accept'],
    ['sourcePorts', tcp().sourcePorts(0, 65535), 'ip protocol tcp tcp sport { 0, 65535 } accept'],
    ['notSourcePorts', tcp().notSourcePorts(22), 'ip protocol tcp tcp sport != 22 accept'],
    ['destPorts', tcp().destPorts(80, 443), 'ip protocol tcp tcp dport { 80, 443 } accept'],
    ['destPorts udp', M().protocol('udp').destPorts(53), 'ip protocol udp udp dport 53 accept'],
    ['destPorts sctp', M().protocol('sctp').destPorts(1, 2), 'ip protocol sctp sctp dport { 1, 2 } accept'],
    ['destPorts udplite', M().protocol('udplite').destPorts(1), 'ip protocol udplite udplite dport 1 accept'],
    ['destPorts protocolNum 33 (dccp)', M().protocolNum(33).destPorts(1), 'ip protocol dccp dccp dport 1 accept'],
    ['notDestPorts', M().protocol('udp').notDestPorts(65535, 1), 'ip protocol udp udp dport != { 65535, 1 } accept'],
    ['sourcePortRanges', tcp().sourcePortRanges([{ first: 0, last: 1023 }, { first: 65535, last: 65535 }]), 'ip protocol tcp tcp sport { 0-1023, 65535 } accept'],
    ['notSourcePortRanges', tcp().notSourcePortRanges([{ first: 1, last: 2 }]), 'ip protocol tcp tcp sport != 1-2 accept'],
    ['destPortRanges', tcp().destPortRanges([{ first: 80, last: 90 }, { first: 443, last: 443 }]), 'ip protocol tcp tcp dport { 80-90, 443 } accept'],
    ['notDestPortRanges', tcp().notDestPortRanges([{ first: 30000, last: 32767 }]), 'ip protocol tcp tcp dport != 30000-32767 accept'],
    ['destPort', tcp().destPort(80), 'ip protocol tcp tcp dport 80 accept'],
    ['destPort before its protocol', M().destPort(80).protocol('udp'), 'ip protocol udp udp dport 80 accept'],
    ['limit', M().limit('10/second'), 'limit rate 10/second burst 5 packets accept'],
    ['limit with burst', M().limit('5/minute', 20), 'limit rate 5/minute burst 20 packets accept'],
    ['limit, short units', M().limit('3/s').limit('1/m').limit('1/h', 2).limit('1/d', 1), 'limit rate 3/second burst 5 packets limit rate 1/minute burst 5 packets limit rate 1/hour burst 2 packets limit rate 1/day burst 1 packets accept'],
    ['limit, other units', M().limit('4/sec').limit('2/min'), 'limit rate 4/second burst 5 packets limit rate 2/minute burst 5 packets accept'],
    ['vxlanVni', M().protocol('udp').vxlanVni(4096), 'ip protocol udp @th,96,24 0x1000 accept'],
    ['vxlanVni 0xffffff', M().vxlanVni(0xffffff), '@th,96,24 0xffffff accept'],
    ['icmpType', M().protocol('icmp').icmpType(8), 'ip protocol icmp icmp type 8 accept'],
    ['icmpType 255 (any type to iptables)', M().protocol('icmp').icmpType(255), 'ip protocol icmp accept'],
    ['notIcmpType', M().protocol('icmp').notIcmpType(8), 'ip protocol icmp icmp type != 8 accept'],
    ['icmpTypeAndCode', M().protocol('icmp').icmpTypeAndCode(3, 4), 'ip protocol icmp icmp type 3 icmp code 4 accept'],
    ['icmpTypeAndCode 255/x (any)', M().protocolNum(1).icmpTypeAndCode(255, 3), 'ip protocol icmp accept'],
    ['notIcmpTypeAndCode', M().protocol('icmp').notIcmpTypeAndCode(3, 4), 'ip protocol icmp icmp type . icmp code != { 3 . 4 } accept'],
  ]))('%s (ip)', (_name, match, expected) => {
    expect(render(match)).toBe(expected);
  });

  it.each<[string, MatchCriteria, string]>(note([
    ['protocol', M().protocol('tcp'), 'meta l4proto tcp accept'],
    ['protocol icmpv6', M().protocol('icmpv6'), 'meta l4proto ipv6-icmp accept'],
    ['notProtocolNum', M().notProtocolNum(58), 'meta l4proto != ipv6-icmp accept'],
    ['sourceNet', M().sourceNet('fd00::/8'), 'ip6 saddr fd00::/8 accept'],
    ['sourceNet ::/0', M().sourceNet('::/0'), 'accept'],
    ['notDestNet', M().notDestNet('::1'), 'ip6 daddr != ::1 accept'],
    ['destPorts', tcp().destPorts(80, 443), 'meta l4proto tcp tcp dport { 80, 443 } accept'],
    ['icmpV6Type', M().protocol('ipv6-icmp').icmpV6Type(128), 'meta l4proto ipv6-icmp icmpv6 type 128 accept'],
    ['icmpV6Type 255 (no "any" in ip6tables)', M().protocol('ipv6-icmp').icmpV6Type(255), 'meta l4proto ipv6-icmp icmpv6 type 255 accept'],
    ['notIcmpV6Type', M().protocol('ipv6-icmp').notIcmpV6Type(255), 'meta l4proto ipv6-icmp icmpv6 type != 255 accept'],
    ['icmpV6TypeAndCode', M().protocol('icmpv6').icmpV6TypeAndCode(1, 0), 'meta l4proto ipv6-icmp icmpv6 type 1 icmpv6 code 0 accept'],
    ['notIcmpV6TypeAndCode', M().protocolNum(58).notIcmpV6TypeAndCode(0, 255), 'meta l4proto ipv6-icmp icmpv6 type . icmpv6 code != { 0 . 255 } accept'],
    ['srcAddrType', M().srcAddrType(AddrType.Local, false), 'fib saddr type local accept'],
    ['rpfCheckPassed', M().rpfCheckPassed(), 'fib saddr . iif oif != 0 accept'],
  ]))('%s (ip6)', (_name, match, expected) => {
    expect(render(match, new AcceptAction(), V6)).toBe(expected);
  });

  it('renders every criterion: the IP header ones first, as iptables checks them, then the others in order', () => {
    const match = M().markClear(0x100).destNet('10.0.0.1').inInterface('cali+').conntrackState('NEW').sourceNet('10.65.0.0/16').protocol('tcp').destPorts(80, 443).outInterface('eth0');
    expect(render(match)).toBe('iifname "cali*" oifname "eth0" ip protocol tcp ip saddr 10.65.0.0/16 ip daddr 10.0.0.1 meta mark & 0x100 == 0x0 ct state new tcp dport { 80, 443 } accept');
  });

  it('puts a limit after the address it follows in iptables (a limit counts only the packets that reach it)', () => {
    expect(render(M().limit('1/second').sourceNet('10.0.0.0/8'))).toBe('ip saddr 10.0.0.0/8 limit rate 1/second burst 5 packets accept');
  });

  it('leaves the rule comment to the caller', () => {
    expect(renderNftRule(new Rule({ match: tcp(), action: new DropAction(), comment: 'a comment' }), V4)).toBe('ip protocol tcp drop');
  });

  it.each<[string, () => MatchCriteria, string]>(note([
    ['sourceIpSet', () => M().sourceIpSet('s'), 'sourceIpSet'],
    ['notSourceIpSet', () => M().notSourceIpSet('s'), 'notSourceIpSet'],
    ['sourceIpPortSet', () => M().sourceIpPortSet('s'), 'sourceIpPortSet'],
    ['notSourceIpPortSet', () => M().notSourceIpPortSet('s'), 'notSourceIpPortSet'],
    ['destIpSet', () => M().destIpSet('s'), 'destIpSet'],
    ['notDestIpSet', () => M().notDestIpSet('s'), 'notDestIpSet'],
    ['destIpPortSet', () => M().destIpPortSet('s'), 'destIpPortSet'],
    ['notDestIpPortSet', () => M().notDestIpPortSet('s'), 'notDestIpPortSet'],
    ['ipvsConnection', () => M().ipvsConnection(), 'ipvsConnection'],
    ['notIpvsConnection', () => M().notIpvsConnection(), 'notIpvsConnection'],
    ['conntrackState mixing state and SNAT', () => M().conntrackState('NEW,SNAT'), 'conntrackState'],
    ['notConntrackState with DNAT', () => M().notConntrackState('DNAT'), 'notConntrackState'],
    ['notIcmpType 255 (matches nothing in iptables)', () => M().protocol('icmp').notIcmpType(255), 'notIcmpType'],
    ['notIcmpTypeAndCode 255', () => M().protocol('icmp').notIcmpTypeAndCode(255, 0), 'notIcmpTypeAndCode'],
    ['rpfCheckPassed(true): local or route, an OR', () => M().rpfCheckPassed(true), 'rpfCheckPassed'],
    ['an IPv6 net in an ip table', () => M().sourceNet('fd00::/8'), 'sourceNet'],
    ['icmpV6Type in an ip table', () => M().protocol('ipv6-icmp').icmpV6Type(1), 'icmpV6Type'],
    ['destPort without a protocol', () => M().destPort(80), 'destPort'],
    ['destPort with a protocol without ports', () => M().protocol('icmp').destPort(80), 'destPort'],
    ['an interface name with "*"', () => M().inInterface('a*b'), 'inInterface'],
    ['an interface name with "$"', () => M().outInterface('a$b'), 'outInterface'],
    ['an interface name of 15 bytes and a wildcard (raw fragment)', () => new MatchCriteria(['--in-interface 123456789012345+']), 'inInterface'],
  ]))('refuses %s, naming %s', (_name, match, where) => {
    expect(refusal(() => render(match())).where).toBe(where);
  });

  it.each<[string, () => MatchCriteria, string]>([
    ['an IPv4 net in an ip6 table', () => M().notDestNet('10.0.0.0/8'), 'notDestNet'],
    ['icmpType in an ip6 table', () => M().protocol('icmp').icmpTypeAndCode(1, 2), 'icmpTypeAndCode'],
    ['vxlanVni in an ip6 table (it reads an IPv4 header)', () => M().vxlanVni(1), 'vxlanVni'],
  ])('refuses %s (ip6), naming %s', (_name, match, where) => {
    expect(refusal(() => render(match(), new AcceptAction(), V6)).where).toBe(where);
  });

  it('refuses fragments the builder never writes (raw MatchCriteria), naming MatchCriteria', () => {
    for (const fragments of [['--source 10.0.0.0/8}'], ['--source 10.0.0.0/33'], ['-m addrtype --src-type FOO'], ['-p tcp -m multiport --destination-ports 70000'], ['-p tcp --dport 65536'], ['-m comment --comment x'], ['-m u32 --u32 "0=1"'], ['-m mark --mark 1'], ['-m bpf --bytecode "1,6 0 0 0"'], ['--fragment'], ['-m multiport --destination-ports 80 -j X']]) {
      expect(refusal(() => renderNftRule(new Rule({ match: new MatchCriteria(fragments), action: new AcceptAction() }), V4)).where).toMatch(/^(MatchCriteria|destPorts)$/);
    }
  });
});

describe('actions', () => {
  const NAT = ctx('ip', 'nat');
  const NAT6 = ctx('ip6', 'nat');
  const MANGLE = ctx('ip', 'mangle');
  const RAW = ctx('ip', 'raw');
  const ALL = { snatFullyRandom: true, masqFullyRandom: true, nfLogSize: true };

  it.each<[string, MatchCriteria, Action, NftRenderContext, string]>(note([
    ['AcceptAction', M(), new AcceptAction(), V4, 'accept'],
    ['DropAction', M(), new DropAction(), V4, 'drop'],
    ['ReturnAction', M(), new ReturnAction(), V4, 'return'],
    ['NoTrackAction', M(), new NoTrackAction(), RAW, 'notrack'],
    ['JumpAction', M(), new JumpAction({ target: 'cali-fw-eth0' }), V4, 'jump cali-fw-eth0'],
    ['GotoAction', M(), new GotoAction({ target: 'KUBE-SERVICES' }), V4, 'goto KUBE-SERVICES'],
    ['LogAction', M(), new LogAction({ prefix: 'calico-drop' }), V4, 'log prefix "calico-drop: " level notice'],
    ['LogAction, empty prefix', M(), new LogAction({ prefix: '' }), V4, 'log prefix ": " level notice'],
    ['LogAction, UTF-8 and quotes', M(), new LogAction({ prefix: "it's #1 ✓" }), V4, 'log prefix "it\'s #1 ✓: " level notice'],
    ['DNATAction', M(), new DNATAction({ destAddr: '10.0.0.1' }), NAT, 'dnat to 10.0.0.1'],
    ['DNATAction with port', tcp(), new DNATAction({ destAddr: '10.0.0.2', destPort: 8080 }), NAT, 'ip protocol tcp dnat to 10.0.0.2:8080'],
    ['DNATAction IPv6', M(), new DNATAction({ destAddr: 'fd00::1' }), NAT6, 'dnat to fd00::1'],
    ['DNATAction IPv6 with port', tcp(), new DNATAction({ destAddr: 'fd00::1', destPort: 80 }), NAT6, 'meta l4proto tcp dnat to [fd00::1]:80'],
    ['SNATAction', M(), new SNATAction({ toAddr: '1.2.3.4' }), NAT, 'snat to 1.2.3.4'],
    ['SNATAction range', M(), new SNATAction({ toAddr: '1.2.3.4-1.2.3.9' }), NAT, 'snat to 1.2.3.4-1.2.3.9'],
    ['SNATAction IPv6', M(), new SNATAction({ toAddr: 'fd00::2' }), NAT6, 'snat to fd00::2'],
    ['MasqAction', M(), new MasqAction(), NAT, 'masquerade'],
    ['MasqAction with ports', tcp(), new MasqAction({ toPorts: '1024-65535' }), NAT, 'ip protocol tcp masquerade to :1024-65535'],
    ['MasqAction with a port', M().protocol('udp'), new MasqAction({ toPorts: '5000' }), NAT6, 'meta l4proto udp masquerade to :5000'],
    ['ClearMarkAction', M(), new ClearMarkAction({ mark: 1 }), MANGLE, 'meta mark set meta mark & 0xfffffffe'],
    ['ClearMarkAction, all bits', M(), new ClearMarkAction({ mark: 0xffffffff }), MANGLE, 'meta mark set 0x0'],
    ['SetMarkAction', M(), new SetMarkAction({ mark: 0x1000 }), MANGLE, 'meta mark set meta mark | 0x1000'],
    ['SetMarkAction, all bits', M(), new SetMarkAction({ mark: 0xffffffff }), MANGLE, 'meta mark set 0xffffffff'],
    ['SetMaskedMarkAction', M(), new SetMaskedMarkAction({ mark: 0xa0, mask: 0xf0 }), MANGLE, 'meta mark set meta mark & 0xffffff0f | 0xa0'],
    ['SetMaskedMarkAction, zero mark', M(), new SetMaskedMarkAction({ mark: 0, mask: 0xff }), MANGLE, 'meta mark set meta mark & 0xffffff00'],
    ['SetMaskedMarkAction, full mask', M(), new SetMaskedMarkAction({ mark: 7, mask: 0xffffffff }), MANGLE, 'meta mark set 0x7'],
    ['RejectAction', M(), new RejectAction(), V4, 'reject'],
    ['RejectAction tcp-reset', tcp(), new RejectAction({ with: 'tcp-reset' }), V4, 'ip protocol tcp reject with tcp reset'],
    ['RejectAction tcp-rst', tcp(), new RejectAction({ with: 'tcp-rst' }), V4, 'ip protocol tcp reject with tcp reset'],
    ['RejectAction icmp-net-unreachable', M(), new RejectAction({ with: 'icmp-net-unreachable' }), V4, 'reject with icmp type net-unreachable'],
    ['RejectAction net-unreach', M(), new RejectAction({ with: 'net-unreach' }), V4, 'reject with icmp type net-unreachable'],
    ['RejectAction icmp-host-unreachable', M(), new RejectAction({ with: 'icmp-host-unreachable' }), V4, 'reject with icmp type host-unreachable'],
    ['RejectAction host-unreach', M(), new RejectAction({ with: 'host-unreach' }), V4, 'reject with icmp type host-unreachable'],
    ['RejectAction icmp-proto-unreachable', M(), new RejectAction({ with: 'icmp-proto-unreachable' }), V4, 'reject with icmp type prot-unreachable'],
    ['RejectAction proto-unreach', M(), new RejectAction({ with: 'proto-unreach' }), V4, 'reject with icmp type prot-unreachable'],
    ['RejectAction icmp-port-unreachable', M(), new RejectAction({ with: 'icmp-port-unreachable' }), V4, 'reject with icmp type port-unreachable'],
    ['RejectAction port-unreach', M(), new RejectAction({ with: 'port-unreach' }), V4, 'reject with icmp type port-unreachable'],
    ['RejectAction icmp-net-prohibited', M(), new RejectAction({ with: 'icmp-net-prohibited' }), V4, 'reject with icmp type net-prohibited'],
    ['RejectAction net-prohib', M(), new RejectAction({ with: 'net-prohib' }), V4, 'reject with icmp type net-prohibited'],
    ['RejectAction icmp-host-prohibited', M(), new RejectAction({ with: 'icmp-host-prohibited' }), V4, 'reject with icmp type host-prohibited'],
    ['RejectAction host-prohib', M(), new RejectAction({ with: 'host-prohib' }), V4, 'reject with icmp type host-prohibited'],
    ['RejectAction icmp-admin-prohibited', M(), new RejectAction({ with: 'icmp-admin-prohibited' }), V4, 'reject with icmp type admin-prohibited'],
    ['RejectAction admin-prohib', M(), new RejectAction({ with: 'admin-prohib' }), V4, 'reject with icmp type admin-prohibited'],
    ['RejectAction (ip6)', M(), new RejectAction(), V6, 'reject'],
    ['RejectAction tcp-reset (ip6)', tcp(), new RejectAction({ with: 'tcp-reset' }), V6, 'meta l4proto tcp reject with tcp reset'],
    ['RejectAction icmp6-no-route', M(), new RejectAction({ with: 'icmp6-no-route' }), V6, 'reject with icmpv6 type no-route'],
    ['RejectAction no-route', M(), new RejectAction({ with: 'no-route' }), V6, 'reject with icmpv6 type no-route'],
    ['RejectAction icmp6-adm-prohibited', M(), new RejectAction({ with: 'icmp6-adm-prohibited' }), V6, 'reject with icmpv6 type admin-prohibited'],
    ['RejectAction adm-prohibited', M(), new RejectAction({ with: 'adm-prohibited' }), V6, 'reject with icmpv6 type admin-prohibited'],
    ['RejectAction icmp6-addr-unreachable', M(), new RejectAction({ with: 'icmp6-addr-unreachable' }), V6, 'reject with icmpv6 type addr-unreachable'],
    ['RejectAction addr-unreach', M(), new RejectAction({ with: 'addr-unreach' }), V6, 'reject with icmpv6 type addr-unreachable'],
    ['RejectAction icmp6-port-unreachable', M(), new RejectAction({ with: 'icmp6-port-unreachable' }), V6, 'reject with icmpv6 type port-unreachable'],
    ['RejectAction port-unreach (ip6)', M(), new RejectAction({ with: 'port-unreach' }), V6, 'reject with icmpv6 type port-unreachable'],
    ['RejectAction icmp6-policy-fail', M(), new RejectAction({ with: 'icmp6-policy-fail' }), V6, 'reject with icmpv6 type policy-fail'],
    ['RejectAction policy-fail', M(), new RejectAction({ with: 'policy-fail' }), V6, 'reject with icmpv6 type policy-fail'],
    ['RejectAction icmp6-reject-route', M(), new RejectAction({ with: 'icmp6-reject-route' }), V6, 'reject with icmpv6 type reject-route'],
    ['RejectAction reject-route', M(), new RejectAction({ with: 'reject-route' }), V6, 'reject with icmpv6 type reject-route'],
    ['SetConnMarkAction', M(), new SetConnMarkAction({ mark: 0x10 }), MANGLE, 'ct mark set 0x10'],
    ['SetConnMarkAction masked', M(), new SetConnMarkAction({ mark: 0x10, mask: 0xff }), MANGLE, 'ct mark set ct mark & 0xffffff00 | 0x10'],
    ['SetConnMarkAction, zero mark', M(), new SetConnMarkAction({ mark: 0, mask: 1 }), MANGLE, 'ct mark set ct mark & 0xfffffffe'],
    ['SaveConnMarkAction', M(), new SaveConnMarkAction(), MANGLE, 'ct mark set meta mark'],
    ['RestoreConnMarkAction', M(), new RestoreConnMarkAction({ restoreMask: 0xffffffff }), MANGLE, 'meta mark set ct mark'],
    ['NflogAction (--nflog-range never reached the kernel)', M(), new NflogAction({ group: 1, prefix: 'API0|gnp/default.allow' }), V4, 'log group 1 prefix "API0|gnp/default.allow"'],
    ['NflogAction size -1', M(), new NflogAction({ group: 2, prefix: 'p', size: -1 }), V4, 'log group 2 prefix "p"'],
    ['LimitPacketRateAction', M(), new LimitPacketRateAction({ rate: 10, burst: 3, mark: 0x1 }), MANGLE, 'limit rate 10/second burst 3 packets meta mark set meta mark | 0x1'],
    ['LimitNumConnectionsAction', M(), new LimitNumConnectionsAction({ num: 5, rejectWith: 'tcp-reset' }), V4, 'ip protocol tcp tcp flags & (fin|syn|rst|ack) == syn ct count over 5 reject with tcp reset'],
    ['LimitNumConnectionsAction (ip6)', M(), new LimitNumConnectionsAction({ num: 0, rejectWith: 'icmp6-adm-prohibited' }), V6, 'meta l4proto tcp tcp flags & (fin|syn|rst|ack) == syn ct count over 0 reject with icmpv6 type admin-prohibited'],
    ['DSCPAction', M(), new DSCPAction({ value: 46 }), MANGLE, 'ip dscp set 46'],
    ['DSCPAction (ip6)', M(), new DSCPAction({ value: 63 }), ctx('ip6', 'mangle'), 'ip6 dscp set 63'],
  ]))('%s', (_name, match, action, c, expected) => {
    expect(render(match, action, c)).toBe(expected);
  });

  it.each<[string, MatchCriteria, Action, NftRenderContext, string]>(note([
    ['SNATAction --random-fully', M(), new SNATAction({ toAddr: '1.2.3.4' }), NAT, 'snat to 1.2.3.4 fully-random'],
    ['MasqAction --random-fully', M(), new MasqAction(), NAT, 'masquerade fully-random'],
    ['MasqAction with ports, --random-fully', tcp(), new MasqAction({ toPorts: '1024-65535' }), NAT, 'ip protocol tcp masquerade to :1024-65535 fully-random'],
    ['NflogAction --nflog-size', M(), new NflogAction({ group: 0, prefix: 'p', size: 4294967295 }), V4, 'log group 0 prefix "p" snaplen 4294967295'],
    ['NflogAction default size', M(), new NflogAction({ group: 65535, prefix: 'q' }), V4, 'log group 65535 prefix "q" snaplen 80'],
  ]))('%s (with host features)', (_name, match, action, c, expected) => {
    expect(render(match, action, c, ALL)).toBe(expected);
  });

  it('takes jump and goto targets through ctx.chainName', () => {
    const renamed = ctx('ip', 'filter', (c) => `ipt_${c.replace(/[^A-Za-z0-9_]/g, '_')}`);
    expect(render(M(), new JumpAction({ target: 'cali:fw#1' }), renamed)).toBe('jump ipt_cali_fw_1');
    expect(render(M(), new GotoAction({ target: 'x' }), renamed)).toBe('goto ipt_x');
  });

  it.each<[string, () => { match?: MatchCriteria; action: Action }, NftRenderContext, string]>([
    ['a chain name nft cannot take unquoted', () => ({ action: new JumpAction({ target: 'a:b' }) }), V4, 'JumpAction.target'],
    ['a chain name that is an nft keyword', () => ({ action: new GotoAction({ target: 'counter' }) }), V4, 'GotoAction.target'],
    ['a chain name starting with a digit', () => ({ action: new JumpAction({ target: '1abc' }) }), V4, 'JumpAction.target'],
    ['a jump to an iptables target name (without its options)', () => ({ action: new JumpAction({ target: 'LOG' }) }), V4, 'Rule.action'],
    ['SaveConnMarkAction with a mask', () => ({ action: new SaveConnMarkAction({ saveMask: 0xff00 }) }), MANGLE, 'SaveConnMarkAction.saveMask'],
    ['RestoreConnMarkAction with a mask', () => ({ action: new RestoreConnMarkAction({ restoreMask: 1 }) }), MANGLE, 'RestoreConnMarkAction.restoreMask'],
    ['DNATAction outside nat', () => ({ action: new DNATAction({ destAddr: '10.0.0.1' }) }), V4, 'DNATAction'],
    ['SNATAction outside nat', () => ({ action: new SNATAction({ toAddr: '10.0.0.1' }) }), MANGLE, 'SNATAction'],
    ['MasqAction outside nat', () => ({ action: new MasqAction() }), RAW, 'MasqAction'],
    ['NoTrackAction outside raw', () => ({ action: new NoTrackAction() }), V4, 'NoTrackAction'],
    ['DSCPAction outside mangle', () => ({ action: new DSCPAction({ value: 1 }) }), V4, 'DSCPAction'],
    ['RejectAction outside filter', () => ({ action: new RejectAction() }), MANGLE, 'RejectAction'],
    ['LimitNumConnectionsAction outside filter', () => ({ action: new LimitNumConnectionsAction({ num: 1, rejectWith: 'tcp-reset' }) }), NAT, 'RejectAction'],
    ['DNATAction with an IPv6 address in ip', () => ({ action: new DNATAction({ destAddr: 'fd00::1' }) }), NAT, 'DNATAction.destAddr'],
    ['DNATAction with an IPv4 address in ip6', () => ({ action: new DNATAction({ destAddr: '10.0.0.1', destPort: 80 }) }), NAT6, 'DNATAction.destAddr'],
    ['DNATAction with a port and no protocol', () => ({ action: new DNATAction({ destAddr: '10.0.0.1', destPort: 80 }) }), NAT, 'DNATAction.destPort'],
    ['DNATAction with a port and a negated protocol', () => ({ match: M().notProtocol('tcp'), action: new DNATAction({ destAddr: '10.0.0.1', destPort: 80 }) }), NAT, 'DNATAction.destPort'],
    ['MasqAction with ports and protocol icmp', () => ({ match: M().protocol('icmp'), action: new MasqAction({ toPorts: '1-2' }) }), NAT, 'MasqAction.toPorts'],
    ['SNATAction with an IPv6 range in ip', () => ({ action: new SNATAction({ toAddr: 'fd00::1-fd00::9' }) }), NAT, 'SNATAction.toAddr'],
    ['RejectAction with an IPv6 type in ip', () => ({ action: new RejectAction({ with: 'icmp6-no-route' }) }), V4, 'RejectAction.with'],
    ['RejectAction with an IPv4 type in ip6', () => ({ action: new RejectAction({ with: 'host-prohib' }) }), V6, 'RejectAction.with'],
    ['LimitNumConnectionsAction with an IPv4 type in ip6', () => ({ action: new LimitNumConnectionsAction({ num: 1, rejectWith: 'icmp-host-prohibited' }) }), V6, 'LimitNumConnectionsAction.rejectWith'],
    ['an NFLOG prefix with "$" (nft expands variables in strings)', () => ({ action: new NflogAction({ group: 1, prefix: 'a$b' }) }), V4, 'NflogAction.prefix'],
    ['an action of another library', () => ({ action: { toFragment: () => '--jump TPROXY --on-port 1' } }), V4, 'Rule.action'],
    ['an action whose numbers are out of range', () => ({ action: { toFragment: () => '--jump NFLOG --nflog-group 70000 --nflog-prefix p' } }), V4, 'Rule.action'],
    ['an action whose numbers are out of range (DSCP)', () => ({ action: { toFragment: () => '--jump DSCP --set-dscp 64' } }), MANGLE, 'Rule.action'],
    ['an action whose numbers are out of range (DNAT port)', () => ({ match: tcp(), action: { toFragment: () => '--jump DNAT --to-destination 1.2.3.4:65536' } }), NAT, 'Rule.action'],
  ])('refuses %s', (_name, spec, c, where) => {
    expect(refusal(() => renderNftRule(new Rule(spec()), c)).where).toBe(where);
  });

  it('renders a rule once per context: another context (other chain names) renders it anew', () => {
    const rule = new Rule({ match: tcp(), action: new JumpAction({ target: 'x' }) });
    const a = ctx('ip', 'filter', (c) => `a-${c}`);
    expect(renderNftRule(rule, a)).toBe('ip protocol tcp jump a-x');
    expect(renderNftRule(rule, a)).toBe('ip protocol tcp jump a-x');
    expect(renderNftRule(rule, ctx('ip', 'filter', (c) => `b-${c}`))).toBe('ip protocol tcp jump b-x');
    expect(renderNftRule(rule, ctx('ip6', 'filter'))).toBe('meta l4proto tcp jump x');
  });

  it('splits a rule where its counter goes: after every match, the action\'s own matches too', () => {
    expect(renderNftRuleParts(new Rule({ match: tcp(), action: new DropAction() }), V4)).toEqual({ matches: 'ip protocol tcp', statement: 'drop' });
    expect(renderNftRuleParts(new Rule({ action: new AcceptAction() }), V4)).toEqual({ matches: '', statement: 'accept' });
    expect(renderNftRuleParts(new Rule({ match: M().markClear(1), action: new LimitPacketRateAction({ rate: 10, burst: 3, mark: 2 }) }), ctx('ip', 'mangle'))).toEqual({
      matches: 'meta mark & 0x1 == 0x0 limit rate 10/second burst 3 packets',
      statement: 'meta mark set meta mark | 0x2',
    });
    expect(renderNftRuleParts(new Rule({ action: new LimitNumConnectionsAction({ num: 5, rejectWith: 'tcp-reset' }) }), V4)).toEqual({
      matches: 'ip protocol tcp tcp flags & (fin|syn|rst|ack) == syn ct count over 5',
      statement: 'reject with tcp reset',
    });
  });

  it('checkNftRule throws what renderNftRule throws, and nothing for a rule that renders', () => {
    expect(() => checkNftRule(new Rule({ action: new DropAction() }), V4)).not.toThrow();
    expect(refusal(() => checkNftRule(new Rule({ match: M().sourceIpSet('s'), action: new DropAction() }), V4)).where).toBe('sourceIpSet');
  });
});

describe('nft names and strings', () => {
  it('takes plain names and refuses keywords, other characters, empty and too long names', () => {
    for (const ok of ['cali-fw-eth0', 'KUBE-SERVICES', '_x', '.x', 'a/b', 'input', 'ipts-filter', 'x'.repeat(255)]) expect(nftName('n', ok)).toBe(ok);
    for (const bad of ['', '.', '1abc', '-x', 'a:b', 'a b', 'a"b', 'a@b', 'a$b', 'a*', 'é', 'ip', 'accept', 'counter', 'tcp', 'and', 'x'.repeat(256)]) {
      expect(() => nftName('n', bad)).toThrow(InvalidRuleError);
    }
    expect(() => nftName('n', 7)).toThrow(InvalidRuleError);
    expect(NFT_KEYWORDS.has('jump')).toBe(true);
  });

  it('quotes strings and refuses what could break out of the quotes', () => {
    expect(nftQuoted('s', "it's #1 ✓ {x}; `y`", 's', 127)).toBe('"it\'s #1 ✓ {x}; `y`"');
    for (const bad of ['a"b', 'a\\b', '$x', 'a\nb', 'a\rb', 'a\0b', '\u0085', '\u007f', '\ud800', 'x'.repeat(128)]) {
      const err = refusal(() => nftQuoted('where', bad, 'log prefix', 127));
      expect(err.where).toBe('where');
      expect(err.message).toContain(JSON.stringify(bad.slice(0, 200)));
    }
    expect(() => nftQuoted('s', 1, 's', 127)).toThrow(InvalidRuleError);
  });
});

describe('coverage of the vocabulary', () => {
  // Not builder methods: the constructor, rendering and checks, and the private helpers.
  const NOT_BUILDER = new Set(['constructor', 'protocolDependencyError', 'with', 'render', 'toString', 'ipSetNames', 'addrTypeMatch', 'ipSet', 'multiport']);

  it('every Match() method has an exact-text case above', () => {
    const methods = Object.getOwnPropertyNames(MatchCriteria.prototype).filter((m) => !NOT_BUILDER.has(m));
    expect(methods.length).toBeGreaterThan(40);
    expect(methods.filter((m) => !tested.has(m))).toEqual([]);
  });

  it('every action class has an exact-text case above', async () => {
    const actions = Object.keys(await import('../src/actions')).filter((name) => name.endsWith('Action'));
    expect(actions.length).toBe(21);
    expect(actions.filter((a) => !tested.has(a))).toEqual([]);
  });
});
