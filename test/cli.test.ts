// The real, built CLI (node dist/cli.js) against real iptables in throwaway namespaces, on both
// backends: plan prints exactly what apply then writes, exit codes, show, cleanup, bad files.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../src/config';
import { BACKENDS, chainRules, hasChain, useNamespace } from './helpers/netns';
import { idsByChain } from './helpers/table-env';
import { runCli, runCommandLine, buildCliIfMissing, CLI, ROOT } from './helpers/run-cli';

const DEMO = join(ROOT, 'examples', 'demo.yaml');

const scratch = mkdtempSync(join(tmpdir(), 'ipts-cli-'));
function rulesFile(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

/** The dump without its "# Generated/Completed" lines, which carry a timestamp. */
const stable = (dump: string): string =>
  dump
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');

beforeAll(() => {
  // `npm test` builds first; a lone `vitest run` of this file builds here.
  buildCliIfMissing();
});

describe.each(BACKENDS)('CLI on real iptables (%s)', (backend) => {
  const ns = useNamespace(`cli${backend}`, { resetBeforeEach: backend });
  let common: string[];
  beforeAll(async () => {
    common = ['--netns', ns.name, '--backend', backend];
  });

  it('plan prints exactly what apply then writes; exit 2 on drift, 0 once applied', async () => {
    const [plan, planJson] = await Promise.all([runCli(['plan', ...common, '-f', DEMO]), runCli(['plan', ...common, '-f', DEMO, '--json'])]);
    expect(plan.stderr).toBe('Plan (filter): 2 chains to create, 6 rules to append, 1 insert to add.\n');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toMatch(/^\*filter\n:ipts-input - -\n:ipts-tcp - -\n/);
    expect(plan.stdout.endsWith('COMMIT\n')).toBe(true);

    const apply = await runCli(['apply', ...common, '-f', DEMO, '--json']);
    expect(apply.stderr).toBe('');
    expect(apply.code).toBe(0);
    const applied = JSON.parse(apply.stdout) as { changed: boolean; tables: { table: string; written: string[]; summary: object }[] };
    expect(applied.changed).toBe(true);
    expect(applied.tables.map((t) => t.table)).toEqual(['filter']);
    // What iptables-restore was given, byte for byte, is what plan printed.
    expect(applied.tables[0]?.written).toEqual([plan.stdout]);
    // And apply counts what it wrote exactly as plan counted it.
    const planned = JSON.parse(planJson.stdout) as { summary: object; tables: { input: string }[] };
    expect(planned.tables[0]?.input).toBe(plan.stdout);
    expect(applied.tables[0]?.summary).toEqual(planned.summary);

    // The dataplane now holds the file's rules, with the IDs the API computes.
    const dump = await ns.save(backend, 'filter');
    const ids = idsByChain(dump, 'ipts:');
    const filter = loadRulesFile(DEMO).tables.get('filter');
    for (const chain of filter?.chains ?? []) expect(ids.get(chain.name)).toEqual(chain.ruleHashes());
    expect(chainRules(dump, 'INPUT')).toHaveLength(1);

    const again = await runCli(['plan', ...common, '-f', DEMO]);
    expect(again).toEqual({ code: 0, stdout: '', stderr: 'In sync (filter): nothing to do.\n' });
    const applyAgain = await runCli(['apply', ...common, '-f', DEMO]);
    expect(applyAgain.code).toBe(0);
    expect(applyAgain.stdout).toMatch(/^Applied .*demo\.yaml \(filter\): already in sync, nothing written in \d+ ms\.\n$/);
  });

  it('plan shows drift made by another program, apply repairs exactly that, and a file edit plans as -R', async () => {
    expect((await runCli(['apply', ...common, '-f', DEMO])).code).toBe(0);
    await ns.iptables(backend, ['-D', 'ipts-tcp', '2']);
    await ns.iptables(backend, ['-I', 'INPUT', '1', '-p', 'tcp', '--dport', '8080', '-j', 'ACCEPT']);

    const plan = await runCli(['plan', ...common, '-f', DEMO, '--json']);
    expect(plan.code).toBe(2);
    const p = JSON.parse(plan.stdout) as { inSync: boolean; summary: Record<string, number>; tables: { input: string }[] };
    expect(p.inSync).toBe(false);
    expect(p.summary).toMatchObject({ rulesToAppend: 1, insertsToDelete: 1, insertsToAdd: 1, chainsToCreate: 0 });
    const lines = (p.tables[0]?.input ?? '').split('\n');
    expect(lines.filter((l) => l.startsWith('-A ipts-tcp '))).toHaveLength(1);

    const apply = await runCli(['apply', ...common, '-f', DEMO, '--json']);
    expect((JSON.parse(apply.stdout) as { tables: { written: string[] }[] }).tables[0]?.written).toEqual([p.tables[0]?.input]);
    const dump = await ns.save(backend, 'filter');
    expect(chainRules(dump, 'ipts-tcp')).toHaveLength(2);
    const input = chainRules(dump, 'INPUT');
    expect(input[0]).toContain('ipts-input');
    expect(input[1]).toContain('8080'); // theirs stays, below ours

    // Edit the last rule of ipts-tcp: only that rule is replaced.
    const edited = rulesFile('edited.yaml', readFileSync(DEMO, 'utf8').replace('destPorts: [80, 443]', 'destPorts: [80, 8443]'));
    const editPlan = await runCli(['plan', ...common, '-f', edited]);
    expect(editPlan.code).toBe(2);
    expect(editPlan.stdout.split('\n').filter((l) => /^-[ARDI] /.test(l))).toEqual([expect.stringMatching(/^-R ipts-tcp 2 .*--destination-ports 80,8443 --jump ACCEPT$/)]);
    expect(editPlan.stderr).toBe('Plan (filter): 1 rule to replace.\n');

    // Drop ipts-tcp (and the jump to it) from the file: the chain is deleted in its own transaction,
    // which plan prints after the main one.
    const shrunk = rulesFile(
      'shrunk.yaml',
      readFileSync(DEMO, 'utf8')
        .replace(/      ipts-tcp:\n(?:        .*\n|          .*\n)*/, '')
        .replace('        - match: { protocol: tcp }\n          action: { jump: ipts-tcp }\n', ''),
    );
    const shrunkPlan = await runCli(['plan', ...common, '-f', shrunk]);
    expect(shrunkPlan.code).toBe(2);
    expect(shrunkPlan.stderr).toBe('Plan (filter): 1 rule to replace, 1 rule to delete, 1 chain to delete.\n');
    expect(shrunkPlan.stdout).toMatch(/\nCOMMIT\n\*filter\n:ipts-tcp - -\n--delete-chain ipts-tcp\nCOMMIT\n$/);
    const shrunkApply = await runCli(['apply', ...common, '-f', shrunk, '--json']);
    expect((JSON.parse(shrunkApply.stdout) as { tables: { written: string[] }[] }).tables[0]?.written.join('')).toBe(shrunkPlan.stdout);
    expect(hasChain(await ns.save(backend, 'filter'), 'ipts-tcp')).toBe(false);
  });

  it('a malformed file gives file:line:column errors and changes nothing', async () => {
    expect((await runCli(['apply', ...common, '-f', DEMO])).code).toBe(0);
    const before = stable(await ns.save(backend, 'filter', 4, true));
    const bad = rulesFile(
      'bad.yaml',
      'tables:\n  filter:\n    chains:\n      ipts-input:\n        - match: { protocol: tcp, destPorts: [80, 99999] }\n          action: accept\n      ipts-tcp:\n        - action: { jump: ipts-nowhere }\n',
    );
    const syntax = rulesFile('syntax.yaml', 'tables:\n  filter:\n    chains:\n      ipts-a: [\n');
    const commands = ['plan', 'apply', 'watch'];
    const [syntaxRes, ...results] = await Promise.all([
      runCli(['apply', ...common, '-f', syntax, '--json']),
      ...commands.map((command) => runCli([command, ...common, '-f', bad])),
    ]);
    results.forEach((res, i) => {
      const command = commands[i];
      expect(res.code, command).toBe(1);
      expect(res.stdout, command).toBe('');
      const first = res.stderr.split('\n')[0];
      expect(first, command).toBe(`${bad}:5:51: tables.filter.chains.ipts-input[0].match.destPorts: port must be an integer from 0 to 65535 (got 99999 (0x1869f))`);
      expect(res.stderr, command).toContain(`${bad}:8:27: tables.filter.chains.ipts-tcp[0].action.jump: no chain "ipts-nowhere"`);
      expect(res.stderr, command).toContain(`    5 |         - match: { protocol: tcp, destPorts: [80, 99999] }\n      | ${' '.repeat(50)}^\n`);
    });
    expect(syntaxRes?.code).toBe(1);
    const err = JSON.parse(syntaxRes?.stderr ?? '') as { error: string; issues: { file: string; line: number; column: number }[] };
    expect(err.error).toBe('ConfigError');
    expect(err.issues[0]).toMatchObject({ file: syntax, line: 5, column: 1 });
    expect(stable(await ns.save(backend, 'filter', 4, true))).toBe(before);
  });

  it('the examples apply cleanly and are then in sync; show lists them with IDs and counters; cleanup removes them', async () => {
    const files = ['host-firewall.yaml', 'service-proxy.yaml'].map((f) => join(ROOT, 'examples', f));
    const applied = await Promise.all(files.map((f) => runCli(['apply', ...common, '-f', f])));
    for (const a of applied) expect(a).toMatchObject({ code: 0, stderr: '' });
    const plans = await Promise.all(files.map((f) => runCli(['plan', ...common, '-f', f])));
    for (const p of plans) expect(p).toMatchObject({ code: 0, stdout: '' });
    // Someone else's rule in INPUT must survive cleanup.
    await ns.iptables(backend, ['-A', 'INPUT', '-i', 'eth9', '-j', 'ACCEPT']);

    const [show, human] = await Promise.all([runCli(['show', ...common, '--json']), runCli(['show', ...common, '--table', 'nat'])]);
    expect(show.code).toBe(0);
    const shown = JSON.parse(show.stdout) as { tables: { table: string; chains: { name: string; rules: { id: string | null; packets: number }[] }[]; inserts: { name: string; rules: { num: number }[] }[] }[] };
    const filter = shown.tables.find((t) => t.table === 'filter');
    const nat = shown.tables.find((t) => t.table === 'nat');
    const expected = loadRulesFile(files[0] as string).tables.get('filter');
    expect(filter?.chains.map((c) => c.name)).toEqual(expected?.chains.map((c) => c.name).sort());
    for (const chain of expected?.chains ?? []) {
      expect(filter?.chains.find((c) => c.name === chain.name)?.rules.map((r) => r.id)).toEqual(chain.ruleHashes());
    }
    expect(filter?.inserts).toEqual([{ name: 'INPUT', rules: [expect.objectContaining({ num: 1, packets: 0 })] }]);
    expect(nat?.inserts.map((c) => c.name)).toEqual(['PREROUTING', 'OUTPUT', 'POSTROUTING']);
    expect(human.stdout).toMatch(/^nat \(IPv4, (legacy|nft)\)\n  chain ipts-mark-masq \(1 rule\)\n/);
    expect(human.stdout).toMatch(/ipts:[A-Za-z0-9_-]{16} +0 +0 +-j ipts-services/);

    // Without --yes: shows what would go, changes nothing.
    const dry = await runCli(['cleanup', ...common]);
    expect(dry.code).toBe(1);
    expect(dry.stderr).toMatch(/^cleanup would remove: .*4 inserts to delete, 9 chains to delete\. Run again with --yes to remove\.\n$/);
    expect(hasChain(await ns.save(backend, 'filter'), 'ipts-input')).toBe(true);

    const cleaned = await runCli(['cleanup', '--yes', ...common]);
    expect(cleaned.stderr).toBe('');
    expect(cleaned.code).toBe(0);
    const filterDump = await ns.save(backend, 'filter');
    const natDump = await ns.save(backend, 'nat');
    expect(filterDump).not.toContain('ipts');
    expect(natDump).not.toContain('ipts');
    expect(chainRules(filterDump, 'INPUT')).toEqual(['-A INPUT -i eth9 -j ACCEPT']);
    expect((await runCli(['plan', ...common, '-f', files[0] as string])).code).toBe(2);
  });

  it('IPv6 with --ip-version 6, custom prefixes and append mode', async () => {
    const v6 = rulesFile(
      'v6.yaml',
      'tables:\n  filter:\n    chains:\n      my-in:\n        - match: { protocol: ipv6-icmp, icmpV6Type: 128 }\n          action: accept\n        - match: { sourceNet: "fd00::/8" }\n          action: accept\n    insert:\n      INPUT:\n        - action: { jump: my-in }\n',
    );
    await ns.iptables(backend, ['-A', 'INPUT', '-i', 'eth9', '-j', 'ACCEPT'], 6);
    const opts = [...common, '--ip-version', '6', '--prefix', 'my:', '--chain-prefix', 'my-', '--insert-mode', 'append', '-f', v6];
    const [firstPlan, res] = await Promise.all([runCli(['plan', ...opts]), runCli(['plan', ...common, '--ip-version', '6', '-f', v6])]);
    expect(firstPlan.code).toBe(2);
    // Chains in the file must carry the chain prefix.
    expect(res.code).toBe(1);
    expect(res.stderr.split('\n')[0]).toBe(`${v6}:4:7: tables.filter.chains.my-in: chain name must start with the chain prefix "ipts-" (set with --chain-prefix)`);
    expect((await runCli(['apply', ...opts])).code).toBe(0);
    expect((await runCli(['plan', ...opts])).code).toBe(0);
    const input = chainRules(await ns.save(backend, 'filter', 6), 'INPUT');
    expect(input).toHaveLength(2);
    expect(input[0]).toBe('-A INPUT -i eth9 -j ACCEPT');
    expect(input[1]).toMatch(/--comment "?my:[A-Za-z0-9_-]{16}"? -j my-in$/);
  });
});

describe('CLI usage errors', () => {
  it('bad options exit 1 with a message; check validates without root or a dataplane', async () => {
    const [bad, missing, metrics, check, schema, noFile] = await Promise.all([
      runCli(['plan', '-f', DEMO, '--backend', 'iptables']),
      runCli(['apply']),
      runCli(['watch', '-f', DEMO, '--metrics', 'nowhere:port']),
      runCli(['check', '-f', DEMO]),
      runCli(['schema']),
      runCli(['check', '-f', join(scratch, 'missing.yaml')]),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--backend must be one of legacy, nft, auto');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("required option '-f, --file <path>' not specified");
    expect(metrics.code).toBe(1);
    expect(metrics.stderr).toContain('expected [HOST:]PORT');
    expect(check).toEqual({ code: 0, stdout: `${DEMO} is valid (filter: 2 chains, 6 rules, 1 insert).\n`, stderr: '' });
    expect(JSON.parse(schema.stdout)).toMatchObject({ title: 'iptables-sync rules file' });
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toMatch(/missing\.yaml: cannot read the rules file: ENOENT/);
  });

  it('a command loads what it uses: --version no Table, reader or doctor; check of a JSON file no Table and no YAML parser', async () => {
    // Loading everything up front took ~150 ms before any command ran (--version: 240 → 180 ms).
    const hook = join(scratch, 'modules-hook.js');
    writeFileSync(hook, "process.on('exit', () => require('node:fs').writeFileSync(process.env.IPTS_MODULES_OUT, Object.keys(require.cache).join('\\n')));\n");
    const json = join(scratch, 'tiny.json');
    writeFileSync(json, JSON.stringify({ tables: { filter: { chains: { 'ipts-a': [{ action: 'accept' }] } } } }));
    const yamlFile = join(scratch, 'tiny.yaml');
    writeFileSync(yamlFile, 'tables:\n  filter:\n    chains:\n      ipts-a:\n        - action: accept\n');
    const loaded = async (name: string, args: readonly string[]): Promise<string[]> => {
      const out = join(scratch, `modules-${name}.txt`);
      const res = await runCommandLine(process.execPath, ['-r', hook, CLI, ...args], { env: { IPTS_MODULES_OUT: out } });
      expect(res.code, `${name}: ${res.stderr}`).toBe(0);
      return readFileSync(out, 'utf8').split('\n').map((file) => file.replace(`${ROOT}/`, ''));
    };
    const [version, checkJson, checkYaml] = await Promise.all([loaded('version', ['--version']), loaded('json', ['check', '-f', json]), loaded('yaml', ['check', '-f', yamlFile])]);
    const isYamlParser = (file: string): boolean => file.includes('node_modules/js-yaml/');
    expect(version).toContain('dist/cli/program.js');
    for (const heavy of ['dist/table.js', 'dist/doctor.js', 'dist/rules-file/load.js', 'dist/cli/one-shot.js', 'dist/cli/watch.js']) expect(version).not.toContain(heavy);
    expect(version.some(isYamlParser)).toBe(false);
    expect(checkJson).toContain('dist/rules-file/load.js');
    for (const heavy of ['dist/table.js', 'dist/doctor.js', 'dist/cli/watch.js', 'dist/kernel-check.js']) expect(checkJson).not.toContain(heavy);
    expect(checkJson.some(isYamlParser)).toBe(false);
    expect(checkYaml.some(isYamlParser)).toBe(true);
  });

  it('a file with the wrong chain prefix everywhere: 50 problems shown, and the count of the rest', async () => {
    // 1,200 chains, none with the prefix: the terminal and --json both say 1,150 were left out.
    const chains = Object.fromEntries(Array.from({ length: 1200 }, (_, i) => [`cali-${i}`, [{ action: 'accept' }]]));
    const file = join(scratch, 'wrong-prefix.json');
    writeFileSync(file, JSON.stringify({ tables: { filter: { chains } } }, null, 1));
    const [human, json] = await Promise.all([runCli(['check', '-f', file]), runCli(['check', '-f', file, '--json'])]);
    expect(human.code).toBe(1);
    expect(human.stderr.split('\n').filter((l) => l.startsWith(`${file}:`) && l.includes('must start with the chain prefix'))).toHaveLength(50);
    expect(human.stderr.trimEnd().endsWith(`\n${file}: 1,150 more problems not shown (only the first 50 are reported)`)).toBe(true);
    expect(json.code).toBe(1);
    const err = JSON.parse(json.stderr) as { error: string; issues: unknown[]; omitted: number };
    expect(err).toMatchObject({ error: 'ConfigError', omitted: 1150 });
    expect(err.issues).toHaveLength(50);
  });
});
