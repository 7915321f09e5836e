// The native chained rule hashing (SPEC section 3) against a plain node:crypto computation.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { chainRuleHashes, loadNative, nativeInfo } from '../src/native';

// The definition, written as plainly as possible.
function reference(chain: string, lines: readonly string[]): string[] {
  let h = createHash('sha224').update(chain, 'utf8').digest();
  return lines.map((line) => {
    h = createHash('sha224').update(h).update(line, 'utf8').digest();
    return h.toString('base64url').slice(0, 16);
  });
}

it('the addon is loaded', () => {
  expect(nativeInfo().loaded).toBe(true);
});

it('matches the known vector', () => {
  expect(chainRuleHashes('FORWARD', '-A FORWARD HASH --jump DROP', 1)).toEqual(['hecdSCslEjdBPBPo']);
});

it('equals node:crypto on random chains, including non-ASCII and lone surrogates', () => {
  const text = fc.oneof(fc.string({ maxLength: 60 }), fc.fullUnicodeString({ maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 30 }).map((units) => String.fromCharCode(...units)));
  const line = text.map((s) => s.replace(/\n/g, ' '));
  fc.assert(
    fc.property(text, fc.array(line, { maxLength: 30 }), (chain, lines) => {
      expect(chainRuleHashes(chain, lines.join('\n'), lines.length)).toEqual(reference(chain, lines));
    }),
    { numRuns: 500 },
  );
});

it('handles empty chains, empty lines and long lines', () => {
  expect(chainRuleHashes('X', '', 0)).toEqual([]);
  expect(chainRuleHashes('X', '', 1)).toEqual(reference('X', ['']));
  expect(chainRuleHashes('X', '\n', 2)).toEqual(reference('X', ['', '']));
  const long = 'z'.repeat(1 << 20);
  expect(chainRuleHashes('X', `a\n${long}`, 2)).toEqual(reference('X', ['a', long]));
});

it('rejects a count that does not match the lines, naming both', () => {
  expect(() => chainRuleHashes('X', 'a\nb', 3)).toThrow('rule count 3 does not match the 2 newline-separated lines given');
  expect(() => chainRuleHashes('X', 'a', 0)).toThrow(RangeError);
  const addon = loadNative();
  expect(() => addon?.chainRuleHashes('X', 'a', -1)).toThrow(/non-negative integer/);
  expect(() => addon?.chainRuleHashes('X', 'a', 1.5)).toThrow(/non-negative integer/);
});

it("the addon's own SHA-224 equals node:crypto at every padding boundary and on random bytes", () => {
  // 28 bytes of the previous hash plus the line: cover lengths around 55/56/64 byte blocks.
  for (let length = 0; length <= 200; length++) {
    const line = 'x'.repeat(length);
    expect(chainRuleHashes('c'.repeat(length), line, 1), `length ${length}`).toEqual(reference('c'.repeat(length), [line]));
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      // latin1 maps each byte to one code point; UTF-8 then gives the hash 1-2 bytes per byte.
      const line = Buffer.from(bytes).toString('latin1').replace(/\n/g, ' ');
      expect(chainRuleHashes('X', line, 1)).toEqual(reference('X', [line]));
    }),
    { numRuns: 300 },
  );
});
