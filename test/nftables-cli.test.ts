// The CLI with --backend nftables on real nft: apply writes our own nftables table, plan is then
// in sync (exit 0), cleanup removes only our table; another program's table is untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns } from './helpers/netns';
import { buildCliIfMissing, ROOT, runCli } from './helpers/run-cli';
import { listTable, ruleset } from './nftables-env';
import { join } from 'node:path';

const DEMO = join(ROOT, 'examples', 'demo.yaml');
let ns: Netns;
beforeAll(async () => {
  buildCliIfMissing();
  ns = await Netns.create('nftcli');
});
afterAll(async () => {
  await ns?.destroy();
});

describe('CLI --backend nftables', () => {
  it('applies a rules file into our nftables table, is then in sync, and cleanup removes only our table', async () => {
    await ns.execOk('nft', ['-f', '-'], 'add table ip other\nadd chain ip other c\nadd rule ip other c accept\n');
    const before = await ruleset(ns);
    const common = ['--netns', ns.name, '--backend', 'nftables'];
    const apply = await runCli(['apply', ...common, '-f', DEMO]);
    expect(apply.code, apply.stderr).toBe(0);
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    expect([...(seen?.keys() ?? [])].sort()).toEqual(['INPUT', 'ipts-input', 'ipts-tcp']);
    expect(seen?.get('INPUT')?.rules.map((r) => r.text)).toEqual(['counter jump ipts-input']);
    expect((await runCli(['plan', ...common, '-f', DEMO])).code).toBe(0);
    const cleanup = await runCli(['cleanup', ...common, '--yes']);
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(await ruleset(ns)).toBe(before);
  });

  it('refuses show, which reads iptables, with a usage error', async () => {
    const show = await runCli(['show', '--netns', ns.name, '--backend', 'nftables']);
    expect(show.code).not.toBe(0);
    expect(show.stderr).toMatch(/not available with --backend nftables/);
  });
});
