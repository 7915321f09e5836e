// A corpus of rules covering every match and action of the library, per table and IP version,
// and the restore input that loads it (with `-m comment --comment "cali:<id>"` IDs). Used by
// test/kernel-accept.test.ts (the kernel takes them) and test/fake-differential.test.ts (the fake
// prints them back as the real iptables-save does). LOADS: Felix v3.2.2's matches and actions;
// NEW_LOADS: latest Felix's, each loaded with no features and with ALL_FEATURES.
import {
  AcceptAction,
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
  REJECT_WITH,
  RejectAction,
  type RejectWith,
  RestoreConnMarkAction,
  ReturnAction,
  SaveConnMarkAction,
  SetConnMarkAction,
  SetMarkAction,
  SetMaskedMarkAction,
  SNATAction,
} from '../../src/actions';
import { AddrType, Match } from '../../src/match';
import { Chain, type RuleSpec } from '../../src/rule';
import { ADDR_TYPES_V6 } from './arbitraries';
import type { Netns } from './netns';

export const PREFIX = 'cali:';
export const TARGET = 'kt-target';
export const SETS = { v4: 'kt-s4', v4port: 'kt-sp4', v6: 'kt-s6', v6port: 'kt-sp6' } as const;

/** Creates the ipsets the corpus's set matches name (SETS) in a test namespace. */
export async function createCorpusIpsets(ns: Netns): Promise<void> {
  await ns.execOk('ipset', ['create', SETS.v4, 'hash:net']);
  await ns.execOk('ipset', ['create', SETS.v4port, 'hash:ip,port']);
  await ns.execOk('ipset', ['create', SETS.v6, 'hash:net', 'family', 'inet6']);
  await ns.execOk('ipset', ['create', SETS.v6port, 'hash:ip,port', 'family', 'inet6']);
}
export const COMMENT_255 = `${'é'.repeat(120)}${'x'.repeat(15)}`; // 240 + 15 = 255 bytes
export const LOG_PREFIX_27 = 'calico-drop-123456789012345'; // 27 bytes; with ": " 29, iptables' maximum

export interface Load {
  readonly label: string;
  readonly table: 'filter' | 'nat' | 'mangle' | 'raw';
  readonly family: 4 | 6;
  readonly chain: Chain;
  /** Other chains the rules jump or go to (created empty). */
  readonly extraChains?: readonly string[];
}

export const r = (match: ReturnType<typeof Match>, action: RuleSpec['action'], comment?: string): RuleSpec =>
  comment === undefined ? { match, action } : { match, action, comment };
export const M = Match;
const tcp = () => M().protocol('tcp');

export const LOADS: readonly Load[] = [
  {
    label: 'filter v4: marks, interfaces, addrtype, conntrack, protocols, nets, ipsets, multiport, icmp, jump/goto/log',
    table: 'filter',
    family: 4,
    extraChains: [TARGET],
    chain: new Chain({
      name: 'kt-filter',
      rules: [
        // marks
        r(M().markClear(1), new AcceptAction()),
        r(M().markClear(0xffffffff), new AcceptAction()),
        r(M().markNotClear(0x10), new DropAction()),
        r(M().markSingleBitSet(0x80000000), new ReturnAction()),
        r(M().markMatchesWithMask(0, 0xff), new AcceptAction()),
        r(M().markMatchesWithMask(0xffffffff, 0xffffffff), new AcceptAction()),
        r(M().notMarkMatchesWithMask(0xa0, 0xf0), new AcceptAction()),
        r(M().notMarkMatchesWithMask(0, 0xffffffff), new AcceptAction()),
        // interfaces
        r(M().inInterface('cali+'), new AcceptAction()),
        r(M().outInterface('eth0'), new AcceptAction()),
        r(M().inInterface('+').outInterface('cali1234567890a'), new AcceptAction()),
        // addrtype
        r(M().srcAddrType(AddrType.Local, false), new AcceptAction()),
        r(M().srcAddrType(AddrType.Local, true), new AcceptAction()),
        r(M().notSrcAddrType(AddrType.Unicast, false), new AcceptAction()),
        r(M().notSrcAddrType(AddrType.Multicast, true), new AcceptAction()),
        r(M().destAddrType(AddrType.Local), new AcceptAction()),
        // conntrack
        r(M().conntrackState('INVALID'), new DropAction()),
        r(M().conntrackState('RELATED,ESTABLISHED'), new AcceptAction()),
        r(M().conntrackState('NEW,UNTRACKED,SNAT,DNAT'), new AcceptAction()),
        // protocols
        r(M().protocol('tcp'), new AcceptAction()),
        r(M().notProtocol('udp'), new AcceptAction()),
        r(M().protocolNum(6), new AcceptAction()),
        r(M().protocolNum(0), new AcceptAction()),
        r(M().protocolNum(255), new AcceptAction()),
        r(M().notProtocolNum(17), new AcceptAction()),
        r(M().notProtocolNum(255), new AcceptAction()),
        // nets
        r(M().sourceNet('10.0.0.0/8'), new AcceptAction()),
        r(M().notSourceNet('192.168.0.0/16'), new AcceptAction()),
        r(M().destNet('1.2.3.4'), new AcceptAction()),
        r(M().notDestNet('0.0.0.0/1'), new AcceptAction()),
        r(M().destNet('0.0.0.0/0'), new AcceptAction()),
        r(M().destNet('255.255.255.255/32'), new AcceptAction()),
        // ipsets
        r(M().sourceIpSet(SETS.v4), new AcceptAction()),
        r(M().notSourceIpSet(SETS.v4), new AcceptAction()),
        r(M().sourceIpPortSet(SETS.v4port), new AcceptAction()),
        r(M().notSourceIpPortSet(SETS.v4port), new AcceptAction()),
        r(M().destIpSet(SETS.v4), new AcceptAction()),
        r(M().notDestIpSet(SETS.v4), new AcceptAction()),
        r(M().destIpPortSet(SETS.v4port), new AcceptAction()),
        r(M().notDestIpPortSet(SETS.v4port), new AcceptAction()),
        // multiport (needs -p tcp/udp)
        r(tcp().sourcePorts(0, 65535), new AcceptAction()),
        r(tcp().notSourcePorts(22), new AcceptAction()),
        r(tcp().destPorts(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), new AcceptAction()),
        r(M().protocol('udp').notDestPorts(65535), new AcceptAction()),
        r(tcp().sourcePortRanges([{ first: 0, last: 1023 }, { first: 65535, last: 65535 }]), new AcceptAction()),
        r(tcp().notSourcePortRanges([{ first: 1, last: 2 }]), new AcceptAction()),
        r(
          tcp().destPortRanges([
            { first: 1, last: 2 },
            { first: 3, last: 4 },
            { first: 5, last: 6 },
            { first: 7, last: 8 },
            { first: 9, last: 10 },
            { first: 11, last: 12 },
            { first: 13, last: 14 },
            { first: 15, last: 15 },
          ]),
          new AcceptAction(),
        ),
        r(tcp().notDestPortRanges([{ first: 30000, last: 32767 }]), new AcceptAction()),
        // icmp (needs -p icmp)
        r(M().protocol('icmp').icmpType(0), new AcceptAction()),
        r(M().protocol('icmp').icmpType(255), new AcceptAction()),
        r(M().protocol('icmp').notIcmpType(8), new AcceptAction()),
        r(M().protocol('icmp').icmpTypeAndCode(0, 0), new AcceptAction()),
        r(M().protocol('icmp').icmpTypeAndCode(3, 4), new AcceptAction()),
        r(M().protocol('icmp').notIcmpTypeAndCode(255, 255), new AcceptAction()),
        // actions and comments
        r(M(), new JumpAction({ target: TARGET })),
        r(M(), new GotoAction({ target: TARGET })),
        r(M(), new LogAction({ prefix: LOG_PREFIX_27 })),
        r(M(), new LogAction({ prefix: '' })),
        r(M(), new LogAction({ prefix: "it's #1 ✓" })),
        r(M(), new ReturnAction(), COMMENT_255),
        r(M().protocol('tcp'), new DropAction(), "Grüße, it's 日本 #1 ✓ 😀"),
        r(M(), new DropAction()),
        // everything at once
        r(
          M()
            .inInterface('cali+')
            .sourceNet('10.65.0.0/16')
            .protocol('tcp')
            .markClear(0x100)
            .conntrackState('NEW')
            .destIpPortSet(SETS.v4port)
            .destPorts(80, 443),
          new AcceptAction(),
          'policy allow web',
        ),
      ],
    }),
  },
  {
    label: 'filter v6: icmp6, IPv6 nets, ipsets, multiport',
    table: 'filter',
    family: 6,
    extraChains: [TARGET],
    chain: new Chain({
      name: 'kt-filter6',
      rules: [
        r(M().protocol('ipv6-icmp').icmpV6Type(0), new AcceptAction()),
        r(M().protocol('ipv6-icmp').icmpV6Type(128), new AcceptAction()),
        r(M().protocol('ipv6-icmp').notIcmpV6Type(255), new AcceptAction()),
        r(M().protocol('icmpv6').icmpV6TypeAndCode(1, 0), new AcceptAction()),
        r(M().protocol('ipv6-icmp').icmpV6TypeAndCode(255, 255), new AcceptAction()),
        r(M().protocol('ipv6-icmp').notIcmpV6TypeAndCode(0, 255), new AcceptAction()),
        r(M().sourceNet('fd00::/8'), new AcceptAction()),
        r(M().notSourceNet('::/1'), new AcceptAction()),
        r(M().sourceNet('::/0'), new AcceptAction()),
        r(M().destNet('2001:db8:0:0:0:0:0:1/128'), new AcceptAction()),
        r(M().notDestNet('::1'), new AcceptAction()),
        r(M().sourceIpSet(SETS.v6).notDestIpSet(SETS.v6), new AcceptAction()),
        r(M().sourceIpPortSet(SETS.v6port).notDestIpPortSet(SETS.v6port), new AcceptAction()),
        r(M().inInterface('cali+').protocol('udp').destPorts(0, 65535), new DropAction()),
        // addrtype: the IPv6 kernel match takes only these types (see the refusal test below)
        ...ADDR_TYPES_V6.map((t) => r(M().srcAddrType(t, false).destAddrType(t), new AcceptAction())),
        r(M().notSrcAddrType(AddrType.Local, true), new AcceptAction()),
        r(M().markMatchesWithMask(0, 0xff), new GotoAction({ target: TARGET })),
        r(M(), new LogAction({ prefix: 'v6' }), 'IPv6 ✓'),
      ],
    }),
  },
  {
    label: 'nat v4: DNAT, SNAT, MASQUERADE',
    table: 'nat',
    family: 4,
    chain: new Chain({
      name: 'kt-nat',
      rules: [
        r(M(), new DNATAction({ destAddr: '10.0.0.1' })),
        r(M(), new DNATAction({ destAddr: '10.0.0.1', destPort: 0 })),
        r(tcp(), new DNATAction({ destAddr: '10.0.0.2', destPort: 1 })),
        r(tcp().destPorts(80), new DNATAction({ destAddr: '10.0.0.3', destPort: 65535 })),
        r(M(), new SNATAction({ toAddr: '1.2.3.4' })),
        r(M(), new SNATAction({ toAddr: '1.2.3.4-1.2.3.9' })),
        r(M().sourceIpSet(SETS.v4).notDestIpSet(SETS.v4), new MasqAction()),
        r(tcp(), new MasqAction({ toPorts: '1024-65535' })),
        r(M().protocol('udp'), new MasqAction({ toPorts: '5000' })),
        r(M().outInterface('eth0'), new ReturnAction()),
      ],
    }),
  },
  {
    label: 'nat v6: DNAT [addr]:port, SNAT, MASQUERADE',
    table: 'nat',
    family: 6,
    chain: new Chain({
      name: 'kt-nat6',
      rules: [
        r(tcp(), new DNATAction({ destAddr: 'fd00::1', destPort: 8080 })),
        r(tcp().destNet('fd00::10/128').destPorts(0, 65535), new DNATAction({ destAddr: '2001:db8::1', destPort: 65535 })),
        r(M(), new DNATAction({ destAddr: 'fd00::1' })),
        r(M().sourceNet('fd00::/8'), new SNATAction({ toAddr: 'fd00::2' })),
        r(M(), new MasqAction()),
        r(tcp(), new MasqAction({ toPorts: '1024-65535' })),
      ],
    }),
  },
  {
    label: 'mangle v4: MARK actions',
    table: 'mangle',
    family: 4,
    chain: new Chain({
      name: 'kt-mangle',
      rules: [
        r(M(), new ClearMarkAction({ mark: 1 })),
        r(M(), new ClearMarkAction({ mark: 0xffffffff })),
        r(M().markClear(0x10), new SetMarkAction({ mark: 0x1000 })),
        r(M(), new SetMarkAction({ mark: 0xffffffff })),
        r(M(), new SetMaskedMarkAction({ mark: 0, mask: 0xff })),
        r(M(), new SetMaskedMarkAction({ mark: 0xa0, mask: 0xf0 })),
        r(M(), new SetMaskedMarkAction({ mark: 0xffffffff, mask: 0xffffffff })),
        r(M().rpfCheckFailed(), new DropAction()),
      ],
    }),
  },
  {
    label: 'mangle v6: MARK actions',
    table: 'mangle',
    family: 6,
    chain: new Chain({
      name: 'kt-mangle6',
      rules: [r(M(), new ClearMarkAction({ mark: 0x4 })), r(M(), new SetMarkAction({ mark: 0x8 })), r(M(), new SetMaskedMarkAction({ mark: 0, mask: 1 }))],
    }),
  },
  {
    label: 'raw v4: rpfilter, NOTRACK',
    table: 'raw',
    family: 4,
    chain: new Chain({
      name: 'kt-raw',
      rules: [
        r(M().rpfCheckPassed(), new AcceptAction()),
        r(M().rpfCheckFailed(), new DropAction()),
        r(M().protocol('udp').destPorts(53), new NoTrackAction()),
        r(M(), new NoTrackAction()),
      ],
    }),
  },
  {
    label: 'raw v6: rpfilter, NOTRACK',
    table: 'raw',
    family: 6,
    chain: new Chain({
      name: 'kt-raw6',
      rules: [r(M().rpfCheckPassed(), new AcceptAction()), r(M().rpfCheckFailed(), new DropAction()), r(M(), new NoTrackAction())],
    }),
  },
];

// --- latest Felix's actions and matches -----------------------------------------------------

/** Every feature that changes a rendered rule. */
export const ALL_FEATURES = { snatFullyRandom: true, masqFullyRandom: true, nfLogSize: true } as const;
const rejectTypes = (family: 4 | 6): RejectWith[] => [...REJECT_WITH].filter(([, v]) => v.includes(family)).map(([w]) => w);
const rejectRules = (family: 4 | 6): RuleSpec[] =>
  rejectTypes(family).map((w) => r(w.startsWith('tcp-') ? tcp() : M(), new RejectAction({ with: w })));
const nflogRules = (): RuleSpec[] => [
  r(M(), new NflogAction({ group: 1, prefix: 'API0|gnp/default.allow' })),
  r(M(), new NflogAction({ group: 0, prefix: 'p', size: 0 })),
  r(M(), new NflogAction({ group: 65535, prefix: 'q'.repeat(63), size: 4294967295 })),
  r(M(), new NflogAction({ group: 2, prefix: 'nosize', size: -1 })),
];
const rpfRules = (): RuleSpec[] => [
  r(M().rpfCheckPassed(false), new AcceptAction()),
  r(M().rpfCheckPassed(true), new AcceptAction()),
  r(M().rpfCheckFailed(false), new DropAction()),
  r(M().rpfCheckFailed(true), new DropAction()),
];
const connMarkRules = (): RuleSpec[] => [
  r(M(), new SetConnMarkAction({ mark: 0x10 })),
  r(M(), new SetConnMarkAction({ mark: 0x10, mask: 0xff })),
  r(M(), new SetConnMarkAction({ mark: 0, mask: 1 })),
  r(M(), new SaveConnMarkAction()),
  r(M(), new SaveConnMarkAction({ saveMask: 0xff00 })),
  r(M(), new RestoreConnMarkAction()),
  r(M(), new RestoreConnMarkAction({ restoreMask: 1 })),
  r(M(), new DSCPAction({ value: 0 })),
  r(M(), new DSCPAction({ value: 63 })),
];
const limitRules = (family: 4 | 6): RuleSpec[] => [
  r(M().limit('10/second'), new AcceptAction()),
  r(M().limit('5/minute', 20), new AcceptAction()),
  r(M().limit('600000/minute'), new AcceptAction()),
  r(M().limit('1/day', 1), new AcceptAction()),
  r(M().limit('1/hour', 30), new AcceptAction()),
  r(M().limit('1/second', 10000), new AcceptAction()),
  r(M(), new LimitPacketRateAction({ rate: 1, burst: 1, mark: 1 })),
  r(M().markClear(0x400), new LimitPacketRateAction({ rate: 10000, burst: 10000, mark: 0xffffffff })),
  r(M(), new LimitNumConnectionsAction({ num: 0, rejectWith: 'tcp-reset' })),
  r(M().destNet(family === 4 ? '10.0.0.0/8' : 'fd00::/8'), new LimitNumConnectionsAction({ num: 4294967295, rejectWith: family === 4 ? 'icmp-host-prohibited' : 'icmp6-adm-prohibited' })),
];

/** Latest Felix's actions and matches (issue 14), to be loaded with no features and with
 *  ALL_FEATURES. */
export const NEW_LOADS: readonly Load[] = [
  {
    label: 'filter v4: notConntrackState, notDestAddrType, destPort, limit, vxlanVni, REJECT (every type), NFLOG, rate and connection limits',
    table: 'filter',
    family: 4,
    chain: new Chain({
      name: 'kt-par-filter',
      rules: [
        r(M().notConntrackState('INVALID'), new AcceptAction()),
        r(M().notConntrackState('RELATED,ESTABLISHED'), new AcceptAction()),
        r(M().notDestAddrType(AddrType.Local), new AcceptAction()),
        r(tcp().destPort(80), new AcceptAction()),
        r(M().protocol('udp').destPort(0), new AcceptAction()),
        r(M().protocol('udp').destPorts(4789).vxlanVni(4096), new DropAction()),
        r(M().protocol('udp').vxlanVni(0).vxlanVni(0xffffff), new DropAction()),
        ...limitRules(4),
        r(M(), new RejectAction()),
        ...rejectRules(4),
        ...nflogRules(),
      ],
    }),
  },
  {
    label: 'filter v6: the same for ip6tables (REJECT with every IPv6 type)',
    table: 'filter',
    family: 6,
    chain: new Chain({
      name: 'kt-par-filter6',
      rules: [
        r(M().notConntrackState('NEW,UNTRACKED'), new AcceptAction()),
        r(M().notDestAddrType(AddrType.Multicast), new AcceptAction()),
        r(tcp().destPort(65535), new AcceptAction()),
        ...limitRules(6),
        r(M(), new RejectAction()),
        ...rejectRules(6),
        ...nflogRules(),
      ],
    }),
  },
  { label: 'mangle v4: CONNMARK, DSCP, rpfilter --validmark', table: 'mangle', family: 4, chain: new Chain({ name: 'kt-par-mangle', rules: [...connMarkRules(), ...rpfRules()] }) },
  { label: 'mangle v6: CONNMARK, DSCP, rpfilter --validmark', table: 'mangle', family: 6, chain: new Chain({ name: 'kt-par-mangle6', rules: [...connMarkRules(), ...rpfRules()] }) },
  { label: 'raw v4: rpfilter --validmark [--accept-local]', table: 'raw', family: 4, chain: new Chain({ name: 'kt-par-raw', rules: rpfRules() }) },
  { label: 'raw v6: rpfilter --validmark [--accept-local]', table: 'raw', family: 6, chain: new Chain({ name: 'kt-par-raw6', rules: rpfRules() }) },
  {
    label: 'nat v4: SNAT and MASQUERADE (with --random-fully when features say so)',
    table: 'nat',
    family: 4,
    chain: new Chain({
      name: 'kt-par-nat',
      rules: [r(M(), new SNATAction({ toAddr: '1.2.3.4' })), r(M(), new SNATAction({ toAddr: '1.2.3.4-1.2.3.9' })), r(M(), new MasqAction()), r(tcp(), new MasqAction({ toPorts: '1024-65535' }))],
    }),
  },
  {
    label: 'nat v6: SNAT and MASQUERADE (with --random-fully when features say so)',
    table: 'nat',
    family: 6,
    chain: new Chain({ name: 'kt-par-nat6', rules: [r(M(), new SNATAction({ toAddr: 'fd00::2' })), r(M(), new MasqAction()), r(tcp(), new MasqAction({ toPorts: '5000' }))] }),
  },
];

export function restoreInput(table: string, chains: readonly Chain[], extraChains: readonly string[] = []): string {
  const lines = [`*${table}`];
  for (const name of [...extraChains, ...chains.map((c) => c.name)]) lines.push(`:${name} - -`);
  for (const chain of chains) {
    const ids = chain.ruleHashes();
    chain.rules.forEach((rule, i) => lines.push(rule.renderAppend(chain.name, `-m comment --comment "${PREFIX}${ids[i]}"`)));
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}
