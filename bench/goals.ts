// The goals of issue 15 and their evaluation: pure functions over the aggregated rows, so the
// verdicts are unit-tested (test/bench-goals.test.ts) apart from any measurement.

/** What the goals need of one (size, backend, phase) row of the report. */
export interface GoalRow {
  readonly rules: number;
  readonly backend: string;
  readonly phase: 'initialApply' | 'changeOneRuleApply' | 'resyncNoChangeApply' | 'repairAfterExternalDelete';
  /** Median of the per-run ratios of our wall (end to end for the initial apply) to its floor. */
  readonly ratioToFloor: number;
  /** The initial apply's apply-only ratio (apply() alone ÷ bare restore); the wall ratio otherwise. */
  readonly applyOnlyRatioToFloor: number;
  /** The initial apply end to end ÷ (bare save of the empty table + bare restore with our exact
   *  arguments): what a first apply that reads before it writes cannot go under. */
  readonly readWriteRatioToFloor?: number;
  /** Longest event-loop delay inside apply() (median over runs of each run's max). */
  readonly eventLoopMaxMs: number;
  /** The idle Node process's longest delay beside this phase's floor (median over runs). */
  readonly idleMaxMs: number;
  readonly peakRssMb: number;
}

/** One CLI invocation's aggregated numbers. */
export interface GoalCli {
  readonly rules: number;
  readonly format: 'json' | 'yaml';
  readonly command: 'parse' | 'build' | 'check' | 'plan' | 'apply';
  readonly backend: string | null;
  readonly wallMs: number;
  readonly peakRssMb: number;
  /** apply: median of the per-run ratios of its wall to a bare restore of its input into an
   *  empty namespace, run right after it (the library's initial-apply floor). */
  readonly ratioToFloor?: number;
}

export interface Verdict {
  readonly rules: number;
  readonly backend: string;
  readonly metric: string;
  readonly value: string;
  readonly goal: string;
  /** null: no goal for this row (shown for orientation). */
  readonly met: boolean | null;
  /** The parts of the run its numbers come from (their steal makes a verdict unsure). */
  readonly parts: readonly RunPart[];
}

/** The parts of a bench run whose CPU steal the report records (bench/run.ts). */
export type RunPart = 'library' | 'cli';
const LIBRARY: readonly RunPart[] = ['library'];
const CLI: readonly RunPart[] = ['cli'];
const CLI_AND_LIBRARY: readonly RunPart[] = ['cli', 'library'];

/** A part of the run with more of its CPU stolen by the hypervisor than this (percent) prints
 *  its verdicts as unsure: it measured the host's neighbours as much as this code. */
export const STEAL_WARN_PERCENT = 10;

/** A verdict as the report prints it: "yes", "NO", "-" (no goal), or with "?" and the stolen
 *  share when the part of the run it comes from was over STEAL_WARN_PERCENT. */
export function verdictWord(met: boolean | null, stolenPercent: number | undefined): string {
  if (met === null) return '-';
  const word = met ? 'yes' : 'NO';
  return stolenPercent !== undefined && stolenPercent > STEAL_WARN_PERCENT ? `${word}? (${stolenPercent.toFixed(0)}% stolen)` : word;
}

/** The most stolen of a verdict's parts (percent), from the run's per-part steal; undefined
 *  when none was recorded. */
export function stolenPercentOf(v: Pick<Verdict, 'parts'>, steal: Readonly<Record<string, number>> | undefined): number | undefined {
  const shares = v.parts.map((p) => steal?.[p]).filter((x): x is number => x !== undefined);
  return shares.length > 0 ? Math.max(...shares) : undefined;
}

export const INITIAL_GOAL_100K = 1.1;
export const RESYNC_GOAL_100K = 1.05;
export const SMALL_SIZE_GOAL = 1.2;
export const STALL_ABSOLUTE_MS = 20;
export const RSS_GOAL_100K_MB = 150;

/** ≤ 20 ms and ≤ 1.5 × the idle process's stall + 10 ms. */
export function stallLimitMs(idleMs: number): number {
  return Math.min(STALL_ABSOLUTE_MS, 1.5 * idleMs + 10);
}

const x = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '-');
const msText = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
const le = (v: number, limit: number): boolean | null => (Number.isFinite(v) ? v <= limit : null);

/** The table for one (size, backend): every row with its goal and verdict. */
export function libraryVerdicts(rows: readonly GoalRow[]): Verdict[] {
  const out: Verdict[] = [];
  const keys = [...new Set(rows.map((r) => `${r.rules}\u0000${r.backend}`))];
  for (const key of keys) {
    const [rulesText, backend = ''] = key.split('\u0000');
    const rules = Number(rulesText);
    const of = (phase: GoalRow['phase']): GoalRow | undefined => rows.find((r) => r.rules === rules && r.backend === backend && r.phase === phase);
    const small = rules === 1000 || rules === 10000;
    const big = rules === 100000;
    const push = (metric: string, value: string, goal: string, met: boolean | null): void => void out.push({ rules, backend, metric, value, goal, met, parts: LIBRARY });
    const initial = of('initialApply');
    const change = of('changeOneRuleApply');
    const resync = of('resyncNoChangeApply');
    const repair = of('repairAfterExternalDelete');
    if (initial) {
      const limit = big ? INITIAL_GOAL_100K : small ? SMALL_SIZE_GOAL : NaN;
      push('initial apply end to end (first updateChain → apply() resolved) ÷ bare restore', x(initial.ratioToFloor), Number.isFinite(limit) ? `≤ ${limit.toFixed(2)}×` : '-', Number.isFinite(limit) ? le(initial.ratioToFloor, limit) : null);
      push('initial apply, apply() only ÷ bare restore', x(initial.applyOnlyRatioToFloor), '-', null);
      if (initial.readWriteRatioToFloor !== undefined) {
        push('initial apply end to end ÷ (bare save of the empty table + bare restore with our arguments)', x(initial.readWriteRatioToFloor), '-', null);
      }
    }
    if (resync) {
      const limit = big ? RESYNC_GOAL_100K : small ? SMALL_SIZE_GOAL : NaN;
      push('resync (nothing changed) ÷ bare save', x(resync.ratioToFloor), Number.isFinite(limit) ? `≤ ${limit.toFixed(2)}×` : '-', Number.isFinite(limit) ? le(resync.ratioToFloor, limit) : null);
    }
    if (change) {
      push('one-rule change ÷ (bare save + bare restore of its lines)', x(change.ratioToFloor), small ? `≤ ${SMALL_SIZE_GOAL.toFixed(2)}×` : '-', small ? le(change.ratioToFloor, SMALL_SIZE_GOAL) : null);
    }
    const phases = [initial, change, resync, repair].filter((p): p is GoalRow => p !== undefined);
    if (phases.length > 0) {
      // The stall goal per phase, each against the idle process measured beside its own floor;
      // the row shows the phase closest to (or furthest over) its limit.
      const worst = phases.reduce((a, b) => (b.eventLoopMaxMs - stallLimitMs(b.idleMaxMs) > a.eventLoopMaxMs - stallLimitMs(a.idleMaxMs) ? b : a));
      const limit = stallLimitMs(worst.idleMaxMs);
      push(
        'longest event-loop stall inside apply() (worst phase vs its limit)',
        `${msText(worst.eventLoopMaxMs)} (${worst.phase}; idle process beside its floor ${msText(worst.idleMaxMs)})`,
        `≤ 20 ms and ≤ 1.5 × idle + 10 ms (= ${limit.toFixed(1)} ms)`,
        phases.every((p) => Number.isFinite(p.eventLoopMaxMs)) ? phases.every((p) => p.eventLoopMaxMs <= stallLimitMs(p.idleMaxMs)) : null,
      );
      if (initial) push('idle node process beside the bare restore', msText(initial.idleMaxMs), '-', null);
    }
    if (initial) push('peak RSS during the initial apply', `${initial.peakRssMb.toFixed(0)} MB`, big ? `≤ ${RSS_GOAL_100K_MB} MB` : '-', big ? le(initial.peakRssMb, RSS_GOAL_100K_MB) : null);
    if (phases.length > 1) push('peak RSS per phase (initial / change / resync / repair)', phases.map((p) => p.peakRssMb.toFixed(0)).join(' / ') + ' MB', '-', null);
  }
  return out;
}

/** The CLI file goals at 100k rules: JSON check ≤ 2 s and ≤ 400 MB; apply ≤ 1.5 × the
 *  library's own initial apply (end to end, same backend and size); YAML ≤ 3 × JSON. Other sizes
 *  are shown without a verdict. The apply goal is judged on the two ratios to their floors (each
 *  run's bare restore measured next to it) when both are known: the library's runs and the CLI's
 *  are minutes apart, and this machine's speed drifts more than the goal's margin in that time;
 *  the ratio of the wall times is then shown beside it, without a verdict. */
export function cliVerdicts(
  cli: readonly GoalCli[],
  libraryInitialMs: (rules: number, backend: string) => number | undefined,
  libraryBuildMs: (rules: number, backend: string) => number | undefined = () => undefined,
  libraryInitialRatio: (rules: number, backend: string) => number | undefined = () => undefined,
): Verdict[] {
  const out: Verdict[] = [];
  for (const c of cli) {
    const big = c.rules === 100000;
    const backend = c.backend ?? '-';
    const name = `CLI ${c.command} (${c.format})`;
    const value = `${(c.wallMs / 1000).toFixed(2)} s, ${c.peakRssMb.toFixed(0)} MB`;
    if (c.command === 'check' && c.format === 'json') {
      out.push({ rules: c.rules, backend, metric: name, value, goal: big ? '≤ 2 s and ≤ 400 MB' : '-', met: big ? c.wallMs <= 2000 && c.peakRssMb <= 400 : null, parts: CLI });
    } else out.push({ rules: c.rules, backend, metric: name, value, goal: '-', met: null, parts: CLI });
    if (c.command === 'apply' && c.format === 'json') {
      const lib = libraryInitialMs(c.rules, backend);
      const r = lib !== undefined ? c.wallMs / lib : NaN;
      const libRatio = libraryInitialRatio(c.rules, backend);
      const paired = c.ratioToFloor !== undefined && libRatio !== undefined ? c.ratioToFloor / libRatio : undefined;
      if (paired !== undefined) {
        out.push({
          rules: c.rules,
          backend,
          metric: 'CLI apply (json) ÷ library initial apply, each ÷ the bare restore run next to it',
          value: `${x(paired)} (CLI ${x(c.ratioToFloor as number)}, library ${x(libRatio as number)} its floor)`,
          goal: big ? '≤ 1.50×' : '-',
          met: big ? paired <= 1.5 : null,
          parts: CLI_AND_LIBRARY,
        });
      }
      out.push({
        rules: c.rules,
        backend,
        metric: 'CLI apply (json) ÷ library initial apply (end to end)',
        value: lib !== undefined ? `${x(r)} (library ${(lib / 1000).toFixed(2)} s)` : 'library not measured at this size',
        goal: big && paired === undefined ? '≤ 1.50×' : '-',
        met: big && lib !== undefined && paired === undefined ? r <= 1.5 : null,
        parts: CLI_AND_LIBRARY,
      });
      // Like for like: the library bench builds its Rules before its clock starts; the CLI builds
      // them from the file inside its own. Context only: the goal is the row above.
      const build = libraryBuildMs(c.rules, backend);
      if (lib !== undefined && build !== undefined) {
        out.push({
          rules: c.rules,
          backend,
          metric: 'CLI apply (json) ÷ library build of the same Rules + initial apply',
          value: `${x(c.wallMs / (build + lib))} (library ${(build / 1000).toFixed(2)} + ${(lib / 1000).toFixed(2)} s)`,
          goal: '-',
          met: null,
          parts: CLI_AND_LIBRARY,
        });
      }
    }
    if (c.format === 'yaml') {
      const json = cli.find((j) => j.format === 'json' && j.rules === c.rules && j.command === c.command && j.backend === c.backend);
      if (json) {
        // The goal is about the commands; the steps show where a command's ratio comes from.
        const goal = big && c.command !== 'parse' && c.command !== 'build';
        const r = c.wallMs / json.wallMs;
        out.push({ rules: c.rules, backend, metric: `CLI ${c.command}: YAML ÷ JSON`, value: x(r), goal: goal ? '≤ 3.00×' : '-', met: goal ? r <= 3 : null, parts: CLI });
      }
    }
  }
  return out;
}
