// What one measurement records: wall, our CPU, the children's CPU, peak RSS, event-loop delay,
// and every command the Table ran (with its stdin/stdout bytes and its own spawn→exit time).
import { readFileSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { CommandFactory, CommandOptions, SpawnedCommand } from '../src/commands';
import { commands } from './lib';
import { LongestTurn } from './longest-turn';

// --- CPU of children ------------------------------------------------------------------------
// process.cpuUsage() and process.resourceUsage() are RUSAGE_SELF: every thread of this process,
// no children. Node has no getrusage(RUSAGE_CHILDREN); the kernel publishes the same sums as
// cutime + cstime in /proc/self/stat (fields 16 and 17): CPU of all children that have been
// waited for (libuv reaps each child as it exits, before its 'exit' event). They are nanosecond
// sums printed in clock ticks, so a delta is exact to ±1 tick (10 ms at CLK_TCK 100), whatever
// the number of children; at 1k rules that resolution is coarse and is said so in the report.
export const CLK_TCK = 100;

export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
}

/** The machine's CPU time so far (/proc/stat's first line, in clock ticks): busy (user, nice,
 *  system, irq, softirq) and stolen by the hypervisor. */
export interface CpuTicks {
  readonly busy: number;
  readonly steal: number;
}

export function cpuTicks(): CpuTicks {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return { busy: user + nice + system + irq + softirq, steal };
}

/** The share of the CPU time the guest wanted that the hypervisor gave to others, between two
 *  readings: a run with much of it measures the neighbours, not us. */
export function stealShare(from: CpuTicks, to: CpuTicks): number {
  const busy = to.busy - from.busy;
  const steal = to.steal - from.steal;
  return busy + steal > 0 ? steal / (busy + steal) : 0;
}

export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// --- peak RSS -------------------------------------------------------------------------------
// VmHWM is the kernel's exact peak RSS of this process; writing "5" to clear_refs resets it
// (Linux ≥ 4.0), so each phase reports its own peak rather than inheriting the previous one's.

let hwmResettable: boolean | undefined;

export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    hwmResettable = true;
  } catch {
    hwmResettable = false;
  }
  return hwmResettable;
}

export function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 1048576;
}

export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

// --- an instrumented command factory ---------------------------------------------------------

export interface CommandRecord {
  /** The program inside `ip netns exec <ns>`. */
  readonly program: string;
  readonly args: readonly string[];
  readonly startMs: number;
  endMs: number;
  /** When stdin had been fully handed to the pipe ('finish'): the child has read all but the
   *  last pipe buffer. spawn→finish is how long the child was fed, finish→exit its work after. */
  stdinFinishMs: number;
  stdinBytes: number;
  stdoutBytes: number;
  stdin: string[];
  /** All of stdin is in `stdin` (false once it outgrew the keep limit). */
  stdinComplete: boolean;
  /** stdout went to an fd the caller gave (the native reader's pipe): stdoutBytes stays 0. */
  readonly stdoutToFd: boolean;
  code: number | null;
}

export interface Instrumented {
  readonly factory: CommandFactory;
  readonly records: CommandRecord[];
}

const isRestore = (r: CommandRecord): boolean => /tables-(legacy|nft)-restore$/.test(r.program) && !r.args.includes('--version');
const isSave = (r: CommandRecord): boolean => /tables-(legacy|nft)-save$/.test(r.program);
const isVersion = (r: CommandRecord): boolean => r.args.includes('--version');

/**
 * Wraps the library's own spawnCommand: the children are spawned exactly as without it. stdin is
 * counted by wrapping write()/end() on the instance (no extra stream in the path); stdout by an
 * extra 'data' listener, which in Node only observes ('readable' consumers keep paused mode).
 * Restore inputs up to `keepInputBytes` are kept (the floors replay them); bigger ones are only
 * counted, so the recorder never holds megabytes in the process under test.
 */
export function instrumented(keepInputBytes: number): Instrumented {
  const records: CommandRecord[] = [];
  const record = (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand => {
    const inner = command === 'ip' && args[0] === 'netns' && args[1] === 'exec' ? args.slice(3) : [command, ...args];
    const rec: CommandRecord = {
      program: inner[0] ?? command,
      args: inner.slice(1),
      startMs: performance.now(),
      endMs: NaN,
      stdinFinishMs: NaN,
      stdinBytes: 0,
      stdoutBytes: 0,
      stdin: [],
      stdinComplete: true,
      stdoutToFd: options?.stdoutFd !== undefined,
      code: null,
    };
    records.push(rec);
    const child: SpawnedCommand = commands.spawnCommand(command, args, options);
    const stdin = child.stdin;
    stdin.once('finish', () => {
      rec.stdinFinishMs = performance.now();
    });
    const origWrite = stdin.write.bind(stdin) as (...a: unknown[]) => boolean;
    const origEnd = stdin.end.bind(stdin) as (...a: unknown[]) => unknown;
    const count = (chunk: unknown): void => {
      if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) {
        rec.stdinBytes += Buffer.byteLength(chunk as string);
        if (rec.stdinComplete && rec.stdinBytes <= keepInputBytes) rec.stdin.push(chunk.toString());
        else {
          rec.stdinComplete = false;
          rec.stdin = [];
        }
      }
    };
    (stdin as unknown as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
      count(a[0]);
      return origWrite(...a);
    };
    (stdin as unknown as { end: (...a: unknown[]) => unknown }).end = (...a: unknown[]) => {
      if (typeof a[0] !== 'function') count(a[0]);
      return origEnd(...a);
    };
    // A child writing to stdoutFd has no stdout stream of ours: asking for one would make it.
    if (options?.stdoutFd === undefined) {
      child.stdout.on('data', (chunk: Buffer) => {
        rec.stdoutBytes += chunk.length;
      });
    }
    const exited = child.exited.then(
      (exit) => {
        rec.endMs = performance.now();
        rec.code = exit.code;
        return exit;
      },
      (error: unknown) => {
        rec.endMs = performance.now();
        throw error;
      },
    );
    // Passed through as they are (the lazy streams stay unmade, the addon's stderr text is used).
    return {
      stdin: child.stdin,
      get stdout() {
        return child.stdout;
      },
      get stderr() {
        return child.stderr;
      },
      ...(child.stderrText ? { stderrText: child.stderrText } : {}),
      ...(child.argv ? { argv: child.argv } : {}),
      exited,
      kill: child.kill,
    };
  };
  // Options (the native reader's stdout fd) go through unchanged, so the Table takes the same
  // path as with the library's own spawnCommand.
  const factory: CommandFactory = Object.assign(record, { acceptsStdoutFd: commands.spawnCommand.acceptsStdoutFd === true });
  return { factory, records };
}

// --- one measured call -------------------------------------------------------------------

export interface Measured {
  /** `fn` alone (for an apply: the apply-only figure). */
  readonly wallMs: number;
  /** From the start of `before` (the first updateChain) to the end of `fn` (the resolved
   *  apply): what a user's agent waits for. Equals wallMs when there is no `before`. */
  readonly endToEndMs: number;
  readonly selfCpuMs: number;
  readonly childCpuMs: number;
  readonly peakRssMb: number;
  /** The longest event-loop turn during the call (ms): LongestTurn's, which also sees the first
   *  and the last turn, or monitorEventLoopDelay's max if larger. */
  readonly eventLoopMaxMs: number;
  readonly eventLoopP99Ms: number;
  readonly restoreBytes: number;
  readonly saveBytes: number;
  readonly restoreRuns: number;
  readonly saveRuns: number;
  /** Save runs whose stdout went straight to the native reader (bytes not countable here). */
  readonly saveRunsToFd: number;
  /** Sum of spawn→exit of the restore / save / --version children started during the call. */
  readonly restoreChildMs: number;
  readonly saveChildMs: number;
  readonly versionChildMs: number;
  /** Of restoreChildMs: spawn → stdin fully written (feeding), and the rest (restore's own work). */
  readonly restoreFeedMs: number;
  /** Time during which at least one child ran (children may overlap, e.g. the --version probe
   *  and the first save): wall minus this is our JS running with no child alive. */
  readonly childUnionMs: number;
  /** The restore inputs written during the call, if all were small enough to keep. */
  readonly restoreInputs: string[];
  readonly restoreInputsComplete: boolean;
}

/**
 * Measures `fn` (an apply). `before` (the caller's updateChain calls) runs right before it, after
 * the GC and the peak-RSS reset, so peak RSS, CPU and endToEndMs cover both; the event-loop
 * monitor covers `fn` only (the goal is about stalls inside `apply()`).
 */
export async function measure(rec: Instrumented, fn: () => Promise<unknown>, before?: () => void): Promise<Measured> {
  gc();
  resetPeakRss();
  const first = rec.records.length;
  const cpu0 = selfCpuMs();
  const kids0 = childrenCpuMs();
  const tBefore = performance.now();
  before?.();
  const h = monitorEventLoopDelay({ resolution: 1 });
  const turns = new LongestTurn();
  h.enable();
  turns.from();
  const t0 = performance.now();
  await fn();
  const t1 = performance.now();
  const wallMs = t1 - t0;
  const selfCpu = selfCpuMs() - cpu0;
  const childCpu = childrenCpuMs() - kids0;
  const longestTurnMs = await turns.stop();
  h.disable();
  const peak = peakRssMb();
  const recs = rec.records.slice(first);
  const sum = (pick: (r: CommandRecord) => boolean, f: (r: CommandRecord) => number): number =>
    recs.filter(pick).reduce((acc, r) => acc + f(r), 0);
  const span = (r: CommandRecord): number => r.endMs - r.startMs;
  return {
    wallMs,
    endToEndMs: t1 - tBefore,
    selfCpuMs: selfCpu,
    childCpuMs: childCpu,
    peakRssMb: peak,
    eventLoopMaxMs: Math.max(longestTurnMs, h.count > 0 ? h.max / 1e6 : 0),
    eventLoopP99Ms: h.count > 0 ? h.percentile(99) / 1e6 : 0,
    restoreBytes: sum(isRestore, (r) => r.stdinBytes),
    saveBytes: sum(isSave, (r) => r.stdoutBytes),
    restoreRuns: recs.filter(isRestore).length,
    saveRuns: recs.filter(isSave).length,
    saveRunsToFd: recs.filter((r) => isSave(r) && r.stdoutToFd).length,
    restoreChildMs: sum(isRestore, span),
    saveChildMs: sum(isSave, span),
    versionChildMs: sum(isVersion, span),
    restoreFeedMs: sum(isRestore, (r) => (Number.isFinite(r.stdinFinishMs) ? r.stdinFinishMs - r.startMs : 0)),
    childUnionMs: unionMs(recs.map((r) => [Math.max(t0, r.startMs), Math.min(t1, Number.isFinite(r.endMs) ? r.endMs : t1)])),
    restoreInputs: recs.filter(isRestore).map((r) => r.stdin.join('')),
    restoreInputsComplete: recs.filter(isRestore).every((r) => r.stdinComplete),
  };
}

/** Times a bare command (a floor) the same way: through `ip netns exec`, via the library's
 *  own spawnCommand and runCommand, so floors and ours pay the same wrapper. */
export interface Timed {
  readonly wallMs: number;
  /** spawn → stdin fully written into the pipe. */
  readonly feedMs: number;
  readonly childCpuMs: number;
  readonly selfCpuMs: number;
  readonly stdinBytes: number;
  readonly stdoutBytes: number;
  readonly stdout: string;
}

export async function timeCommand(
  netns: string,
  program: string,
  args: readonly string[],
  input = '',
  keepStdout = false,
  /** The exit code that counts as success (1: a listing of a table that is not there). */
  expectedCode = 0,
): Promise<Timed> {
  const run = commands.inNetns(netns, commands.spawnCommand);
  const cpu0 = selfCpuMs();
  const kids0 = childrenCpuMs();
  const t0 = performance.now();
  const child = run(program, args);
  // Drain stdout (a floor must read what it is given, but need not parse or keep it).
  const out: Buffer[] = [];
  let stdoutBytes = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    stdoutBytes += chunk.length;
    if (keepStdout) out.push(chunk);
  });
  const err = commands.collect(child.stderr);
  let finished = NaN;
  child.stdin.once('finish', () => (finished = performance.now()));
  child.stdin.end(input);
  const exit = await child.exited;
  const wallMs = performance.now() - t0;
  const childCpu = childrenCpuMs() - kids0;
  const selfCpu = selfCpuMs() - cpu0;
  if (exit.code !== expectedCode) throw new Error(`${program} ${args.join(' ')} exited ${exit.code ?? exit.signal}: ${(await err).trim()}`);
  return {
    wallMs,
    feedMs: finished - t0,
    childCpuMs: childCpu,
    selfCpuMs: selfCpu,
    stdinBytes: Buffer.byteLength(input),
    stdoutBytes,
    stdout: keepStdout ? Buffer.concat(out).toString('utf8') : '',
  };
}

/** Total length of the union of [start, end] intervals. */
export function unionMs(intervals: readonly (readonly [number, number])[]): number {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const [a, b] of sorted) {
    if (a > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else if (b > curEnd) curEnd = b;
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}
