// The CLI's --features option on real iptables: the default 'auto' writes MASQUERADE and SNAT
// with --random-fully on this host (iptables 1.8.9, kernel 6.x); --features none keeps Felix
// v3.2.2's text.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, chainRules, useNamespace } from './helpers/netns';
import { runCli, buildCliIfMissing } from './helpers/run-cli';

const DIR = mkdtempSync(join(tmpdir(), 'ipts-par-cf-'));
const FILE = join(DIR, 'nat.yaml');
writeFileSync(
  FILE,
  'tables:\n  nat:\n    chains:\n      ipts-out:\n        - match: { sourceNet: 10.1.0.0/16 }\n          action: { snat: 192.0.2.1 }\n        - action: masq\n    insert:\n      POSTROUTING:\n        - action: { jump: ipts-out }\n',
);

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

beforeAll(buildCliIfMissing);

describe.each(BACKENDS)('--features on iptables-%s', (backend) => {
  const ns = useNamespace(`par-cf-${backend}`, { resetBeforeEach: backend });

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
