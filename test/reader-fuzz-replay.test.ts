// Replays the fuzzing seeds (fuzz/seeds: real dumps of both backends) and every input the
// fuzzer ever flagged (fuzz/regressions) through the public readSaveOutput, with the native
// scanner and the TypeScript twin, whole and in the chunking the harness used: both must give
// the same snapshot, or reject with the same TruncatedDumpError message; neither may crash.
//
// The 4-byte header is decoded exactly as fuzz/save_scanner_fuzzer.cc does.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeInfo } from '../src/native';
import { readSaveOutput, TruncatedDumpError, type ReaderConfig } from '../src/reader';

const HASH_PREFIXES = ['cali:', 'ipts:', 'c', 'cali:cali:', '"', '-', '--comment ', 'é:'];
const HISTORIC_SETS: string[][] = [['cali-'], [], ['cali-', 'KUBE-'], ['-'], ['c'], ['cali-', 'cali-pi-', 'ipts-'], ['"'], ['-j']];

interface Case {
  readonly config: ReaderConfig;
  readonly chunkSeed: number;
  readonly dump: Buffer;
}

function decode(input: Buffer): Case {
  if (input.length < 4) return { config: { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'] }, chunkSeed: 0, dump: input };
  const flags = input[0] as number;
  return {
    config: {
      hashPrefix: HASH_PREFIXES[(input[1] as number) % HASH_PREFIXES.length] as string,
      historicChainPrefixes: HISTORIC_SETS[(input[2] as number) % HISTORIC_SETS.length] as string[],
      // The harness only switches report_unmatched; through the public API that is "an extra
      // cleanup pattern is set". This one matches nothing a scanner could mistake for ours.
      ...(flags & 1 ? { extraCleanupPattern: 'KUBE-MARK-(DROP|MASQ)' } : {}),
    },
    chunkSeed: flags >> 1,
    dump: input.subarray(4),
  };
}

/** The harness's chunking: sizes 0..31 from an LCG seeded by the header. */
function harnessChunks(dump: Buffer, seed: number): Buffer[] {
  const chunks: Buffer[] = [];
  let state = (0x9e3779b9 ^ seed) >>> 0;
  let at = 0;
  while (at < dump.length) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const n = (state >>> 24) % 32;
    const take = Math.min(n, dump.length - at);
    chunks.push(dump.subarray(at, at + take));
    at += take;
  }
  return chunks;
}

async function* from(chunks: readonly Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

type Outcome = { ok: true; chains: [string, string[], [number, string][]][] } | { ok: false; type: string; message: string };

async function read(chunks: readonly Buffer[], config: ReaderConfig, implementation: 'native' | 'js'): Promise<Outcome> {
  try {
    const r = await readSaveOutput(from(chunks), config, { implementation, nativeBatchBytes: 1 });
    expect(r.implementation).toBe(implementation);
    return { ok: true, chains: [...r.snapshot].map(([name, c]) => [name, [...c.ids], [...c.savedRules]]) };
  } catch (e) {
    return { ok: false, type: (e as Error).name, message: (e as Error).message };
  }
}

const dirs = ['seeds', 'regressions'].map((d) => join(__dirname, '..', 'fuzz', d));
const files = dirs.flatMap((d) => {
  try {
    return readdirSync(d)
      .filter((f) => !f.startsWith('.') && f !== 'README.md')
      .map((f) => join(d, f));
  } catch {
    return [];
  }
});

it('the addon is loaded, so the native scanner really is compared', () => {
  expect(nativeInfo().loaded).toBe(true);
});

it('has the real-dump seeds of both backends', () => {
  const names = files.map((f) => f.split('/').pop());
  for (const backend of ['legacy', 'nft']) expect(names).toContain(`${backend}-v4-all.dump`);
});

describe.each(files.map((f) => [f.split('/').slice(-2).join('/'), f]))('%s', (_label, file) => {
  it('native and TypeScript readers agree, whole and chunked, and never crash', async () => {
    const { config, chunkSeed, dump } = decode(readFileSync(file));
    const whole = await read([dump], config, 'native');
    const outcomes = [
      await read([dump], config, 'js'),
      await read(harnessChunks(dump, chunkSeed), config, 'native'),
      await read(harnessChunks(dump, chunkSeed), config, 'js'),
      await read([...dump].map((b) => Buffer.from([b])), config, 'native'),
    ];
    for (const o of outcomes) expect(o).toEqual(whole);
    if (!whole.ok) expect(whole.type).toBe(TruncatedDumpError.name);
  });
});
