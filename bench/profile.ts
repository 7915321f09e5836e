// Summarises a V8 CPU profile (.cpuprofile, as written by `node --cpu-prof` or the inspector's
// Profiler.stop) into self time per function and per file: where an apply's own time goes.
import { basename } from 'node:path';

/** The parts of a V8 CPU profile this summary reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
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
    const fn = `${frame.functionName || '(anonymous)'} ${file}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    fnMs.set(fn, (fnMs.get(fn) ?? 0) + us);
  }
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: totalUs > 0 ? us / totalUs : 0 }));
  return { totalMs: totalUs / 1000, byFile: rank(fileMs), byFunction: rank(fnMs) };
}
