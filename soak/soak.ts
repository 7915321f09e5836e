// A bounded soak: npm run soak -- [--minutes N] [--backend legacy|nft] [--seed S]
//
// One throwaway network namespace; two worker processes with three Table instances each
// (filter/nat/mangle, IPv4 and IPv6, insert and append mode, two pairs sharing a hook chain)
// that mutate their desired state at random and apply; a third process clobbering at random
// (stale whole-table restores, deleted rules and hooks, flushed chains, foreign rules). After N
// minutes the clobber stops, every Table converges from a fresh read, and the dataplane is
// checked independently against each Table's desired state. Fails (exit 1) if any check fails,
// any error was untyped, or fds/RSS grew. The namespace is always deleted.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, type Backend, type ClobberReport, type Sample, type WorkerReport } from './common';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1] as string;
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : fallback;
}

const minutes = Number(arg('minutes', '5'));
const backend = arg('backend', 'legacy') as Backend;
const seed = Number(arg('seed', String(Date.now() % 100000)));
if (!(minutes > 0) || (backend !== 'legacy' && backend !== 'nft')) {
  console.error('usage: npm run soak -- [--minutes N (default 5)] [--backend legacy|nft] [--seed S]');
  process.exit(2);
}

const netns = `ipts-soak-${process.pid}-${randomBytes(2).toString('hex')}`;
const lockDir = mkdtempSync(join(tmpdir(), 'ipts-soak-lock-'));
process.env.XTABLES_LOCKFILE = join(lockDir, 'xtables.lock'); // children inherit it

const children: ChildProcess[] = [];
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await exec('ip', ['netns', 'del', netns]).catch(() => undefined);
  rmSync(lockDir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void cleanup().then(() => process.exit(130));
  });
}

function start(script: string, args: string[]): ChildProcess {
  const child = fork(join(__dirname, script), args, { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  return child;
}

function reportOf<T>(child: ChildProcess, what: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} sent no report within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', (m: { type: string; report?: T; message?: string }) => {
      clearTimeout(timer);
      if (m.type === 'report') resolve(m.report as T);
      else reject(new Error(`${what} failed: ${m.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) without a report`));
    });
  });
}

const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const median = (xs: number[]): number => percentile(xs, 50);
const mb = (n: number): string => (n / 2 ** 20).toFixed(1);

/** Growth between the first and the last window of samples (each a fifth of the run, at least 3 samples). */
function flatness(samples: Sample[]): { fdsFirst: number; fdsLast: number; rssFirstMb: string; rssLastMb: string; heapFirstMb: string; heapLastMb: string; ok: boolean } {
  const n = Math.max(3, Math.floor(samples.length / 5));
  // Skip the first window's warm-up half: the first samples include module loading.
  const first = samples.slice(Math.min(n, samples.length - 1), 2 * n);
  const last = samples.slice(-n);
  const fdsFirst = Math.min(...first.map((s) => s.fds));
  const fdsLast = Math.min(...last.map((s) => s.fds));
  const rssFirst = median(first.map((s) => s.rss));
  const rssLast = median(last.map((s) => s.rss));
  const heapFirst = median(first.map((s) => s.heap));
  const heapLast = median(last.map((s) => s.heap));
  // fds: the floor (samples taken between applies hold no child pipes) must not rise.
  // memory: V8 heap+external within 8 MB, RSS within 32 MB (allocator high-water noise).
  const ok = fdsLast <= fdsFirst && heapLast - heapFirst < 8 * 2 ** 20 && rssLast - rssFirst < 32 * 2 ** 20;
  return { fdsFirst, fdsLast, rssFirstMb: mb(rssFirst), rssLastMb: mb(rssLast), heapFirstMb: mb(heapFirst), heapLastMb: mb(heapLast), ok };
}

async function main(): Promise<number> {
  const add = await exec('ip', ['netns', 'add', netns]);
  if (add.code !== 0) throw new Error(`ip netns add: ${add.stderr}`);
  await exec('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
  console.log(`soak: ${minutes} min, backend ${backend}, seed ${seed}, namespace ${netns}`);

  const started = Date.now();
  const workerA = start('worker.js', ['A', netns, backend, String(seed)]);
  const workerB = start('worker.js', ['B', netns, backend, String(seed + 1)]);
  const clobber = start('clobber.js', [netns, backend, String(seed + 2)]);
  const reports = [reportOf<WorkerReport>(workerA, 'worker A', minutes * 60_000 + 180_000), reportOf<WorkerReport>(workerB, 'worker B', minutes * 60_000 + 180_000)];
  const clobberReport = reportOf<ClobberReport>(clobber, 'clobber', minutes * 60_000 + 60_000);

  const progress = setInterval(() => console.log(`soak: ${((Date.now() - started) / 60_000).toFixed(1)} min`), 60_000);
  await new Promise((r) => setTimeout(r, minutes * 60_000));
  clearInterval(progress);
  clobber.send('stop');
  const clobbered = await clobberReport;
  workerA.send('finish');
  workerB.send('finish');
  const workers = await Promise.all(reports);

  const tables = workers.flatMap((w) => w.tables);
  const all = (f: (t: (typeof tables)[number]) => number): number => tables.reduce((s, t) => s + f(t), 0);
  const errors = tables.flatMap((t) => t.errors.map((e) => ({ table: t.id, ...e })));
  const latencies = tables.flatMap((t) => t.latenciesMs);
  const flat = workers.map((w) => ({ role: w.role, ...flatness(w.samples) }));
  const problems = tables.flatMap((t) => [...t.finalProblems, ...(t.finalError ? [`${t.id}: final apply failed: ${t.finalError}`] : [])]);
  const untyped = errors.filter((e) => !e.typed);

  const summary = {
    minutes,
    backend,
    seed,
    tables: tables.length,
    processes: { workers: 2, clobber: 1 },
    applies: all((t) => t.applies),
    writes: all((t) => t.writes),
    repairs: all((t) => t.repairs),
    restoreRetries: all((t) => t.restoreRetries),
    saveRetries: all((t) => t.saveRetries),
    mutations: all((t) => t.mutations),
    clobbers: clobbered.actions,
    clobberFailures: clobbered.failures,
    errors: errors.length,
    errorsByName: errors.reduce<Record<string, number>>((m, e) => ({ ...m, [e.name]: (m[e.name] ?? 0) + 1 }), {}),
    untypedErrors: untyped.length,
    applyLatencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.round(Math.max(0, ...latencies)) },
    perTable: tables.map((t) => ({ id: t.id, applies: t.applies, writes: t.writes, repairs: t.repairs, errors: t.errors.length, maxLatencyMs: Math.round(t.maxLatencyMs) })),
    memory: flat,
    finalCheck: problems.length === 0 ? 'dataplane equals the desired state of all tables' : problems,
  };
  console.log(JSON.stringify(summary, null, 2));
  for (const e of errors.slice(0, 20)) console.log(`soak: error in ${e.table}: ${e.name}: ${e.message.split('\n')[0]}`);
  for (const t of tables) for (const r of t.retryReasons.slice(0, 5)) console.log(`soak: restore retried in ${t.id}: ${r.split('\n')[0]}`);
  const out = join(__dirname, '..', '..', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `soak-${backend}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ summary, errors, retryReasons: Object.fromEntries(tables.map((t) => [t.id, t.retryReasons])) }, null, 2));

  const ok = problems.length === 0 && untyped.length === 0 && flat.every((f) => f.ok);
  console.log(ok ? 'soak: PASS' : 'soak: FAIL');
  return ok ? 0 : 1;
}

main()
  .then(
    async (code) => {
      await cleanup();
      process.exit(code);
    },
    async (e) => {
      console.error(e);
      await cleanup();
      process.exit(1);
    },
  );
