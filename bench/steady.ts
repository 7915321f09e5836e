// `npm run bench:steady`: what a long-running agent sees, which the main bench does not show (it
// runs each phase once, in a fresh process, as an agent's first minute would). Per size and
// backend, in one process and one namespace:
//  - the initial apply of the process's first Table (cold code) and of a second Table in a
//    second namespace (warm code), each next to a bare restore of the same input, with the CPU
//    of the main thread and of V8's worker threads (the JIT compiler and the GC's helpers);
//  - then N rounds on the first Table: a bare save, a resync; a bare save + a bare restore of
//    the lines the change wrote, a one-rule change. Each ratio is the median of the per-round
//    ratios to the floor measured right before it.
//
//   node dist-bench/bench/steady.js [--rules 1000,10000] [--backends legacy,nft] [--rounds 30]
//                                  [--no-write]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Table as TableT } from '../src/table';
import { k, ms, option, table } from './format';
import { lib, ROOT } from './lib';
import { instrumented, median, timeCommand, type CommandRecord, type Instrumented } from './measure';
import { installCleanupHooks, withNetns, type Netns } from './netns';
import type { Backend } from './types';
import { buildChain, buildChains, changedChainIndex, forwardInserts, HASH_PREFIX, HISTORIC_PREFIXES, INSERT_CHAIN } from './workload';

/** Tables whose initial apply runs on warm code (after the process's first). */
const WARM_TABLES = 5;
const NO_LOCK = { lock: (): void => undefined, unlock: (): void => undefined };
/** The restore arguments a Table on these binaries uses (see the main bench's floors). */
const RESTORE_ARGS = ['--noflush', '--verbose', '--wait', '10'];

/** CPU time of each thread of this process so far (ns, from /proc/self/task/<tid>/schedstat). */
function threadCpuNs(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      out.set(tid, Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** CPU ms since `before`: of the main thread, and of all other threads (V8's workers, libuv's,
 *  the addon's that still run; one that started and ended in between is not seen). */
function cpuSince(before: ReadonlyMap<string, number>): { readonly mainMs: number; readonly otherMs: number } {
  let mainMs = 0;
  let otherMs = 0;
  for (const [tid, ns] of threadCpuNs()) {
    const d = (ns - (before.get(tid) ?? 0)) / 1e6;
    if (tid === String(process.pid)) mainMs += d;
    else otherMs += d;
  }
  return { mainMs, otherMs };
}

function newTable(backend: Backend, netns: string, rec: Instrumented): TableT {
  return new lib.Table('filter', 4, HASH_PREFIX, NO_LOCK, {
    netns,
    backend,
    historicChainPrefixes: HISTORIC_PREFIXES,
    insertMode: 'insert',
    refreshIntervalMs: 0,
    // No re-check of its own between rounds: each read is the one measured.
    postWriteIntervalMs: 1e9,
    commandFactory: rec.factory,
  });
}

function commit(): string {
  try {
    return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const isRestore = (r: CommandRecord): boolean => /restore$/.test(r.program);
const pause = (msDelay: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, msDelay));

interface InitialApply {
  readonly e2eMs: number;
  readonly floorMs: number;
  /** From the first updateChain: the save's spawn, the save's exit, the restore's spawn, its
   *  input all written ('finish'), its exit. */
  readonly timeline: readonly number[];
  readonly mainCpuMs: number;
  readonly otherCpuMs: number;
}

/** One Table's initial apply, end to end (its updateChain calls + apply()), then the bare
 *  restore of the input it wrote into a second empty namespace. */
async function initialApply(backend: Backend, ns: Netns, floorNs: Netns, rules: number, rec: Instrumented): Promise<{ readonly t: TableT; readonly result: InitialApply }> {
  const t = newTable(backend, ns.name, rec);
  const chains = buildChains(rules / 10);
  await pause(50); // the build's garbage is not the apply's
  const before = rec.records.length;
  const cpu0 = threadCpuNs();
  const t0 = performance.now();
  for (const chain of chains) t.updateChain(chain);
  t.setRuleInsertions(INSERT_CHAIN, forwardInserts());
  await t.apply();
  const e2eMs = performance.now() - t0;
  const cpu = cpuSince(cpu0);
  const restore = rec.records.slice(before).find(isRestore);
  const save = rec.records.slice(before).find((r) => /save$/.test(r.program));
  if (!restore?.stdinComplete || !save) throw new Error('the initial apply ran no save and restore, or its input was not kept');
  const floor = await timeCommand(floorNs.name, `iptables-${backend}-restore`, RESTORE_ARGS, restore.stdin.join(''));
  const timeline = [save.startMs, save.endMs, restore.startMs, restore.stdinFinishMs, restore.endMs].map((at) => at - t0);
  return { t, result: { e2eMs, floorMs: floor.wallMs, timeline, mainCpuMs: cpu.mainMs, otherCpuMs: cpu.otherMs } };
}

interface Round {
  readonly ms: number;
  readonly floorMs: number;
}

interface SteadyResult {
  readonly rules: number;
  readonly backend: Backend;
  readonly cold: InitialApply;
  /** Medians over WARM_TABLES Tables made after the first. */
  readonly warm: readonly InitialApply[];
  readonly resync: readonly Round[];
  readonly change: readonly Round[];
}

async function measureSize(backend: Backend, rules: number, rounds: number): Promise<SteadyResult> {
  // Inputs up to 16 MiB are kept: the floors replay them.
  const rec = instrumented(1 << 24);
  return withNetns(`st${k(rules)}${backend}a`, (ns) =>
    withNetns(`st${k(rules)}${backend}f`, async (floorNs) => {
      const { t, result: cold } = await initialApply(backend, ns, floorNs, rules, rec);
      // Warm: more Tables, each in a namespace of its own with an empty one for its floor.
      const warm: InitialApply[] = [];
      for (let i = 0; i < WARM_TABLES; i++) {
        const run = await withNetns(`st${k(rules)}${backend}w`, (target) => withNetns(`st${k(rules)}${backend}h`, (empty) => initialApply(backend, target, empty, rules, rec)));
        run.t.close();
        warm.push(run.result);
      }
      const resync: Round[] = [];
      const change: Round[] = [];
      const save = `iptables-${backend}-save`;
      for (let i = 0; i < rounds; i++) {
        await pause(20);
        const bareSave = await timeCommand(ns.name, save, ['-t', 'filter']);
        await pause(20);
        t.invalidateDataplaneCache('bench: steady resync');
        let t0 = performance.now();
        await t.apply();
        resync.push({ ms: performance.now() - t0, floorMs: bareSave.wallMs });

        await pause(20);
        const before = rec.records.length;
        t.updateChain(buildChain(changedChainIndex(rules / 10), rules / 10, i % 2 === 0));
        t0 = performance.now();
        await t.apply();
        const changeMs = performance.now() - t0;
        const restore = rec.records.slice(before).find(isRestore);
        if (!restore?.stdinComplete) throw new Error('the one-rule change wrote nothing');
        // Its floor: a bare save and a bare restore of the very lines it wrote, into floorNs
        // (which holds the same chains: the cold floor restored the initial input there).
        await pause(20);
        const floorSave = await timeCommand(ns.name, save, ['-t', 'filter']);
        const floorRestore = await timeCommand(floorNs.name, `iptables-${backend}-restore`, RESTORE_ARGS, restore.stdin.join(''));
        change.push({ ms: changeMs, floorMs: floorSave.wallMs + floorRestore.wallMs });
      }
      t.close();
      return { rules, backend, cold, warm, resync, change };
    }),
  );
}

/** The timeline's points, each the median over the applies. */
const timelineText = (applies: readonly InitialApply[]): string => [0, 1, 2, 3, 4].map((i) => ms(median(applies.map((a) => a.timeline[i] as number)))).join(' → ');

const ratioOf = (rounds: readonly Round[]): number => median(rounds.map((r) => r.ms / r.floorMs));

function report(results: readonly SteadyResult[], md: boolean): string {
  const x = (r: number): string => `${r.toFixed(2)}×`;
  const initial = table(
    ['rules', 'backend', 'Table', 'initial apply end to end ms', 'bare restore ms', '× floor', 'main thread CPU ms', 'other threads CPU ms', 'save spawned → exited → restore spawned → fed → exited (ms from the first updateChain)'],
    results.flatMap((r) =>
      [
        [k(r.rules), r.backend, "the process's first", ms(r.cold.e2eMs), ms(r.cold.floorMs), x(r.cold.e2eMs / r.cold.floorMs), ms(r.cold.mainCpuMs), ms(r.cold.otherCpuMs), timelineText([r.cold])],
        [
          k(r.rules),
          r.backend,
          `${r.warm.length} more, one after another (medians)`,
          ms(median(r.warm.map((a) => a.e2eMs))),
          ms(median(r.warm.map((a) => a.floorMs))),
          x(median(r.warm.map((a) => a.e2eMs / a.floorMs))),
          ms(median(r.warm.map((a) => a.mainCpuMs))),
          ms(median(r.warm.map((a) => a.otherCpuMs))),
          timelineText(r.warm),
        ],
      ],
    ),
    md,
  );
  const steady = table(
    ['rules', 'backend', 'rounds', 'resync ms', 'bare save ms', 'resync × floor', 'one-rule change ms', 'bare save + restore ms', 'change × floor'],
    results.map((r) => [
      k(r.rules),
      r.backend,
      String(r.resync.length),
      ms(median(r.resync.map((x) => x.ms))),
      ms(median(r.resync.map((x) => x.floorMs))),
      x(ratioOf(r.resync)),
      ms(median(r.change.map((x) => x.ms))),
      ms(median(r.change.map((x) => x.floorMs))),
      x(ratioOf(r.change)),
    ]),
    md,
  );
  return [initial, '', steady].join('\n');
}

async function main(): Promise<void> {
  installCleanupHooks();
  const sizes = (option('--rules') ?? '1000,10000').split(',').map(Number);
  const backends = (option('--backends') ?? 'legacy,nft').split(',') as Backend[];
  const rounds = Number(option('--rounds') ?? 30);
  const results: SteadyResult[] = [];
  for (const rules of sizes) {
    for (const backend of backends) {
      process.stderr.write(`  steady state: ${k(rules)} rules, ${backend}, ${rounds} rounds\n`);
      results.push(await measureSize(backend, rules, rounds));
    }
  }
  process.stdout.write(`${report(results, false)}\n`);
  if (!process.argv.includes('--no-write')) {
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const head = `Run: ${new Date().toISOString()}, \`npm run bench:steady -- ${process.argv.slice(2).join(' ')}\`, commit ${commit()}, load average ${JSON.stringify(loadavg().map((l) => +l.toFixed(2)))}.\n\n`;
    writeFileSync(join(dir, 'steady.md'), `${head}${report(results, true)}\n`);
    writeFileSync(join(dir, 'steady.json'), JSON.stringify(results, null, 1));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
