// Match(): every method of SPEC section 2, byte for byte. Expected strings are written by hand
// from the SPEC table; none is produced by the code under test.
import { describe, expect, it } from 'vitest';
import { expectInvalidRule } from './helpers/expect-invalid';
import { InvalidRuleError } from '../src/errors';
import { AddrType, Match, MatchCriteria } from '../src/match';
import { portRangesToMultiport, portsToMultiport } from '../src/multiport';

type Case = readonly [label: string, build: () => MatchCriteria, expected: string];

function table(cases: readonly Case[]): void {
  it.each(cases.map((c) => [c[0], c[1], c[2]] as const))('%s', (_label, build, expected) => {
    const m = build();
    expect(m.render()).toBe(expected);
    expect(m.toString()).toBe(`MatchCriteria[${expected}]`);
  });
}

describe('mark matches', () => {
  table([
    ['markClear(1)', () => Match().markClear(1), '-m mark --mark 0/0x1'],
    ['markClear(0xffffffff)', () => Match().markClear(0xffffffff), '-m mark --mark 0/0xffffffff'],
    ['markClear(0xABC) lowercase hex', () => Match().markClear(0xabc), '-m mark --mark 0/0xabc'],
    ['markNotClear(0x10)', () => Match().markNotClear(0x10), '-m mark ! --mark 0/0x10'],
    ['markNotClear(0xffffffff)', () => Match().markNotClear(0xffffffff), '-m mark ! --mark 0/0xffffffff'],
    ['markSingleBitSet(1)', () => Match().markSingleBitSet(1), '-m mark --mark 0x1/0x1'],
    ['markSingleBitSet(0x80000000)', () => Match().markSingleBitSet(0x80000000), '-m mark --mark 0x80000000/0x80000000'],
    ['markSingleBitSet(0x100000)', () => Match().markSingleBitSet(0x100000), '-m mark --mark 0x100000/0x100000'],
    ['markMatchesWithMask(0, 0xff) zero mark', () => Match().markMatchesWithMask(0, 0xff), '-m mark --mark 0x0/0xff'],
    ['markMatchesWithMask(0, 0xffffffff)', () => Match().markMatchesWithMask(0, 0xffffffff), '-m mark --mark 0x0/0xffffffff'],
    ['markMatchesWithMask(0xffffffff, 0xffffffff)', () => Match().markMatchesWithMask(0xffffffff, 0xffffffff), '-m mark --mark 0xffffffff/0xffffffff'],
    ['markMatchesWithMask(0xa0, 0xf0)', () => Match().markMatchesWithMask(0xa0, 0xf0), '-m mark --mark 0xa0/0xf0'],
    ['notMarkMatchesWithMask(0, 0x1)', () => Match().notMarkMatchesWithMask(0, 1), '-m mark ! --mark 0x0/0x1'],
    ['notMarkMatchesWithMask(0xdead0000, 0xffff0000)', () => Match().notMarkMatchesWithMask(0xdead0000, 0xffff0000), '-m mark ! --mark 0xdead0000/0xffff0000'],
    ['notMarkMatchesWithMask(0xffffffff, 0xffffffff)', () => Match().notMarkMatchesWithMask(0xffffffff, 0xffffffff), '-m mark ! --mark 0xffffffff/0xffffffff'],
  ]);
});

describe('interfaces, rpfilter, ipvs, addrtype, conntrack', () => {
  table([
    ['inInterface(cali+) wildcard', () => Match().inInterface('cali+'), '--in-interface cali+'],
    ['inInterface(eth0)', () => Match().inInterface('eth0'), '--in-interface eth0'],
    ['inInterface(+) any', () => Match().inInterface('+'), '--in-interface +'],
    ['inInterface 15 chars', () => Match().inInterface('cali1234567890a'), '--in-interface cali1234567890a'],
    ['inInterface 15 bytes (7 x "ä" + "a")', () => Match().inInterface(`${'ä'.repeat(7)}a`), `--in-interface ${'ä'.repeat(7)}a`],
    ['outInterface(tap+)', () => Match().outInterface('tap+'), '--out-interface tap+'],
    ['outInterface(vxlan.calico)', () => Match().outInterface('vxlan.calico'), '--out-interface vxlan.calico'],
    ['rpfCheckPassed', () => Match().rpfCheckPassed(), '-m rpfilter'],
    ['rpfCheckFailed', () => Match().rpfCheckFailed(), '-m rpfilter --invert'],
    ['ipvsConnection', () => Match().ipvsConnection(), '-m ipvs --ipvs'],
    ['notIpvsConnection', () => Match().notIpvsConnection(), '-m ipvs ! --ipvs'],
    ['srcAddrType(LOCAL, false)', () => Match().srcAddrType(AddrType.Local, false), '-m addrtype --src-type LOCAL'],
    ['srcAddrType(LOCAL, true)', () => Match().srcAddrType(AddrType.Local, true), '-m addrtype --src-type LOCAL --limit-iface-out'],
    ['notSrcAddrType(LOCAL, false)', () => Match().notSrcAddrType(AddrType.Local, false), '-m addrtype ! --src-type LOCAL'],
    ['notSrcAddrType(UNICAST, true)', () => Match().notSrcAddrType(AddrType.Unicast, true), '-m addrtype ! --src-type UNICAST --limit-iface-out'],
    ['destAddrType(LOCAL)', () => Match().destAddrType(AddrType.Local), '-m addrtype --dst-type LOCAL'],
    ['destAddrType(MULTICAST)', () => Match().destAddrType(AddrType.Multicast), '-m addrtype --dst-type MULTICAST'],
    ['conntrackState(INVALID)', () => Match().conntrackState('INVALID'), '-m conntrack --ctstate INVALID'],
    ['conntrackState(RELATED,ESTABLISHED)', () => Match().conntrackState('RELATED,ESTABLISHED'), '-m conntrack --ctstate RELATED,ESTABLISHED'],
  ]);

  it('AddrType.Local is "LOCAL"', () => {
    expect(AddrType.Local).toBe('LOCAL');
  });
});

describe('protocols and nets', () => {
  table([
    ['protocol(tcp)', () => Match().protocol('tcp'), '-p tcp'],
    ['protocol(ipv6-icmp)', () => Match().protocol('ipv6-icmp'), '-p ipv6-icmp'],
    ['notProtocol(udp)', () => Match().notProtocol('udp'), '! -p udp'],
    ['protocolNum(0)', () => Match().protocolNum(0), '-p 0'],
    ['protocolNum(6)', () => Match().protocolNum(6), '-p 6'],
    ['protocolNum(255)', () => Match().protocolNum(255), '-p 255'],
    ['notProtocolNum(17)', () => Match().notProtocolNum(17), '! -p 17'],
    ['notProtocolNum(255)', () => Match().notProtocolNum(255), '! -p 255'],
    ['sourceNet(10.0.0.0/8)', () => Match().sourceNet('10.0.0.0/8'), '--source 10.0.0.0/8'],
    ['sourceNet(1.2.3.4) bare address', () => Match().sourceNet('1.2.3.4'), '--source 1.2.3.4'],
    ['sourceNet(0.0.0.0/0)', () => Match().sourceNet('0.0.0.0/0'), '--source 0.0.0.0/0'],
    ['notSourceNet(192.168.0.0/16)', () => Match().notSourceNet('192.168.0.0/16'), '! --source 192.168.0.0/16'],
    ['destNet(255.255.255.255/32)', () => Match().destNet('255.255.255.255/32'), '--destination 255.255.255.255/32'],
    ['notDestNet(172.16.0.0/12)', () => Match().notDestNet('172.16.0.0/12'), '! --destination 172.16.0.0/12'],
    ['sourceNet IPv6 fd00::/8', () => Match().sourceNet('fd00::/8'), '--source fd00::/8'],
    ['notSourceNet IPv6 ::/1', () => Match().notSourceNet('::/1'), '! --source ::/1'],
    ['destNet IPv6 ::/0', () => Match().destNet('::/0'), '--destination ::/0'],
    ['destNet IPv6 full /128', () => Match().destNet('2001:db8:0:0:0:0:0:1/128'), '--destination 2001:db8:0:0:0:0:0:1/128'],
    ['notDestNet IPv6 ::1', () => Match().notDestNet('::1'), '! --destination ::1'],
    ['destNet IPv4-mapped IPv6', () => Match().destNet('::ffff:10.0.0.1/128'), '--destination ::ffff:10.0.0.1/128'],
  ]);
});

describe('ipsets', () => {
  table([
    ['sourceIpSet', () => Match().sourceIpSet('cali40s:abc'), '-m set --match-set cali40s:abc src'],
    ['notSourceIpSet', () => Match().notSourceIpSet('cali40s:abc'), '-m set ! --match-set cali40s:abc src'],
    ['sourceIpPortSet', () => Match().sourceIpPortSet('ipp'), '-m set --match-set ipp src,src'],
    ['notSourceIpPortSet', () => Match().notSourceIpPortSet('ipp'), '-m set ! --match-set ipp src,src'],
    ['destIpSet', () => Match().destIpSet('all-hosts'), '-m set --match-set all-hosts dst'],
    ['notDestIpSet', () => Match().notDestIpSet('all-hosts'), '-m set ! --match-set all-hosts dst'],
    ['destIpPortSet', () => Match().destIpPortSet('svc'), '-m set --match-set svc dst,dst'],
    ['notDestIpPortSet', () => Match().notDestIpPortSet('svc'), '-m set ! --match-set svc dst,dst'],
    ['ipset name of 31 chars', () => Match().destIpSet('a'.repeat(31)), `-m set --match-set ${'a'.repeat(31)} dst`],
    ['ipset name of 31 bytes (15 x "ä" + "a")', () => Match().destIpSet(`${'ä'.repeat(15)}a`), `-m set --match-set ${'ä'.repeat(15)}a dst`],
  ]);
});

describe('multiport', () => {
  table([
    ['sourcePorts(0)', () => Match().sourcePorts(0), '-m multiport --source-ports 0'],
    ['sourcePorts(0, 65535)', () => Match().sourcePorts(0, 65535), '-m multiport --source-ports 0,65535'],
    ['notSourcePorts(22)', () => Match().notSourcePorts(22), '-m multiport ! --source-ports 22'],
    ['destPorts(80, 443, 8080)', () => Match().destPorts(80, 443, 8080), '-m multiport --destination-ports 80,443,8080'],
    ['destPorts keeps order and duplicates', () => Match().destPorts(443, 80, 80), '-m multiport --destination-ports 443,80,80'],
    ['notDestPorts(65535)', () => Match().notDestPorts(65535), '-m multiport ! --destination-ports 65535'],
    [
      'destPorts with 15 ports',
      () => Match().destPorts(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      '-m multiport --destination-ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15',
    ],
    ['sourcePortRanges single', () => Match().sourcePortRanges([{ first: 53, last: 53 }]), '-m multiport --source-ports 53'],
    [
      'sourcePortRanges mixed',
      () => Match().sourcePortRanges([{ first: 0, last: 1023 }, { first: 8080, last: 8080 }]),
      '-m multiport --source-ports 0:1023,8080',
    ],
    ['notSourcePortRanges', () => Match().notSourcePortRanges([{ first: 1, last: 65535 }]), '-m multiport ! --source-ports 1:65535'],
    ['destPortRanges', () => Match().destPortRanges([{ first: 0, last: 0 }, { first: 65535, last: 65535 }]), '-m multiport --destination-ports 0,65535'],
    ['notDestPortRanges', () => Match().notDestPortRanges([{ first: 30000, last: 32767 }]), '-m multiport ! --destination-ports 30000:32767'],
  ]);
});

describe('icmp', () => {
  table([
    ['icmpType(0)', () => Match().icmpType(0), '-m icmp --icmp-type 0'],
    ['icmpType(255)', () => Match().icmpType(255), '-m icmp --icmp-type 255'],
    ['notIcmpType(8)', () => Match().notIcmpType(8), '-m icmp ! --icmp-type 8'],
    ['icmpTypeAndCode(0, 0)', () => Match().icmpTypeAndCode(0, 0), '-m icmp --icmp-type 0/0'],
    ['icmpTypeAndCode(3, 4)', () => Match().icmpTypeAndCode(3, 4), '-m icmp --icmp-type 3/4'],
    ['notIcmpTypeAndCode(255, 255)', () => Match().notIcmpTypeAndCode(255, 255), '-m icmp ! --icmp-type 255/255'],
    ['icmpV6Type(0)', () => Match().icmpV6Type(0), '-m icmp6 --icmpv6-type 0'],
    ['icmpV6Type(128)', () => Match().icmpV6Type(128), '-m icmp6 --icmpv6-type 128'],
    ['notIcmpV6Type(255)', () => Match().notIcmpV6Type(255), '-m icmp6 ! --icmpv6-type 255'],
    ['icmpV6TypeAndCode(1, 0)', () => Match().icmpV6TypeAndCode(1, 0), '-m icmp6 --icmpv6-type 1/0'],
    ['icmpV6TypeAndCode(255, 255)', () => Match().icmpV6TypeAndCode(255, 255), '-m icmp6 --icmpv6-type 255/255'],
    ['notIcmpV6TypeAndCode(0, 255)', () => Match().notIcmpV6TypeAndCode(0, 255), '-m icmp6 ! --icmpv6-type 0/255'],
  ]);
});

describe('builder', () => {
  it('empty Match() renders "" and toString MatchCriteria[]', () => {
    expect(Match().render()).toBe('');
    expect(Match().toString()).toBe('MatchCriteria[]');
  });

  it('render() joins fragments with exactly one space, in call order', () => {
    const m = Match()
      .protocol('tcp')
      .inInterface('cali+')
      .markClear(0x100)
      .destPorts(80)
      .sourceNet('10.0.0.0/8')
      .conntrackState('NEW');
    expect(m.render()).toBe(
      '-p tcp --in-interface cali+ -m mark --mark 0/0x100 -m multiport --destination-ports 80 --source 10.0.0.0/8 -m conntrack --ctstate NEW',
    );
    expect(m.toString()).toBe(
      'MatchCriteria[-p tcp --in-interface cali+ -m mark --mark 0/0x100 -m multiport --destination-ports 80 --source 10.0.0.0/8 -m conntrack --ctstate NEW]',
    );
  });

  it('the same method twice adds two fragments', () => {
    expect(Match().destIpSet('a').destIpSet('b').render()).toBe('-m set --match-set a dst -m set --match-set b dst');
  });

  it('is immutable: a builder call returns a new value and leaves the receiver unchanged', () => {
    const base = Match().protocol('udp');
    const a = base.destPorts(53);
    const b = base.sourcePorts(53);
    expect(base.render()).toBe('-p udp');
    expect(a.render()).toBe('-p udp -m multiport --destination-ports 53');
    expect(b.render()).toBe('-p udp -m multiport --source-ports 53');
    expect(a).not.toBe(base);
    expect(b).not.toBe(a);
    expect(Match().render()).toBe('');
    // A fresh Match() does not see what was built on an earlier one.
    Match().markClear(1);
    expect(Match().render()).toBe('');
  });

  it('a failed builder call leaves the receiver unchanged', () => {
    const base = Match().protocol('tcp');
    expect(() => base.destPorts(70000)).toThrow(InvalidRuleError);
    expect(base.render()).toBe('-p tcp');
  });

  it('values cannot be mutated from outside', () => {
    const m = Match().protocol('tcp');
    expect(Object.isFrozen(m)).toBe(true);
    const raw = m as unknown as Record<string, unknown>;
    for (const key of Object.keys(raw)) {
      expect(() => {
        raw[key] = '--jump DROP';
      }).toThrow(TypeError);
    }
    expect(() => {
      raw.extra = 1;
    }).toThrow(TypeError);
    expect(m.render()).toBe('-p tcp');
    expect(Object.isFrozen(Match())).toBe(true);
  });

  it('the port-list arrays passed in are not kept by reference', () => {
    const ranges = [{ first: 1, last: 2 }];
    const m = Match().destPortRanges(ranges);
    ranges[0] = { first: 5, last: 6 };
    expect(m.render()).toBe('-m multiport --destination-ports 1:2');
  });
});

describe('portsToMultiport / portRangesToMultiport', () => {
  it.each([
    [[0], '0'],
    [[65535], '65535'],
    [[80, 443], '80,443'],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15'],
  ] as const)('portsToMultiport(%j) = %s', (ports, expected) => {
    expect(portsToMultiport([...ports])).toBe(expected);
  });

  it.each([
    [[{ first: 0, last: 0 }], '0'],
    [[{ first: 0, last: 65535 }], '0:65535'],
    [[{ first: 80, last: 80 }, { first: 8000, last: 8999 }, { first: 65535, last: 65535 }], '80,8000:8999,65535'],
  ] as const)('portRangesToMultiport(%j) = %s', (ranges, expected) => {
    expect(portRangesToMultiport([...ranges])).toBe(expected);
  });

  it('reject empty lists, bad ports and reversed ranges', () => {
    expect(() => portsToMultiport([])).toThrow(InvalidRuleError);
    expect(() => portsToMultiport([65536])).toThrow(/65536/);
    expect(() => portsToMultiport([-1])).toThrow(/-1/);
    expect(() => portRangesToMultiport([])).toThrow(InvalidRuleError);
    expect(() => portRangesToMultiport([{ first: 10, last: 9 }])).toThrow(InvalidRuleError);
  });

  it('multiport takes at most 15 ports, a range counting as two (iptables: "too many ports specified")', () => {
    expect(() => portsToMultiport(Array.from({ length: 16 }, (_, i) => i + 1))).toThrow(InvalidRuleError);
    const sevenRangesAndOne = [...Array.from({ length: 7 }, (_, i) => ({ first: 2 * i + 1, last: 2 * i + 2 })), { first: 15, last: 15 }];
    expect(portRangesToMultiport(sevenRangesAndOne)).toBe('1:2,3:4,5:6,7:8,9:10,11:12,13:14,15');
    const eightRanges = Array.from({ length: 8 }, (_, i) => ({ first: 2 * i + 1, last: 2 * i + 2 }));
    expect(() => portRangesToMultiport(eightRanges)).toThrow(InvalidRuleError);
    expect(() => Match().destPortRanges(eightRanges)).toThrow(InvalidRuleError);
  });
});

describe('match validation (examples; the property tests cover every class)', () => {
  it.each([
    ['markClear(0) (would be 0/0x0, matching everything)', () => Match().markClear(0), '0'],
    ['markNotClear(0)', () => Match().markNotClear(0), '0'],
    ['markMatchesWithMask mask 0', () => Match().markMatchesWithMask(0, 0), '0'],
    ['markMatchesWithMask mark outside mask', () => Match().markMatchesWithMask(0x100, 0xff), '256'],
    ['markSingleBitSet(3)', () => Match().markSingleBitSet(3), '3'],
    ['markMatchesWithMask 2^32', () => Match().markMatchesWithMask(0, 0x100000000), '4294967296'],
    ['inInterface too long (16)', () => Match().inInterface('a'.repeat(16)), 'a'.repeat(16)],
    ['inInterface with space', () => Match().inInterface('eth 0'), '"eth 0"'],
    ['outInterface with newline', () => Match().outInterface('eth0\n-A X'), '"eth0\\n-A X"'],
    ['srcAddrType unknown', () => Match().srcAddrType('LOCALX' as AddrType, false), 'LOCALX'],
    ['conntrackState unknown', () => Match().conntrackState('NEW,BOGUS'), 'NEW,BOGUS'],
    ['conntrackState with space', () => Match().conntrackState('NEW ESTABLISHED'), 'NEW ESTABLISHED'],
    ['protocol with space', () => Match().protocol('tcp --jump ACCEPT'), 'tcp --jump ACCEPT'],
    ['protocol number 256 as name', () => Match().protocol('256'), '256'],
    ['protocolNum(256)', () => Match().protocolNum(256), '256'],
    ['sourceNet not an address', () => Match().sourceNet('10.0.0.300/8'), '10.0.0.300/8'],
    ['sourceNet prefix /33', () => Match().sourceNet('10.0.0.0/33'), '10.0.0.0/33'],
    ['destNet IPv6 prefix /129', () => Match().destNet('fd00::/129'), 'fd00::/129'],
    ['destNet hostname', () => Match().destNet('example.com'), 'example.com'],
    ['ipset name of 32 chars', () => Match().sourceIpSet('a'.repeat(32)), 'a'.repeat(32)],
    ['ipset name with comma', () => Match().sourceIpSet('a,b'), 'a,b'],
    ['icmpType(256)', () => Match().icmpType(256), '256'],
    // Names are limited in bytes, as the kernel and ipset count them (not in UTF-16 units).
    ['inInterface 8 x "ä" = 16 bytes', () => Match().inInterface('ä'.repeat(8)), 'ä'.repeat(8)],
    ['destIpSet 16 x "ä" = 32 bytes', () => Match().destIpSet('ä'.repeat(16)), 'ä'.repeat(16)],
    ['icmpV6TypeAndCode(0, -1)', () => Match().icmpV6TypeAndCode(0, -1), '-1'],
  ] as const)('%s', (_label, run, bad) => {
    expectInvalidRule(run, bad);
  });
});

describe('negated /0 nets (never match; iptables-nft refuses them) are refused', () => {
  it.each([
    ['notSourceNet("0.0.0.0/0")', () => Match().notSourceNet('0.0.0.0/0'), '0.0.0.0/0'],
    ['notDestNet("10.0.0.0/0")', () => Match().notDestNet('10.0.0.0/0'), '10.0.0.0/0'],
    ['notDestNet("::/0")', () => Match().notDestNet('::/0'), '::/0'],
    ['notSourceNet("fd00::/00")', () => Match().notSourceNet('fd00::/00'), 'fd00::/00'],
  ] as const)('%s throws', (_label, run, bad) => {
    expect(run).toThrow(InvalidRuleError);
    expect(run).toThrow(bad);
  });

  it('positive /0 and negated /1 stay allowed', () => {
    expect(Match().sourceNet('0.0.0.0/0').notDestNet('0.0.0.0/1').render()).toBe('--source 0.0.0.0/0 ! --destination 0.0.0.0/1');
    expect(Match().notSourceNet('::/1').notDestNet('10.0.0.0/10').render()).toBe('! --source ::/1 ! --destination 10.0.0.0/10');
  });
});

describe('negated "all protocols" is refused before iptables sees it', () => {
  // iptables-restore (legacy and nft, 1.8.9) rejects `! -p 0` / `! -p all` with
  // "rule would never match protocol"; test/kernel-accept.test.ts checks that against the kernel.
  it.each([
    ['notProtocolNum(0)', () => Match().notProtocolNum(0), '0'],
    ['notProtocol("all")', () => Match().notProtocol('all'), 'all'],
    ['notProtocol("ALL")', () => Match().notProtocol('ALL'), 'ALL'],
    ['notProtocol("0")', () => Match().notProtocol('0'), '0'],
  ] as const)('%s throws', (_label, run, bad) => {
    expect(run).toThrow(InvalidRuleError);
    expect(run).toThrow(bad);
  });

  it('positive "all" forms stay allowed', () => {
    expect(Match().protocolNum(0).render()).toBe('-p 0');
    expect(Match().protocol('all').render()).toBe('-p all');
  });
});

describe('protocol names', () => {
  it('accepts iptables built-ins and /etc/protocols names, refuses unknown names', () => {
    expect(Match().protocol('sctp').render()).toBe('-p sctp');
    expect(Match().protocol('TCP').render()).toBe('-p TCP');
    expect(() => Match().protocol('foo')).toThrow(/unknown protocol name.*"foo"/);
    expect(() => Match().notProtocol('tcpx')).toThrow(/"tcpx"/);
  });
});

// --- latest Felix's match_builder.go; expected strings written by hand -----------------------

describe('latest Felix matches', () => {
  table([
    ['notConntrackState(INVALID)', () => Match().notConntrackState('INVALID'), '-m conntrack ! --ctstate INVALID'],
    ['notConntrackState(RELATED,ESTABLISHED)', () => Match().notConntrackState('RELATED,ESTABLISHED'), '-m conntrack ! --ctstate RELATED,ESTABLISHED'],
    ['notDestAddrType(LOCAL)', () => Match().notDestAddrType(AddrType.Local), '-m addrtype ! --dst-type LOCAL'],
    ['notDestAddrType(UNICAST)', () => Match().notDestAddrType(AddrType.Unicast), '-m addrtype ! --dst-type UNICAST'],
    ['rpfCheckPassed() keeps v3.2.2', () => Match().rpfCheckPassed(), '-m rpfilter'],
    ['rpfCheckPassed(false)', () => Match().rpfCheckPassed(false), '-m rpfilter --validmark'],
    ['rpfCheckPassed(true)', () => Match().rpfCheckPassed(true), '-m rpfilter --validmark --accept-local'],
    ['rpfCheckFailed() keeps v3.2.2', () => Match().rpfCheckFailed(), '-m rpfilter --invert'],
    ['rpfCheckFailed(false)', () => Match().rpfCheckFailed(false), '-m rpfilter --invert --validmark'],
    ['rpfCheckFailed(true)', () => Match().rpfCheckFailed(true), '-m rpfilter --invert --validmark --accept-local'],
    ['vxlanVni(4096)', () => Match().vxlanVni(4096), '-m u32 --u32 "0>>22&0x3C@12>>8=0x1000"'],
    ['vxlanVni(0)', () => Match().vxlanVni(0), '-m u32 --u32 "0>>22&0x3C@12>>8=0x0"'],
    ['vxlanVni(0xffffff)', () => Match().vxlanVni(0xffffff), '-m u32 --u32 "0>>22&0x3C@12>>8=0xffffff"'],
    ['destPort(80)', () => Match().protocol('tcp').destPort(80), '-p tcp --dport 80'],
    ['destPort(0)', () => Match().destPort(0), '--dport 0'],
    ['limit(10/second)', () => Match().limit('10/second'), '-m limit --limit 10/second'],
    ['limit burst 0 leaves it out', () => Match().limit('1/minute', 0), '-m limit --limit 1/minute'],
    ['limit(5/hour, 20)', () => Match().limit('5/hour', 20), '-m limit --limit 5/hour --limit-burst 20'],
    ['limit(1/day, 1)', () => Match().limit('1/day', 1), '-m limit --limit 1/day --limit-burst 1'],
    ['limit(1/hour, 30)', () => Match().limit('1/hour', 30), '-m limit --limit 1/hour --limit-burst 30'],
    ['limit(1/second, 10000)', () => Match().limit('1/second', 10000), '-m limit --limit 1/second --limit-burst 10000'],
    ['limit(10000/sec)', () => Match().limit('10000/sec'), '-m limit --limit 10000/sec'],
    ['limit(600000/minute) the fastest per minute', () => Match().limit('600000/minute'), '-m limit --limit 600000/minute'],
  ]);

  it('ipSetNames lists the sets a match refers to, in order', () => {
    expect(Match().ipSetNames()).toEqual([]);
    expect(Match().protocol('tcp').destPorts(80).ipSetNames()).toEqual([]);
    expect(
      Match().sourceIpSet('s1').notDestIpPortSet('s2').protocol('udp').notSourceIpSet('s1').destIpSet('cali40all-hosts').ipSetNames(),
    ).toEqual(['s1', 's2', 's1', 'cali40all-hosts']);
  });

  it.each([
    ['notConntrackState unknown', () => Match().notConntrackState('NEW,NOPE'), 'NEW,NOPE'],
    ['notDestAddrType unknown', () => Match().notDestAddrType('LOCALX' as AddrType), 'LOCALX'],
    ['rpfCheckPassed("yes")', () => Match().rpfCheckPassed('yes' as never), 'yes'],
    ['rpfCheckFailed(1)', () => Match().rpfCheckFailed(1 as never), '1'],
    ['vxlanVni 2^24', () => Match().vxlanVni(0x1000000), '16777216'],
    ['vxlanVni -1', () => Match().vxlanVni(-1), '-1'],
    ['destPort 65536', () => Match().destPort(65536), '65536'],
    // iptables reads a --dport after a multiport match as multiport's own --dports and refuses
    // the rule (kernel-accept.test.ts shows it on both backends).
    ['destPort after destPorts', () => Match().protocol('tcp').destPorts(80).destPort(81), '81'],
    ['destPort after sourcePorts and another match', () => Match().protocol('tcp').sourcePorts(80).markClear(1).destPort(81), '81'],
    ['limit 0/second (iptables: bad rate)', () => Match().limit('0/second'), '0/second'],
    ['limit 10001/second (iptables: rate too fast)', () => Match().limit('10001/second'), '10001/second'],
    ['limit no unit', () => Match().limit('10'), '"10"'],
    ['limit unknown unit', () => Match().limit('10/week'), '10/week'],
    ['limit injection', () => Match().limit('10/s --jump ACCEPT'), '10/s --jump ACCEPT'],
    ['limit burst 10001', () => Match().limit('1/s', 10001), '10001'],
    // A slow rate times a big burst overflows xt_limit's credits (kernel: "Overflow, try lower").
    ['limit 1/day with the default burst 5', () => Match().limit('1/day'), '1/day'],
    ['limit 1/day with burst 4 (refused by this kernel)', () => Match().limit('1/day', 4), '1/day'],
    ['limit 1/hour with burst 32', () => Match().limit('1/hour', 32), '1/hour'],
  ] as const)('%s is refused', (_label, run, bad) => {
    expectInvalidRule(run, bad);
  });
});
