// `npm run demo` (demo/demo.ts, built to build/demo/demo/demo.js): runs end to end, and deletes
// its namespace when it ends and when it is interrupted (SIGINT, as Ctrl-C sends).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCliIfMissing, ROOT } from './helpers/run-cli';

const DEMO = join(ROOT, 'build', 'demo', 'demo', 'demo.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const namespaces = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] as string)
    .filter((n) => n !== '');

/** Namespaces a failed run might leave behind, deleted in afterAll. */
const seen = new Set<string>();

function startDemo(args: readonly string[] = []): { output: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; pid: number } {
  // No XTABLES_LOCKFILE of a test process: the demo runs as a user would run it.
  const env = { ...process.env };
  delete env.XTABLES_LOCKFILE;
  const child = spawn(process.execPath, [DEMO, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString('utf8');
    const m = /namespace (ipts-demo-\d+)/.exec(out);
    if (m) seen.add(m[1] as string);
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  return { output: () => out, exited, pid: child.pid as number };
}

beforeAll(() => {
  if (!existsSync(DEMO)) execFileSync('npx', ['tsc', '-p', 'demo/tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  buildCliIfMissing();
});

afterAll(() => {
  for (const name of seen) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // deleted by the demo, as it should be
    }
  }
});

describe('npm run demo', () => {
  it('runs end to end: plan (2), apply, plan (0), watch repairs ours and leaves theirs, SIGTERM, cleanup; the namespace is gone', async () => {
    const demo = startDemo();
    const exit = await Promise.race([demo.exited, sleep(45_000).then(() => 'timeout' as const)]);
    const out = demo.output();
    expect(exit, out).toEqual({ code: 0, signal: null });
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9]) expect(out).toContain(`Step ${n}/9`);
    expect(out).toContain('exit code 2: drift');
    expect(out).toContain('exit code 0: in sync, nothing to do');
    expect(out).toMatch(/\[watch\] .*repaired drift in filter/);
    expect(out).toContain('their rule stays');
    expect(out).toContain('exit code 0: watch stopped cleanly');
    expect(out).toContain('exit code 0: applied into table ip ipts-filter');
    expect(out).toContain('one command: replace that rule by its handle');
    expect(out).toMatch(/the untouched INPUT rule kept its counter \([1-9]\d* packets\)/);
    expect(out).toContain('exit code 0: our nftables table deleted');
    expect(out).toContain('Done.');
    const name = /namespace (ipts-demo-\d+)/.exec(out)?.[1] as string;
    expect(out).toContain(`(network namespace ${name} deleted)`);
    expect(namespaces()).not.toContain(name);
  });

  it('Ctrl-C (SIGINT) mid-demo stops watch and deletes the namespace', async () => {
    const demo = startDemo();
    const deadline = Date.now() + 30_000;
    while (!demo.output().includes('in sync; watching')) {
      if (Date.now() > deadline) throw new Error(`the demo did not reach watch:\n${demo.output()}`);
      await sleep(50);
    }
    const name = /namespace (ipts-demo-\d+)/.exec(demo.output())?.[1] as string;
    expect(namespaces()).toContain(name);
    process.kill(demo.pid, 'SIGINT');
    const exit = await Promise.race([demo.exited, sleep(10_000).then(() => 'timeout' as const)]);
    expect(exit).toEqual({ code: 130, signal: null });
    expect(demo.output()).toContain('Interrupted (SIGINT): cleaning up.');
    expect(namespaces()).not.toContain(name);
    // The watch child it started is gone too (it got SIGTERM; give it a moment on a busy machine).
    const gone = Date.now() + 10_000;
    while (execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(`--netns ${name}`)) {
      if (Date.now() > gone) throw new Error(`a process with --netns ${name} is still running`);
      await sleep(100);
    }
  });
});
