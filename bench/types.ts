// The shapes a worker (bench/worker.ts) reports and the parent (bench/run.ts) aggregates.
import type { Measured, Timed } from './measure';
import type { BusyStretch, ProfileSummary } from './profile';

export type Backend = 'legacy' | 'nft';

export const PHASES = ['initialApply', 'changeOneRuleApply', 'resyncNoChangeApply', 'repairAfterExternalDelete'] as const;
export type Phase = (typeof PHASES)[number];

export type PhaseResult = Omit<Measured, 'restoreInputs' | 'restoreInputsComplete'> & {
  /** Body lines of the restore input (-1: too big to keep; the initial one is checked by bytes). */
  readonly restoreLines: number;
  /** RSS of the process under test once the phase is over (its steady state). */
  readonly rssAfterMb: number;
};

export interface FloorRun {
  /** `ip netns exec <ns> true` and a plain spawn of `true` (medians of 5): the wrapper's cost. */
  readonly wrapperMs: number;
  readonly directSpawnMs: number;
  /** Bare `iptables-<b>-save -t filter` of the empty table (before the floor's restore). */
  readonly emptySave: Timed;
  /** Bare `iptables-<b>-restore` (no options) of our initial input, into an empty namespace. */
  readonly restore: Timed;
  /** The same input with --noflush; with --noflush --verbose; with our exact arguments. */
  readonly restoreNoflush: Timed;
  readonly restoreNoflushVerbose: Timed;
  readonly restoreOurArgs: Timed;
  /** Bare `iptables-<b>-save -t filter` of the full table. */
  readonly save: Timed;
  /** Bare save, then bare `restore --noflush` of exactly the lines our change phase wrote. */
  readonly changeSave: Timed;
  readonly changeRestore: Timed;
  /** The whole changed table through plain `iptables-<b>-restore` (no --noflush). */
  readonly fullRewrite: Timed;
  /** Bare save, then bare `restore --noflush` of exactly the lines our repair phase wrote. */
  readonly repairSave: Timed;
  readonly repairRestore: Timed;
  /** Longest event-loop delay (ms) of an idle Node process (bench/idle-probe.ts) while each
   *  phase's floor ran (initial: the bare restore; resync: the bare save; change/repair: save +
   *  restore): what the machine alone costs a process that runs no JavaScript, in this run. */
  readonly idleMaxMs: Record<Phase, number>;
}

export interface NaiveRun {
  /** One `iptables-<b> -w -N` per chain, `-A` per rule, `-I` for the insert. */
  readonly appendWallMs: number;
  readonly appendSpawns: number;
  readonly appendChildCpuMs: number;
  /** One `iptables-<b> -w -C` per rule (what a per-rule wrapper runs to check a resync),
   *  timed on every checkSample-th rule and scaled to all rules. */
  readonly checkWallMs: number;
  readonly checkSpawns: number;
  readonly checkSample: number;
}

export interface Micro {
  readonly rules: number;
  /** The caller's side: Match() builders and action objects of every rule. */
  readonly specsMs: number[];
  /** new Rule(spec) for every rule (renders and validates each rule's text once) and new Chain. */
  readonly renderMs: number[];
  /** ruleIds() of every chain through the package's path (native batch when loaded). */
  readonly hashMs: number[];
  /** The TypeScript twin (crypto.hash one-shot per rule) on the same lines. */
  readonly hashTsMs: number[];
  readonly hashPath: 'native' | 'typescript';
  readonly cryptoHashAvailable: boolean;
  /** computePlan(): everything dirty, empty dataplane (IDs already cached: no hashing). */
  readonly diffInitialMs: number[];
  /** computePlan(): one dirty chain against a full dataplane (the change phase). */
  readonly diffChangeMs: number[];
  /** computePlan(): every chain dirty against an identical full dataplane (nothing to write). */
  readonly diffAllDirtyMs: number[];
  /** readSaveOutput() of a real dump of this size, native and js, from 64 KiB chunks. */
  readonly readerNativeMs: number[];
  readonly readerJsMs: number[];
  readonly readerBytes: number;
  /** Peak RSS of building the workload (specs + rules) alone (reset just before). */
  readonly buildPeakRssMb: number;
}

export interface WorkerResult {
  readonly rules: number;
  readonly chains: number;
  readonly backend: Backend;
  readonly native: { loaded: boolean; path?: string; reason?: string };
  readonly runs: {
    phases: Record<Phase, PhaseResult>;
    floors: FloorRun;
    setup?: { readonly buildMs: number; readonly peakRssMb: number; readonly rssMb: number };
    naive?: NaiveRun;
    verified: string;
  }[];
  readonly micro?: Micro;
  readonly errors: string[];
}


/** One CLI invocation of the file phases (bench/cli-phases.ts). */
export interface CliResult {
  readonly rules: number;
  readonly format: 'json' | 'yaml';
  /** parse and build: the loader's two steps on the same file, timed apart in a process of their own. */
  readonly command: 'parse' | 'build' | 'check' | 'plan' | 'apply';
  /** null for check (no dataplane). */
  readonly backend: Backend | null;
  readonly fileBytes: number;
  readonly wallMs: number;
  /** The CLI process's own peak RSS (/usr/bin/time %M). */
  readonly peakRssMb: number;
  /** apply: median of the per-run ratios wall ÷ a bare restore of the same input into an empty
   *  namespace, run right after it. */
  readonly ratioToFloor?: number;
}

/** bench --profile: one phase of the profiled run, under the V8 CPU profiler. */
export interface ProfiledPhase {
  readonly phase: Phase;
  readonly wallMs: number;
  /** monitorEventLoopDelay's max during this phase's apply(), in the profiled run. */
  readonly eventLoopMaxMs: number;
  /** The longest busy stretches inside apply(), longest first; startMs counts from apply()'s start. */
  readonly stretches: readonly BusyStretch[];
  /** The longest gap between two firings of a 1 ms JS interval during apply(): the longest loop turn. */
  readonly longestTurnMs: number;
  /** The busy stretches split where the loop turned: the busy part of the longest loop turns. */
  readonly turnStretches: readonly BusyStretch[];
  /** The median time between two samples of this phase's profile (µs). */
  readonly medianSampleUs: number;
}

/** bench --profile: one run of the four phases under the V8 CPU profiler (bench/profile.ts);
 *  the self-time summary is the initial apply's (updateChain calls + apply). */
export interface ProfileRun {
  readonly rules: number;
  readonly backend: Backend;
  readonly endToEndMs: number;
  readonly wallMs: number;
  readonly selfCpuMs: number;
  readonly summary: ProfileSummary;
  readonly phases: readonly ProfiledPhase[];
}
