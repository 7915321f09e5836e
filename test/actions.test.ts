// The thirteen actions: fragments byte for byte from SPEC section 2 (expected strings written by
// hand), toString forms, immutability and constructor validation.
import { describe, expect, it } from 'vitest';
import { expectInvalidRule } from './helpers/expect-invalid';
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
  REJECT_WITH,
  RejectAction,
  RestoreConnMarkAction,
  ReturnAction,
  SaveConnMarkAction,
  SetConnMarkAction,
  SetMarkAction,
  SetMaskedMarkAction,
  SNATAction,
} from '../src/actions';
import { NO_FEATURES, type Features } from '../src/features';
import { Match, MatchCriteria } from '../src/match';
import { Chain, Rule } from '../src/rule';

describe('fragments', () => {
  it.each([
    ['Accept', () => new AcceptAction(), '--jump ACCEPT'],
    ['Drop', () => new DropAction(), '--jump DROP'],
    ['Return', () => new ReturnAction(), '--jump RETURN'],
    ['NoTrack', () => new NoTrackAction(), '--jump NOTRACK'],
    ['Jump', () => new JumpAction({ target: 'cali-from-wl-dispatch' }), '--jump cali-from-wl-dispatch'],
    ['Jump 28-char target', () => new JumpAction({ target: 'abcdefghijklmnopqrstuvwxyz01' }), '--jump abcdefghijklmnopqrstuvwxyz01'],
    ['Goto', () => new GotoAction({ target: 'cali-po-default' }), '--goto cali-po-default'],
    ['Log', () => new LogAction({ prefix: 'calico-packet' }), '--jump LOG --log-prefix "calico-packet: " --log-level 5'],
    ['Log empty prefix', () => new LogAction({ prefix: '' }), '--jump LOG --log-prefix ": " --log-level 5'],
    ['Log prefix with spaces', () => new LogAction({ prefix: 'dropped by policy' }), '--jump LOG --log-prefix "dropped by policy: " --log-level 5'],
    ['Log 27-byte prefix', () => new LogAction({ prefix: '123456789012345678901234567' }), '--jump LOG --log-prefix "123456789012345678901234567: " --log-level 5'],
    ['DNAT no port', () => new DNATAction({ destAddr: '10.0.0.1' }), '--jump DNAT --to-destination 10.0.0.1'],
    ['DNAT port 0 means no port', () => new DNATAction({ destAddr: '10.0.0.1', destPort: 0 }), '--jump DNAT --to-destination 10.0.0.1'],
    ['DNAT port 1', () => new DNATAction({ destAddr: '10.0.0.1', destPort: 1 }), '--jump DNAT --to-destination 10.0.0.1:1'],
    ['DNAT port 65535', () => new DNATAction({ destAddr: '192.168.1.2', destPort: 65535 }), '--jump DNAT --to-destination 192.168.1.2:65535'],
    ['DNAT IPv6 no port', () => new DNATAction({ destAddr: 'fd00::1' }), '--jump DNAT --to-destination fd00::1'],
    ['DNAT IPv6 with port: [addr]:port', () => new DNATAction({ destAddr: 'fd00::1', destPort: 8080 }), '--jump DNAT --to-destination [fd00::1]:8080'],
    ['DNAT IPv6 :: with port 65535', () => new DNATAction({ destAddr: '::', destPort: 65535 }), '--jump DNAT --to-destination [::]:65535'],
    ['SNAT', () => new SNATAction({ toAddr: '1.2.3.4' }), '--jump SNAT --to-source 1.2.3.4'],
    ['SNAT IPv6', () => new SNATAction({ toAddr: '2001:db8::5' }), '--jump SNAT --to-source 2001:db8::5'],
    ['SNAT range', () => new SNATAction({ toAddr: '1.2.3.4-1.2.3.9' }), '--jump SNAT --to-source 1.2.3.4-1.2.3.9'],
    ['Masq', () => new MasqAction({}), '--jump MASQUERADE'],
    ['Masq no fields object', () => new MasqAction(), '--jump MASQUERADE'],
    ['Masq empty toPorts', () => new MasqAction({ toPorts: '' }), '--jump MASQUERADE'],
    ['Masq toPorts range', () => new MasqAction({ toPorts: '1024-65535' }), '--jump MASQUERADE --to-ports 1024-65535'],
    ['Masq toPorts single', () => new MasqAction({ toPorts: '0' }), '--jump MASQUERADE --to-ports 0'],
    ['ClearMark 1', () => new ClearMarkAction({ mark: 1 }), '--jump MARK --set-mark 0/0x1'],
    ['ClearMark 0xffffffff', () => new ClearMarkAction({ mark: 0xffffffff }), '--jump MARK --set-mark 0/0xffffffff'],
    ['SetMark 0x1000', () => new SetMarkAction({ mark: 0x1000 }), '--jump MARK --set-mark 0x1000/0x1000'],
    ['SetMark 0xffffffff', () => new SetMarkAction({ mark: 0xffffffff }), '--jump MARK --set-mark 0xffffffff/0xffffffff'],
    ['SetMaskedMark 0/0xff (mark 0 allowed)', () => new SetMaskedMarkAction({ mark: 0, mask: 0xff }), '--jump MARK --set-mark 0x0/0xff'],
    ['SetMaskedMark 0xa0/0xf0', () => new SetMaskedMarkAction({ mark: 0xa0, mask: 0xf0 }), '--jump MARK --set-mark 0xa0/0xf0'],
    ['SetMaskedMark full', () => new SetMaskedMarkAction({ mark: 0xffffffff, mask: 0xffffffff }), '--jump MARK --set-mark 0xffffffff/0xffffffff'],
    ['SetMaskedMark 0/0xffffffff', () => new SetMaskedMarkAction({ mark: 0, mask: 0xffffffff }), '--jump MARK --set-mark 0x0/0xffffffff'],
  ] as const)('%s', (_label, build, expected) => {
    const a: Action = build();
    expect(a.toFragment()).toBe(expected);
    // Stable: asking twice gives the same text.
    expect(a.toFragment()).toBe(expected);
  });
});

describe('toString', () => {
  // Felix v3.2.2's String() forms (SPEC does not spell these out; these follow Felix).
  it.each([
    ['Accept', new AcceptAction(), 'Accept'],
    ['Drop', new DropAction(), 'Drop'],
    ['Return', new ReturnAction(), 'Return'],
    ['Jump', new JumpAction({ target: 'X' }), 'Jump->X'],
    ['Goto', new GotoAction({ target: 'Y' }), 'Goto->Y'],
    ['Log', new LogAction({ prefix: 'p' }), 'Log'],
    ['DNAT', new DNATAction({ destAddr: '10.0.0.1', destPort: 80 }), 'DNAT->10.0.0.1:80'],
    ['SNAT', new SNATAction({ toAddr: '1.2.3.4' }), 'SNAT->1.2.3.4'],
    ['Masq', new MasqAction({ toPorts: '1-2' }), 'Masq'],
    ['ClearMark', new ClearMarkAction({ mark: 0x10 }), 'Clear:0x10'],
    ['SetMark', new SetMarkAction({ mark: 0xff }), 'Set:0xff'],
  ] as const)('%s', (_label, a, expected) => {
    expect(a.toString()).toBe(expected);
    expect(String(a)).toBe(expected);
  });

  it('NoTrack and SetMaskedMark name themselves and their values', () => {
    expect(new NoTrackAction().toString()).toMatch(/^notrack$/i);
    const s = new SetMaskedMarkAction({ mark: 0xa0, mask: 0xf0 }).toString();
    expect(s).toContain('0xa0');
    expect(s).not.toContain('[object');
  });
});

describe('immutability', () => {
  it('actions with fields are frozen and keep their Go field names', () => {
    const actions: [Action, Record<string, unknown>][] = [
      [new JumpAction({ target: 'A' }), { target: 'A' }],
      [new GotoAction({ target: 'B' }), { target: 'B' }],
      [new LogAction({ prefix: 'p' }), { prefix: 'p' }],
      [new DNATAction({ destAddr: '10.0.0.1', destPort: 53 }), { destAddr: '10.0.0.1', destPort: 53 }],
      [new SNATAction({ toAddr: '1.1.1.1' }), { toAddr: '1.1.1.1' }],
      [new MasqAction({ toPorts: '10-20' }), { toPorts: '10-20' }],
      [new ClearMarkAction({ mark: 4 }), { mark: 4 }],
      [new SetMarkAction({ mark: 8 }), { mark: 8 }],
      [new SetMaskedMarkAction({ mark: 1, mask: 3 }), { mark: 1, mask: 3 }],
    ];
    for (const [a, fields] of actions) {
      expect(Object.isFrozen(a)).toBe(true);
      expect(a).toMatchObject(fields);
      for (const key of Object.keys(fields)) {
        expect(() => {
          (a as unknown as Record<string, unknown>)[key] = 'x';
        }).toThrow(TypeError);
      }
    }
  });

  it('changing the fields object after construction does not change the action', () => {
    const fields = { destAddr: '10.0.0.1', destPort: 80 };
    const a = new DNATAction(fields);
    fields.destAddr = '10.0.0.2\n-A X';
    fields.destPort = 1;
    expect(a.toFragment()).toBe('--jump DNAT --to-destination 10.0.0.1:80');
  });
});

describe('validation', () => {
  it.each([
    ['Jump without target', () => new JumpAction({} as never), 'undefined'],
    ['Jump empty target', () => new JumpAction({ target: '' }), '""'],
    ['Jump 29-char target', () => new JumpAction({ target: 'abcdefghijklmnopqrstuvwxyz012' }), 'abcdefghijklmnopqrstuvwxyz012'],
    ['Jump target with space', () => new JumpAction({ target: 'a b' }), 'a b'],
    ['Goto target with newline', () => new GotoAction({ target: 'a\n-F' }), '"a\\n-F"'],
    ['Goto target with quote', () => new GotoAction({ target: 'a"b' }), 'a\\"b'],
    ['Log prefix with quote', () => new LogAction({ prefix: 'a" --jump ACCEPT' }), 'a\\" --jump ACCEPT'],
    ['Log prefix with newline', () => new LogAction({ prefix: 'a\nb' }), '"a\\nb"'],
    ['Log prefix with NUL', () => new LogAction({ prefix: 'a\u0000b' }), '"a\\u0000b"'],
    ['Log prefix 28 bytes (29 with ": " +1 over iptables)', () => new LogAction({ prefix: '1234567890123456789012345678' }), '1234567890123456789012345678'],
    ['DNAT not an address', () => new DNATAction({ destAddr: '10.0.0.256' }), '10.0.0.256'],
    ['DNAT CIDR', () => new DNATAction({ destAddr: '10.0.0.0/8' }), '10.0.0.0/8'],
    ['DNAT port 65536', () => new DNATAction({ destAddr: '10.0.0.1', destPort: 65536 }), '65536'],
    ['DNAT port -1', () => new DNATAction({ destAddr: '10.0.0.1', destPort: -1 }), '-1'],
    ['DNAT port 1.5', () => new DNATAction({ destAddr: '10.0.0.1', destPort: 1.5 }), '1.5'],
    ['DNAT already bracketed', () => new DNATAction({ destAddr: '[fd00::1]', destPort: 1 }), '[fd00::1]'],
    ['SNAT mixed-family range', () => new SNATAction({ toAddr: '1.2.3.4-fd00::1' }), '1.2.3.4-fd00::1'],
    ['SNAT with newline', () => new SNATAction({ toAddr: '1.2.3.4\n' }), '"1.2.3.4\\n"'],
    ['Masq toPorts garbage', () => new MasqAction({ toPorts: '1024-abc' }), '1024-abc'],
    ['Masq toPorts 65536', () => new MasqAction({ toPorts: '65536' }), '65536'],
    ['Masq toPorts reversed', () => new MasqAction({ toPorts: '2000-1000' }), '2000-1000'],
    ['Masq toPorts with space', () => new MasqAction({ toPorts: '1 --jump ACCEPT' }), '1 --jump ACCEPT'],
    ['ClearMark 0', () => new ClearMarkAction({ mark: 0 }), 'got 0'],
    ['SetMark 0', () => new SetMarkAction({ mark: 0 }), 'got 0'],
    ['SetMark 2^32', () => new SetMarkAction({ mark: 0x100000000 }), '4294967296'],
    ['ClearMark -1', () => new ClearMarkAction({ mark: -1 }), '-1'],
    ['SetMaskedMark mask 0', () => new SetMaskedMarkAction({ mark: 0, mask: 0 }), 'got 0'],
    ['SetMaskedMark mark outside mask', () => new SetMaskedMarkAction({ mark: 0x100, mask: 0xff }), '256'],
    ['SetMaskedMark non-integer mark', () => new SetMaskedMarkAction({ mark: 0.5, mask: 0xff }), '0.5'],
  ] as const)('%s', (_label, run, bad) => {
    expectInvalidRule(run, bad);
  });
});

// --- latest Felix's actions (felix/iptables/actions.go); expected strings written by hand -----

const ALL: Features = { snatFullyRandom: true, masqFullyRandom: true, nfLogSize: true };

describe('latest Felix actions: fragments', () => {
  it.each([
    ['Reject', () => new RejectAction(), '--jump REJECT'],
    ['Reject with ""', () => new RejectAction({ with: '' }), '--jump REJECT'],
    ['Reject tcp-reset', () => new RejectAction({ with: 'tcp-reset' }), '--jump REJECT --reject-with tcp-reset'],
    ['Reject icmp-port-unreachable', () => new RejectAction({ with: 'icmp-port-unreachable' }), '--jump REJECT --reject-with icmp-port-unreachable'],
    ['Reject icmp6-adm-prohibited', () => new RejectAction({ with: 'icmp6-adm-prohibited' }), '--jump REJECT --reject-with icmp6-adm-prohibited'],
    ['SetConnMark default mask', () => new SetConnMarkAction({ mark: 0x10 }), '--jump CONNMARK --set-mark 0x10/0xffffffff'],
    ['SetConnMark 0x10/0xff', () => new SetConnMarkAction({ mark: 0x10, mask: 0xff }), '--jump CONNMARK --set-mark 0x10/0xff'],
    ['SetConnMark mark 0', () => new SetConnMarkAction({ mark: 0, mask: 0xf0 }), '--jump CONNMARK --set-mark 0x0/0xf0'],
    ['SetConnMark mask 0 is Go zero: full mask', () => new SetConnMarkAction({ mark: 1, mask: 0 }), '--jump CONNMARK --set-mark 0x1/0xffffffff'],
    ['SaveConnMark default', () => new SaveConnMarkAction(), '--jump CONNMARK --save-mark --mask 0xffffffff'],
    ['SaveConnMark 0xff00', () => new SaveConnMarkAction({ saveMask: 0xff00 }), '--jump CONNMARK --save-mark --mask 0xff00'],
    ['SaveConnMark 0 is Go zero', () => new SaveConnMarkAction({ saveMask: 0 }), '--jump CONNMARK --save-mark --mask 0xffffffff'],
    ['RestoreConnMark default', () => new RestoreConnMarkAction({}), '--jump CONNMARK --restore-mark --mask 0xffffffff'],
    ['RestoreConnMark 0x1', () => new RestoreConnMarkAction({ restoreMask: 1 }), '--jump CONNMARK --restore-mark --mask 0x1'],
    ['Nflog default size, no features: --nflog-range', () => new NflogAction({ group: 1, prefix: 'API0|gnp/foo' }), '--jump NFLOG --nflog-group 1 --nflog-prefix API0|gnp/foo --nflog-range 80'],
    ['Nflog size 0 is Go zero: 80', () => new NflogAction({ group: 2, prefix: 'D', size: 0 }), '--jump NFLOG --nflog-group 2 --nflog-prefix D --nflog-range 80'],
    ['Nflog size 100', () => new NflogAction({ group: 65535, prefix: 'x', size: 100 }), '--jump NFLOG --nflog-group 65535 --nflog-prefix x --nflog-range 100'],
    ['Nflog negative size omits it', () => new NflogAction({ group: 0, prefix: 'x', size: -1 }), '--jump NFLOG --nflog-group 0 --nflog-prefix x'],
    ['LimitPacketRate', () => new LimitPacketRateAction({ rate: 100, burst: 5, mark: 0x400 }), '-m limit --limit 100/sec --limit-burst 5 --jump MARK --set-mark 0x400/0x400'],
    ['LimitPacketRate edges', () => new LimitPacketRateAction({ rate: 10000, burst: 10000, mark: 0xffffffff }), '-m limit --limit 10000/sec --limit-burst 10000 --jump MARK --set-mark 0xffffffff/0xffffffff'],
    ['LimitPacketRate minimum', () => new LimitPacketRateAction({ rate: 1, burst: 1, mark: 1 }), '-m limit --limit 1/sec --limit-burst 1 --jump MARK --set-mark 0x1/0x1'],
    [
      'LimitNumConnections',
      () => new LimitNumConnectionsAction({ num: 10, rejectWith: 'tcp-reset' }),
      '-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 10 --connlimit-mask 0 -j REJECT --reject-with tcp-reset',
    ],
    [
      'LimitNumConnections 0 and uint32 max',
      () => new LimitNumConnectionsAction({ num: 4294967295, rejectWith: 'icmp-host-prohibited' }),
      '-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 4294967295 --connlimit-mask 0 -j REJECT --reject-with icmp-host-prohibited',
    ],
    ['DSCP 0', () => new DSCPAction({ value: 0 }), '--jump DSCP --set-dscp 0'],
    ['DSCP 63', () => new DSCPAction({ value: 63 }), '--jump DSCP --set-dscp 63'],
  ] as const)('%s', (_label, build, expected) => {
    const a: Action = build();
    expect(a.toFragment()).toBe(expected);
    expect(a.toFragment(NO_FEATURES)).toBe(expected);
  });

  it('features: --random-fully on SNAT and MASQUERADE, --nflog-size on NFLOG; nothing else changes', () => {
    expect(new SNATAction({ toAddr: '1.2.3.4' }).toFragment(ALL)).toBe('--jump SNAT --to-source 1.2.3.4 --random-fully');
    expect(new SNATAction({ toAddr: '1.2.3.4-1.2.3.9' }).toFragment({ ...NO_FEATURES, snatFullyRandom: true })).toBe('--jump SNAT --to-source 1.2.3.4-1.2.3.9 --random-fully');
    expect(new SNATAction({ toAddr: '1.2.3.4' }).toFragment({ ...ALL, snatFullyRandom: false })).toBe('--jump SNAT --to-source 1.2.3.4');
    expect(new MasqAction().toFragment(ALL)).toBe('--jump MASQUERADE --random-fully');
    expect(new MasqAction({ toPorts: '1024-65535' }).toFragment(ALL)).toBe('--jump MASQUERADE --to-ports 1024-65535 --random-fully');
    expect(new MasqAction().toFragment({ ...ALL, masqFullyRandom: false })).toBe('--jump MASQUERADE');
    expect(new NflogAction({ group: 1, prefix: 'P' }).toFragment(ALL)).toBe('--jump NFLOG --nflog-group 1 --nflog-prefix P --nflog-size 80');
    expect(new NflogAction({ group: 1, prefix: 'P', size: 256 }).toFragment(ALL)).toBe('--jump NFLOG --nflog-group 1 --nflog-prefix P --nflog-size 256');
    expect(new NflogAction({ group: 1, prefix: 'P', size: -5 }).toFragment(ALL)).toBe('--jump NFLOG --nflog-group 1 --nflog-prefix P');
    expect((new DNATAction({ destAddr: '10.0.0.1', destPort: 80 }) as Action).toFragment(ALL)).toBe('--jump DNAT --to-destination 10.0.0.1:80');
    expect((new AcceptAction() as Action).toFragment(ALL)).toBe('--jump ACCEPT');
  });

  it('toString follows latest Felix', () => {
    expect(new RejectAction({ with: 'tcp-reset' }).toString()).toBe('Reject');
    expect(new SetConnMarkAction({ mark: 0x10, mask: 0xff }).toString()).toBe('SetConnMarkWithMask:0x10/0xff');
    expect(new SaveConnMarkAction({ saveMask: 0xff }).toString()).toBe('SaveConnMarkWithMask:0xff');
    expect(new RestoreConnMarkAction({ restoreMask: 0xf }).toString()).toBe('RestoreConnMarkWithMask:0xf');
    expect(new NflogAction({ group: 3, prefix: 'abc' }).toString()).toBe('Nflog:g=3,p=abc');
    expect(new LimitPacketRateAction({ rate: 7, burst: 9, mark: 1 }).toString()).toBe('LimitPacketRate:7/s,burst:9');
    expect(new LimitNumConnectionsAction({ num: 4, rejectWith: 'tcp-reset' }).toString()).toBe('LimitNumConnectionsAction:4,rejectWith:tcp-reset');
    expect(new DSCPAction({ value: 10 }).toString()).toBe('DSCP 10');
  });

  it('are frozen and keep their Go field names', () => {
    const actions: [Action, Record<string, unknown>][] = [
      [new RejectAction({ with: 'tcp-reset' }), { with: 'tcp-reset' }],
      [new SetConnMarkAction({ mark: 1, mask: 3 }), { mark: 1, mask: 3 }],
      [new SaveConnMarkAction({ saveMask: 2 }), { saveMask: 2 }],
      [new RestoreConnMarkAction({ restoreMask: 4 }), { restoreMask: 4 }],
      [new NflogAction({ group: 1, prefix: 'p', size: 9 }), { group: 1, prefix: 'p', size: 9 }],
      [new LimitPacketRateAction({ rate: 1, burst: 2, mark: 4 }), { rate: 1, burst: 2, mark: 4 }],
      [new LimitNumConnectionsAction({ num: 1, rejectWith: 'tcp-reset' }), { num: 1, rejectWith: 'tcp-reset' }],
      [new DSCPAction({ value: 1 }), { value: 1 }],
    ];
    for (const [a, fields] of actions) {
      expect(Object.isFrozen(a)).toBe(true);
      expect(a).toMatchObject(fields);
    }
  });

  it('which IP version knows a reject type', () => {
    expect(new RejectAction({ with: 'icmp-net-prohibited' }).ipVersion).toBe(4);
    expect(new RejectAction({ with: 'tcp-rst' }).ipVersion).toBe(4);
    expect(new RejectAction({ with: 'icmp6-no-route' }).ipVersion).toBe(6);
    expect(new RejectAction({ with: 'tcp-reset' }).ipVersion).toBeUndefined();
    expect(new RejectAction({ with: 'port-unreach' }).ipVersion).toBeUndefined();
    expect(new RejectAction().ipVersion).toBeUndefined();
    expect(new LimitNumConnectionsAction({ num: 1, rejectWith: 'adm-prohibited' }).ipVersion).toBe(6);
  });
});

describe('latest Felix actions: validation', () => {
  it.each([
    ['Reject unknown type', () => new RejectAction({ with: 'icmp-bogus' as never }), 'icmp-bogus'],
    ['Reject abbreviation (iptables takes prefixes; we want the full name)', () => new RejectAction({ with: 'tcp' as never }), '"tcp"'],
    ['Reject upper case', () => new RejectAction({ with: 'TCP-RESET' as never }), 'TCP-RESET'],
    ['Reject injection', () => new RejectAction({ with: 'tcp-reset --jump ACCEPT' as never }), 'tcp-reset --jump ACCEPT'],
    ['SetConnMark mark outside mask', () => new SetConnMarkAction({ mark: 0x100, mask: 0xff }), '256'],
    ['SetConnMark no mark', () => new SetConnMarkAction({} as never), 'undefined'],
    ['SetConnMark mask 2^32', () => new SetConnMarkAction({ mark: 0, mask: 0x100000000 }), '4294967296'],
    ['SaveConnMark negative', () => new SaveConnMarkAction({ saveMask: -1 }), '-1'],
    ['RestoreConnMark fraction', () => new RestoreConnMarkAction({ restoreMask: 1.5 }), '1.5'],
    ['Nflog group 65536', () => new NflogAction({ group: 65536, prefix: 'p' }), '65536'],
    ['Nflog group -1', () => new NflogAction({ group: -1, prefix: 'p' }), '-1'],
    ['Nflog prefix with space (written unquoted)', () => new NflogAction({ group: 1, prefix: 'a b' }), '"a b"'],
    ['Nflog empty prefix', () => new NflogAction({ group: 1, prefix: '' }), '""'],
    ['Nflog prefix 64 bytes', () => new NflogAction({ group: 1, prefix: 'p'.repeat(64) }), 'p'.repeat(64)],
    ['Nflog size 2^32', () => new NflogAction({ group: 1, prefix: 'p', size: 0x100000000 }), '4294967296'],
    ['Nflog size fraction', () => new NflogAction({ group: 1, prefix: 'p', size: 0.5 }), '0.5'],
    ['LimitPacketRate rate 0 (iptables: bad rate)', () => new LimitPacketRateAction({ rate: 0, burst: 1, mark: 1 }), 'got 0'],
    ['LimitPacketRate rate 10001', () => new LimitPacketRateAction({ rate: 10001, burst: 1, mark: 1 }), '10001'],
    ['LimitPacketRate burst 0', () => new LimitPacketRateAction({ rate: 1, burst: 0, mark: 1 }), 'got 0'],
    ['LimitPacketRate burst 10001', () => new LimitPacketRateAction({ rate: 1, burst: 10001, mark: 1 }), '10001'],
    ['LimitPacketRate mark 0', () => new LimitPacketRateAction({ rate: 1, burst: 1, mark: 0 }), 'got 0'],
    ['LimitNumConnections num -1', () => new LimitNumConnectionsAction({ num: -1, rejectWith: 'tcp-reset' }), '-1'],
    ['LimitNumConnections num 2^32', () => new LimitNumConnectionsAction({ num: 0x100000000, rejectWith: 'tcp-reset' }), '4294967296'],
    ['LimitNumConnections no rejectWith', () => new LimitNumConnectionsAction({ num: 1 } as never), 'undefined'],
    ['LimitNumConnections unknown rejectWith', () => new LimitNumConnectionsAction({ num: 1, rejectWith: 'nope' as never }), 'nope'],
    ['DSCP 64', () => new DSCPAction({ value: 64 }), '64'],
  ] as const)('%s', (_label, run, bad) => {
    expectInvalidRule(run, bad);
  });

  it('REJECT_WITH lists what `iptables -j REJECT --help` and `ip6tables -j REJECT --help` list', () => {
    const v4 = [...REJECT_WITH].filter(([, v]) => v.includes(4)).map(([w]) => w).sort();
    const v6 = [...REJECT_WITH].filter(([, v]) => v.includes(6)).map(([w]) => w).sort();
    expect(v4).toEqual(['admin-prohib', 'host-prohib', 'host-unreach', 'icmp-admin-prohibited', 'icmp-host-prohibited', 'icmp-host-unreachable', 'icmp-net-prohibited', 'icmp-net-unreachable', 'icmp-port-unreachable', 'icmp-proto-unreachable', 'net-prohib', 'net-unreach', 'port-unreach', 'proto-unreach', 'tcp-reset', 'tcp-rst']);
    expect(v6).toEqual(['addr-unreach', 'adm-prohibited', 'icmp6-addr-unreachable', 'icmp6-adm-prohibited', 'icmp6-no-route', 'icmp6-policy-fail', 'icmp6-port-unreachable', 'icmp6-reject-route', 'no-route', 'policy-fail', 'port-unreach', 'reject-route', 'tcp-reset']);
  });
});

describe('latest Felix actions in rules', () => {
  it('REJECT with tcp-reset needs a tcp match (the kernel refuses it otherwise)', () => {
    const reset = new RejectAction({ with: 'tcp-reset' });
    expect(new Rule({ match: Match().protocol('tcp'), action: reset }).body).toBe('-p tcp --jump REJECT --reject-with tcp-reset');
    expect(new Rule({ match: Match().protocolNum(6), action: reset }).body).toBe('-p 6 --jump REJECT --reject-with tcp-reset');
    expectInvalidRule(() => new Rule({ action: reset }), '""');
    expectInvalidRule(() => new Rule({ match: Match().protocol('udp'), action: reset }), '-p udp');
    expectInvalidRule(() => new Rule({ match: Match().notProtocol('tcp'), action: new RejectAction({ with: 'tcp-rst' }) }), '! -p tcp');
    expect(new Rule({ action: new RejectAction({ with: 'icmp-port-unreachable' }) }).body).toBe('--jump REJECT --reject-with icmp-port-unreachable');
  });

  it('LimitNumConnections brings its own -p tcp: a protocol in the match is refused', () => {
    const limit = new LimitNumConnectionsAction({ num: 3, rejectWith: 'tcp-reset' });
    expect(new Rule({ match: Match().destNet('10.0.0.0/8'), action: limit }).body).toBe(
      '--destination 10.0.0.0/8 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 3 --connlimit-mask 0 -j REJECT --reject-with tcp-reset',
    );
    expectInvalidRule(() => new Rule({ match: Match().protocol('tcp'), action: limit }), '-p tcp');
    // Port matches need the protocol before them; the action's comes after (iptables:
    // "multiport needs `-p tcp' ...").
    expectInvalidRule(() => new Rule({ match: Match().destPorts(80), action: limit }), 'multiport');
    expectInvalidRule(() => new Rule({ match: Match().destPort(80), action: limit }), '--dport 80');
  });

  it('the action protocol checks read matches made from raw fragments too (one reader of protocol criteria)', () => {
    const reset = new RejectAction({ with: 'tcp-reset' });
    const limit = new LimitNumConnectionsAction({ num: 3, rejectWith: 'tcp-reset' });
    expect(new Rule({ match: new MatchCriteria(['-p', 'TCP']), action: reset }).body).toBe('-p TCP --jump REJECT --reject-with tcp-reset');
    expectInvalidRule(() => new Rule({ match: new MatchCriteria(['!', '-p', 'tcp']), action: reset }), '! -p tcp');
    expectInvalidRule(() => new Rule({ match: new MatchCriteria(['-m', 'tcp', '--dport', '22']), action: limit }), '-m tcp --dport 22');
    expect(() => new Rule({ match: new MatchCriteria(['-m', 'tcp', '--dport', '22']), action: limit })).toThrow(/brings its "-p tcp" after the match/);
    expect(() => new Rule({ match: new MatchCriteria(['-p', 'udp']), action: limit })).toThrow(/brings its own "-p tcp"/);
  });

  it('checkIpVersion refuses a reject type the table family does not know', () => {
    new Rule({ action: new RejectAction({ with: 'icmp6-no-route' }) }).checkIpVersion(6, 'here');
    new Rule({ action: new RejectAction({ with: 'port-unreach' }) }).checkIpVersion(4, 'here');
    expectInvalidRule(() => new Rule({ action: new RejectAction({ with: 'icmp6-no-route' }) }).checkIpVersion(4, 'here'), 'Reject');
    expectInvalidRule(() => new Rule({ match: Match().protocol('tcp'), action: new RejectAction({ with: 'tcp-rst' }) }).checkIpVersion(6, 'here'), 'Reject');
  });

  it('withFeatures renders the action for the host and keeps rules whose text does not change', () => {
    const masq = new Rule({ match: Match().outInterface('eth0'), action: new MasqAction(), comment: 'out' });
    const withAll = masq.withFeatures(ALL);
    expect(withAll.body).toBe('-m comment --comment "out" --out-interface eth0 --jump MASQUERADE --random-fully');
    expect(masq.body).toBe('-m comment --comment "out" --out-interface eth0 --jump MASQUERADE');
    expect(masq.withFeatures(NO_FEATURES)).toBe(masq);
    const accept = new Rule({ action: new AcceptAction() });
    expect(accept.withFeatures(ALL)).toBe(accept);
    const chain = new Chain({ name: 'c', rules: [accept, masq] });
    const rendered = chain.withFeatures(ALL);
    expect(rendered.rules[0]).toBe(accept);
    expect(rendered.rules[1]?.body).toBe(withAll.body);
    // The ID of a rule covers its rendered text, as in latest Felix.
    expect(rendered.ruleHashes()[0]).toBe(chain.ruleHashes()[0]);
    expect(rendered.ruleHashes()[1]).not.toBe(chain.ruleHashes()[1]);
    expect(new Chain({ name: 'c', rules: [accept] }).withFeatures(ALL).rules[0]).toBe(accept);
  });

  it('withFeatures renders a subclass or a plain action object, which may use the features, and keeps a built-in that does not', () => {
    class RandomAccept extends AcceptAction {
      override toFragment(features?: Features): string {
        return features?.masqFullyRandom === true ? '--jump ACCEPT-RANDOM' : super.toFragment();
      }
    }
    const sub = new Rule({ action: new RandomAccept() });
    expect(sub.body).toBe('--jump ACCEPT');
    expect(sub.withFeatures(ALL).body).toBe('--jump ACCEPT-RANDOM');
    const plain = new Rule({ action: { toFragment: (f?: Features) => (f?.nfLogSize === true ? '--jump NFLOG --nflog-size 1' : '--jump NFLOG --nflog-range 1') } });
    expect(plain.withFeatures(ALL).body).toBe('--jump NFLOG --nflog-size 1');
    for (const action of [new DropAction(), new JumpAction({ target: 'x' }), new SetMarkAction({ mark: 1 }), new RejectAction()]) {
      const rule = new Rule({ action });
      expect(rule.withFeatures(ALL)).toBe(rule);
    }
  });
});
