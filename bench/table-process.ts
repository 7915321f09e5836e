// The process under test: it holds only what a user's process would (the workload's Chains and
// one Table) plus a thin instrumented command factory, so its wall/CPU/RSS/event-loop numbers are
// the library's, not the benchmark harness's. The worker (bench/worker.ts) forks one per run and
// drives it over IPC, one phase at a time; it runs the floors and the "other process" itself.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import type { Chain as ChainT } from '../src/rule';
import type { Table as TableT } from '../src/table';
import { lib } from './lib';
import { gc, instrumented, measure, peakRssMb, resetPeakRss } from './measure';
import type { Backend, Phase, PhaseResult } from './types';
import { buildChain, buildChains, changedChainIndex, forwardInserts, HASH_PREFIX, HISTORIC_PREFIXES, INSERT_CHAIN } from './workload';

export type Request =
  | { readonly cmd: 'setup'; readonly chains: number; readonly backend: Backend; readonly netns: string }
  | { readonly cmd: 'phase'; readonly phase: Phase };

export type Reply =
  | { readonly ok: true; readonly setup: { readonly buildMs: number; readonly peakRssMb: number; readonly rssMb: number } }
  | { readonly ok: true; readonly phase: PhaseResult; readonly input: string | null; readonly profiled?: Profiled }
  | { readonly ok: false; readonly error: string };

/** Restore inputs larger than this are only counted (the worker renders the initial one itself). */
const KEEP_INPUT_BYTES = 1 << 20;
const NO_LOCK = { lock: (): void => undefined, unlock: (): void => undefined };

/** Where a phase's CPU profile went, and when apply() ran in it (ms from the profile's start). */
export interface Profiled {
  readonly file: string;
  readonly applyFromMs: number;
  readonly applyToMs: number;
  /** When a 1 ms JS interval fired during apply() (ms from the profile's start): the loop's turns. */
  readonly turnsMs: readonly number[];
}

let table: TableT | undefined;
let n = 0;
/** The workload's chains, built in set-up; the initial phase hands them to the Table. */
let pending: readonly ChainT[] = [];
const rec = instrumented(KEEP_INPUT_BYTES);

/** With IPTS_BENCH_CPU_PROFILE=<prefix> (bench --profile), every phase (for the initial one:
 *  the updateChain calls and apply) runs under the V8 CPU profiler, and the profile is written
 *  to <prefix>.<phase>.cpuprofile. */
const PROFILE_PREFIX = process.env.IPTS_BENCH_CPU_PROFILE;
/** Asked for 100 µs: V8's sampler thread sleeps about 100 µs more per sample here, so samples
 *  land about 200 µs apart, fine enough to see a stall of a few ms in pieces. */
const SAMPLING_INTERVAL_US = 100;

/** The clock of the profile's startTime and timeDeltas (CLOCK_MONOTONIC, µs). */
const clockUs = (): number => Number(process.hrtime.bigint() / 1000n);

function post(session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (error: Error | null, result?: unknown) => (error ? reject(error) : resolve(result))),
  );
}

async function startProfiler(): Promise<Session> {
  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await post(session, 'Profiler.start');
  return session;
}

/** Writes the profile to `file`; returns its startTime (µs, on clockUs's clock). */
async function stopProfiler(session: Session, file: string): Promise<number> {
  const { profile } = (await post(session, 'Profiler.stop')) as { profile: { startTime: number } };
  session.disconnect();
  writeFileSync(file, JSON.stringify(profile));
  return profile.startTime;
}

function bodyLineCount(input: string): number {
  return input.split('\n').filter((l) => l !== '' && !l.startsWith('*') && l !== 'COMMIT').length;
}

async function handle(req: Request): Promise<Reply> {
  if (req.cmd === 'setup') {
    gc();
    resetPeakRss();
    const t0 = performance.now();
    n = req.chains;
    table = new lib.Table('filter', 4, HASH_PREFIX, NO_LOCK, {
      netns: req.netns,
      backend: req.backend,
      historicChainPrefixes: HISTORIC_PREFIXES,
      insertMode: 'insert',
      refreshIntervalMs: 0,
      postWriteIntervalMs: 50,
      commandFactory: rec.factory,
    });
    // The caller builds its Chains here; the updateChain calls are part of the initial phase
    // (end to end: from the first updateChain to the resolved apply()).
    pending = buildChains(n);
    const buildMs = performance.now() - t0;
    return { ok: true, setup: { buildMs, peakRssMb: peakRssMb(), rssMb: process.memoryUsage().rss / 1048576 } };
  }
  const t = table;
  if (!t) throw new Error('phase before setup');
  let before: (() => void) | undefined;
  switch (req.phase) {
    case 'initialApply':
      // The reference workload's order of calls: UpdateChain i = 0..N-1, then the insert.
      before = () => {
        for (const chain of pending) t.updateChain(chain);
        t.setRuleInsertions(INSERT_CHAIN, forwardInserts());
        pending = [];
      };
      break;
    case 'changeOneRuleApply':
      t.updateChain(buildChain(changedChainIndex(n), n, true));
      break;
    case 'resyncNoChangeApply':
      t.invalidateDataplaneCache('bench: resync');
      break;
    case 'repairAfterExternalDelete':
      // The worker has just deleted one of our rules from another process.
      t.invalidateDataplaneCache('bench: resync after an external delete');
      break;
  }
  const profiler = PROFILE_PREFIX !== undefined ? await startProfiler() : undefined;
  let applyFromUs = NaN;
  let applyToUs = NaN;
  // Preallocated, so that marking a turn allocates nothing (2^16 turns: over a minute of apply).
  const turnsUs = new Float64Array(1 << 16);
  let turns = 0;
  const apply = profiler
    ? (): Promise<unknown> => {
        applyFromUs = clockUs();
        const ticker = setInterval(() => {
          if (turns < turnsUs.length) turnsUs[turns++] = clockUs();
        }, 1);
        return t.apply().finally(() => {
          applyToUs = clockUs();
          clearInterval(ticker);
        });
      }
    : (): Promise<unknown> => t.apply();
  const { restoreInputs, restoreInputsComplete, ...rest } = await measure(rec, apply, before);
  let profiled: Profiled | undefined;
  if (profiler) {
    const file = `${PROFILE_PREFIX as string}.${req.phase}.cpuprofile`;
    const startUs = await stopProfiler(profiler, file);
    const sinceStart = (us: number): number => (us - startUs) / 1000;
    profiled = { file, applyFromMs: sinceStart(applyFromUs), applyToMs: sinceStart(applyToUs), turnsMs: Array.from(turnsUs.subarray(0, turns), sinceStart) };
  }
  const input = restoreInputsComplete ? restoreInputs.join('') : null;
  return {
    ok: true,
    phase: { ...rest, restoreLines: input !== null ? bodyLineCount(input) : -1, rssAfterMb: process.memoryUsage().rss / 1048576 },
    input,
    ...(profiled ? { profiled } : {}),
  };
}

process.on('message', (req: Request) => {
  handle(req).then(
    (reply) => process.send?.(reply),
    (error: unknown) => process.send?.({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
