// The thirteen actions: fragments byte for byte from SPEC section 2 (expected strings written by
// hand), toString forms, immutability and constructor validation.
import { describe, expect, it } from 'vitest';
import { expectInvalidRule } from './helpers/expect-invalid';
import { AcceptAction, type Action, ClearMarkAction, DNATAction, DropAction, GotoAction, JumpAction, LogAction, MasqAction, NoTrackAction, ReturnAction, SetMarkAction, SetMaskedMarkAction, SNATAction } from '../src/actions';

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
