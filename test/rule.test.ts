// Rule rendering layouts (SPEC section 2) and Chain basics. Expected lines are written by hand.
import { describe, expect, it } from 'vitest';
import { expectInvalidRule } from './helpers/expect-invalid';
import { AcceptAction, DNATAction, DropAction, JumpAction, LogAction, ReturnAction, SetMarkAction } from '../src/actions';
import { InvalidRuleError } from '../src/errors';
import { Match, MatchCriteria } from '../src/match';
import { Chain, Rule, type RuleSpec } from '../src/rule';
import { isWellFormed, isWellFormedByExpression, MAX_CHAIN_NAME_LENGTH } from '../src/validate';

const ID = '-m comment --comment "cali:hecdSCslEjdBPBPo"';

describe('Rule.renderAppend / renderInsert / renderReplace', () => {
  const full = new Rule({
    match: Match().protocol('tcp').destPorts(80, 443),
    action: new AcceptAction(),
    comment: 'web traffic',
  });

  it('append: -A chain, prefix, comment, match, action', () => {
    expect(full.renderAppend('cali-INPUT', ID)).toBe(
      '-A cali-INPUT -m comment --comment "cali:hecdSCslEjdBPBPo" -m comment --comment "web traffic" -p tcp -m multiport --destination-ports 80,443 --jump ACCEPT',
    );
  });

  it('insert: -I chain, same order', () => {
    expect(full.renderInsert('FORWARD', ID)).toBe(
      '-I FORWARD -m comment --comment "cali:hecdSCslEjdBPBPo" -m comment --comment "web traffic" -p tcp -m multiport --destination-ports 80,443 --jump ACCEPT',
    );
  });

  it('replace: -R chain ruleNum, same order', () => {
    expect(full.renderReplace('OUTPUT', 7, ID)).toBe(
      '-R OUTPUT 7 -m comment --comment "cali:hecdSCslEjdBPBPo" -m comment --comment "web traffic" -p tcp -m multiport --destination-ports 80,443 --jump ACCEPT',
    );
    expect(full.renderReplace('OUTPUT', 1, '')).toBe(
      '-R OUTPUT 1 -m comment --comment "web traffic" -p tcp -m multiport --destination-ports 80,443 --jump ACCEPT',
    );
  });

  it('empty parts are skipped, never leaving double spaces', () => {
    const bare = new Rule({ action: new DropAction() });
    expect(bare.renderAppend('FORWARD', '')).toBe('-A FORWARD --jump DROP');
    expect(bare.renderAppend('FORWARD', 'HASH')).toBe('-A FORWARD HASH --jump DROP');
    expect(bare.renderInsert('FORWARD', '')).toBe('-I FORWARD --jump DROP');
    expect(bare.renderReplace('FORWARD', 2, '')).toBe('-R FORWARD 2 --jump DROP');

    const commentOnly = new Rule({ action: new ReturnAction(), comment: 'x' });
    expect(commentOnly.renderAppend('c', '')).toBe('-A c -m comment --comment "x" --jump RETURN');

    const matchOnly = new Rule({ match: Match().markClear(0x10), action: new SetMarkAction({ mark: 0x10 }) });
    expect(matchOnly.renderAppend('c', ID)).toBe(
      '-A c -m comment --comment "cali:hecdSCslEjdBPBPo" -m mark --mark 0/0x10 --jump MARK --set-mark 0x10/0x10',
    );

    const emptyMatch = new Rule({ match: Match(), action: new AcceptAction(), comment: '' });
    expect(emptyMatch.renderAppend('c', '')).toBe('-A c --jump ACCEPT');
  });

  it('comments keep spaces and non-ASCII text, inside double quotes', () => {
    const r = new Rule({ action: new AcceptAction(), comment: "Grüße, it's 日本 ✓ #1" });
    expect(r.renderAppend('c', '')).toBe('-A c -m comment --comment "Grüße, it\'s 日本 ✓ #1" --jump ACCEPT');
  });

  it('a 255-byte comment is accepted, 256 bytes is not (iptables truncates to 255)', () => {
    const c255 = 'é'.repeat(127) + 'x'; // 254 + 1 = 255 bytes
    expect(new Rule({ action: new DropAction(), comment: c255 }).renderAppend('c', '')).toBe(`-A c -m comment --comment "${c255}" --jump DROP`);
    expect(() => new Rule({ action: new DropAction(), comment: 'é'.repeat(128) })).toThrow(InvalidRuleError);
    expect(() => new Rule({ action: new DropAction(), comment: 'x'.repeat(256) })).toThrow(InvalidRuleError);
  });

  it('DNAT IPv6 with port in a full rule', () => {
    const r = new Rule({ match: Match().protocol('tcp').destNet('fd00::10/128'), action: new DNATAction({ destAddr: 'fd00::1', destPort: 8080 }) });
    expect(r.renderAppend('cali-nat', '')).toBe('-A cali-nat -p tcp --destination fd00::10/128 --jump DNAT --to-destination [fd00::1]:8080');
  });

  it('rendering is repeatable and does not change the rule', () => {
    const r = new Rule({ match: Match().inInterface('cali+'), action: new LogAction({ prefix: 'L' }) });
    const a = r.renderAppend('x', 'P');
    r.renderInsert('y', 'Q');
    r.renderReplace('z', 3, 'R');
    expect(r.renderAppend('x', 'P')).toBe(a);
    expect(a).toBe('-A x P --in-interface cali+ --jump LOG --log-prefix "L: " --log-level 5');
    expect(Object.isFrozen(r)).toBe(true);
  });

  it('toString shows the rule', () => {
    const s = new Rule({ match: Match().protocol('udp'), action: new DropAction() }).toString();
    expect(s).toContain('-p udp');
    expect(s).toContain('--jump DROP');
  });
});

describe('Rule validation', () => {
  const r = new Rule({ action: new DropAction() });

  it.each([
    ['chain name of 29 characters', () => r.renderAppend('a'.repeat(29), ''), 'a'.repeat(29)],
    ['chain name with a space', () => r.renderInsert('a b', ''), 'a b'],
    ['chain name with a newline', () => r.renderReplace('a\nb', 1, ''), '"a\\nb"'],
    ['chain name with a quote', () => r.renderAppend("a'b", ''), "a'b"],
    ['empty chain name', () => r.renderAppend('', ''), '""'],
    ['ruleNum 0', () => r.renderReplace('c', 0, ''), 'got 0'],
    ['ruleNum -1', () => r.renderReplace('c', -1, ''), '-1'],
    ['ruleNum 1.5', () => r.renderReplace('c', 1.5, ''), '1.5'],
    ['prefix fragment with a newline', () => r.renderAppend('c', 'x\n-F'), '"x\\n-F"'],
    ['comment with a double quote', () => new Rule({ action: new DropAction(), comment: 'a"b' }), 'a\\"b'],
    ['comment with a newline', () => new Rule({ action: new DropAction(), comment: 'a\nb' }), '"a\\nb"'],
    ['comment with NUL', () => new Rule({ action: new DropAction(), comment: 'a\u0000' }), '"a\\u0000"'],
    ['comment with CR', () => new Rule({ action: new DropAction(), comment: 'a\r' }), '"a\\r"'],
    ['comment with backslash', () => new Rule({ action: new DropAction(), comment: 'a\\' }), '"a\\\\"'],
    ['no action', () => new Rule({} as never), 'undefined'],
    ['match not from Match()', () => new Rule({ match: '-p tcp' as never, action: new DropAction() }), '-p tcp'],
  ] as const)('%s throws InvalidRuleError naming the value', (_label, run, bad) => {
    expectInvalidRule(run, bad);
  });

  it('a 28-character chain name is fine', () => {
    expect(MAX_CHAIN_NAME_LENGTH).toBe(28);
    expect(r.renderAppend('a'.repeat(28), '')).toBe(`-A ${'a'.repeat(28)} --jump DROP`);
  });

  it('chain names are limited in bytes, as iptables counts them (15 x "ä" = 30 bytes is too long)', () => {
    expect(() => r.renderAppend('ä'.repeat(15), '')).toThrow(InvalidRuleError);
    expect(() => new JumpAction({ target: 'ä'.repeat(15) })).toThrow(InvalidRuleError);
    expect(r.renderAppend('ä'.repeat(14), '')).toBe(`-A ${'ä'.repeat(14)} --jump DROP`);
  });

  it('a custom action whose fragment holds a newline is refused', () => {
    const evil = { toFragment: () => '--jump ACCEPT\n-F', toString: () => 'evil' };
    expect(() => new Rule({ action: evil })).toThrow(InvalidRuleError);
  });

  it('a hand-made MatchCriteria whose fragments hold a newline is refused', () => {
    const evil = new MatchCriteria(['-p tcp\n-A INPUT']);
    expect(() => new Rule({ match: evil, action: new DropAction() })).toThrow(InvalidRuleError);
  });
});

describe('isWellFormed', () => {
  it.each([
    ['ASCII', 'cali-fw-eth0', true],
    ['an astral character as a surrogate pair', 'policy \ud83d\ude00', true],
    ['the empty string', '', true],
    ['a lone high surrogate', 'a\ud800b', false],
    ['a lone low surrogate at the end', 'ab\udc00', false],
    ['a pair in the wrong order', '\udc00\ud800', false],
  ])('%s: %s, by String.prototype.isWellFormed and by the regular expression used without it', (_what, value, expected) => {
    expect(isWellFormed(value)).toBe(expected);
    expect(isWellFormedByExpression(value)).toBe(expected);
  });

  it('is what a rule body is checked with: a lone surrogate in a comment is refused', () => {
    expect(() => new Rule({ action: new AcceptAction(), comment: 'x\ud800' })).toThrow(/well-formed Unicode/);
  });
});

describe('Chain', () => {
  it('takes Rule instances and plain rule objects alike', () => {
    const a = new Chain({ name: 'FORWARD', rules: [new Rule({ action: new DropAction() })] });
    const b = new Chain({ name: 'FORWARD', rules: [{ action: new DropAction() }] });
    expect(a.ruleHashes()).toEqual(b.ruleHashes());
    expect(b.rules[0]).toBeInstanceOf(Rule);
    expect(Chain.from({ name: 'FORWARD', rules: [{ action: new DropAction() }] }).ruleHashes()).toEqual(a.ruleHashes());
    expect(Chain.from(a)).toBe(a);
  });

  it('an empty chain has no IDs', () => {
    expect(new Chain({ name: 'empty', rules: [] }).ruleHashes()).toEqual([]);
  });

  it('ruleHashes() returns a fresh copy; ruleIds() is stable', () => {
    const c = new Chain({ name: 'c', rules: [{ action: new DropAction() }, { action: new AcceptAction() }] });
    const h1 = c.ruleHashes();
    h1[0] = 'tampered';
    expect(c.ruleHashes()[0]).not.toBe('tampered');
    expect(c.ruleIds()).toBe(c.ruleIds());
    expect([...c.ruleIds()]).toEqual(c.ruleHashes());
  });

  it('the rules passed in are copied: changing the array later changes nothing', () => {
    const rules: RuleSpec[] = [{ action: new DropAction() }];
    const c = new Chain({ name: 'c', rules });
    const before = c.ruleHashes();
    rules.push({ action: new AcceptAction() });
    expect(c.rules).toHaveLength(1);
    expect(c.ruleHashes()).toEqual(before);
  });

  it.each([
    ['name too long', { name: 'x'.repeat(29), rules: [] }, 'x'.repeat(29)],
    ['name with whitespace', { name: 'a\tb', rules: [] }, '"a\\tb"'],
    ['name with a quote', { name: 'a"b', rules: [] }, 'a\\"b'],
    ['name with a control char', { name: 'a\u0001', rules: [] }, '"a\\u0001"'],
    ['rules not an array', { name: 'a', rules: 'x' }, '"x"'],
    ['a bad plain rule', { name: 'a', rules: [{ action: new DropAction(), comment: 'bad\n' }] }, '"bad\\n"'],
  ] as const)('refuses %s', (_label, spec, bad) => {
    expectInvalidRule(() => new Chain(spec as never), bad);
  });
});
