// The tokenizer of saved lines and the one definition of "ours" (src/save-line.ts). The C++ twin
// is held to the same answers by test/reader.test.ts and test/reader-diff.test.ts.
import { describe, expect, it } from 'vitest';
import { isOurCommentValue, jumpOf, ruleOwnership, saveLineTokens, withoutQuotedText } from '../src/save-line';

describe('saveLineTokens', () => {
  it.each([
    ['-A INPUT -j ACCEPT', ['-A', 'INPUT', '-j', 'ACCEPT']],
    ['-A  INPUT\t-j\rACCEPT  ', ['-A', 'INPUT', '-j', 'ACCEPT']],
    ['-m comment --comment "a b  c"', ['-m', 'comment', '--comment', 'a b  c']],
    ['--comment "has \\"dq\\" and \\\\back and \\\'sq"', ['--comment', 'has "dq" and \\back and \'sq']],
    ['--comment "" -j X', ['--comment', '', '-j', 'X']],
    ['a"b c"d e', ['ab c', 'd', 'e']], // a quote opens mid-token; the closing quote ends it
    ['--comment "unterminated -j X', ['--comment', 'unterminated -j X']],
    ['--comment "ends in backslash\\', ['--comment', 'ends in backslash']],
    ['--comment "\\\\" -j X', ['--comment', '\\', '-j', 'X']],
    ['x\\y', ['x\\y']], // outside quotes a backslash is literal
  ])('%j', (line, tokens) => {
    expect(saveLineTokens(line)).toEqual(tokens);
  });
});

describe('ruleOwnership', () => {
  const id = 'abcdefghijklmnop';
  it.each([
    [`-A X -m comment --comment "ipts:${id}" -j ACCEPT`, id, false],
    [`-A X -p tcp -m tcp --dport 1 -m comment --comment "ipts:${id}" -j ipts-x`, id, false],
    [`-A X -m comment --comment "ipts:${id}x" -j ipts-x`, undefined, true],
    [`-A X -m comment --comment other -m comment --comment "ipts:${id}" -j ACCEPT`, undefined, false],
    [`-A X -j LOG --log-prefix "-m comment --comment ipts:${id}"`, undefined, false],
    ['-A X -m comment --comment "see -j ipts-input" -j ACCEPT', undefined, false],
    ['-A X -g ipts-input', undefined, true],
    ['-A X --goto ipts-input', undefined, true],
    ['-A X --jump ipts-input', undefined, true],
    ['-A X -j notipts-input', undefined, false],
    [`-A X --match comment --comment "ipts:${id}"`, id, false],
    ['-A X -m comment --comment', undefined, false],
  ])('%s', (line, expectedId, oldInsert) => {
    expect(ruleOwnership(line, 'ipts:', ['ipts-'])).toEqual({ id: expectedId, oldInsert });
  });

  it('takes an ID only of exactly the prefix and 16 ID characters', () => {
    expect(isOurCommentValue(`ipts:${id}`, 'ipts:')).toBe(true);
    expect(isOurCommentValue(`ipts:${id.slice(1)}`, 'ipts:')).toBe(false);
    expect(isOurCommentValue(`ipts:${id.slice(1)}!`, 'ipts:')).toBe(false);
    expect(isOurCommentValue(`ipts:b${id}`, 'ipts:')).toBe(false);
    expect(isOurCommentValue(`ipts:${id}`, 'ipts:b')).toBe(false);
    expect(isOurCommentValue('ipts:-_09AZaz-_09AZaz', 'ipts:')).toBe(true);
  });
});

describe('withoutQuotedText', () => {
  it.each([
    ['-A X -j LOG --log-prefix "-i eth0 "', '-A X -j LOG --log-prefix ""'],
    ['-A X -m comment --comment "a \\" b" -i eth0 -j ACCEPT', '-A X -m comment --comment "" -i eth0 -j ACCEPT'],
    ['-A X -i eth0', '-A X -i eth0'],
    ['-A X --comment "open', '-A X --comment ""'],
  ])('%s', (line, expected) => {
    expect(withoutQuotedText(line)).toBe(expected);
  });
});

describe('jumpOf (who refers to a chain, for ChainDeletionError)', () => {
  it.each([
    ['-A foreign -g mine-pinned', { chain: 'foreign', target: 'mine-pinned' }],
    ['-A INPUT -i eth0 -m comment --comment "x" --jump ipts-a', { chain: 'INPUT', target: 'ipts-a' }],
    // A comment that mentions a jump is not one.
    ['-A foreign -m comment --comment "was -j mine-old" -j ACCEPT', { chain: 'foreign', target: 'ACCEPT' }],
    ['-A foreign -m comment --comment "see -j mine-old"', undefined],
    ['-I INPUT 1 -m comment --comment "ipts:x" -j ipts-in', { chain: 'INPUT', target: 'ipts-in' }],
    ['-R ipts-a 2 -p tcp -g ipts-b', { chain: 'ipts-a', target: 'ipts-b' }],
    [':foreign - [0:0]', undefined],
    // An interface may be named like an option (found by the fake-vs-real property): "-g" and
    // "-j" after -o/-i are names, not a goto or a jump.
    ['-A foreign -o -g -p tcp -j DROP', { chain: 'foreign', target: 'DROP' }],
    ['-A foreign -i -j -j ACCEPT', { chain: 'foreign', target: 'ACCEPT' }],
    ['-A foreign ! -o -g', undefined],
  ])('%s', (line, expected) => {
    expect(jumpOf(line)).toEqual(expected);
  });
});
