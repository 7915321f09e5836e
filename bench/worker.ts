// One (size, backend) of the benchmark, in its own Node process so that its peak RSS, heap and
// JIT state are its own. Started by bench/run.ts; writes its results as JSON to --out.
//
//   node --expose-gc dist-bench/bench/worker.js --rules 10000 --backend nft --runs 3 \
//        --tag <run pid>-<k> --out <file> [--naive] [--micro-only]
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Chain, RuleSpec } from '../src/rule';
import type { Profiled, Reply, Request } from './table-process';
import { commands, hash, lib, native, plan, reader } from './lib';
import { gc, median as medianOf, peakRssMb, resetPeakRss, timeCommand, type Timed } from './measure';
import { installCleanupHooks, type Netns, scratchDir, withNetns } from './netns';
import { busyStretches, longestTurnMs, summarizeProfile, type BusyStretch, type CpuProfile } from './profile';
import { PHASES, type Backend, type FloorRun, type ProfiledPhase, type ProfileRun, type Micro, type NaiveRun, type Phase, type PhaseResult, type WorkerResult } from './types';
import {
  buildChain,
  buildChains,
  chainName,
  changedChainIndex,
  externallyEditedChainIndex,
  EXTERNALLY_DELETED_RULE_NUM,
  forwardInserts,
  HASH_PREFIX,
  HISTORIC_PREFIXES,
  INSERT_CHAIN,
  ruleSpecs,
} from './workload';

function parseArgs(argv: readonly string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[a.slice(2)] = next;
      i++;
    } else out[a.slice(2)] = true;
  }
  return out;
}

const log = (msg: string): void => void process.stderr.write(`  [${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function bodyLines(input: string): string[] {
  return input.split('\n').filter((l) => l !== '' && !l.startsWith('*') && l !== 'COMMIT');
}

/** Splits a restore line into argv as iptables-restore does (double quotes group words). */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? (m[2] as string));
  return out;
}

// --- our Table: the four phases in one fresh namespace ---------------------------------------

interface PairedRun {
  readonly phases: Record<Phase, PhaseResult>;
  readonly floors: FloorRun;
  /** Building the workload and the Table's updateChain calls, in the process under test. */
  readonly setup?: { readonly buildMs: number; readonly peakRssMb: number; readonly rssMb: number };
  /** A real dump of the full table (for the reader's microbenchmark). */
  readonly dump: string;
  readonly verified: string;
}

/** A forked process under test (bench/table-process.ts), driven one request at a time. */
class TableProcess {
  private readonly child: ChildProcess;
  private pending: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;

  constructor(lockFile: string, extraEnv: NodeJS.ProcessEnv = {}) {
    this.child = fork(join(__dirname, 'table-process.js'), [], {
      execArgv: ['--expose-gc'],
      env: { ...process.env, XTABLES_LOCKFILE: lockFile, ...extraEnv },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (reply: Reply) => {
      const p = this.pending;
      this.pending = undefined;
      p?.resolve(reply);
    });
    this.child.on('exit', (code, signal) => {
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new Error(`process under test exited with ${code ?? signal}`));
    });
  }

  async call(req: Request): Promise<Reply & { ok: true }> {
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(req);
    });
    if (!reply.ok) throw new Error(`process under test: ${reply.error}`);
    return reply;
  }

  async phase(phase: Phase): Promise<{ result: PhaseResult; input: string | null; profiled?: Profiled }> {
    const reply = await this.call({ cmd: 'phase', phase });
    if (!('phase' in reply)) throw new Error('unexpected reply');
    return { result: reply.phase, input: reply.input, ...(reply.profiled ? { profiled: reply.profiled } : {}) };
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** The idle Node process (bench/idle-probe.ts) that runs beside each floor. */
class IdleProbe {
  private readonly child: ChildProcess = fork(join(__dirname, 'idle-probe.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

  private ask<T>(msg: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error('idle probe exited'));
      this.child.once('exit', onExit);
      this.child.once('message', (reply: T) => {
        this.child.off('exit', onExit);
        resolve(reply);
      });
      this.child.send(msg);
    });
  }

  /** Runs fn (a bare restore or save) while the probe watches its own event loop; returns fn's
   *  result and the probe's longest event-loop delay (ms) meanwhile. */
  async beside<T>(fn: () => Promise<T>): Promise<[T, number]> {
    await this.ask<string>('start');
    const result = await fn();
    const { maxMs } = await this.ask<{ maxMs: number }>('stop');
    return [result, maxMs];
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** The initial restore input, rendered here (the process under test only counts its bytes). */
function initialInputOf(n: number): string {
  const desired = new Map(buildChains(n).map((c) => [c.name, c]));
  return plan.computePlan({
    table: 'filter',
    hashPrefix: HASH_PREFIX,
    insertMode: 'insert',
    desiredChains: desired,
    insertRules: new Map([[INSERT_CHAIN, forwardInserts()]]),
    dirtyChains: new Set(desired.keys()),
    dirtyInserts: new Set([INSERT_CHAIN]),
    dataplane: new Map(),
  }).input;
}

/** What "another process" runs (as iptables-<backend>) before the repair phase: it deletes one of our rules. */
function externalDeleteArgs(n: number): string[] {
  return ['-w', '-t', 'filter', '-D', chainName(externallyEditedChainIndex(n)), String(EXTERNALLY_DELETED_RULE_NUM)];
}

/**
 * One run: our Table's four phases (in a forked process under test) in one fresh namespace, each
 * followed at once by its floor in a second fresh namespace that holds the same rules at every
 * step (the floor replays exactly the bytes our Table just wrote). Pairing each phase with its
 * floor seconds apart keeps the ratio honest on a noisy machine. Then the restore variants, each
 * into its own empty namespace.
 */
async function runPaired(tag: string, backend: Backend, n: number, initialInput: string, fullRewriteInput: string): Promise<PairedRun> {
  const restoreBin = `iptables-${backend}-restore`;
  const saveBin = `iptables-${backend}-save`;
  const deleteArgs = externalDeleteArgs(n);
  const result = await withNetns(tag, (ours) =>
    withNetns(tag, async (floor) => {
      const tp = new TableProcess(ours.lockFile);
      const idle = new IdleProbe();
      try {
        const setupReply = await tp.call({ cmd: 'setup', chains: n, backend, netns: ours.name });
        const setup = 'setup' in setupReply ? setupReply.setup : undefined;
        const phases = {} as Record<Phase, PhaseResult>;
        const apply = async (phase: Phase): Promise<string | null> => {
          const { result: r, input } = await tp.phase(phase);
          phases[phase] = r;
          return input;
        };
        floor.useLockFile();

        await apply('initialApply');
        const initial = phases.initialApply;
        if (initial.restoreBytes !== Buffer.byteLength(initialInput)) {
          throw new Error(`our Table wrote ${initial.restoreBytes} bytes for the initial apply, the bench rendered ${Buffer.byteLength(initialInput)}`);
        }
        phases.initialApply = { ...initial, restoreLines: bodyLines(initialInput).length };
        // The empty table as the Table's first read saw it (its bytes: the Table's own reader
        // may take the save's stdout straight into the addon, where it cannot be counted).
        const emptySave = await timeCommand(floor.name, saveBin, ['-t', 'filter']);
        const [restore, idleRestore] = await idle.beside(() => timeCommand(floor.name, restoreBin, [], initialInput));

        const changeInput = await apply('changeOneRuleApply');
        if (changeInput === null) throw new Error('change phase input too big to keep');
        const [[changeSave, changeRestore], idleChange] = await idle.beside(async () => [
          await timeCommand(floor.name, saveBin, ['-t', 'filter']),
          await timeCommand(floor.name, restoreBin, ['--noflush'], changeInput),
        ] as const);

        await apply('resyncNoChangeApply');
        const [save, idleSave] = await idle.beside(() => timeCommand(floor.name, saveBin, ['-t', 'filter'], '', true));

        // "Another process" deletes one of our rules (in both namespaces); the resync repairs it.
        await ours.execOk(`iptables-${backend}`, deleteArgs);
        await floor.execOk(`iptables-${backend}`, deleteArgs);
        const repairInput = await apply('repairAfterExternalDelete');
        if (repairInput === null) throw new Error('repair phase input too big to keep');
        const [[repairSave, repairRestore], idleRepair] = await idle.beside(async () => [
          await timeCommand(floor.name, saveBin, ['-t', 'filter']),
          await timeCommand(floor.name, restoreBin, ['--noflush'], repairInput),
        ] as const);

        const fullRewrite = await timeCommand(floor.name, restoreBin, [], fullRewriteInput);
        await verify(floor, backend, n);
        const verified = await verify(ours, backend, n);
        const { stdout: dump, ...saveRest } = save;
        const idleMaxMs = { initialApply: idleRestore, changeOneRuleApply: idleChange, resyncNoChangeApply: idleSave, repairAfterExternalDelete: idleRepair };
        return { phases, setup, dump, verified, emptySave, restore, save: { ...saveRest, stdout: '' }, changeSave, changeRestore, repairSave, repairRestore, fullRewrite, idleMaxMs };
      } finally {
        idle.close();
        tp.close();
        floor.useLockFile();
      }
    }),
  );
  // Each restore variant into its own empty namespace: what --noflush, --verbose and --wait cost.
  const restoreInto = (args: readonly string[]): Promise<Timed> =>
    withNetns(tag, (ns) => timeCommand(ns.name, restoreBin, args, initialInput));
  // What the `ip netns exec` wrapper itself costs per command (ours and the floors pay it alike;
  // a process that runs inside the namespace, as Felix did, would not).
  const wrapped: number[] = [];
  const direct: number[] = [];
  await withNetns(tag, async (ns) => {
    for (let i = 0; i < 5; i++) {
      wrapped.push((await timeCommand(ns.name, 'true', [])).wallMs);
      const t0 = performance.now();
      await commands.runCommand(commands.spawnCommand, 'true', []);
      direct.push(performance.now() - t0);
    }
  });
  const restoreNoflush = await restoreInto(['--noflush']);
  const restoreNoflushVerbose = await restoreInto(['--noflush', '--verbose']);
  const restoreOurArgs = await restoreInto(['--noflush', '--verbose', '--wait', '10']);
  const { phases, setup, dump, verified, emptySave, restore, save, changeSave, changeRestore, repairSave, repairRestore, fullRewrite, idleMaxMs } = result;
  return {
    phases,
    ...(setup ? { setup } : {}),
    dump,
    verified,
    floors: { wrapperMs: medianOf(wrapped), directSpawnMs: medianOf(direct), emptySave, restore, restoreNoflush, restoreNoflushVerbose, restoreOurArgs, save, changeSave, changeRestore, fullRewrite, repairSave, repairRestore, idleMaxMs },
  };
}

/** After the repair: every chain holds its 10 rules with our IDs, FORWARD its one insert. */
async function verify(ns: Netns, backend: Backend, n: number): Promise<string> {
  const dump = await ns.execOk(`iptables-${backend}-save`, ['-t', 'filter']);
  let ours = 0;
  let forward = 0;
  const perChain = new Map<string, number>();
  for (const line of dump.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    if (line.includes(`--comment "${HASH_PREFIX}`) || line.includes(`--comment ${HASH_PREFIX}`)) ours++;
    const chain = line.slice(3, line.indexOf(' ', 3));
    if (chain === INSERT_CHAIN) forward++;
    perChain.set(chain, (perChain.get(chain) ?? 0) + 1);
  }
  const bad = [...perChain].filter(([c, k]) => c !== INSERT_CHAIN && k !== 10).length;
  const expected = 10 * n + 1;
  if (ours !== expected || forward !== 1 || bad !== 0 || perChain.size !== n + 1) {
    throw new Error(`verification failed: ${ours}/${expected} rules with our IDs, ${forward} FORWARD rules, ${bad} chains without 10 rules`);
  }
  return `ok: ${ours} rules with our IDs in ${n} chains + 1 insert`;
}

// --- the floors: bare iptables-save/-restore of the same bytes -----------------------------

/** The whole changed table as one restore input (what a full rewrite sends). */
function fullChangedInput(n: number): string {
  const desired = new Map<string, Chain>();
  for (let i = 0; i < n; i++) {
    const c = i === changedChainIndex(n) ? buildChain(i, n, true) : buildChain(i, n);
    desired.set(c.name, c);
  }
  const inserts = new Map([[INSERT_CHAIN, forwardInserts()]]);
  return plan.computePlan({
    table: 'filter',
    hashPrefix: HASH_PREFIX,
    insertMode: 'insert',
    desiredChains: desired,
    insertRules: inserts,
    dirtyChains: new Set(desired.keys()),
    dirtyInserts: new Set([INSERT_CHAIN]),
    dataplane: new Map(),
  }).input;
}

// --- the naive wrapper: one iptables process per rule ---------------------------------------

export const NAIVE_CHECK_SAMPLE = 5;

async function runNaive(tag: string, backend: Backend, initialInput: string): Promise<NaiveRun> {
  const argvs = bodyLines(initialInput).map((line) => (line.startsWith(':') ? ['-N', line.slice(1).split(' ')[0] as string] : tokenize(line)));
  const file = join(scratchDir(), `naive-${tag}.json`);
  writeFileSync(file, JSON.stringify(argvs));
  try {
    return await withNetns(tag, async (ns) => {
      const out = await ns.execOk(process.execPath, [join(__dirname, 'naive.js'), `iptables-${backend}`, file, String(NAIVE_CHECK_SAMPLE)]);
      return JSON.parse(out) as NaiveRun;
    });
  } finally {
    rmSync(file, { force: true });
  }
}

// --- the breakdown of our own time, piece by piece ------------------------------------------

function timeIt(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

async function runMicro(n: number, runs: number, dump: string | undefined): Promise<Micro> {
  const rules = 10 * n;
  const specsMs: number[] = [];
  const renderMs: number[] = [];
  const hashMs: number[] = [];
  const hashTsMs: number[] = [];
  const diffInitialMs: number[] = [];
  const diffChangeMs: number[] = [];
  const diffAllDirtyMs: number[] = [];
  const readerNativeMs: number[] = [];
  const readerJsMs: number[] = [];
  let buildPeakRssMb = 0;
  const inserts = new Map([[INSERT_CHAIN, forwardInserts()]]);
  for (let r = 0; r < runs; r++) {
    gc();
    resetPeakRss();
    let specs: RuleSpec[][] = [];
    specsMs.push(timeIt(() => (specs = Array.from({ length: n }, (_, i) => ruleSpecs(i, n)))));
    let chains: Chain[] = [];
    renderMs.push(timeIt(() => (chains = specs.map((rules, i) => new lib.Chain({ name: chainName(i), rules: rules.map((spec) => new lib.Rule(spec)) })))));
    buildPeakRssMb = Math.max(buildPeakRssMb, peakRssMb());
    specs = [];
    hashMs.push(timeIt(() => chains.forEach((c) => c.ruleIds())));
    const lines = chains.map((c) => c.rules.map((rule) => hash.hashInput(c.name, rule)));
    hashTsMs.push(timeIt(() => chains.forEach((c, i) => hash.ruleHashesTs(c.name, lines[i] as string[]))));

    const desired = new Map(chains.map((c) => [c.name, c]));
    const common = { table: 'filter', hashPrefix: HASH_PREFIX, insertMode: 'insert' as const, desiredChains: desired, insertRules: inserts, dirtyInserts: new Set<string>() };
    let first: ReturnType<typeof plan.computePlan> | undefined;
    diffInitialMs.push(timeIt(() => (first = plan.computePlan({ ...common, dirtyChains: new Set(desired.keys()), dataplane: new Map() }))));
    const full = first!.afterWrite;
    const changed = buildChain(changedChainIndex(n), n, true);
    changed.ruleIds();
    const desiredChanged = new Map(desired).set(changed.name, changed);
    diffChangeMs.push(timeIt(() => plan.computePlan({ ...common, desiredChains: desiredChanged, dirtyChains: new Set([changed.name]), dataplane: full })));
    diffAllDirtyMs.push(timeIt(() => plan.computePlan({ ...common, dirtyChains: new Set(desired.keys()), dataplane: full })));
  }
  if (dump !== undefined) {
    const buf = Buffer.from(dump, 'utf8');
    const chunks: Buffer[] = [];
    for (let o = 0; o < buf.length; o += 65536) chunks.push(buf.subarray(o, o + 65536));
    const config = { hashPrefix: HASH_PREFIX, historicChainPrefixes: HISTORIC_PREFIXES };
    for (let r = 0; r < runs; r++) {
      for (const impl of ['native', 'js'] as const) {
        if (impl === 'native' && !native.nativeInfo().loaded) continue;
        gc();
        const t0 = performance.now();
        const res = await reader.readSaveOutput(Readable.from(chunks), config, { implementation: impl });
        const ms = performance.now() - t0;
        if (res.snapshot.size < n) throw new Error(`reader saw ${res.snapshot.size} chains, expected ≥ ${n}`);
        (impl === 'native' ? readerNativeMs : readerJsMs).push(ms);
      }
    }
  }
  return {
    rules,
    specsMs,
    renderMs,
    hashMs,
    hashTsMs,
    hashPath: native.nativeInfo().loaded ? 'native' : 'typescript',
    cryptoHashAvailable: typeof (require('node:crypto') as { hash?: unknown }).hash === 'function',
    diffInitialMs,
    diffChangeMs,
    diffAllDirtyMs,
    readerNativeMs,
    readerJsMs,
    readerBytes: dump === undefined ? 0 : Buffer.byteLength(dump),
    buildPeakRssMb,
  };
}

// --- the CPU profiles of one run's phases ---------------------------------------------------

/** The busy stretches of one phase's profile inside its apply() (offsets from apply()'s start). */
function profiledPhase(phase: Phase, result: PhaseResult, profiled: Profiled): { phase: ProfiledPhase; profile: CpuProfile } {
  const profile = JSON.parse(readFileSync(profiled.file, 'utf8')) as CpuProfile;
  const { applyFromMs: fromMs, applyToMs: toMs, turnsMs } = profiled;
  const inApply = (s: BusyStretch): BusyStretch => ({ ...s, startMs: s.startMs - fromMs });
  const stretches = busyStretches(profile, { count: 3, fillers: 4, fromMs, toMs }).map(inApply);
  const turnStretches = busyStretches(profile, { count: 3, fillers: 4, fromMs, toMs, turnsMs }).map(inApply);
  const longestTurn = longestTurnMs(turnsMs, fromMs, toMs);
  const medianSampleUs = medianOf((profile.timeDeltas ?? []).slice(1));
  return { phase: { phase, wallMs: result.wallMs, eventLoopMaxMs: result.eventLoopMaxMs, stretches, longestTurnMs: longestTurn, turnStretches, medianSampleUs }, profile };
}

/** One run of the four phases (the other process's delete before the repair, as in runPaired)
 *  in a fresh namespace, each under the V8 CPU profiler of the process under test: the initial
 *  apply's self-time summary and every phase's longest busy stretches. The .cpuprofile files
 *  are kept in keepDir (for DevTools) if given. */
async function runProfile(tag: string, backend: Backend, n: number, keepDir: string | undefined): Promise<ProfileRun> {
  const prefix = keepDir !== undefined ? join(keepDir, `${backend}-${10 * n}`) : join(scratchDir(), `profile-${tag}`);
  const files = PHASES.map((p) => `${prefix}.${p}.cpuprofile`);
  try {
    return await withNetns(tag, async (ns) => {
      const tp = new TableProcess(ns.lockFile, { IPTS_BENCH_CPU_PROFILE: prefix });
      try {
        await tp.call({ cmd: 'setup', chains: n, backend, netns: ns.name });
        const phases: ProfiledPhase[] = [];
        let initial: { result: PhaseResult; summary: ProfileRun['summary'] } | undefined;
        for (const phase of PHASES) {
          if (phase === 'repairAfterExternalDelete') await ns.execOk(`iptables-${backend}`, externalDeleteArgs(n));
          const { result, profiled } = await tp.phase(phase);
          if (!profiled) throw new Error(`the process under test wrote no profile for ${phase}`);
          const p = profiledPhase(phase, result, profiled);
          phases.push(p.phase);
          if (phase === 'initialApply') initial = { result, summary: summarizeProfile(p.profile, 20) };
          const longest = (x: readonly BusyStretch[]): string => x[0]?.lengthMs.toFixed(1) ?? '-';
          log(`${backend} ${10 * n} rules: ${phase} profiled (event-loop max ${result.eventLoopMaxMs.toFixed(1)} ms, longest turn ${p.phase.longestTurnMs.toFixed(1)} ms, busy stretch ${longest(p.phase.stretches)} ms, in one turn ${longest(p.phase.turnStretches)} ms)`);
        }
        if (!initial) throw new Error('no initial phase');
        const { result, summary } = initial;
        return { rules: 10 * n, backend, endToEndMs: result.endToEndMs, wallMs: result.wallMs, selfCpuMs: result.selfCpuMs, summary, phases };
      } finally {
        tp.close();
      }
    });
  } finally {
    if (keepDir === undefined) for (const f of files) rmSync(f, { force: true });
  }
}

// --- main -------------------------------------------------------------------------------

async function main(): Promise<void> {
  installCleanupHooks();
  const args = parseArgs(process.argv.slice(2));
  const rules = Number(args.rules);
  const backend = String(args.backend) as Backend;
  const runs = Number(args.runs ?? 3);
  const tag = String(args.tag ?? process.pid);
  const out = String(args.out);
  if (!Number.isInteger(rules) || rules % 10 !== 0 || rules <= 0) throw new Error(`--rules must be a positive multiple of 10, got ${String(args.rules)}`);
  const n = rules / 10;
  const info = native.nativeInfo();
  const result: WorkerResult = {
    rules,
    chains: n,
    backend,
    native: { loaded: info.loaded, ...(info.path ? { path: info.path } : {}), ...(info.reason ? { reason: info.reason } : {}) },
    runs: [],
    errors: [],
  };
  if (args.profile === true) {
    log(`${backend} ${rules} rules: the four phases under the CPU profiler`);
    writeFileSync(out, JSON.stringify(await runProfile(tag, backend, n, typeof args['profile-dir'] === 'string' ? args['profile-dir'] : undefined), null, 1));
    return;
  }
  let dump: string | undefined;
  if (args['micro-only'] !== true) {
    const initialInput = initialInputOf(n);
    const fullRewriteInput = fullChangedInput(n);
    for (let r = 0; r < runs; r++) {
      log(`${backend} ${rules} rules: run ${r + 1}/${runs}: our Table, each phase paired with its floor`);
      const paired = await runPaired(tag, backend, n, initialInput, fullRewriteInput);
      dump ??= paired.dump;
      let naive: NaiveRun | undefined;
      if (args.naive === true && r < 3) {
        log(`${backend} ${rules} rules: run ${r + 1}/${runs}: naive per-rule wrapper (${bodyLines(initialInput).length} + ${rules} spawns)`);
        naive = await runNaive(tag, backend, initialInput);
      }
      result.runs.push({ phases: paired.phases, floors: paired.floors, ...(paired.setup ? { setup: paired.setup } : {}), ...(naive ? { naive } : {}), verified: paired.verified });
      gc();
    }
  }
  log(`${backend} ${rules} rules: breakdown (render, hash, diff, reader)`);
  (result as { micro?: Micro }).micro = await runMicro(n, runs, dump);
  writeFileSync(out, JSON.stringify(result, null, 1));
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});


