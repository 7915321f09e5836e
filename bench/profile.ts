// Summarises a V8 CPU profile (.cpuprofile, as written by `node --cpu-prof` or the inspector's
// Profiler.stop) into self time per function and per file (where an apply's own time goes), and
// finds its longest busy stretches (what keeps the event loop from turning).
import { basename } from 'node:path';

/** The parts of a V8 CPU profile this summary reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: CallFrame;
    /** Ids of the callees: the only link from a node to its parent. */
    readonly children?: readonly number[];
  }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

/** One frame of a profile node. lineNumber is 0-based. */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

export interface SelfTime {
  readonly name: string;
  readonly selfMs: number;
  /** Of the profile's total sampled time. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly byFile: SelfTime[];
  readonly byFunction: SelfTime[];
}

/** Where a frame's code lives: our dist/ files by name, node's own by "node:…", V8's pseudo
 *  frames ((garbage collector), (program), (idle)) as themselves. */
export function fileOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native/V8 builtin)';
  if (url.startsWith('node:')) return url;
  const m = /\/(dist|dist-bench|node_modules)\/(.*)$/.exec(url);
  return m ? `${m[1]}/${m[2]}` : basename(url);
}

/** "name file:line" (1-based line), the way both summaries name a function. */
export function frameLabel(frame: CallFrame): string {
  return `${frame.functionName || '(anonymous)'} ${fileOf(frame.url, frame.functionName)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
}

/**
 * Self time of each sample is the delta to the next sample (V8 stores, for sample i, the time
 * since sample i−1; the last sample's own duration is unknown and counted as 0).
 */
export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const fileMs = new Map<string, number>();
  const fnMs = new Map<string, number>();
  let totalUs = 0;
  for (let i = 0; i < samples.length; i++) {
    const us = i + 1 < deltas.length ? (deltas[i + 1] as number) : 0;
    const frame = byId.get(samples[i] as number);
    if (!frame || us <= 0) continue;
    totalUs += us;
    const file = fileOf(frame.url, frame.functionName);
    fileMs.set(file, (fileMs.get(file) ?? 0) + us);
    const fn = frameLabel(frame);
    fnMs.set(fn, (fnMs.get(fn) ?? 0) + us);
  }
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: totalUs > 0 ? us / totalUs : 0 }));
  return { totalMs: totalUs / 1000, byFile: rank(fileMs), byFunction: rank(fnMs) };
}

// --- busy stretches -------------------------------------------------------------------------

/** What fills part of a busy stretch: our own frame (the nearest caller in dist/) or, with no
 *  such caller, the sampled frame itself ((garbage collector), (program), a node internal). */
export interface StretchFiller {
  readonly frame: string;
  readonly selfMs: number;
  /** The sampled (leaf) frame with the most time under `frame`, and that time. */
  readonly leaf: string;
  readonly leafMs: number;
}

/** Consecutive samples none of which is "(idle)": the main thread ran (JS, GC, V8 or a
 *  synchronous native call) and could not turn the event loop. */
export interface BusyStretch {
  /** From the profile's start to the stretch's first sample. */
  readonly startMs: number;
  /** The stretch's samples' durations added up (each lasts until the next sample). */
  readonly lengthMs: number;
  readonly samples: number;
  /** Of lengthMs, the samples that lasted over LONG_SAMPLE_MS: the sampler did not run, mostly
   *  because the machine did not schedule this process (its thread or the sampler's). */
  readonly longSamplesMs: number;
  /** Longest first. */
  readonly fillers: readonly StretchFiller[];
}

export interface StretchOptions {
  /** How many stretches (longest first). */
  readonly count?: number;
  /** How many fillers per stretch. */
  readonly fillers?: number;
  /** Only samples taken in [fromMs, toMs) of the profile (e.g. the apply() alone). */
  readonly fromMs?: number;
  readonly toMs?: number;
  /** Times (ms from the profile's start, ascending) at which the event loop turned (a 1 ms timer
   *  fired): a stretch also ends there. Without a sample in the poll phase (a poll that does not
   *  wait) a run of busy samples can span many loop turns; split at the turns, each stretch is
   *  the busy part of one turn, which is what delays a timer. */
  readonly turnsMs?: readonly number[];
}

/** A sample this long (5 × the bench's effective 200 µs interval) means the sampler was held up. */
export const LONG_SAMPLE_MS = 1;

/** Maps each node id to its own frame: the first frame in dist/ from the node up, else the node's. */
function ownFrames(profile: CpuProfile): Map<number, string> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const own = new Map<number, string>();
  for (const n of profile.nodes) {
    let id: number | undefined = n.id;
    while (id !== undefined) {
      const f = frames.get(id);
      if (f && fileOf(f.url, f.functionName).startsWith('dist/')) break;
      id = parent.get(id);
    }
    const f = frames.get(id ?? n.id) ?? n.callFrame;
    own.set(n.id, frameLabel(f));
  }
  return own;
}

function fillersOf(samples: readonly { node: number; us: number }[], own: Map<number, string>, leafOf: Map<number, string>, top: number): StretchFiller[] {
  const byOwn = new Map<string, { us: number; leaves: Map<string, number> }>();
  for (const s of samples) {
    const frame = own.get(s.node) ?? '?';
    const leaf = leafOf.get(s.node) ?? '?';
    const e = byOwn.get(frame) ?? { us: 0, leaves: new Map<string, number>() };
    e.us += s.us;
    e.leaves.set(leaf, (e.leaves.get(leaf) ?? 0) + s.us);
    byOwn.set(frame, e);
  }
  return [...byOwn]
    .sort((a, b) => b[1].us - a[1].us)
    .slice(0, top)
    .map(([frame, e]) => {
      const [leaf, leafUs] = [...e.leaves].sort((a, b) => b[1] - a[1])[0] as [string, number];
      return { frame, selfMs: e.us / 1000, leaf, leafMs: leafUs / 1000 };
    });
}

/**
 * The longest busy stretches of a profile's (main) thread. Sample i is taken at the sum of
 * timeDeltas[0..i] after startTime and lasts timeDeltas[i + 1] (the last one: 0), as in
 * summarizeProfile. "(garbage collector)" and "(program)" count as busy; only "(idle)" ends a
 * stretch (and so do the window's edge and, if given, a loop turn).
 */
export function busyStretches(profile: CpuProfile, options: StretchOptions = {}): BusyStretch[] {
  const { count = 3, fillers = 4, fromMs = -Infinity, toMs = Infinity, turnsMs = [] } = options;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const leafOf = new Map(profile.nodes.map((n) => [n.id, frameLabel(n.callFrame)]));
  const own = ownFrames(profile);
  const found: { startUs: number; run: { node: number; us: number }[] }[] = [];
  let run: { node: number; us: number }[] = [];
  let runStartUs = 0;
  let atUs = 0;
  let turn = 0;
  const close = (): void => {
    if (run.length > 0) found.push({ startUs: runStartUs, run });
    run = [];
  };
  for (let i = 0; i < samples.length; i++) {
    atUs += deltas[i] ?? 0;
    const node = samples[i] as number;
    const inWindow = atUs >= fromMs * 1000 && atUs < toMs * 1000;
    let turned = false;
    for (; turn < turnsMs.length && (turnsMs[turn] as number) * 1000 <= atUs; turn++) turned = true;
    if (turned) close();
    if (!inWindow || frames.get(node)?.functionName === '(idle)') {
      close();
      continue;
    }
    if (run.length === 0) runStartUs = atUs;
    run.push({ node, us: i + 1 < deltas.length ? (deltas[i + 1] as number) : 0 });
  }
  close();
  const lengthUs = (r: readonly { us: number }[]): number => r.reduce((a, s) => a + s.us, 0);
  return found
    .map((f) => ({ f, us: lengthUs(f.run) }))
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map(({ f, us }) => ({
      startMs: f.startUs / 1000,
      lengthMs: us / 1000,
      samples: f.run.length,
      longSamplesMs: lengthUs(f.run.filter((x) => x.us > LONG_SAMPLE_MS * 1000)) / 1000,
      fillers: fillersOf(f.run, own, leafOf, fillers),
    }));
}

/** The longest time in [fromMs, toMs] without a loop turn (the edges count as turns). */
export function longestTurnMs(turnsMs: readonly number[], fromMs: number, toMs: number): number {
  let longest = 0;
  let last = fromMs;
  for (const t of [...turnsMs.filter((x) => x > fromMs && x < toMs), toMs]) {
    longest = Math.max(longest, t - last);
    last = t;
  }
  return longest;
}
