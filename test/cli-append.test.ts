// The rules file's "append:" (Table.appendRules) through the built CLI on real iptables, both
// backends: our rules land below the foreign ones and follow file edits; and its validation.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, parseRules } from '../src/config';
import { emptyTableInput } from '../src/kernel-check';
import { appendIds } from '../src/restore-plan';
import { BACKENDS, chainRules, useNamespace } from './helpers/netns';
import { idsByChain } from './helpers/table-env';
import { runCli } from './helpers/run-cli';

const FILE = `tables:
  filter:
    chains:
      ipts-in:
        - action: accept
    insert:
      INPUT:
        - action: { jump: ipts-in }
    append:
      INPUT:
        - match: { inInterface: "tap+" }
          action: drop
`;

describe('rules file append:', () => {
  it('parses into TableRules.appends, beside the inserts', () => {
    const filter = parseRules(FILE, 'a.yaml').tables.get('filter');
    expect([...(filter?.appends?.keys() ?? [])]).toEqual(['INPUT']);
    expect(filter?.appends?.get('INPUT')?.[0]?.body).toBe('--in-interface tap+ --jump DROP');
    expect([...(filter?.inserts.keys() ?? [])]).toEqual(['INPUT']);
    expect(parseRules('tables:\n  filter:\n    insert:\n      INPUT: []\n', 'b.yaml').tables.get('filter')?.appends).toBeUndefined();
  });

  it('check --kernel loads the appends too, each traced back to its rule', () => {
    const filter = parseRules(FILE, 'a.yaml').tables.get('filter');
    if (!filter) throw new Error('no filter table');
    const { input, rules } = emptyTableInput(filter, 'ipts:', 'insert');
    const [id] = appendIds('INPUT', filter.appends?.get('INPUT') ?? []);
    const line = `-A INPUT -m comment --comment "ipts:${id}" --in-interface tap+ --jump DROP`;
    expect(input.split('\n')).toContain(line);
    expect(rules.get(line)).toBe(filter.appends?.get('INPUT')?.[0]);
  });

  it('refuses our own chains under append:, and names it among the expected keys', () => {
    const issue = (text: string): string => {
      try {
        parseRules(text, 'r.yaml');
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).message.split('\n')[0] as string;
      }
      throw new Error('expected a ConfigError');
    };
    expect(issue('tables:\n  filter:\n    append:\n      ipts-x:\n        - action: accept\n')).toBe(
      'r.yaml:4:7: tables.filter.append.ipts-x: ipts-x is one of our chains: define its rules under "chains:"; "append:" is for chains we do not own, such as INPUT, FORWARD, OUTPUT',
    );
    expect(issue('tables:\n  filter:\n    apend: {}\n')).toBe('r.yaml:3:5: tables.filter.apend: unknown key "apend": expected "chains", "insert", "append" or "forceProgramming" (did you mean "append"?)');
  });
});

describe.each(BACKENDS)('CLI append: on real iptables (%s)', (backend) => {
  const ns = useNamespace(`tfl${backend}`, { resetBeforeEach: backend });
  let scratch: string;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'ipts-tf-cli-'));
  });
  afterAll(async () => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await ns.iptables(backend, ['-A', 'INPUT', '-i', 'eth9', '-j', 'ACCEPT']);
  });

  it('apply puts the appends last and the inserts first; removing append: from the file removes them', async () => {
    const file = join(scratch, 'a.yaml');
    writeFileSync(file, FILE);
    const common = ['--netns', ns.name, '--backend', backend, '-f', file];
    expect((await runCli(['apply', ...common])).code).toBe(0);
    const appended = parseRules(FILE, file).tables.get('filter')?.appends?.get('INPUT') ?? [];
    let ids = idsByChain(await ns.save(backend, 'filter'), 'ipts:').get('INPUT');
    expect(ids?.slice(1)).toEqual(['', ...appendIds('INPUT', appended)]);
    expect(ids?.[0]).not.toBe('');
    expect((await runCli(['plan', ...common])).code).toBe(0); // in sync

    writeFileSync(file, FILE.slice(0, FILE.indexOf('    append:')));
    expect((await runCli(['apply', ...common])).code).toBe(0);
    ids = idsByChain(await ns.save(backend, 'filter'), 'ipts:').get('INPUT');
    expect(ids?.slice(1)).toEqual(['']);
    expect(chainRules(await ns.save(backend, 'filter'), 'INPUT')[1]).toBe('-A INPUT -i eth9 -j ACCEPT');
  });
});
