// The CLI's --nft-table-prefix on real nft: every command uses `<prefix><table>` as our nftables
// table, and cleanup removes only that one (a default-prefix table of ours and another program's
// table stay, read back with an independent `nft list ruleset`). The option is refused, naming
// itself and the value, without --backend nftables and when it makes an invalid table name.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DoctorReport } from '../src/doctor';
import type { ShownTable } from '../src/show';
import { useNamespace } from './helpers/netns';
import { buildCliIfMissing, ROOT, runCli } from './helpers/run-cli';
import { listTable, ruleset, tableText } from './nftables-env';

const DEMO = join(ROOT, 'examples', 'demo.yaml');
const ns = useNamespace('nfcprefix');
beforeAll(buildCliIfMissing);

/** The `table <family> <name>` lines of `nft list tables`, read independently. */
const tables = async (): Promise<string[]> => (await ns.execOk('nft', ['list', 'tables'])).split('\n').filter((l) => l !== '').sort();

describe('CLI --nft-table-prefix', () => {
  it('apply creates exactly <prefix>filter; plan, show and doctor find it; cleanup removes only it', async () => {
    await ns.execOk('nft', ['-f', '-'], 'add table ip other\nadd chain ip other c { type filter hook input priority 0; policy accept; }\nadd rule ip other c tcp dport 22 counter accept\n');
    const nft = ['--netns', ns.name, '--backend', 'nftables'];
    const mine = [...nft, '--nft-table-prefix', 'mine_'];
    // A table of ours under the default prefix, which the prefixed runs must not touch.
    expect((await runCli(['apply', ...nft, '-f', DEMO])).code).toBe(0);
    const before = await ruleset(ns);
    const tablesBefore = await tables();
    expect(tablesBefore).toEqual(['table ip ipts-filter', 'table ip other']);

    const apply = await runCli(['apply', ...mine, '-f', DEMO]);
    expect(apply.code, apply.stderr).toBe(0);
    expect(await tables()).toEqual([...tablesBefore, 'table ip mine_filter'].sort());
    const seen = await listTable(ns, 'ip', 'mine_filter');
    expect([...(seen?.keys() ?? [])].sort()).toEqual(['INPUT', 'ipts-input', 'ipts-tcp']);
    expect(seen?.get('INPUT')?.rules.map((r) => r.text)).toEqual(['counter jump ipts-input']);
    const during = await ruleset(ns);
    expect(tableText(during, 'ip', 'ipts-filter')).toBe(tableText(before, 'ip', 'ipts-filter'));
    expect(tableText(during, 'ip', 'other')).toBe(tableText(before, 'ip', 'other'));

    const plan = await runCli(['plan', ...mine, '-f', DEMO]);
    expect(plan, plan.stderr).toEqual({ code: 0, stdout: '', stderr: 'In sync (mine_filter): nothing to do.\n' }); // plan names the nftables table
    // Without the prefix a plan looks at ipts-filter, which is also in sync: so break ours, and
    // only the prefixed plan sees it.
    await ns.execOk('nft', ['flush', 'chain', 'ip', 'mine_filter', 'ipts-tcp']);
    expect((await runCli(['plan', ...nft, '-f', DEMO])).code).toBe(0);
    const drift = await runCli(['plan', ...mine, '-f', DEMO]);
    expect(drift.code).toBe(2);
    expect(drift.stdout).toMatch(/^add rule ip mine_filter ipts-tcp /m);
    expect((await runCli(['apply', ...mine, '-f', DEMO])).code).toBe(0);

    const show = await runCli(['show', ...mine, '--table', 'filter', '--json']);
    expect(show.code, show.stderr).toBe(0);
    const shown = (JSON.parse(show.stdout) as { tables: ShownTable[] }).tables;
    expect(shown.map((t) => [t.nftTable, t.chains.map((c) => c.name)])).toEqual([['ip mine_filter', [...((await listTable(ns, 'ip', 'mine_filter'))?.keys() ?? [])].sort()]]);
    expect((await runCli(['show', ...mine, '--table', 'filter'])).stdout).toContain('filter (IPv4, nftables: table ip mine_filter)');

    const doctor = await runCli(['doctor', ...mine, '--json']);
    expect(doctor.code, doctor.stderr).toBe(0);
    expect((JSON.parse(doctor.stdout) as DoctorReport).nftables).toMatchObject({
      status: 'ok',
      tables: ['ip mine_filter', 'ip mine_nat', 'ip mine_mangle', 'ip mine_raw'],
      present: ['ip mine_filter'],
    });

    const dry = await runCli(['cleanup', ...mine]);
    expect(dry.code).toBe(1); // something to remove
    expect(dry.stdout).toMatch(/^delete table ip mine_filter$/m);
    expect(dry.stdout).not.toContain('ipts-filter');
    const cleanup = await runCli(['cleanup', ...mine, '--yes']);
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(await ruleset(ns)).toBe(before); // the default-prefix table and theirs, byte for byte
    expect((await runCli(['cleanup', ...nft, '--yes'])).code).toBe(0);
    expect(await tables()).toEqual(['table ip other']);
  });

  it("check --kernel renders the prefixed table: nft's refusal quotes its name", async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ipts-nfcprefix-')), 'bad.yaml');
    writeFileSync(file, ['tables:', '  nat:', '    insert:', '      PREROUTING:', '        - match: { protocol: tcp }', '          action: masq', ''].join('\n'));
    const bad = await runCli(['check', '--kernel', '--backend', 'nftables', '--nft-table-prefix', 'mine_', '-f', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\n {4}add rule ip mine_nat PREROUTING ip protocol tcp counter masquerade comment "ipts:\S{16}"\n/);
  });
});

describe('CLI --nft-table-prefix refused', () => {
  const COMMANDS: readonly (readonly string[])[] = [['check', '-f', DEMO], ['plan', '-f', DEMO], ['apply', '-f', DEMO], ['watch', '-f', DEMO], ['show'], ['cleanup', '--yes'], ['doctor']];

  it('without --backend nftables, in every command: a usage error naming the option and the value', async () => {
    const runs = [...COMMANDS.map((cmd) => [...cmd, '--backend', 'legacy']), ['plan', '-f', DEMO], ['plan', '-f', DEMO, '--backend', 'nft']];
    const results = await Promise.all(runs.map((args) => runCli([...args, '--nft-table-prefix', 'mine_'])));
    results.forEach((res, i) => {
      const what = (runs[i] ?? []).join(' ');
      expect(res.code, what).toBe(1);
      expect(res.stdout, what).toBe('');
      expect(res.stderr, what).toMatch(/^iptables-sync: error: --nft-table-prefix "mine_": only with --backend nftables \(the backend is (auto|legacy|nft)\)\n$/);
    });
  });

  it('an invalid prefix, one making a name too long, or one making an iptables-nft table name: a usage error naming both', async () => {
    const long = 'x'.repeat(250); // + "filter" is 256 bytes, over nft's 255
    const cases: readonly (readonly [string, RegExp])[] = [
      ['a b', /^iptables-sync: error: --nft-table-prefix "a b": the nftables table name of filter would be "a bfilter", and an nftables name must start with a letter/],
      ['1-', /^iptables-sync: error: --nft-table-prefix "1-": the nftables table name of filter would be "1-filter", and an nftables name must start with a letter/],
      ['x"y', /^iptables-sync: error: --nft-table-prefix "x\\"y": /],
      [long, new RegExp(`^iptables-sync: error: --nft-table-prefix "${long}": the nftables table name of filter would be "${long}filter", and an nftables name must be at most 255 bytes`)],
      ['', /^iptables-sync: error: --nft-table-prefix "": the nftables table name of filter would be "filter", and "filter" is a table of iptables-nft's own/],
    ];
    // One validation for every command: every case on plan, the first on every command.
    const runs = [...cases.map(([prefix, message]) => [['plan', '-f', DEMO], prefix, message] as const), ...COMMANDS.map((cmd) => [cmd, 'a b', (cases[0] as readonly [string, RegExp])[1]] as const)];
    const results = await Promise.all(runs.map(([cmd, prefix]) => runCli([...cmd, '--backend', 'nftables', '--nft-table-prefix', prefix])));
    results.forEach((res, i) => {
      const [cmd, prefix, message] = runs[i] as (typeof runs)[number];
      const what = `${cmd[0] ?? ''} ${JSON.stringify(prefix)}`;
      expect(res.code, what).toBe(1);
      expect(res.stdout, what).toBe('');
      expect(res.stderr, what).toMatch(message);
    });
  });
});
