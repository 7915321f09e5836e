// The pure parts of the nftables engine: the listing scanner (any chunking gives the same
// listing), the kept-pairs diff, per-rule IDs and the echo parser.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createListingScanner } from '../src/nftables/listing';
import { keptPairs } from '../src/nftables/plan';
import { nftRuleIds } from '../src/nftables/rule-ids';
import { blamedNftLine, echoedHandles } from '../src/nftables/nft-run';

const LISTING = `table ip ipts-filter { # handle 7
\tset blocked { # handle 9
\t\ttype ipv4_addr
\t\telements = { 10.0.0.1 }
\t}

\tchain ipts-a { # handle 1
\t\ttcp dport 22 counter packets 3 bytes 180 accept comment "ipts:AAAAAAAAAAAAAAAA" # handle 4
\t\tudp dport 53 drop # handle 5
\t\tcounter packets 0 bytes 0 accept comment "ipts:BBBBBBBBBBBBBBBB my own words" # handle 6
\t\tcounter packets 0 bytes 0 accept comment "ipts:CCCCCCCCCCCCCCCCX" # handle 8
\t\tcounter packets 0 bytes 0 accept comment "other:DDDDDDDDDDDDDDDD" # handle 10
\t}

\tchain INPUT { # handle 2
\t\ttype filter hook input priority filter; policy accept;
\t\tcounter packets 0 bytes 0 jump ipts-a comment "ipts:EEEEEEEEEEEEEEEE" # handle 3
\t}
}
`;

const EXPECTED = {
  found: true,
  chains: [
    { name: 'ipts-a', declaration: undefined, ids: ['AAAAAAAAAAAAAAAA', '', 'BBBBBBBBBBBBBBBB', '', ''], handles: [4, 5, 6, 8, 10] },
    { name: 'INPUT', declaration: 'type filter hook input priority filter; policy accept;', ids: ['EEEEEEEEEEEEEEEE'], handles: [3] },
  ],
};

describe('nft listing scanner', () => {
  it('reads per chain the declaration, our IDs ("" for rules not ours) and handles, skipping sets', () => {
    const s = createListingScanner('ipts:', 16);
    s.push(LISTING);
    expect(s.finish()).toEqual(EXPECTED);
  });

  it('gives the same listing however the text is cut into chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(LISTING.length), { maxLength: 12 }), (cuts) => {
        const s = createListingScanner('ipts:', 16);
        const points = [0, ...[...cuts].sort((a, b) => a - b), LISTING.length];
        for (let i = 1; i < points.length; i++) s.push(LISTING.slice(points[i - 1], points[i]));
        expect(s.finish()).toEqual(EXPECTED);
      }),
    );
  });

  it('with details (show): each rule text without its handle, counter values taken out, and its counters', () => {
    const s = createListingScanner('ipts:', 16, true);
    s.push(LISTING);
    const listing = s.finish();
    expect(listing.chains.map((c) => ({ ...c, details: undefined }))).toEqual(EXPECTED.chains.map((c) => ({ ...c, details: undefined })));
    expect(listing.chains[0]?.details).toEqual([
      { text: 'tcp dport 22 counter accept comment "ipts:AAAAAAAAAAAAAAAA"', packets: 3, bytes: 180 },
      { text: 'udp dport 53 drop', packets: 0, bytes: 0 },
      { text: 'counter accept comment "ipts:BBBBBBBBBBBBBBBB my own words"', packets: 0, bytes: 0 },
      { text: 'counter accept comment "ipts:CCCCCCCCCCCCCCCCX"', packets: 0, bytes: 0 },
      { text: 'counter accept comment "other:DDDDDDDDDDDDDDDD"', packets: 0, bytes: 0 },
    ]);
    expect(listing.chains[1]?.details).toEqual([{ text: 'counter jump ipts-a comment "ipts:EEEEEEEEEEEEEEEE"', packets: 0, bytes: 0 }]);
  });

  it('reads an empty output as no table', () => {
    expect(createListingScanner('ipts:', 16).finish()).toEqual({ found: false, chains: [] });
  });
});

describe('keptPairs', () => {
  it('keeps the longest run of equal IDs in order, never a rule without an ID', () => {
    expect(keptPairs(['a', 'b', 'c', 'd'], ['a', 'x', 'c', 'd'])).toEqual([[0, 0], [2, 2], [3, 3]]);
    expect(keptPairs(['a', 'b', 'c'], ['c', 'a', 'b'])).toEqual([[0, 1], [1, 2]]);
    expect(keptPairs(['', 'a'], ['', 'a'])).toEqual([[1, 1]]);
    expect(keptPairs([], ['a'])).toEqual([]);
  });

  it('returns pairs increasing in both indexes, of equal IDs, as long as a brute-force LCS of distinct IDs', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { maxLength: 7 }), fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { maxLength: 7 }), (have, want) => {
        const pairs = keptPairs(have, want);
        for (let k = 0; k < pairs.length; k++) {
          const [i, j] = pairs[k] as [number, number];
          expect(have[i]).toBe(want[j]);
          if (k > 0) {
            expect(i).toBeGreaterThan((pairs[k - 1] as [number, number])[0]);
            expect(j).toBeGreaterThan((pairs[k - 1] as [number, number])[1]);
          }
        }
        const lcs = (a: readonly string[], b: readonly string[]): number =>
          a.length === 0 || b.length === 0 ? 0 : a[0] === b[0] ? 1 + lcs(a.slice(1), b.slice(1)) : Math.max(lcs(a.slice(1), b), lcs(a, b.slice(1)));
        expect(pairs.length).toBe(lcs(have, want));
      }),
    );
  });
});

describe('nftRuleIds', () => {
  it('gives each rule an ID of its own text and occurrence: one changed rule changes one ID', () => {
    const a = nftRuleIds(['accept', 'drop', 'accept', 'tcp dport 1 accept']);
    const b = nftRuleIds(['accept', 'return', 'accept', 'tcp dport 1 accept']);
    expect(a.map((id) => id.length)).toEqual([16, 16, 16, 16]);
    expect(new Set(a).size).toBe(4); // equal texts differ by occurrence
    expect(a.filter((id, i) => id !== b[i])).toEqual([a[1]]);
  });
});

describe('nft output parsing', () => {
  it('reads the echoed handles of added, inserted and replaced rules by chain and comment', () => {
    const echo = [
      'add table ip ipts-filter # handle 4',
      'add chain ip ipts-filter ipts-a # handle 1',
      'add rule ip ipts-filter ipts-a handle 6 tcp dport 22 counter packets 0 bytes 0 accept comment "ipts:AAAAAAAAAAAAAAAA" # handle 3',
      'insert rule ip ipts-filter INPUT counter packets 0 bytes 0 jump ipts-a comment "ipts:BBBBBBBBBBBBBBBB own" # handle 5',
      '# new generation 12 by process 8173 (nft)',
    ].join('\n');
    expect(echoedHandles(echo)).toEqual(
      new Map([
        ['ipts-a', new Map([['ipts:AAAAAAAAAAAAAAAA', 3]])],
        ['INPUT', new Map([['ipts:BBBBBBBBBBBBBBBB own', 5]])],
      ]),
    );
  });

  it('finds the input line nft blamed', () => {
    expect(blamedNftLine('/dev/stdin:7:88-88: Error: syntax error, unexpected string\nadd rule …\n   ^^^')).toBe(7);
    expect(blamedNftLine('Error: No such file or directory')).toBeUndefined();
  });
});
