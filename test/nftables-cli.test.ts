// The CLI with --backend nftables on real nft: apply writes our own nftables table, plan is then
// in sync (exit 0), cleanup removes only our table; another program's table is untouched.
import { beforeAll, describe, expect, it } from 'vitest';
import { useNamespace } from './helpers/netns';
import { buildCliIfMissing, ROOT, runCli } from './helpers/run-cli';
import { listTable, ruleset } from './nftables-env';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { ShownTable } from '../src/show';

const DEMO = join(ROOT, 'examples', 'demo.yaml');
const ns = useNamespace('nftcli');
beforeAll(async () => {
  buildCliIfMissing();
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

  it('show: every chain and rule of our table with its counters, ours marked, a foreign rule not; --json too', async () => {
    const common = ['--netns', ns.name, '--backend', 'nftables'];
    expect((await runCli(['apply', ...common, '-f', DEMO])).code).toBe(0);
    // Another program's rule in our table; traffic on lo through our INPUT base chain.
    await ns.execOk('nft', ['add', 'rule', 'ip', 'ipts-filter', 'ipts-tcp', 'ip', 'saddr', '192.0.2.9', 'counter', 'drop']);
    await ns.execOk('ip', ['link', 'set', 'lo', 'up']);
    for (let i = 0; i < 3; i++) await ns.execOk('bash', ['-c', 'echo x > /dev/udp/127.0.0.1/9']);
    const seen = await listTable(ns, 'ip', 'ipts-filter');
    const json = await runCli(['show', ...common, '--table', 'filter', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const shown = JSON.parse(json.stdout) as { tables: ShownTable[] };
    expect(shown.tables).toHaveLength(1);
    const t = shown.tables[0] as ShownTable;
    expect(t).toMatchObject({ table: 'filter', ipVersion: 4, backend: 'nftables', nftTable: 'ip ipts-filter', inserts: [] });
    expect(t.chains.map((c) => c.name)).toEqual([...(seen?.keys() ?? [])].sort());
    for (const c of t.chains) {
      const want = seen?.get(c.name)?.rules ?? [];
      expect(c.rules.map((r) => r.rule), c.name).toEqual(want.map((r) => (r.comment === undefined ? r.text : `${r.text} comment "${r.comment}"`)));
      expect(c.rules.map((r) => r.packets), c.name).toEqual(want.map((r) => r.packets));
      expect(c.rules.map((r) => r.id), c.name).toEqual(want.map((r) => (r.comment?.startsWith('ipts:') ? r.comment.slice(5, 21) : null)));
      expect(c.rules.map((r) => r.num)).toEqual(want.map((_, i) => i + 1));
    }
    const input = t.chains.find((c) => c.name === 'INPUT');
    expect(input?.rules[0]?.packets).toBeGreaterThanOrEqual(3); // 3 UDP datagrams on lo (and the ICMP port unreachable replies)
    expect(input?.rules[0]?.bytes).toBeGreaterThan(0);
    const tcp = t.chains.find((c) => c.name === 'ipts-tcp');
    expect(tcp?.rules.map((r) => r.id === null)).toEqual([false, false, true]);

    const text = await runCli(['show', ...common, '--table', 'filter']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('filter (IPv4, nftables: table ip ipts-filter)');
    expect(text.stdout).toMatch(/^\s+3\s+\(not ours\)\s+0\s+0\s+ip saddr 192\.0\.2\.9 counter drop$/m);
    expect(text.stdout).toMatch(/^\s+1\s+ipts:\S{16}\s+[1-9]\d*\s+[1-9]\d*\s+counter jump ipts-input$/m);
    expect(text.stdout).toMatch(/counter accept comment "ssh"$/m); // our ID left out, the rule's own comment kept
    // A table we do not have: nothing of ours.
    const nat = await runCli(['show', ...common, '--table', 'nat']);
    expect(nat.stdout).toBe('nat (IPv4, nftables: table ip ipts-nat)\n  nothing of ours\n');
    expect((await runCli(['cleanup', ...common, '--yes'])).code).toBe(0);
  });
  it('apply on a fresh host writes the whole file at once; apply again (a new process over the table) is in sync, keeping the counters', async () => {
    await ns.execOk('nft', ['flush', 'ruleset']);
    const common = ['--netns', ns.name, '--backend', 'nftables', '--json'];
    const first = await runCli(['apply', ...common, '-f', DEMO]);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ ok: true, changed: true, summary: { chainsToCreate: 3, rulesToAppend: 6, insertsToAdd: 1 } });
    expect((JSON.parse(first.stdout) as { tables: { written: string[] }[] }).tables[0]?.written[0]).toMatch(/^create table ip ipts-filter\n/);
    await ns.execOk('ip', ['link', 'set', 'lo', 'up']);
    for (let i = 0; i < 3; i++) await ns.execOk('bash', ['-c', 'echo x > /dev/udp/127.0.0.1/9']);
    const counted = (await listTable(ns, 'ip', 'ipts-filter'))?.get('INPUT')?.rules[0]?.packets ?? 0;
    expect(counted).toBeGreaterThanOrEqual(3);
    const again = await runCli(['apply', ...common, '-f', DEMO]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, changed: false, tables: [{ table: 'filter', written: [] }] });
    expect((await listTable(ns, 'ip', 'ipts-filter'))?.get('INPUT')?.rules[0]?.packets).toBeGreaterThanOrEqual(counted);
    expect((await runCli(['cleanup', '--netns', ns.name, '--backend', 'nftables', '--yes'])).code).toBe(0);
  });

  it('check --kernel: the file\'s nft transactions loaded by the kernel in a throwaway namespace; a refusal names the rule and its file position', async () => {
    const hostTables = execFileSync('nft', ['list', 'tables']).toString();
    const ok = await runCli(['check', '--kernel', '--backend', 'nftables', '-f', DEMO]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/is valid \(filter: 2 chains, 6 rules, 1 insert\); nft loads it into a throwaway network namespace\.\n$/);
    // nft's parser takes masquerade anywhere; the kernel refuses it outside postrouting and output.
    const file = join(mkdtempSync(join(tmpdir(), 'ipts-nftcheck-')), 'bad.yaml');
    writeFileSync(
      file,
      ['tables:', '  filter:', '    chains:', '      ipts-web:', '        - match: { protocol: tcp, destPorts: [80] }', '          action: accept',
        '  nat:', '    chains:', '      ipts-nat:', '        - action: accept', '    insert:', '      PREROUTING:', '        - match: { protocol: tcp }', '          action: masq', ''].join('\n'),
    );
    const bad = await runCli(['check', '--kernel', '--backend', 'nftables', '-f', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:13:11: tables\\.nat\\.insert\\.PREROUTING\\[0\\]: nft refused this rule \\(loaded into a throwaway network namespace, exit 1\\):\\n {4}add rule ip ipts-nat PREROUTING ip protocol tcp counter masquerade comment "ipts:\\S{16}"\\n`));
    expect(bad.stderr).toContain('Operation not supported');
    const json = await runCli(['check', '--kernel', '--backend', 'nftables', '--json', '-f', file]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      valid: false,
      kernel: { binary: 'nft', accepted: false, refusal: { table: 'nat', exitCode: 1, rule: { line: 13, column: 11, path: 'tables.nat.insert.PREROUTING[0]' }, bisected: false } },
    });
    expect(execFileSync('nft', ['list', 'tables']).toString()).toBe(hostTables); // nothing landed on the host
  });
});
