// The CLI's --features option on real iptables: the default 'auto' writes MASQUERADE and SNAT
// with --random-fully on this host (iptables 1.8.9, kernel 6.x); --features none keeps Felix
// v3.2.2's text.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, chainRules, Netns } from './helpers/netns';
import { resetTables } from './helpers/table-env';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');

function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

const DIR = mkdtempSync(join(tmpdir(), 'ipts-par-cf-'));
const FILE = join(DIR, 'nat.yaml');
writeFileSync(
  FILE,
  'tables:\n  nat:\n    chains:\n      ipts-out:\n        - match: { sourceNet: 10.1.0.0/16 }\n          action: { snat: 192.0.2.1 }\n        - action: masq\n    insert:\n      POSTROUTING:\n        - action: { jump: ipts-out }\n',
);

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

beforeAll(() => {
  if (!existsSync(CLI)) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
});

describe.each(BACKENDS)('--features on iptables-%s', (backend) => {
  let ns: Netns;
  beforeAll(async () => {
    ns = await Netns.create(`par-cf-${backend}`);
  });
  afterAll(async () => {
    await ns?.destroy();
  });
  beforeEach(async () => {
    await resetTables(ns, backend);
  });

  it('the default (auto) plans and writes --random-fully', async () => {
    const common = ['--netns', ns.name, '--backend', backend, '-f', FILE];
    const plan = await runCli(['plan', ...common]);
    expect(plan.stdout).toContain('--jump SNAT --to-source 192.0.2.1 --random-fully');
    expect(plan.stdout).toContain('--jump MASQUERADE --random-fully');
    const apply = await runCli(['apply', ...common]);
    expect(apply.code, apply.stderr).toBe(0);
    const lines = chainRules(await ns.save(backend, 'nat'), 'ipts-out');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/ --random-fully$/);
    expect((await runCli(['plan', ...common])).code).toBe(0); // in sync
  });

  it('--features none keeps the v3.2.2 text', async () => {
    const common = ['--netns', ns.name, '--backend', backend, '--features', 'none', '-f', FILE];
    const plan = await runCli(['plan', ...common]);
    expect(plan.stdout).toContain('--jump MASQUERADE\n');
    expect(plan.stdout).not.toContain('random-fully');
    expect((await runCli(['apply', ...common])).code).toBe(0);
    for (const line of chainRules(await ns.save(backend, 'nat'), 'ipts-out')) expect(line).not.toContain('random-fully');
  });

  it('--features takes only none or auto', async () => {
    const res = await runCli(['plan', '--netns', ns.name, '--features', 'yes', '-f', FILE]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/--features must be one of none, auto/);
  });
});
