// Leak checks of the native addon through the public API: 10k lock grab/release cycles and 1k
// reader runs (per implementation) leave the open fds (/proc/self/fd) exactly as they were and
// the RSS after a full GC within a small bound. The same primitives are checked at C++ level
// under LeakSanitizer by fuzz/leakcheck.cc (npm run fuzz).
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grabIptablesLocks, SharedLock, tryBindAbstractOnce, tryFlockOnce } from '../src/locks';
import { nativeInfo } from '../src/native';
import { openSavePipe, readSaveOutput, TruncatedDumpError } from '../src/reader';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// Inside the measured loops: vitest's expect() keeps per-assertion state, which would show up
// as heap growth of its own.
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

const fdCount = (): number => readdirSync('/proc/self/fd').length;
const openFds = (): string[] =>
  readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd} (gone)`;
    }
  });

async function settled(): Promise<{ rss: number; js: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, js: m.heapUsed + m.external };
}

/** Runs `cycles` after a warm-up and returns fd and RSS growth across them. */
async function measure(label: string, warmup: () => Promise<void>, cycles: () => Promise<void>): Promise<{ rssMb: number; jsMb: number; before: string[]; after: string[] }> {
  await warmup();
  const m0 = await settled();
  const before = openFds();
  await cycles();
  const m1 = await settled();
  const after = openFds();
  const mb = (n: number): string => (n / 2 ** 20).toFixed(1);
  console.log(`[leak] ${label}: fds ${before.length} -> ${after.length}, RSS after GC ${mb(m0.rss)} -> ${mb(m1.rss)} MB, V8 heap+external ${mb(m0.js)} -> ${mb(m1.js)} MB`);
  return { rssMb: (m1.rss - m0.rss) / 2 ** 20, jsMb: (m1.js - m0.js) / 2 ** 20, before, after };
}

// RSS includes the allocator's high-water mark: with the scan on libuv's worker threads, glibc's
// per-thread arenas step RSS up by ~10-20 MB during the first few thousand reads of a 180 kB
// dump and then stay flat (measured: 86 MB after 6k, 9k and 25k runs). So RSS gets a bound that
// a real leak breaks (1k runs x 180 kB = 180 MB if the dump leaked), and the exact figures are
// V8's heap + external memory (every Buffer and addon result) after a full GC, plus LeakSanitizer
// on the C++ side (fuzz/leakcheck.cc).
const RSS_BOUND_MB = 40;
const JS_BOUND_MB = 2;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipts-leak-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

it('the addon is loaded', () => {
  expect(nativeInfo().loaded).toBe(true);
});

describe('locks', () => {
  it('10k try-once flock + abstract-socket cycles (and 1k busy attempts) leak no fd and no memory', async () => {
    const path = join(dir, 'a.lock');
    const socket = `@ipts-leak-${randomBytes(4).toString('hex')}`;
    const cycle = (n: number) => async () => {
      for (let i = 0; i < n; i++) {
        const f = tryFlockOnce(path);
        const s = tryBindAbstractOnce(socket);
        if (!f || !s) throw new Error('lock unexpectedly busy');
        if (i % 10 === 0) {
          // The busy path opens and closes an fd too.
          check(tryFlockOnce(path) === undefined, 'flock busy');
          check(tryBindAbstractOnce(socket) === undefined, 'socket busy');
        }
        s.release();
        f.release();
        f.release(); // idempotent
      }
    };
    const m = await measure('10k try-once cycles', cycle(1000), cycle(10_000));
    expect(m.after).toEqual(m.before);
    expect(m.rssMb).toBeLessThan(RSS_BOUND_MB);
    expect(m.jsMb).toBeLessThan(JS_BOUND_MB);
  });

  it('10k grabIptablesLocks/close cycles, SharedLock cycles and 1k timeouts leak no fd and no memory', async () => {
    const path = join(dir, 'b.lock');
    const socket = `@ipts-leak-${randomBytes(4).toString('hex')}`;
    const shared = new SharedLock(path, 1000, 5, socket);
    const cycle = (n: number) => async () => {
      for (let i = 0; i < n; i++) {
        const locker = await grabIptablesLocks(path, socket, 1000, 5);
        if (i % 10 === 0) {
          // Contended: a zero timeout fails at once with the typed error, holding nothing.
          const e = await grabIptablesLocks(path, socket, 0, 5).then(() => undefined, (err: Error) => err);
          check(e?.name === 'Err16LockTimeout', 'Err16LockTimeout');
        }
        locker.close();
        await shared.lock();
        await shared.lock();
        shared.unlock();
        shared.unlock();
      }
    };
    const m = await measure('10k grab/SharedLock cycles', cycle(1000), cycle(10_000));
    expect(shared.held).toBe(false);
    expect(m.after).toEqual(m.before);
    expect(m.rssMb).toBeLessThan(RSS_BOUND_MB);
    expect(m.jsMb).toBeLessThan(JS_BOUND_MB);
  });

  it('handles dropped without release() are closed by garbage collection', async () => {
    const path = join(dir, 'c.lock');
    const before = fdCount();
    for (let i = 0; i < 1000; i++) {
      // A different file each time, so dropped (still locked) handles do not block the next.
      tryFlockOnce(`${path}.${i}`);
      tryBindAbstractOnce(`@ipts-drop-${process.pid}-${i}`);
    }
    expect(fdCount()).toBeGreaterThanOrEqual(before + 2000);
    for (let i = 0; i < 20 && fdCount() > before; i++) await settled();
    expect(fdCount()).toBe(before);
  });
});

describe('reader', () => {
  const seed = readFileSync(join(__dirname, '..', 'fuzz', 'seeds', 'legacy-v4-all.dump')).subarray(4);
  // A realistic dump of ~2k rules: the seed's filter rules repeated in many chains.
  const big = Buffer.from(
    [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ...Array.from({ length: 100 }, (_, c) => `:cali-c${c} - [0:0]`),
      ...Array.from({ length: 100 }, (_, c) =>
        Array.from({ length: 20 }, (_, r) => `-A cali-c${c} -m comment --comment "cali:${randomBytes(12).toString('base64url')}" -p tcp -m multiport --dports ${r} -j ACCEPT`).join('\n'),
      ),
      `-A INPUT -m comment --comment "cali:${'x'.repeat(16)}" -j cali-c0`,
      'COMMIT',
      '',
    ].join('\n'),
  );
  const cut = big.subarray(0, big.length >> 1);
  const config = { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'] };

  function chunked(buf: Buffer, size: number): Readable {
    const chunks: Buffer[] = [];
    for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
    return Readable.from(chunks);
  }

  it('1k native pipe reads (the addon reading a child\'s stdout: whole, truncated, cancelled mid-read) leak no fd and no memory', async () => {
    const file = join(dir, 'big.dump');
    writeFileSync(file, big);
    writeFileSync(join(dir, 'cut.dump'), cut);
    // One child per read, as the Table does: `cat` writes the dump into the pipe's write end.
    const readOnce = async (i: number): Promise<void> => {
      const pipe = openSavePipe(config);
      check(pipe !== undefined, 'addon loaded');
      const p = pipe as NonNullable<typeof pipe>;
      const kind = i % 3;
      const child = spawn(kind === 2 ? 'sleep' : 'cat', kind === 2 ? ['5'] : [kind === 0 ? file : join(dir, 'cut.dump')], { stdio: ['ignore', p.fd, 'ignore'] });
      p.closeWriteEnd();
      const exited = new Promise((r) => child.once('close', r));
      if (kind === 2) {
        // A child that hangs holding the write end: the Table's timeout kills it and cancels.
        p.cancel();
        child.kill('SIGKILL');
      }
      const r = await p.result.then(
        (v) => v,
        (e: Error) => e,
      );
      await exited;
      if (kind === 0) check(!(r instanceof Error) && r.snapshot.get('cali-c99')?.ids.length === 20, '20 rules');
      else if (kind === 1) check(r instanceof TruncatedDumpError, 'TruncatedDumpError');
      else check(r instanceof Error && r.name === 'ReadCancelledError', 'ReadCancelledError');
    };
    const runs = (n: number) => async () => {
      for (let i = 0; i < n; i++) await readOnce(i);
    };
    const m = await measure('1k native pipe reads', runs(100), runs(1000));
    expect(m.after).toEqual(m.before);
    expect(m.rssMb).toBeLessThan(RSS_BOUND_MB);
    expect(m.jsMb).toBeLessThan(JS_BOUND_MB);
  });

  for (const implementation of ['native', 'js'] as const) {
    it(`1k ${implementation} reader runs (whole, chunked, truncated, failing stream) leak no fd and no memory`, async () => {
      const runs = (n: number) => async () => {
        for (let i = 0; i < n; i++) {
          switch (i % 4) {
            case 0: {
              const r = await readSaveOutput(Readable.from([big]), config, { implementation, nativeBatchBytes: 4096 });
              check(r.snapshot.get('cali-c99')?.ids.length === 20, '20 rules');
              break;
            }
            case 1:
              await readSaveOutput(chunked(seed, 97), config, { implementation, nativeBatchBytes: 1 });
              break;
            case 2:
              const e = await readSaveOutput(chunked(cut, 65536), config, { implementation }).then(() => undefined, (err: Error) => err);
              check(e instanceof TruncatedDumpError, 'TruncatedDumpError');
              break;
            default: {
              // The stream dies mid-dump: the scanner is dropped with bytes queued.
              async function* dying(): AsyncGenerator<Buffer> {
                yield big.subarray(0, 100_000);
                throw new Error('EPIPE');
              }
              const e = await readSaveOutput(dying(), config, { implementation, nativeBatchBytes: 1 }).then(() => undefined, (err: Error) => err);
              check(e?.message === 'EPIPE', 'stream error passed on');
            }
          }
        }
      };
      const m = await measure(`1k ${implementation} reader runs`, runs(100), runs(1000));
      expect(m.after).toEqual(m.before);
      expect(m.rssMb).toBeLessThan(RSS_BOUND_MB);
    expect(m.jsMb).toBeLessThan(JS_BOUND_MB);
    });
  }
});
