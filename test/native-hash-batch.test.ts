// The batched native hash (many chains in one call, from rule bodies) against its TypeScript
// twin and against the per-chain native hash of whole lines, which test/native-hash.test.ts
// checks against node:crypto.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { hashInput, primeRuleIds, ruleHashesFor, ruleIdsOfChains, ruleIdsOfChainsTs, type HashableChain } from '../src/hash';
import { chainRuleHashes, hashChainBodies, loadNative } from '../src/native';

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.fullUnicodeString({ maxLength: 20 }),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 20 }).map((units) => String.fromCharCode(...units)),
);
const oneLine = text.map((s) => s.replace(/\n/g, ' '));
const chainArb: fc.Arbitrary<HashableChain> = fc.record({
  name: oneLine,
  rules: fc.array(oneLine.map((body) => ({ body })), { maxLength: 12 }),
});

it('the addon is loaded (else this file would only test the twin against itself)', () => {
  expect(loadNative()).toBeDefined();
});

it('one native call for many chains equals the TypeScript twin and the per-chain native hash', () => {
  fc.assert(
    fc.property(fc.array(chainArb, { maxLength: 12 }), (chains) => {
      const batch = ruleIdsOfChains(chains);
      expect(batch).toEqual(ruleIdsOfChainsTs(chains));
      chains.forEach((chain, c) => {
        const lines = chain.rules.map((r) => hashInput(chain.name, r));
        expect(batch[c]).toEqual(chain.rules.length === 0 ? [] : chainRuleHashes(chain.name, lines.join('\n'), lines.length));
      });
    }),
    { numRuns: 400 },
  );
});

it('empty bodies hash as "-A <chain> HASH" (no trailing space), as the twin does', () => {
  const chains = [{ name: 'FORWARD', rules: [{ body: '' }, { body: '--jump DROP' }, { body: '' }] }];
  expect(ruleIdsOfChains(chains)).toEqual(ruleIdsOfChainsTs(chains));
  // python3 -c "$H" FORWARD '-A FORWARD HASH --jump DROP' (test/hash.test.ts) → hecdSCslEjdBPBPo
  expect(ruleIdsOfChains([{ name: 'FORWARD', rules: [{ body: '--jump DROP' }] }])).toEqual([['hecdSCslEjdBPBPo']]);
});

it('rejects counts that do not match the names or the bodies, naming both', () => {
  expect(() => hashChainBodies('A\nB', new Uint32Array([1]), 'x')).toThrow('hashChains: 1 rule counts for 2 newline-separated chain names');
  expect(() => hashChainBodies('A', new Uint32Array([2]), 'x')).toThrow('hashChains: rule counts add up to 2, but 1 newline-separated rule bodies were given');
  expect(() => hashChainBodies('', new Uint32Array([]), '')).not.toThrow();
  expect(() => (loadNative()?.hashChains as unknown as (a: unknown, b: unknown, c: unknown) => string)('A', [1], 'x')).toThrow(TypeError);
});

it('primed IDs are handed out once, for the same rules array and chain name only', () => {
  const rules = [{ body: '--jump ACCEPT' }, { body: '--jump DROP' }];
  const expected = ruleIdsOfChainsTs([{ name: 'c1', rules }])[0];
  primeRuleIds([{ name: 'c1', rules }]);
  // Another name never gets them: its IDs are computed afresh.
  expect(ruleHashesFor('c2', rules)).toEqual(ruleIdsOfChainsTs([{ name: 'c2', rules }])[0]);
  const first = ruleHashesFor('c1', rules);
  expect(first).toEqual(expected);
  const second = ruleHashesFor('c1', rules);
  expect(second).toEqual(expected);
  expect(second).not.toBe(first); // taken once; the second call hashed again
});
