// The CLI file phases: the workload as a JSON and a YAML rules file, run through the real CLI
// (`node dist/cli.js`) as a new user would: `check`, `plan` (against an empty namespace) and
// `apply` (into a fresh namespace each time), each run --runs times (default 1) and timed
// wall-clock, the median kept, with its peak RSS from `/usr/bin/time -f %M`; and the loader's two steps on the same file, parse (JSON.parse or
// js-yaml) and build (the walk to Chains and Rules), timed apart in a process of their own.
// Started by bench/run.ts; writes its results as JSON to --out.
//
//   node dist-bench/bench/cli-phases.js --rules 20000,100000 --backends legacy,nft [--runs 3] --tag <t> --out <file>
//   node dist-bench/bench/cli-phases.js --steps <rules file> --out <file>   (the steps' child)
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib';
import { median, timeCommand } from './measure';
import { installCleanupHooks, scratchDir, withNetns, type Netns } from './netns';
import { CLI_PREFIX_ARGS, workloadJson, workloadYaml } from './rules-file';
import type * as LoadModule from '../src/rules-file/load';
import type { Backend, CliResult } from './types';
import { HASH_PREFIX } from './workload';

const CLI = join(ROOT, 'dist', 'cli.js');
const log = (msg: string): void => void process.stderr.write(`  [${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

interface CliRun {
  readonly wallMs: number;
  readonly peakRssMb: number;
  readonly code: number | null;
  readonly stderr: string;
}

/** One CLI invocation under /usr/bin/time (its %M is the CLI's own peak RSS in KiB). Stdout
 *  (plan's restore input) goes to `stdoutFile`, or nowhere; stderr is kept for the error message
 *  and progress. */
function runCli(args: readonly string[], env: NodeJS.ProcessEnv, stdoutFile?: string): Promise<CliRun> {
  const rssFile = join(scratchDir(), `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const out = stdoutFile !== undefined ? openSync(stdoutFile, 'w') : 'ignore';
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, CLI, ...args], { stdio: ['ignore', out, 'pipe'], env });
    if (typeof out === 'number') closeSync(out);
    const err: Buffer[] = [];
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      let kib = NaN;
      try {
        kib = Number(/(\d+)\s*$/.exec(readFileSync(rssFile, 'utf8'))?.[1]);
      } catch {
        // time(1) did not write it (killed): NaN says so
      }
      rmSync(rssFile, { force: true });
      resolve({ wallMs, peakRssMb: kib / 1024, code, stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** `times` runs of `run` (one after another, each checked by `run`): the median wall time and
 *  the median peak RSS. */
async function repeated(times: number, run: () => Promise<CliRun>): Promise<CliRun> {
  const runs: CliRun[] = [];
  for (let i = 0; i < times; i++) runs.push(await run());
  return { ...(runs[0] as CliRun), wallMs: median(runs.map((r) => r.wallMs)), peakRssMb: median(runs.map((r) => r.peakRssMb)) };
}

/** A bare restore (no options) of `input` into an empty namespace, timed as the library bench
 *  times its initial-apply floor (timeCommand): wall ms. */
async function bareRestoreMs(tag: string, backend: Backend, input: string): Promise<number> {
  return withNetns(tag, async (ns) => (await timeCommand(ns.name, `iptables-${backend}-restore`, [], input)).wallMs);
}

function ok(run: CliRun, what: string, codes: readonly number[] = [0]): CliRun {
  if (run.code === null || !codes.includes(run.code)) throw new Error(`${what} exited ${run.code}: ${run.stderr.trim().slice(-2000)}`);
  return run;
}

/** What the steps' child measured. */
interface FileSteps {
  readonly parseMs: number;
  readonly buildMs: number;
  readonly peakRssMb: number;
}

/** The steps' child: read the file, parse it on the fast path, build its rules; wall ms each. */
function measureSteps(file: string): FileSteps {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = require(join(ROOT, 'dist', 'rules-file', 'load')) as typeof LoadModule;
  const text = load.readRulesFile(file, { maxFileSize: 2 ** 31 });
  const t0 = performance.now();
  const doc = load.parsePlain(text, file);
  const t1 = performance.now();
  const rules = doc && load.buildFromPlain(doc, file, { chainPrefix: 'cali-' });
  const t2 = performance.now();
  if (!rules) throw new Error(`${file}: the fast path declined it`);
  return { parseMs: t1 - t0, buildMs: t2 - t1, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

function runSteps(file: string): Promise<FileSteps> {
  const out = join(scratchDir(), `steps-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--steps', file, '--out', out], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`steps of ${file} exited ${code}`));
      const steps = JSON.parse(readFileSync(out, 'utf8')) as FileSteps;
      rmSync(out, { force: true });
      resolve(steps);
    });
  });
}

async function countOurs(ns: Netns, backend: Backend): Promise<number> {
  const dump = await ns.execOk(`iptables-${backend}-save`, ['-t', 'filter']);
  return dump.split('\n').filter((l) => l.startsWith('-A ') && l.includes(HASH_PREFIX)).length;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (name: string): string => {
    const i = argv.indexOf(name);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (v === undefined) throw new Error(`${name} is required`);
    return v;
  };
  if (argv.includes('--steps')) {
    writeFileSync(value('--out'), JSON.stringify(measureSteps(value('--steps'))));
    return;
  }
  installCleanupHooks();
  const sizes = value('--rules').split(',').map(Number);
  const backends = value('--backends').split(',') as Backend[];
  const tag = value('--tag');
  const runs = argv.includes('--runs') ? Number(value('--runs')) : 1;
  const out = value('--out');
  const results: CliResult[] = [];
  for (const rules of sizes) {
    const files = { json: join(scratchDir(), `rules-${rules}.json`), yaml: join(scratchDir(), `rules-${rules}.yaml`) };
    writeFileSync(files.json, workloadJson(rules));
    writeFileSync(files.yaml, workloadYaml(rules));
    for (const format of ['json', 'yaml'] as const) {
      const file = files[format];
      const common = ['-f', file, ...CLI_PREFIX_ARGS, '--max-file-size', '2GiB'];
      const fileBytes = statSync(file).size;
      log(`CLI ${rules} rules, ${format} (${(fileBytes / 1048576).toFixed(1)} MiB): parse and build`);
      const steps = await runSteps(file);
      results.push({ rules, format, command: 'parse', backend: null, fileBytes, wallMs: steps.parseMs, peakRssMb: steps.peakRssMb });
      results.push({ rules, format, command: 'build', backend: null, fileBytes, wallMs: steps.buildMs, peakRssMb: steps.peakRssMb });
      log(`CLI ${rules} rules, ${format}: check`);
      const check = await repeated(runs, async () => ok(await runCli(['check', ...common], process.env), 'check'));
      results.push({ rules, format, command: 'check', backend: null, fileBytes, wallMs: check.wallMs, peakRssMb: check.peakRssMb });
      // plan against an empty namespace (drift everywhere: exit 2), on the first backend.
      const planBackend = backends[0] as Backend;
      log(`CLI ${rules} rules, ${format}: plan (${planBackend})`);
      // Its output, the restore input of an empty table, is what the apply's floor restores.
      const planOutput = join(scratchDir(), `plan-${process.pid}-${rules}-${format}.txt`);
      const plan = await repeated(runs, async () =>
        ok(
          await withNetns(tag, (ns) =>
            runCli(['plan', ...common, '--netns', ns.name, '--backend', planBackend, '--lock-file', ns.lockFile], { ...process.env, XTABLES_LOCKFILE: ns.lockFile }, planOutput),
          ),
          'plan',
          [0, 2],
        ),
      );
      const restoreInput = readFileSync(planOutput, 'utf8');
      rmSync(planOutput, { force: true });
      results.push({ rules, format, command: 'plan', backend: planBackend, fileBytes, wallMs: plan.wallMs, peakRssMb: plan.peakRssMb });
      // apply: JSON on every backend, YAML on the first (its extra cost is the parse, not the backend).
      for (const backend of format === 'json' ? backends : [planBackend]) {
        log(`CLI ${rules} rules, ${format}: apply (${backend})`);
        // Each apply is paired with its floor, run right after it: this machine's speed drifts
        // between the library's runs and these, and the ratio to the floor does not.
        const ratios: number[] = [];
        const apply = await repeated(runs, async () => {
          const r = await withNetns(tag, async (ns) => {
            const run = ok(
              await runCli(['apply', ...common, '--netns', ns.name, '--backend', backend, '--lock-file', ns.lockFile], { ...process.env, XTABLES_LOCKFILE: ns.lockFile }),
              'apply',
            );
            const ours = await countOurs(ns, backend);
            if (ours !== rules + 1) throw new Error(`CLI apply (${backend}, ${format}) left ${ours} rules with our IDs, expected ${rules + 1}`);
            return run;
          });
          ratios.push(r.wallMs / (await bareRestoreMs(tag, backend, restoreInput)));
          return r;
        });
        results.push({ rules, format, command: 'apply', backend, fileBytes, wallMs: apply.wallMs, peakRssMb: apply.peakRssMb, ratioToFloor: median(ratios) });
      }
    }
    rmSync(files.json, { force: true });
    rmSync(files.yaml, { force: true });
  }
  writeFileSync(out, JSON.stringify(results, null, 1));
}

main().catch((error: unknown) => {
  process.stderr.write(`cli phases failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
