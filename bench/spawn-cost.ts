// What one spawn costs the main thread, Node's child_process.spawn against the addon's
// posix_spawn, at a chosen RSS (a fork copies the page tables, so Node's cost grows with it):
//
//   node --expose-gc dist-bench/bench/spawn-cost.js [--rss-mb 200] [--spawns 200]
//
// Per factory, `--spawns` sequential runs of /bin/true with piped stdio: the synchronous part of
// the factory call (what blocks the caller's turn), the main thread's CPU time per spawn (the
// call plus the streams and events it makes; CLOCK_THREAD_CPUTIME_ID through the addon), and the
// longest event-loop turn over the whole series (a 1 ms interval), and that turn in a second of
// the same process doing nothing (GC of the grown heap, the machine's load). Not a test.
import { option } from './format';
import { commands, native } from './lib';
import { LongestTurn } from './longest-turn';

function arg(name: string, fallback: number): number {
  const given = option(name);
  return given === undefined ? fallback : Number(given);
}

const quantile = (xs: readonly number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

/** Touched JS heap (small objects, as an agent's state is) until RSS reaches `mb`. */
function growTo(mb: number): unknown[] {
  const keep: unknown[] = [];
  while (process.memoryUsage().rss < mb * 1024 * 1024) {
    const block: { readonly i: number; readonly s: string }[] = [];
    for (let i = 0; i < 100_000; i++) block.push({ i, s: `rule-${i}` });
    keep.push(block);
  }
  return keep;
}

/** The same stretch with no spawns (timers only): what this process and machine cost alone. */
async function idle(ms: number): Promise<string> {
  const turn = new LongestTurn();
  turn.from();
  const end = performance.now() + ms;
  while (performance.now() < end) await new Promise((r) => setTimeout(r, 1));
  return `longest turn ${(await turn.stop()).toFixed(3)} ms (no spawns, ${ms} ms)`;
}

async function series(factory: typeof commands.spawnCommand, spawns: number): Promise<string> {
  const addon = native.loadNative();
  if (!addon) throw new Error('the addon is not loaded');
  const sync: number[] = [];
  const cpu: number[] = [];
  const turn = new LongestTurn();
  await new Promise((r) => setTimeout(r, 20));
  turn.from();
  for (let i = 0; i < spawns; i++) {
    const cpu0 = addon.threadCpuMs();
    const t0 = performance.now();
    const child = factory('/bin/true', []);
    sync.push(performance.now() - t0);
    child.stdout.resume();
    child.stderr.resume();
    child.stdin.end();
    await child.exited;
    cpu.push(addon.threadCpuMs() - cpu0);
  }
  const longest = await turn.stop();
  const f = (x: number): string => x.toFixed(3);
  return `sync call ms median ${f(quantile(sync, 0.5))} p95 ${f(quantile(sync, 0.95))} max ${f(Math.max(...sync))} | main-thread CPU ms/spawn median ${f(quantile(cpu, 0.5))} | longest turn ${f(longest)} ms`;
}

async function main(): Promise<void> {
  const spawns = arg('--spawns', 200);
  const kept = growTo(arg('--rss-mb', 50));
  global.gc?.();
  const rss = Math.round(process.memoryUsage().rss / 1024 / 1024);
  // Warm-up of both, then alternate so a change of machine load hits both alike.
  await series(commands.nodeSpawnCommand, 20);
  await series(commands.nativeSpawnCommand, 20);
  for (let round = 0; round < 2; round++) {
    console.log(`rss ${rss} MB round ${round + 1} node:   ${await series(commands.nodeSpawnCommand, spawns)}`);
    console.log(`rss ${rss} MB round ${round + 1} native: ${await series(commands.nativeSpawnCommand, spawns)}`);
    console.log(`rss ${rss} MB round ${round + 1} idle:   ${await idle(1000)}`);
  }
  if (kept.length < 0) console.log(kept); // keeps the heap alive to the end
}

void main();
