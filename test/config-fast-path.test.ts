// The rules file's two paths agree: the fast one (JSON.parse / js-yaml, plain values, no
// positions) builds exactly what the positioned one (json.ts / the yaml package) builds, and
// declines every text the positioned one might read differently or refuse.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseRules, type RulesFile } from '../src/config';
import { parseRulesFast, parseRulesPositioned } from '../src/rules-file/load';
import { parsePlainJson, parsePlainYaml } from '../src/rules-file/plain';

const ROOT = join(__dirname, '..');

/** Everything a RulesFile says, as plain data (chain names, rule bodies, flags, list order). */
function described(rules: RulesFile): unknown {
  return [...rules.tables].map(([name, t]) => ({
    name,
    chains: t.chains.map((c) => ({ name: c.name, force: c.forceProgramming, rules: c.rules.map((r) => r.body), ids: c.ruleIds() })),
    inserts: [...t.inserts].map(([chain, list]) => [chain, list.map((r) => r.body)]),
    appends: [...(t.appends ?? [])].map(([chain, list]) => [chain, list.map((r) => r.body)]),
  }));
}

/** A document with one rule per shape the vocabulary knows (YAML flow values are JSON too). */
const SHAPES = {
  $schema: '../schema/rules.schema.json',
  tables: {
    filter: {
      chains: {
        'ipts-a': [
          { match: { conntrackState: ['RELATED', 'ESTABLISHED'] }, action: 'accept' },
          { match: [{ protocol: 'tcp' }, { destPorts: [80, 443] }, { notSourceNet: '10.0.0.0/8' }], action: { jump: 'ipts-b' }, comment: 'web é' },
          { match: { protocol: 'tcp', destPortRanges: [{ first: 1000, last: 2000 }], markMatchesWithMask: { mark: '0x10', mask: 16 } }, action: { setMaskedMark: [1, 3] } },
          { match: { protocol: 'icmp', icmpTypeAndCode: { type: 8, code: 0 }, limit: { rate: '10/second', burst: 5 } }, action: { reject: { with: 'icmp-host-unreachable' } } },
          { match: { srcAddrType: { type: 'LOCAL', limitIfaceOut: true }, rpfCheckFailed: true }, action: 'drop' },
          { match: null, action: { log: 'pfx: ' } },
          { action: { setConnMark: { mark: 1, mask: '0xff' } } },
          { action: { goto: { target: 'ipts-b' } } },
        ],
        'ipts-b': [{ action: 'return' }],
        'ipts-c': null,
      },
      insert: { INPUT: [{ action: { jump: 'ipts-a' } }], FORWARD: [] },
      append: { OUTPUT: [{ match: { outInterface: 'eth0' }, action: 'accept' }] },
      forceProgramming: ['ipts-c'],
    },
    nat: { chains: { 'ipts-n': [{ action: { dnat: { destAddr: '10.0.0.1', destPort: 8080 } } }, { action: { snat: '10.0.0.2' } }, { action: { masq: { toPorts: '1024-65535' } } }] } },
    raw: null,
  },
};

describe('rules file: the fast path builds what the positioned path builds', () => {
  const cases: [string, string][] = [
    ...['demo.yaml', 'host-firewall.yaml', 'service-proxy.yaml'].map((f): [string, string] => [f, readFileSync(join(ROOT, 'examples', f), 'utf8')]),
    ['shapes.json', JSON.stringify(SHAPES, null, 2)],
    ['shapes-compact.json', JSON.stringify(SHAPES)],
    ['shapes.yaml', JSON.stringify(SHAPES)], // JSON read as YAML
    ['bom.json', `\ufeff${JSON.stringify(SHAPES)}`],
    ['escapes.json', '{"tables":{"filter":{"chains":{"ipts-\\u0061":[{"action":"accept","comment":"a \\u00e9 \\/ c:d"}]}}}}'],
  ];
  for (const [name, text] of cases) {
    it(name, () => {
      const fast = parseRulesFast(text, name);
      expect(fast, 'the fast path took it').toBeDefined();
      expect(described(fast as RulesFile)).toEqual(described(parseRulesPositioned(text, name)));
    });
  }

  it('parseRules gives the same issues as the positioned path for invalid files (the fast path declines them)', () => {
    const bad = [
      ['dup.json', '{"tables":{"filter":{"chains":{"ipts-a":[],"ipts-a":[]}}}}'],
      ['unknown.json', '{"tables":{"filter":{"chains":{"ipts-a":[{"action":"acept"}]}}}}'],
      ['dup.yaml', 'tables:\n  filter:\n  filter:\n'],
      ['key.yaml', 'tables:\n  filter:\n    insert:\n      1: [{ action: accept }]\n'],
      ['alias.yaml', 'tables:\n  filter:\n    chains:\n      ipts-a: &r [{ action: accept }]\n      ipts-b: *r\n'],
    ];
    for (const [name, text] of bad as [string, string][]) {
      expect(parseRulesFast(text, name), name).toBeUndefined();
      let positioned: unknown;
      try {
        parseRulesPositioned(text, name);
      } catch (error) {
        positioned = error;
      }
      if (positioned === undefined) {
        // Valid, only not for the fast path (an alias): both paths agree on what it builds.
        expect(described(parseRules(text, name))).toEqual(described(parseRulesPositioned(text, name)));
        continue;
      }
      expect(positioned).toBeInstanceOf(ConfigError);
      expect(() => parseRules(text, name)).toThrow((positioned as ConfigError).message);
    }
  });
});

describe('rules file: the fast parsers decline what they might read differently', () => {
  it('JSON: duplicate keys, array-index keys (out of order in an object), nesting over the limit, syntax errors', () => {
    expect(parsePlainJson('{"a":1,"a":2}')).toBeUndefined();
    expect(parsePlainJson('{"a":{"b":1},"c":{"b":2,"b":3}}')).toBeUndefined();
    expect(parsePlainJson('{"b":1,"1":2}')).toBeUndefined();
    expect(parsePlainJson(`${'['.repeat(65)}${']'.repeat(65)}`)).toBeUndefined();
    expect(parsePlainJson(`${'['.repeat(64)}${']'.repeat(64)}`)).toBeDefined();
    expect(parsePlainJson('{"a":1,}')).toBeUndefined();
    expect(parsePlainJson('')).toBeUndefined();
    // A colon or an escaped quote inside a string is not a key.
    expect(parsePlainJson('{"a":"x:\\":y","b":[":"]}')?.value).toEqual({ a: 'x:":y', b: [':'] });
  });

  it('YAML: directives, tags, aliases, duplicate keys and several documents go to the yaml package', () => {
    expect(parsePlainYaml('%YAML 1.1\n---\na: yes\n')).toBeUndefined();
    expect(parsePlainYaml('a: !!str 1\n')).toBeUndefined();
    expect(parsePlainYaml('a: &x 1\nb: *x\n')).toBeUndefined();
    expect(parsePlainYaml('a: 1\na: 2\n')).toBeUndefined();
    expect(parsePlainYaml('a: 1\n---\nb: 2\n')).toBeUndefined();
    expect(parsePlainYaml('a: [[[[1]]]]\n')).toBeDefined();
    // Nesting: 64 levels (the root mapping and 63 lists) is within the limit, 65 is not.
    expect(parsePlainYaml(`v: ${'['.repeat(63)}${']'.repeat(63)}\n`)).toBeDefined();
    expect(parsePlainYaml(`v: ${'['.repeat(64)}${']'.repeat(64)}\n`)).toBeUndefined();
    expect(parsePlainYaml(Array.from({ length: 65 }, (_, i) => `${'  '.repeat(i)}a:`).join('\n') + ' 1\n')).toBeUndefined();
  });

  it('YAML scalars mean what the yaml package says they mean', () => {
    const scalars = [
      '1', '-1', '+1', '01', '0o17', '0x1F', '0X1F', '+0x1', '0b101', '1_000', '1.5', '1.', '.5', '+.5', '-.5e3', '1e3', '1E+3', '1e', '1e400', '-1e400',
      '.inf', '-.inf', '+.inf', '.Inf', '.INF', '.nan', '.NaN', '.NAN', 'nan', 'inf', '~', 'null', 'Null', 'NULL', 'nUll', 'true', 'True', 'TRUE', 'tRue',
      'false', 'yes', 'no', 'on', 'off', '2001-12-14', '12:30', '0', '-0', '00', '0.0', '9007199254740993', '0x10000000000000001', '"1"', "'1'", '""',
      '0xffffffff', '0x10', '"0x10"', 'cali+', 'RELATED,ESTABLISHED', '10.0.0.0/8', 'fd00::/8', '"a: b"', '|\n  block\n', '>\n  folded\n  text\n',
    ];
    for (const s of scalars) {
      const text = `v: ${s}\n`;
      const fast = parsePlainYaml(text);
      expect(fast, s).toBeDefined();
      const value = (fast?.value as Map<string, unknown>).get('v');
      expect(Object.is(value, (parseYaml(text) as { v: unknown }).v), `${s}: ${String(value)}`).toBe(true);
    }
  });
});

describe('YAML: js-yaml (the fast path) and the yaml package agree on generated documents', () => {
  /** Plain values with mappings as objects, as the yaml package's parse() gives them. */
  const plain = (v: unknown): unknown =>
    v instanceof Map ? Object.fromEntries([...v].map(([k, x]) => [k, plain(x)])) : Array.isArray(v) ? v.map(plain) : v;
  it('every document the fast path takes means what the yaml package says; the yaml package gives the same back', () => {
    let taken = 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), fc.constantFrom<'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE' | 'BLOCK_LITERAL'>('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL'), (value, flow, defaultStringType) => {
        const text = stringifyYaml({ v: value }, { collectionStyle: flow ? 'flow' : 'block', defaultStringType });
        const fast = parsePlainYaml(text);
        if (fast === undefined) return; // declined: the positioned path reads it
        taken++;
        expect(plain(fast.value)).toEqual(parseYaml(text));
      }),
      { numRuns: 400 },
    );
    expect(taken, 'documents the fast path took (a property over declined ones proves nothing)').toBeGreaterThan(200);
  });
});
