// Reading with expected IDs: the native scanner compares the chains the caller believes in and
// hands back the caller's own entry for each one that still holds exactly those IDs (no string
// per rule), while the snapshot stays what a read without expectations gives.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { loadNative, nativeInfo, SCAN_LAYOUT, type NativeExpectedIds } from '../src/native';
import { encodeInBlocks, openSavePipe, readSaveOutput, type DataplaneChain, type DataplaneSnapshot, type ReaderConfig, type ReadResult } from '../src/reader';

const CONFIG: ReaderConfig = { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'] };
const NONE: ReadonlyMap<number, string> = new Map();
const id = (n: number): string => `id${String(n).padStart(14, '0')}`;
const rule = (chain: string, n: number): string => `-A ${chain} -m comment --comment "cali:${id(n)}" -j ACCEPT`;

const dump = [
  '*filter',
  ':INPUT ACCEPT [0:0]',
  ':cali-same - [0:0]',
  ':cali-changed - [0:0]',
  ':cali-foreign - [0:0]',
  ':cali-shorter - [0:0]',
  ':cali-unknown - [0:0]',
  ':mine-same - [0:0]',
  ':cali-empty - [0:0]',
  `-A INPUT -m comment --comment "cali:${id(90)}" -j cali-same`,
  rule('cali-same', 1),
  rule('cali-same', 2),
  rule('cali-changed', 3),
  rule('cali-changed', 99),
  rule('cali-foreign', 5),
  '-A cali-foreign -j DROP',
  rule('cali-shorter', 6),
  rule('cali-unknown', 7),
  rule('mine-same', 8),
  'COMMIT',
  '',
].join('\n');

const belief = (ids: readonly string[]): DataplaneChain => ({ ids, savedRules: NONE });
const expected: DataplaneSnapshot = new Map([
  ['cali-same', belief([id(1), id(2)])],
  ['cali-changed', belief([id(3), id(4)])],
  ['cali-foreign', belief([id(5), ''])],
  ['cali-shorter', belief([id(6), id(66)])],
  ['mine-same', belief([id(8)])],
  ['cali-gone', belief([id(9)])],
  ['cali-empty', belief([])],
]);

const plain = (r: ReadResult): unknown => [...r.snapshot].map(([n, c]) => [n, [...c.ids], [...c.savedRules]]);

function viaPipe(text: string, expect?: DataplaneSnapshot): Promise<ReadResult> {
  const file = join(mkdtempSync(join(tmpdir(), 'ipts-expected-')), 'dump.txt');
  writeFileSync(file, text);
  const pipe = openSavePipe(CONFIG, expect);
  if (!pipe) throw new Error('addon not loaded');
  try {
    spawn('cat', [file], { stdio: ['ignore', pipe.fd, 'inherit'] });
  } finally {
    pipe.closeWriteEnd();
  }
  return pipe.result;
}

const viaStream = (text: string, expect?: DataplaneSnapshot, implementation: 'native' | 'js' = 'native'): Promise<ReadResult> =>
  readSaveOutput(Readable.from([Buffer.from(text)]), CONFIG, { implementation, nativeBatchBytes: 1, ...(expect ? { expected: expect } : {}) });

it('the addon is loaded', () => {
  expect(nativeInfo().loaded).toBe(true);
});

for (const [how, read] of [
  ['pipe', viaPipe],
  ['stream', viaStream],
] as const) {
  it(`${how}: the same snapshot as without expectations (and as the TypeScript twin)`, async () => {
    const twin = plain(await viaStream(dump, undefined, 'js'));
    expect(plain(await read(dump))).toEqual(twin);
    expect(plain(await read(dump, expected))).toEqual(twin);
  });

  it(`${how}: only historic chains holding exactly the expected IDs, all ours, come back as the caller's own entries`, async () => {
    const { snapshot } = await read(dump, expected);
    expect(snapshot.get('cali-same')).toBe(expected.get('cali-same'));
    // Not historic: its snapshot entry keeps the saved line, which the belief lacks.
    for (const name of ['cali-changed', 'cali-foreign', 'cali-shorter', 'cali-empty', 'mine-same']) {
      expect(snapshot.get(name), name).not.toBe(expected.get(name));
    }
    expect(snapshot.get('cali-changed')?.ids).toEqual([id(3), id(99)]);
    expect(snapshot.get('cali-shorter')?.ids).toEqual([id(6)]);
    expect(snapshot.has('cali-gone')).toBe(false);
    expect(snapshot.get('INPUT')?.ids).toEqual([id(90)]);
  });
}

it('the addon names an unchanged chain by its index in the expectation, and sends neither its name nor its codes', async () => {
  const addon = loadNative();
  if (!addon) throw new Error('addon not loaded');
  // Sent in this order: cali-gone (absent), cali-same (unchanged), cali-changed (changed).
  const sent: NativeExpectedIds = { names: 'cali-gone\ncali-same\ncali-changed', counts: new Uint32Array([1, 2, 2]), ids: id(9) + id(1) + id(2) + id(3) + id(4) };
  const scanner = new addon.Scanner(Buffer.from('cali:'), [Buffer.from('cali-')], false, 0, sent);
  scanner.push(Buffer.from(dump));
  const r = await scanner.finish();
  const { chain } = SCAN_LAYOUT;
  const rows = [];
  for (let c = 0; c + chain.stride <= r.chains.length; c += chain.stride) rows.push(r.chains.subarray(c, c + chain.stride));
  const named = (row: Uint32Array): string => r.text.toString('utf8', row[chain.nameStart], row[chain.nameEnd]);
  const same = rows.find((row) => row[chain.unchanged] !== 0);
  expect(same?.[chain.unchanged]).toBe(2); // cali-same is the second chain sent: index 1, plus one
  expect(same && named(same)).toBe('');
  expect(same?.[chain.ruleCount]).toBe(2);
  expect(rows.filter((row) => row[chain.unchanged] !== 0)).toHaveLength(1);
  // Codes only for the chains that were not found unchanged.
  const codesSent = rows.filter((row) => row[chain.unchanged] === 0).reduce((n, row) => n + (row[chain.ruleCount] ?? 0), 0);
  expect(r.codes.length).toBe(codesSent);
  expect(rows.map(named).filter((n) => n !== '')).toContain('cali-changed');
});

it('an unchanged chain and a byte-different one of the same decoded name: both rule lists, and the belief left as it was', async () => {
  // "cali-\ufffd" as UTF-8, and "cali-" + a lone 0xff byte, which decodes to the same string.
  const replacement = Buffer.from('cali-\ufffd');
  const lone = Buffer.concat([Buffer.from('cali-'), Buffer.from([0xff])]);
  const lines = (name: Buffer, n: number): Buffer => Buffer.concat([Buffer.from('-A '), name, Buffer.from(` -m comment --comment "cali:${id(n)}" -j ACCEPT\n`)]);
  const bytes = Buffer.concat([
    Buffer.from('*filter\n:'), replacement, Buffer.from(' - [0:0]\n:'), lone, Buffer.from(' - [0:0]\n'),
    lines(replacement, 1), lines(replacement, 2), lines(lone, 3), Buffer.from('COMMIT\n'),
  ]);
  const believed = belief([id(1), id(2)]);
  const twin = await readSaveOutput(Readable.from([bytes]), CONFIG, { implementation: 'js' });
  const { snapshot } = await readSaveOutput(Readable.from([bytes]), CONFIG, { implementation: 'native', expected: new Map([['cali-\ufffd', believed]]) });
  expect(plain({ ...twin, snapshot })).toEqual(plain(twin));
  expect(snapshot.get('cali-\ufffd')?.ids).toEqual([id(1), id(2), id(3)]);
  expect(believed.ids).toEqual([id(1), id(2)]);
});

it('the addon refuses expected IDs in a bad shape with a TypeError', () => {
  const addon = loadNative();
  if (!addon) throw new Error('addon not loaded');
  const prefix = Buffer.from('cali:');
  const make = (expect: unknown): void => {
    new addon.Scanner(prefix, [], false, 0, expect as NativeExpectedIds).finish().catch(() => undefined);
  };
  expect(() => make({ names: 'a', counts: new Uint32Array([1]), ids: 'x' })).toThrow(TypeError); // 1 char for 16
  expect(() => make({ names: 'a', counts: new Uint32Array([0]), ids: id(1) })).toThrow(TypeError); // IDs left over
  expect(() => make({ names: 'a', counts: [1], ids: id(1) })).toThrow(TypeError);
  expect(() => make('a')).toThrow(TypeError);
  expect(() => make({ names: 'a', counts: new Uint32Array([1]), ids: id(1) })).not.toThrow();
  expect(() => make(undefined)).not.toThrow();
});

it('the encoding reused block by block across reads is always the plain one (random edits of a belief)', () => {
  const chainOf = (n: number, rules: number): DataplaneChain => belief(Array.from({ length: rules }, (_, r) => id(n * 100 + r)));
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), rules: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), rules: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('remove' as const), at: fc.nat(), rules: fc.constant(0) }),
    fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), rules: fc.constant(0) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 600 }), fc.array(fc.array(edit, { maxLength: 5 }), { minLength: 1, maxLength: 6 }), (size, rounds) => {
      let serial = 0;
      const entries: [string, DataplaneChain][] = Array.from({ length: size }, (_, i) => [`cali-${i}`, chainOf(serial++, 1 + (i % 3))]);
      for (const round of [[], ...rounds]) {
        for (const e of round) {
          const at = entries.length === 0 ? 0 : e.at % entries.length;
          if (e.kind === 'insert' || entries.length === 0) entries.splice(at, 0, [`cali-new-${serial}`, chainOf(serial++, Math.max(1, e.rules))]);
          else if (e.kind === 'replace') entries[at] = [entries[at]![0], chainOf(serial++, e.rules)];
          else if (e.kind === 'remove') entries.splice(at, 1);
          else entries[at] = [`${entries[at]![0]}-renamed`, entries[at]![1]];
        }
        const names = entries.map(([n]) => n);
        const chains = entries.map(([, c]) => c);
        const encoded = encodeInBlocks(names, chains, chains.map((c) => c.ids.join('')));
        expect(encoded.names).toBe(names.join('\n'));
        expect(encoded.ids).toBe(chains.map((c) => c.ids.join('')).join(''));
        expect([...encoded.counts]).toEqual(chains.map((c) => c.ids.length));
      }
    }),
    { numRuns: 200 },
  );
});
