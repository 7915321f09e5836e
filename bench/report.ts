// Aggregation (medians of the runs), ratios, the target checks, and the printed/markdown tables.
import { felixFor } from './felix';
import { cliVerdicts, libraryVerdicts, STEAL_WARN_PERCENT, stolenPercentOf, verdictWord, type Verdict } from './goals';
import { heading, k, ms, table } from './format';
import { median } from './measure';
import { renderProfile } from './profile-report';
import { PHASES, type CliResult, type Phase, type ProfileRun, type WorkerResult } from './types';

export interface Meta {
  readonly [key: string]: unknown;
}

const FLOOR_NAME: Record<Phase, string> = {
  initialApply: 'bare restore of the same input',
  changeOneRuleApply: 'bare save + bare restore --noflush of the same lines',
  resyncNoChangeApply: 'bare save -t filter',
  repairAfterExternalDelete: 'bare save + bare restore --noflush of the same lines',
};

export interface Row {
  readonly rules: number;
  readonly backend: string;
  readonly phase: Phase;
  readonly runs: number;
  /** apply() alone. */
  readonly wallMs: number;
  readonly wallMsRuns: number[];
  /** From the first updateChain to the resolved apply() (the initial phase; = wallMs otherwise). */
  readonly endToEndMs: number;
  /** Median of the per-run ratios endToEnd ÷ floor. */
  readonly endToEndRatioToFloor: number;
  /** Initial apply only: end to end ÷ (bare save of the empty table + bare restore with our
   *  exact arguments), the read-then-write floor a safe first apply cannot go under. */
  readonly readWriteRatioToFloor: number | null;
  /** The idle Node process's longest event-loop delay beside this phase's floor (median). */
  readonly idleMaxMs: number;
  readonly selfCpuMs: number;
  readonly childCpuMs: number;
  readonly restoreBytes: number;
  readonly restoreLines: number;
  readonly saveBytes: number;
  /** Save runs the command factory saw. */
  readonly saveRuns: number;
  /** Where saveBytes comes from: counted on our save's stdout, or (when the Table handed the
   *  save's stdout straight to the native reader) the paired floor's save of the same rules. */
  readonly saveBytesSource: 'ours' | 'paired floor save';
  readonly peakRssMb: number;
  readonly eventLoopMaxMs: number;
  readonly eventLoopMaxMsWorstRun: number;
  readonly floor: string;
  readonly floorMs: number;
  readonly floorMsRuns: number[];
  readonly ratioToFloor: number;
  readonly felixMs: number | null;
  readonly felixRestoreBytes: number | null;
  readonly felixSaveBytes: number | null;
  readonly ratioToFelix: number | null;
  readonly naive: string;
  readonly naiveMs: number | null;
  readonly naiveExtrapolatedFrom1k: boolean;
  readonly naiveOverOurs: number | null;
  /** Where the wall time went (medians): children spawn→exit, and the rest (our JS, not overlapped). */
  readonly versionProbeMs: number;
  readonly saveChildMs: number;
  readonly restoreChildMs: number;
  readonly restoreFeedMs: number;
  readonly otherMs: number;
  /** The floor's own restore: spawn → stdin written, for comparison with restoreFeedMs. */
  readonly floorRestoreFeedMs: number | null;
  readonly floorRestoreMs: number | null;
}

export interface Baseline {
  readonly rules: number;
  readonly backend: string;
  readonly wrapperMs: number;
  readonly directSpawnMs: number;
  readonly restoreBareMs: number;
  readonly restoreNoflushMs: number;
  readonly restoreNoflushVerboseMs: number;
  readonly restoreOurArgsMs: number;
  readonly restoreChildCpuMs: number;
  readonly restoreNoflushChildCpuMs: number;
  readonly restoreNoflushVerboseChildCpuMs: number;
  readonly restoreOurArgsChildCpuMs: number;
  readonly saveMs: number;
  readonly saveChildCpuMs: number;
  readonly changeFloorMs: number;
  readonly fullRewriteMs: number;
  readonly repairFloorMs: number;
  readonly naiveAppendMs: number | null;
  readonly naiveCheckMs: number | null;
  readonly naiveExtrapolatedFrom1k: boolean;
}

export interface Breakdown {
  readonly rules: number;
  readonly backend: string;
  readonly specsMs: number;
  readonly renderMs: number;
  readonly hashMs: number;
  readonly hashTsMs: number;
  readonly hashPath: string;
  readonly diffInitialMs: number;
  readonly diffChangeMs: number;
  readonly diffAllDirtyMs: number;
  readonly readerNativeMs: number | null;
  readonly readerJsMs: number | null;
  readonly readerBytes: number;
  readonly buildPeakRssMb: number;
}

export interface Target {
  readonly target: string;
  readonly met: boolean | null;
  readonly detail: string;
}

export interface Report {
  readonly text: string;
  readonly markdown: string;
  readonly json: unknown;
}

const med = (xs: number[]): number => median(xs);
const r2 = (x: number): number => Math.round(x * 100) / 100;

function naiveFor(results: readonly WorkerResult[], backend: string): { append: number; check: number } | undefined {
  const w = results.find((r) => r.backend === backend && r.rules === 1000 && r.runs.some((x) => x.naive));
  if (!w) return undefined;
  const runs = w.runs.filter((x) => x.naive).map((x) => x.naive!);
  return { append: med(runs.map((x) => x.appendWallMs)), check: med(runs.map((x) => x.checkWallMs)) };
}

export function buildReport(
  meta: Meta,
  results: readonly WorkerResult[],
  microOnly: WorkerResult | undefined,
  cli: readonly CliResult[] = [],
  profiles: readonly ProfileRun[] = [],
): Report {
  const rows: Row[] = [];
  const baselines: Baseline[] = [];
  const breakdowns: Breakdown[] = [];
  for (const w of results) {
    if (w.runs.length === 0) continue;
    const naive = naiveFor(results, w.backend);
    const scale = w.rules / 1000;
    const f = w.runs.map((r) => r.floors);
    const floorRuns: Record<Phase, number[]> = {
      initialApply: f.map((x) => x.restore.wallMs),
      changeOneRuleApply: f.map((x) => x.changeSave.wallMs + x.changeRestore.wallMs),
      resyncNoChangeApply: f.map((x) => x.save.wallMs),
      repairAfterExternalDelete: f.map((x) => x.repairSave.wallMs + x.repairRestore.wallMs),
    };
    baselines.push({
      rules: w.rules,
      backend: w.backend,
      wrapperMs: med(f.map((x) => x.wrapperMs)),
      directSpawnMs: med(f.map((x) => x.directSpawnMs)),
      restoreBareMs: med(f.map((x) => x.restore.wallMs)),
      restoreNoflushMs: med(f.map((x) => x.restoreNoflush.wallMs)),
      restoreNoflushVerboseMs: med(f.map((x) => x.restoreNoflushVerbose.wallMs)),
      restoreOurArgsMs: med(f.map((x) => x.restoreOurArgs.wallMs)),
      restoreChildCpuMs: med(f.map((x) => x.restore.childCpuMs)),
      restoreNoflushChildCpuMs: med(f.map((x) => x.restoreNoflush.childCpuMs)),
      restoreNoflushVerboseChildCpuMs: med(f.map((x) => x.restoreNoflushVerbose.childCpuMs)),
      restoreOurArgsChildCpuMs: med(f.map((x) => x.restoreOurArgs.childCpuMs)),
      saveMs: med(f.map((x) => x.save.wallMs)),
      saveChildCpuMs: med(f.map((x) => x.save.childCpuMs)),
      changeFloorMs: med(floorRuns.changeOneRuleApply),
      fullRewriteMs: med(f.map((x) => x.fullRewrite.wallMs)),
      repairFloorMs: med(floorRuns.repairAfterExternalDelete),
      naiveAppendMs: naive ? naive.append * scale : null,
      naiveCheckMs: naive ? naive.check * scale : null,
      naiveExtrapolatedFrom1k: w.rules !== 1000,
    });
    for (const phase of PHASES) {
      const p = w.runs.map((r) => r.phases[phase]);
      const wall = p.map((x) => x.wallMs);
      const wallMs = med(wall);
      const floorMs = med(floorRuns[phase]);
      // Each run's phase and its floor were measured seconds apart: the median of the paired
      // ratios cancels the slow swings of a shared machine's load better than a ratio of medians.
      const pairedRatio = med(wall.map((x, i) => x / (floorRuns[phase][i] as number)));
      const e2e = p.map((x) => x.endToEndMs ?? x.wallMs);
      const e2eRatio = med(e2e.map((x, i) => x / (floorRuns[phase][i] as number)));
      const felix = phase === 'repairAfterExternalDelete' ? undefined : felixFor(w.backend, w.rules, phase);
      const naiveMs = naive ? (phase === 'initialApply' ? naive.append : naive.check) * scale : null;
      const versionProbeMs = med(p.map((x) => x.versionChildMs));
      const saveChildMs = med(p.map((x) => x.saveChildMs));
      const restoreChildMs = med(p.map((x) => x.restoreChildMs));
      const floorRestore: Record<Phase, ((x: (typeof f)[number]) => { wallMs: number; feedMs: number }) | undefined> = {
        initialApply: (x) => x.restore,
        changeOneRuleApply: (x) => x.changeRestore,
        resyncNoChangeApply: undefined,
        repairAfterExternalDelete: (x) => x.repairRestore,
      };
      const fr = floorRestore[phase];
      const floorSave: Record<Phase, (x: (typeof f)[number]) => { stdoutBytes: number }> = {
        initialApply: (x) => x.emptySave,
        changeOneRuleApply: (x) => x.changeSave,
        resyncNoChangeApply: (x) => x.save,
        repairAfterExternalDelete: (x) => x.repairSave,
      };
      const toFd = p.some((x) => x.saveRunsToFd > 0);
      rows.push({
        rules: w.rules,
        backend: w.backend,
        phase,
        runs: p.length,
        wallMs,
        wallMsRuns: wall.map(r2),
        endToEndMs: med(e2e),
        endToEndRatioToFloor: e2eRatio,
        readWriteRatioToFloor: phase === 'initialApply' ? med(e2e.map((x, i) => x / ((f[i]?.emptySave.wallMs ?? NaN) + (f[i]?.restoreOurArgs.wallMs ?? NaN)))) : null,
        idleMaxMs: med(f.map((x) => x.idleMaxMs?.[phase] ?? NaN)),
        selfCpuMs: med(p.map((x) => x.selfCpuMs)),
        childCpuMs: med(p.map((x) => x.childCpuMs)),
        restoreBytes: med(p.map((x) => x.restoreBytes)),
        restoreLines: med(p.map((x) => x.restoreLines)),
        saveBytes: toFd ? med(f.map((x) => floorSave[phase](x).stdoutBytes)) : med(p.map((x) => x.saveBytes)),
        saveBytesSource: toFd ? 'paired floor save' : 'ours',
        saveRuns: med(p.map((x) => x.saveRuns)),
        peakRssMb: med(p.map((x) => x.peakRssMb)),
        eventLoopMaxMs: med(p.map((x) => x.eventLoopMaxMs)),
        eventLoopMaxMsWorstRun: Math.max(...p.map((x) => x.eventLoopMaxMs)),
        floor: FLOOR_NAME[phase],
        floorMs,
        floorMsRuns: floorRuns[phase].map(r2),
        ratioToFloor: pairedRatio,
        felixMs: felix?.wallMs ?? null,
        felixRestoreBytes: felix?.restoreBytes ?? null,
        felixSaveBytes: felix?.saveBytes ?? null,
        ratioToFelix: felix ? wallMs / felix.wallMs : null,
        naive: phase === 'initialApply' ? 'one iptables -A per rule' : 'one iptables -C per rule',
        naiveMs,
        naiveExtrapolatedFrom1k: w.rules !== 1000,
        naiveOverOurs: naiveMs !== null ? naiveMs / wallMs : null,
        versionProbeMs,
        saveChildMs,
        restoreChildMs,
        restoreFeedMs: med(p.map((x) => x.restoreFeedMs)),
        floorRestoreFeedMs: fr ? med(f.map((x) => fr(x).feedMs)) : null,
        floorRestoreMs: fr ? med(f.map((x) => fr(x).wallMs)) : null,
        otherMs: med(p.map((x) => x.wallMs - x.childUnionMs)),
      });
    }
  }
  for (const w of [...results, ...(microOnly ? [microOnly] : [])]) {
    const m = w.micro;
    if (!m) continue;
    breakdowns.push({
      rules: w.rules,
      backend: w.runs.length ? w.backend : '(none)',
      specsMs: med(m.specsMs),
      renderMs: med(m.renderMs),
      hashMs: med(m.hashMs),
      hashTsMs: med(m.hashTsMs),
      hashPath: m.hashPath,
      diffInitialMs: med(m.diffInitialMs),
      diffChangeMs: med(m.diffChangeMs),
      diffAllDirtyMs: med(m.diffAllDirtyMs),
      readerNativeMs: m.readerNativeMs.length ? med(m.readerNativeMs) : null,
      readerJsMs: m.readerJsMs.length ? med(m.readerJsMs) : null,
      readerBytes: m.readerBytes,
      buildPeakRssMb: m.buildPeakRssMb,
    });
  }
  const targets = checkTargets(rows, breakdowns);
  const verdicts = [
    ...libraryVerdicts(
      rows.map((r) => ({
        rules: r.rules,
        backend: r.backend,
        phase: r.phase,
        ratioToFloor: r.endToEndRatioToFloor,
        applyOnlyRatioToFloor: r.ratioToFloor,
        ...(r.readWriteRatioToFloor !== null ? { readWriteRatioToFloor: r.readWriteRatioToFloor } : {}),
        eventLoopMaxMs: r.eventLoopMaxMs,
        idleMaxMs: r.idleMaxMs,
        peakRssMb: r.peakRssMb,
      })),
    ),
    ...cliVerdicts(
      cli,
      (rules, backend) => rows.find((r) => r.rules === rules && r.backend === backend && r.phase === 'initialApply')?.endToEndMs,
      (rules, backend) => {
        const builds = results.filter((w) => w.rules === rules && w.backend === backend).flatMap((w) => w.runs.flatMap((run) => (run.setup ? [run.setup.buildMs] : [])));
        return builds.length > 0 ? med(builds) : undefined;
      },
      (rules, backend) => rows.find((r) => r.rules === rules && r.backend === backend && r.phase === 'initialApply')?.endToEndRatioToFloor,
    ),
  ];
  const nat = results[0]?.native ?? microOnly?.native;
  (meta as Record<string, unknown>).nativeAddon = nat?.loaded
    ? `loaded (${nat.path ?? '?'})`
    : `NOT loaded: ${nat?.reason ?? 'unknown'} — hashing and reading ran in TypeScript`;
  const json = { meta, goals: verdicts, targets, rows, baselines, breakdown: breakdowns, cli, profiles, native: results[0]?.native ?? microOnly?.native, raw: results };
  const extra = { verdicts, cli, profiles };
  return { text: render(meta, rows, baselines, breakdowns, targets, extra, false), markdown: render(meta, rows, baselines, breakdowns, targets, extra, true), json };
}

function checkTargets(rows: readonly Row[], breakdowns: readonly Breakdown[]): Target[] {
  const out: Target[] = [];
  const at = (phase: Phase, sizes?: number[]): Row[] => rows.filter((r) => r.phase === phase && (!sizes || sizes.includes(r.rules)));
  const list = (rs: Row[], f: (r: Row) => string): string => rs.map((r) => `${r.backend} ${k(r.rules)}: ${f(r)}`).join('; ');
  const verdict = (rs: Row[], ok: (r: Row) => boolean, need: number[]): boolean | null => {
    if (rs.length === 0) return null;
    if (!rs.every(ok)) return false;
    return need.every((n) => rs.some((r) => r.rules === n)) ? true : null;
  };

  const resync = at('resyncNoChangeApply', [10000, 100000]);
  out.push({
    target: 'resync (no change) wall ≤ 1.1 × bare save, 10k and 100k, both backends',
    met: verdict(resync, (r) => r.ratioToFloor <= 1.1, [10000, 100000]),
    detail: list(resync, (r) => `${r.ratioToFloor.toFixed(2)}×`) + (resync.some((r) => r.rules === 100000) ? '' : ' (100k: run --full)'),
  });
  const initial = at('initialApply');
  out.push({
    target: 'initial apply wall ≤ 1.1 × bare restore of the same input',
    met: verdict(initial, (r) => r.ratioToFloor <= 1.1, []),
    detail: list(initial, (r) => `${r.ratioToFloor.toFixed(2)}×`),
  });
  const change = at('changeOneRuleApply');
  out.push({
    target: 'one-rule change writes only the 7 lines chained IDs require, wall ≤ 1.1 × (bare save + bare restore of them)',
    met: verdict(change, (r) => r.ratioToFloor <= 1.1 && r.restoreLines === 7, []),
    detail: list(change, (r) => `${r.restoreLines} lines, ${r.ratioToFloor.toFixed(2)}×`),
  });
  const b100 = breakdowns.find((b) => b.rules === 100000);
  out.push({
    target: 'render + hash of 100k rules < 100 ms',
    met: b100 ? b100.renderMs + b100.hashMs < 100 : null,
    detail: b100
      ? `render (new Rule + new Chain from ready Match()/action objects) ${b100.renderMs.toFixed(1)} ms + hash (${b100.hashPath} batch) ${b100.hashMs.toFixed(1)} ms = ${(b100.renderMs + b100.hashMs).toFixed(1)} ms; hash alone via crypto.hash (TS twin) ${b100.hashTsMs.toFixed(1)} ms`
      : 'not measured',
  });
  const el100 = rows.filter((r) => r.rules === 100000);
  const el10 = rows.filter((r) => r.rules === 10000);
  const worst = (rs: Row[]): string => {
    const w = rs.reduce((a, b) => (b.eventLoopMaxMsWorstRun > a.eventLoopMaxMsWorstRun ? b : a));
    return `${w.eventLoopMaxMsWorstRun.toFixed(1)} ms (${w.backend} ${w.phase})`;
  };
  out.push({
    target: 'event loop never blocked > 20 ms during any apply at 100k rules',
    met: el100.length ? el100.every((r) => r.eventLoopMaxMsWorstRun <= 20) : null,
    detail: `worst max over all runs and phases: 100k ${el100.length ? worst(el100) : 'not measured (run --full)'}; 10k ${el10.length ? worst(el10) : '-'}`,
  });
  const naive10 = at('initialApply', [10000]);
  out.push({
    target: '≥ 100 × faster than the naive per-rule wrapper at 10k rules (extrapolated from 1k)',
    met: naive10.length && naive10.every((r) => r.naiveOverOurs !== null) ? naive10.every((r) => (r.naiveOverOurs as number) >= 100) : null,
    detail: list(naive10, (r) => (r.naiveOverOurs !== null ? `${Math.round(r.naiveOverOurs)}× (naive ${(r.naiveMs! / 1000).toFixed(1)} s)` : 'naive not measured')),
  });
  const rss100 = rows.filter((r) => r.rules === 100000);
  out.push({
    target: 'peak RSS < 150 MB with 100k rules',
    met: rss100.length ? rss100.every((r) => r.peakRssMb < 150) : null,
    detail: rss100.length
      ? `max over phases of the per-phase median: ${Math.max(...rss100.map((r) => r.peakRssMb)).toFixed(0)} MB (${list(
          rss100.filter((r) => r.phase === 'initialApply'),
          (r) => `initial ${r.peakRssMb.toFixed(0)} MB`,
        )})`
      : 'not measured (run --full)',
  });
  return out;
}

// --- rendering ---------------------------------------------------------------------------

const ratio = (x: number | null): string => (x === null || !Number.isFinite(x) ? '-' : x >= 100 ? `${x.toFixed(0)}×` : `${x.toFixed(2)}×`);
const bytes = (x: number | null): string => (x === null ? '-' : Math.round(x).toLocaleString('en-US'));
const SHORT: Record<Phase, string> = {
  initialApply: 'initialApply',
  changeOneRuleApply: 'changeOneRuleApply',
  resyncNoChangeApply: 'resyncNoChangeApply',
  repairAfterExternalDelete: 'repairAfterExtDelete',
};

interface Extra {
  readonly verdicts: readonly Verdict[];
  readonly cli: readonly CliResult[];
  readonly profiles: readonly ProfileRun[];
}

function render(meta: Meta, rows: Row[], baselines: Baseline[], breakdowns: Breakdown[], targets: Target[], extra: Extra, md: boolean): string {
  const h = (title: string): string => heading(title, md);
  const parts: string[] = [];
  parts.push(
    md
      ? `Run: ${String(meta.date)}, mode ${String(meta.mode)}, ${String(meta.runs)} runs per measurement (medians), commit ${String(meta.commit)}, Node ${String(meta.node)}, kernel ${String(meta.kernel)}, ${String(meta.cpu)}, ${String(meta.iptablesLegacy)} / ${String(meta.iptablesNft)}, load average ${JSON.stringify(meta.loadAverageAtStart)} → ${JSON.stringify(meta.loadAverageAtEnd)}, ${String(meta.durationS)} s.`
      : `iptables-sync bench — ${String(meta.mode)}, ${String(meta.runs)} runs (medians), ${String(meta.date)}, load ${JSON.stringify(meta.loadAverageAtStart)} → ${JSON.stringify(meta.loadAverageAtEnd)}`,
  );
  // What the hypervisor took from the guest while it wanted the CPU: a part with more than a
  // tenth of it stolen ran on a host that was not ours (on 2026-12-03 up to 60%).
  const steal = meta.steal as Record<string, number> | undefined;
  if (steal && Object.keys(steal).length > 0) {
    const shares = Object.entries(steal).map(([name, pct]) => `${name} ${pct.toFixed(1)}%`).join(', ');
    const noisy = Object.entries(steal).filter(([name, pct]) => name !== 'run' && pct > STEAL_WARN_PERCENT).map(([name]) => name);
    parts.push(`${md ? '\n' : ''}CPU stolen by the hypervisor (of the time the guest's CPUs were busy or stolen, /proc/stat): ${shares}.${noisy.length > 0 ? ` Over ${STEAL_WARN_PERCENT}% in ${noisy.join(', ')}: those numbers measure the host's neighbours as much as this code; run again.` : ''}`);
  }
  parts.push(`${md ? '\n' : ''}native addon: ${String(meta.nativeAddon)}`);
  parts.push(h('Our Table (medians of the runs; × floor = median of the per-run ratios to the floor measured next to it)'));
  parts.push(
    table(
      ['rules', 'backend', 'phase', 'wall ms', 'end to end ms', 'e2e × floor', 'our CPU ms', 'child CPU ms', 'restore B', 'lines', 'save B', 'peak RSS MB', 'EL max ms', 'idle EL max ms', 'floor ms', '× floor', 'Felix ms', '× Felix', 'naive ms', 'naive ÷ ours'],
      rows.map((r) => [
        k(r.rules),
        r.backend,
        SHORT[r.phase],
        ms(r.wallMs),
        r.phase === 'initialApply' ? ms(r.endToEndMs) : '=',
        r.phase === 'initialApply' ? ratio(r.endToEndRatioToFloor) : '=',
        ms(r.selfCpuMs),
        ms(r.childCpuMs),
        bytes(r.restoreBytes),
        String(r.restoreLines),
        `${bytes(r.saveBytes)}${r.saveBytesSource === 'ours' ? '' : '†'}`,
        r.peakRssMb.toFixed(0),
        ms(r.eventLoopMaxMs),
        ms(r.idleMaxMs),
        ms(r.floorMs),
        ratio(r.ratioToFloor),
        ms(r.felixMs),
        ratio(r.ratioToFelix),
        r.naiveMs === null ? '-' : `${ms(r.naiveMs)}${r.naiveExtrapolatedFrom1k ? '*' : ''}`,
        ratio(r.naiveOverOurs),
      ]),
      md,
    ),
  );
  parts.push(
    `${md ? '\n' : ''}floor: initialApply → bare restore (no options) of our exact input into an empty namespace; changeOneRuleApply / repair → bare save + bare restore --noflush of exactly the lines we wrote; resync → bare save -t filter. naive: initialApply → one \`iptables -A\` (or -N/-I) per line; other phases → one \`iptables -C\` per rule; * = extrapolated linearly from 1k rules (legacy iptables rewrites the whole table per call, so the real cost grows faster than linearly: the extrapolation flatters the naive wrapper). child CPU: /proc/self/stat cutime+cstime, 10 ms resolution. † = the Table handed the save's stdout straight to the native reader, so its bytes are those of the paired floor's save of the same rules.`,
  );
  parts.push(h('Baselines (bare binaries through the same `ip netns exec`, medians, ms)'));
  parts.push(
    table(
      ['rules', 'backend', '-', 'spawn true / ip netns exec true', 'restore', 'restore child CPU', 'save', 'save child CPU', 'save + restore 7 lines', 'full rewrite (no --noflush)', 'save + restore repair lines', 'naive -A/rule', 'naive -C/rule'],
      baselines.map((b) => [
        k(b.rules),
        b.backend,
        '',
        `${ms(b.directSpawnMs)} / ${ms(b.wrapperMs)}`,
        ms(b.restoreBareMs),
        ms(b.restoreChildCpuMs),
        ms(b.saveMs),
        ms(b.saveChildCpuMs),
        ms(b.changeFloorMs),
        ms(b.fullRewriteMs),
        ms(b.repairFloorMs),
        b.naiveAppendMs === null ? '-' : `${ms(b.naiveAppendMs)}${b.naiveExtrapolatedFrom1k ? '*' : ''}`,
        b.naiveCheckMs === null ? '-' : `${ms(b.naiveCheckMs)}${b.naiveExtrapolatedFrom1k ? '*' : ''}`,
      ]),
      md,
    ),
  );
  parts.push(h('The restore floor by options: wall ms / child CPU ms (medians), initial input into an empty namespace'));
  parts.push(
    table(
      ['rules', 'backend', '-', 'restore', '--noflush', '--noflush --verbose', '--noflush --verbose --wait 10 (ours)'],
      baselines.map((b) => [
        k(b.rules),
        b.backend,
        '',
        `${ms(b.restoreBareMs)} / ${ms(b.restoreChildCpuMs)}`,
        `${ms(b.restoreNoflushMs)} / ${ms(b.restoreNoflushChildCpuMs)}`,
        `${ms(b.restoreNoflushVerboseMs)} / ${ms(b.restoreNoflushVerboseChildCpuMs)}`,
        `${ms(b.restoreOurArgsMs)} / ${ms(b.restoreOurArgsChildCpuMs)}`,
      ]),
      md,
    ),
  );
  parts.push(h('Where our wall time goes (medians, ms): child processes spawn→exit (they may overlap), and our JS while no child runs'));
  parts.push(
    table(
      ['rules', 'backend', 'phase', 'wall', 'restore --version probe', 'save child (reader overlaps)', 'restore child', 'of which fed', 'our JS, no child running', 'floor restore', 'of which fed'],
      rows.map((r) => [
        k(r.rules),
        r.backend,
        SHORT[r.phase],
        ms(r.wallMs),
        ms(r.versionProbeMs),
        ms(r.saveChildMs),
        ms(r.restoreChildMs),
        ms(r.restoreFeedMs),
        ms(r.otherMs),
        ms(r.floorRestoreMs),
        ms(r.floorRestoreFeedMs),
      ]),
      md,
    ),
  );
  parts.push(h('Pieces of our own time, measured directly (medians, ms)'));
  parts.push(
    table(
      ['rules', 'backend', '-', 'caller: Match()/actions', 'render (new Rule/Chain)', 'hash (ruleIds)', 'path', 'hash TS twin', 'diff: initial', 'diff: one chain', 'diff: all dirty, no change', 'reader native', 'reader js', 'dump bytes', 'build peak RSS MB'],
      breakdowns.map((b) => [
        k(b.rules),
        b.backend,
        '',
        ms(b.specsMs),
        ms(b.renderMs),
        ms(b.hashMs),
        b.hashPath,
        ms(b.hashTsMs),
        ms(b.diffInitialMs),
        ms(b.diffChangeMs),
        ms(b.diffAllDirtyMs),
        ms(b.readerNativeMs),
        ms(b.readerJsMs),
        bytes(b.readerBytes),
        b.buildPeakRssMb.toFixed(0),
      ]),
      md,
    ),
  );
  parts.push(h('Targets of the previous round (issue 5)'));
  parts.push(
    table(
      ['met', 'target', 'measured'],
      targets.map((t) => [t.met === null ? 'n/a' : verdictWord(t.met, steal?.library), t.target, t.detail]),
      md,
    ),
  );
  parts.push(h('Issue 15 goals (each ratio: median of the per-run ratios to the floor measured next to it)'));
  parts.push(
    table(
      ['rules', 'backend', 'metric', 'measured', 'goal', 'met'],
      extra.verdicts.map((v) => [k(v.rules), v.backend, v.metric, v.value, v.goal, verdictWord(v.met, stolenPercentOf(v, steal))]),
      md,
    ),
  );
  parts.push(
    `${md ? '\n' : ''}end to end: from the first updateChain (the Chains are built before) to the resolved apply(); wall ms / × floor is apply() alone. idle EL max: an idle node process (bench/idle-probe.ts) forked beside each phase's floor (bare restore; bare save; bare save + restore), its longest event-loop delay: what this shared machine alone costs a process running no JavaScript.`,
  );
  if (extra.cli.length > 0) {
    parts.push(h(`CLI file phases (node dist/cli.js, median of ${String(meta.runs)} runs each; wall clock and the CLI process's own peak RSS from /usr/bin/time %M)`));
    parts.push(
      table(
        ['rules', 'format', 'command', 'backend', 'file MiB', 'wall s', 'peak RSS MB'],
        extra.cli.map((c) => [k(c.rules), c.format, c.command, c.backend ?? '-', (c.fileBytes / 1048576).toFixed(1), (c.wallMs / 1000).toFixed(2), c.peakRssMb.toFixed(0)]),
        md,
      ),
    );
  }
  for (const p of extra.profiles) parts.push(...renderProfile(p, md));
  return `${parts.join('\n')}\n`;
}
