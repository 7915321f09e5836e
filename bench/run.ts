// `npm run bench` (quick: 1k and 10k rules) and `npm run bench -- --full` (adds 100k rules).
//
// Each (size, backend) runs in its own worker process (bench/worker.ts): its phases, floors and
// naive baseline, each measurement in a fresh network namespace with its own xtables lock file.
// This process aggregates (medians of the runs), prints the tables, checks the targets of issue 5
// and writes bench/results/<mode>.json and <mode>.md. Options:
//   --full             add 100k rules (several minutes)
//   --runs N           runs per measurement (default 3, at least 3 for the published medians)
//   --rules 1000,10000 sizes in rules (multiples of 10)
//   --backends legacy,nft
//   --no-naive         skip the naive per-rule wrapper (measured at 1k rules only)
//   --no-cli           skip the CLI file phases (rules files of 20k, and with --full 100k, rules)
//   --cli-rules 20000  sizes of the CLI file phases
//   --cli-only         only the CLI file phases (no library runs, so the CLI apply ÷ library
//                      ratio has no reference: for it run --rules 100000 --cli-rules 100000)
//   --profile          also run, per backend, the four phases once at the largest --rules size
//                      (100k with --full, else 10k) under the V8 CPU profiler; print the initial
//                      apply's self time by file and function and each phase's longest busy
//                      stretches (what blocks the event loop) next to its event-loop max
//   --profile-dir DIR  keep those .cpuprofile files in DIR (<backend>-<rules>.<phase>.cpuprofile)
//   --no-nftables      skip the nftables backend (bench/nftables.ts)
//   --no-write         print only
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from './lib';
import { NETNS_PREFIX, sweepNamespacesSync } from './netns';
import { buildReport, type Report } from './report';
import { cpuTicks, stealShare } from './measure';
import type { CliResult, ProfileRun, WorkerResult } from './types';

interface Options {
  readonly mode: 'quick' | 'full';
  readonly runs: number;
  readonly rules: number[];
  readonly backends: ('legacy' | 'nft')[];
  readonly naive: boolean;
  readonly cliRules: number[];
  readonly cliOnly: boolean;
  readonly profile: boolean;
  readonly profileDir: string | undefined;
  readonly write: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const full = argv.includes('--full');
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const runs = Number(value('--runs') ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer`);
  const rules = (value('--rules') ?? (full ? '1000,10000,100000' : '1000,10000')).split(',').map(Number);
  const backends = (value('--backends') ?? 'legacy,nft').split(',') as ('legacy' | 'nft')[];
  for (const b of backends) if (b !== 'legacy' && b !== 'nft') throw new Error(`unknown backend ${b}`);
  const cliRules = argv.includes('--no-cli') ? [] : (value('--cli-rules') ?? (full ? '20000,100000' : '20000')).split(',').map(Number);
  for (const r of [...rules, ...cliRules]) if (!Number.isInteger(r) || r <= 0 || r % 10 !== 0) throw new Error(`rule counts must be positive multiples of 10, got ${r}`);
  return {
    mode: full ? 'full' : 'quick',
    runs,
    rules,
    backends,
    naive: !argv.includes('--no-naive'),
    cliRules,
    cliOnly: argv.includes('--cli-only'),
    profile: argv.includes('--profile') || value('--profile-dir') !== undefined,
    profileDir: value('--profile-dir'),
    write: !argv.includes('--no-write'),
  };
}

const runPrefix = `${NETNS_PREFIX}${process.pid}-`;
let current: ReturnType<typeof spawn> | undefined;
let tmp: string | undefined;

function cleanUp(): void {
  sweepNamespacesSync(runPrefix);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

function runWorker(args: string[], script = 'worker.js'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(__dirname, script), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    current = child;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      current = undefined;
      sweepNamespacesSync(runPrefix); // the worker deletes its own; this is the belt and braces
      if (code === 0) resolve();
      else reject(new Error(`worker ${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      // The worker cleans up its own namespaces on the same signal; wait for it, then sweep.
      if (current) {
        current.kill(sig);
        current.once('exit', () => {
          cleanUp();
          process.exit(130);
        });
      } else {
        cleanUp();
        process.exit(130);
      }
    });
  }
  const started = Date.now();
  const meta = {
    mode: opts.mode,
    runs: opts.runs,
    date: new Date().toISOString(),
    commit: sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    node: process.version,
    kernel: sh('uname', ['-r']),
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    iptablesLegacy: sh('iptables-legacy-restore', ['--version']),
    iptablesNft: sh('iptables-nft-restore', ['--version']),
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    loadAverageAtEnd: [] as number[],
    /** The hypervisor's steal share of the CPU over each part of the run (bench/measure.ts). */
    steal: {} as Record<string, number>,
    durationS: 0,
  };
  process.stderr.write(`iptables-sync bench (${opts.mode}): rules ${opts.cliOnly ? 'none (--cli-only)' : opts.rules.join(', ')}; backends ${opts.backends.join(', ')}; ${opts.runs} runs each\n`);

  const outDir = mkdtempSync(join(tmpdir(), 'ipts-b-out-'));
  tmp = outDir;
  const results: WorkerResult[] = [];
  let k = 0;
  const ticksAtStart = cpuTicks();
  let ticks = ticksAtStart;
  const part = (name: string): void => {
    const now = cpuTicks();
    meta.steal[name] = Math.round(stealShare(ticks, now) * 1000) / 10;
    ticks = now;
  };
  try {
    for (const rules of opts.cliOnly ? [] : opts.rules) {
      for (const backend of opts.backends) {
        const out = join(outDir, `${rules}-${backend}.json`);
        const args = ['--rules', String(rules), '--backend', backend, '--runs', String(opts.runs), '--tag', `${process.pid}-${k++}`, '--out', out];
        if (opts.naive && rules === 1000) args.push('--naive');
        process.stderr.write(`${backend}, ${rules} rules\n`);
        await runWorker(args);
        results.push(JSON.parse(readFileSync(out, 'utf8')) as WorkerResult);
      }
    }
    // Quick mode does not run 100k rules against iptables, but the render+hash target is about
    // 100k rules and needs no namespace: measure it (and the diff) on its own.
    if (results.length > 0) part('library');
    let microOnly: WorkerResult | undefined;
    if (!opts.rules.includes(100000) && !opts.cliOnly) {
      process.stderr.write(`render, hash and diff at 100000 rules (no iptables)\n`);
      const out = join(outDir, `micro.json`);
      await runWorker(['--rules', '100000', '--backend', 'legacy', '--runs', String(opts.runs), '--tag', `${process.pid}-${k++}`, '--out', out, '--micro-only']);
      microOnly = JSON.parse(readFileSync(out, 'utf8')) as WorkerResult;
    }
    let cli: CliResult[] = [];
    if (opts.cliRules.length > 0) {
      process.stderr.write(`CLI file phases: ${opts.cliRules.join(', ')} rules\n`);
      const out = join(outDir, 'cli.json');
      await runWorker(['--rules', opts.cliRules.join(','), '--backends', opts.backends.join(','), '--runs', String(opts.runs), '--tag', `${process.pid}-${k++}`, '--out', out], 'cli-phases.js');
      cli = JSON.parse(readFileSync(out, 'utf8')) as CliResult[];
      part('cli');
    }
    // The nftables backend prints its own table (bench/nftables.ts); --no-nftables skips it.
    if (!process.argv.includes('--no-nftables')) {
      process.stderr.write(`nftables backend: ${opts.rules.join(', ')} rules\n`);
      await runWorker(['--rules', opts.rules.join(','), '--runs', String(opts.runs), '--tag', `${process.pid}-${k++}`, ...(opts.write ? ['--write', opts.mode] : [])], 'nftables.js');
      part('nftables');
    }
    const profiles: ProfileRun[] = [];
    if (opts.profile) {
      const rules = Math.max(...opts.rules);
      if (opts.profileDir !== undefined) mkdirSync(resolve(opts.profileDir), { recursive: true });
      for (const backend of opts.backends) {
        process.stderr.write(`CPU profiles: ${backend}, the four phases, ${rules} rules\n`);
        const out = join(outDir, `profile-${backend}.json`);
        await runWorker(['--rules', String(rules), '--backend', backend, '--tag', `${process.pid}-${k++}`, '--out', out, '--profile', ...(opts.profileDir !== undefined ? ['--profile-dir', resolve(opts.profileDir)] : [])]);
        profiles.push(JSON.parse(readFileSync(out, 'utf8')) as ProfileRun);
      }
    }
    if (opts.profile) part('profiles');
    meta.steal.run = Math.round(stealShare(ticksAtStart, cpuTicks()) * 1000) / 10;
    meta.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
    meta.durationS = Math.round((Date.now() - started) / 100) / 10;
    const report: Report = buildReport(meta, results, microOnly, cli, profiles);
    process.stdout.write(`${report.text}\n`);
    if (opts.write) {
      const dir = join(ROOT, 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${opts.mode}.json`), `${JSON.stringify(report.json, null, 1)}\n`);
      writeFileSync(join(dir, `${opts.mode}.md`), report.markdown);
      process.stderr.write(`wrote bench/results/${opts.mode}.json and bench/results/${opts.mode}.md (${meta.durationS} s)\n`);
    }
  } finally {
    cleanUp();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  cleanUp();
  process.exit(1);
});


