// Chains whose rules are made when the Table's plan reaches them (Chain.deferred), which the
// CLI's apply uses so iptables-restore parses early chains while later ones are still built:
// the chain itself, the Table on real iptables (both backends) when making the rules fails
// partway through the restore, and the CLI's apply of a rules file with a problem only its
// deferred rules show, which must write nothing to any table.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcceptAction, Chain, DropAction, InvalidRuleError, JumpAction, Match, RejectAction, Rule } from '../src/index';
import { ConfigError, parseRules } from '../src/config';
import { DeferredRulesError } from '../src/rules-file/issues';
import { loadRulesFileForApply } from '../src/rules-file/load';
import { BACKENDS, chainRules, useNamespace } from './helpers/netns';
import { runCli } from './helpers/run-cli';
import { idsByChain, makeTable } from './helpers/table-env';

const rulesOf = (i: number): Rule[] => [
  new Rule({ match: Match().protocol('tcp').destPorts(80 + i), action: new AcceptAction() }),
  new Rule({ match: Match().sourceNet(`10.0.${i % 256}.0/24`), action: new DropAction(), comment: `chain ${i}` }),
];

describe('Chain.deferred', () => {
  it('makes its rules once, on first use, with the IDs an eager chain of the same rules has', () => {
    let made = 0;
    const chain = Chain.deferred('cali-d', 2, () => (made++, rulesOf(1)));
    expect(chain.isDeferred).toBe(true);
    expect(chain.ruleCount).toBe(2);
    expect(made).toBe(0);
    expect(chain.rules.map((r) => r.body)).toEqual(rulesOf(1).map((r) => r.body));
    expect(chain.rules).toBe(chain.rules);
    expect(made).toBe(1);
    expect(chain.isDeferred).toBe(false);
    expect(chain.ruleHashes()).toEqual(new Chain({ name: 'cali-d', rules: rulesOf(1) }).ruleHashes());
  });

  it('throws what making the rules throws, at every use, and refuses the wrong number of rules', () => {
    const boom = new Error('bad rule 7');
    const failing = Chain.deferred('cali-f', 1, () => {
      throw boom;
    });
    expect(() => failing.rules).toThrow(boom);
    expect(() => failing.ruleIds()).toThrow(boom);
    expect(failing.isDeferred).toBe(true);
    const short = Chain.deferred('cali-s', 3, () => rulesOf(0));
    expect(() => short.rules).toThrow(InvalidRuleError);
    expect(() => short.rules).toThrow('expected 3 rules from a deferred chain');
    expect(() => Chain.deferred('cali-n', -1, () => [])).toThrow(InvalidRuleError);
    expect(() => Chain.deferred('-bad', 0, () => [])).toThrow(InvalidRuleError);
  });

  it('mapRules and withFeatures keep it deferred, applying to the rules when they are made', () => {
    let made = 0;
    const chain = Chain.deferred('cali-m', 2, () => (made++, rulesOf(2)), true);
    const seen: string[] = [];
    const mapped = chain.mapRules((r) => (seen.push(r.body), r)).withFeatures({ snatFullyRandom: true, masqFullyRandom: true, nfLogSize: true });
    expect(mapped.isDeferred).toBe(true);
    expect(mapped.forceProgramming).toBe(true);
    expect(mapped.ruleCount).toBe(2);
    expect([made, seen.length]).toEqual([0, 0]);
    expect(mapped.rules).toHaveLength(2);
    expect([made, seen.length]).toEqual([1, 2]);
  });
});

describe.each(BACKENDS)('a Table with deferred chains on iptables-%s', (backend) => {
  const ns = useNamespace(`dfc${backend}`, { resetBeforeEach: backend });
  const N = 300;

  it('writes them as it writes eager chains, making each only in the plan', async () => {
    const { table } = makeTable(ns, backend);
    let made = 0;
    const chains = Array.from({ length: N }, (_, i) => Chain.deferred(`cali-d${String(i).padStart(3, '0')}`, 2, () => (made++, rulesOf(i))));
    table.updateChains(chains);
    table.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'cali-d000' }) }]);
    expect(made).toBe(0);
    await table.apply();
    expect(made).toBe(N);
    const ids = idsByChain(await ns.save(backend, 'filter'));
    for (let i = 0; i < N; i++) expect(ids.get(`cali-d${String(i).padStart(3, '0')}`)).toEqual(new Chain({ name: `cali-d${String(i).padStart(3, '0')}`, rules: rulesOf(i) }).ruleHashes());
  });

  it('a chain whose rules fail to be made stops the restore before COMMIT: nothing is written, foreign rules stay', async () => {
    await ns.iptables(backend, ['-A', 'INPUT', '-i', 'eth7', '-j', 'ACCEPT']);
    const { table, rec } = makeTable(ns, backend);
    const boom = new Error('rule 2 of cali-d299 is bad');
    // The last chain in the plan's (sorted) order fails: by then the restore runs and has the others.
    const chains = Array.from({ length: N }, (_, i) =>
      Chain.deferred(`cali-d${String(i).padStart(3, '0')}`, 2, () => {
        if (i === N - 1) throw boom;
        return rulesOf(i);
      }),
    );
    table.updateChains(chains);
    table.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'cali-d000' }) }]);
    await expect(table.apply()).rejects.toBe(boom);
    // The restore was running (its first line goes out at once) and got no COMMIT.
    const inputs = rec.restoreInputs();
    expect(inputs).toHaveLength(1);
    expect(inputs[0]?.startsWith('*filter\n:cali-d000 - -\n')).toBe(true);
    expect(inputs[0]).not.toContain('COMMIT');
    const dump = await ns.save(backend, 'filter');
    expect(dump).not.toContain('cali-');
    expect(chainRules(dump, 'INPUT')).toEqual(['-A INPUT -i eth7 -j ACCEPT']);
  });

  it('a rule for the other IP version is refused when its deferred chain is made, in apply', async () => {
    const { table } = makeTable(ns, backend);
    const v6Only = new Rule({ action: new RejectAction({ with: 'icmp6-adm-prohibited' }) });
    table.updateChains([Chain.deferred('cali-v6', 1, () => [v6Only])]); // accepted: not made yet
    await expect(table.apply()).rejects.toThrow(/IPv6 only, but the table is IPv4/);
    expect(await ns.save(backend, 'filter')).not.toContain('cali-');
  });
});

// 400 chains (the largest table, filter, is deferred) and a small nat table; the chain sorted
// last has a typo in its second rule.
function rulesFile(typo: boolean): string {
  const chains: string[] = [];
  for (let i = 0; i < 400; i++) {
    const name = `ipts-c${String(i).padStart(3, '0')}`;
    const last = i === 399 && typo;
    chains.push(`${JSON.stringify(name)}: [{"match": {"protocol": "tcp", "destPorts": [${1000 + i}]}, "action": "accept"}, {"action": ${last ? '"acept"' : '"return"'}}]`);
  }
  return `{"tables": {
  "filter": {"chains": {${chains.join(',\n')}}, "insert": {"INPUT": [{"action": {"jump": "ipts-c000"}}]}},
  "nat": {"chains": {"ipts-nat": [{"action": "return"}]}, "insert": {"PREROUTING": [{"action": {"jump": "ipts-nat"}}]}}
}}
`;
}

describe('loadRulesFileForApply', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ipts-deferred-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('defers the largest table only, and its chains have the rules and IDs the eager loader gives', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, rulesFile(false));
    const loaded = loadRulesFileForApply(file, { chainPrefix: 'ipts-' });
    const eager = parseRules(rulesFile(false), file, { chainPrefix: 'ipts-' });
    expect(loaded.deferredTable).toBe('filter');
    const filter = loaded.tables.get('filter');
    expect(filter?.chains.every((c) => c.isDeferred)).toBe(true);
    expect(loaded.tables.get('nat')?.chains.some((c) => c.isDeferred)).toBe(false);
    expect(filter?.chains.map((c) => c.ruleHashes())).toEqual(eager.tables.get('filter')?.chains.map((c) => c.ruleHashes()));
  });

  it('YAML too (js-yaml on the fast path): the largest table deferred, the same IDs as the eager loader', () => {
    const file = join(dir, 'ok.yaml');
    const yaml = 'tables:\n  nat:\n    chains:\n      ipts-n: [{ action: return }]\n  filter:\n    chains:\n      ipts-a:\n        - { match: { protocol: tcp, destPorts: [22] }, action: accept }\n        - action: drop\n      ipts-b: [{ action: { jump: ipts-a } }]\n';
    writeFileSync(file, yaml);
    const loaded = loadRulesFileForApply(file, { chainPrefix: 'ipts-' });
    expect(loaded.deferredTable).toBe('filter');
    const eager = parseRules(yaml, file, { chainPrefix: 'ipts-' });
    expect(loaded.tables.get('filter')?.chains.map((c) => [c.name, c.isDeferred, c.ruleCount])).toEqual([['ipts-a', true, 2], ['ipts-b', true, 1]]);
    expect(loaded.tables.get('filter')?.chains.map((c) => c.ruleHashes())).toEqual(eager.tables.get('filter')?.chains.map((c) => c.ruleHashes()));
  });

  it('a file the fast path declines (a duplicate key) is read with positions at once: nothing deferred, every problem thrown now', () => {
    const file = join(dir, 'dup.json');
    writeFileSync(file, '{"tables": {"filter": {"chains": {"ipts-a": [{"action": "accept"}], "ipts-a": []}}}}\n');
    expect(() => loadRulesFileForApply(file, { chainPrefix: 'ipts-' })).toThrow(ConfigError);
  });

  it('a problem in deferred rules is a DeferredRulesError whose problems() are those check reports', () => {
    const file = join(dir, 'typo.json');
    writeFileSync(file, rulesFile(true));
    const loaded = loadRulesFileForApply(file, { chainPrefix: 'ipts-' });
    const last = loaded.tables.get('filter')?.chains.at(-1) as Chain;
    let thrown: unknown;
    try {
      void last.rules;
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DeferredRulesError);
    expect((thrown as DeferredRulesError).chain).toBe('ipts-c399');
    const problems = (thrown as DeferredRulesError).problems();
    expect(problems).toBeInstanceOf(ConfigError);
    expect(() => parseRules(rulesFile(true), file, { chainPrefix: 'ipts-' })).toThrow(problems.message);
    expect(problems.issues).toHaveLength(1);
    expect(problems.issues[0]?.path).toBe('tables.filter.chains.ipts-c399[1].action');
  });
});

describe.each(BACKENDS)('CLI apply with deferred rules on iptables-%s', (backend) => {
  const ns = useNamespace(`dfa${backend}`, { resetBeforeEach: backend });
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ipts-deferred-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('applies every table of a valid file, with the IDs check computes', async () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, rulesFile(false));
    const out = await runCli(['apply', '-f', file, '--netns', ns.name, '--backend', backend, '--json']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).tables.map((t: { table: string }) => t.table)).toEqual(['filter', 'nat']); // file order
    const eager = parseRules(rulesFile(false), file);
    const ids = idsByChain(await ns.save(backend, 'filter'), 'ipts:');
    for (const chain of eager.tables.get('filter')?.chains ?? []) expect(ids.get(chain.name)).toEqual(chain.ruleHashes());
    expect(chainRules(await ns.save(backend, 'nat'), 'ipts-nat')).toHaveLength(1);
  });

  it('a problem only the deferred rules show: reported as check reports it, exit 1, and no table is written', async () => {
    await ns.iptables(backend, ['-A', 'INPUT', '-i', 'eth7', '-j', 'ACCEPT']);
    const file = join(dir, 'typo.json');
    writeFileSync(file, rulesFile(true));
    const check = await runCli(['check', '-f', file]);
    const apply = await runCli(['apply', '-f', file, '--netns', ns.name, '--backend', backend]);
    expect(check.code).toBe(1);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toContain('tables.filter.chains.ipts-c399[1].action');
    expect(apply.stderr.trim()).toBe(check.stderr.trim());
    expect(apply.stdout).toBe('');
    const filter = await ns.save(backend, 'filter');
    expect(filter).not.toContain('ipts');
    expect(chainRules(filter, 'INPUT')).toEqual(['-A INPUT -i eth7 -j ACCEPT']);
    expect(await ns.save(backend, 'nat')).not.toContain('ipts');
  });

  it('--json reports that problem as check --json does', async () => {
    const file = join(dir, 'typo2.json');
    writeFileSync(file, rulesFile(true));
    const check = await runCli(['check', '-f', file, '--json']);
    const apply = await runCli(['apply', '-f', file, '--netns', ns.name, '--backend', backend, '--json']);
    expect(apply.code).toBe(1);
    expect(JSON.parse(apply.stdout || apply.stderr)).toEqual(JSON.parse(check.stdout || check.stderr));
    expect(await ns.save(backend, 'filter')).not.toContain('ipts');
  });
});

