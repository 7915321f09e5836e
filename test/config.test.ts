// The rules file: what it builds (the same rules the API builds) and every class of error, each
// with its exact file:line:column. No dataplane here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AcceptAction,
  Chain,
  DNATAction,
  JumpAction,
  Match,
  MasqAction,
  MatchCriteria,
  ReturnAction,
  SetMarkAction,
  SetMaskedMarkAction,
} from '../src/index';
import { ConfigError, MATCH_METHODS, loadRulesFile, parseRules, rulesJsonSchema, type ConfigOptions } from '../src/config';

const ROOT = join(__dirname, '..');

/** The single issue a text produces: "line:column path: message". */
function issueOf(text: string, options?: ConfigOptions, file = 'rules.yaml'): { line?: number; column?: number; path: string; message: string; first: string } {
  try {
    parseRules(text, file, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    const [first] = e.issues;
    if (!first) throw new Error('ConfigError without issues');
    return { line: first.line, column: first.column, path: first.path, message: first.message, first: e.message.split('\n')[0] as string };
  }
  throw new Error('expected a ConfigError');
}

/** A filter chain ipts-a holding the given rule lines (already indented for a list item). */
const chainWith = (ruleLines: string): string => `tables:\n  filter:\n    chains:\n      ipts-a:\n${ruleLines}`;

describe('rules file: what it builds', () => {
  it('builds the same chains, rule IDs and inserts as the API', () => {
    const rules = loadRulesFile(join(ROOT, 'examples/demo.yaml'));
    const filter = rules.tables.get('filter');
    expect([...rules.tables.keys()]).toEqual(['filter']);
    const tcp = new Chain({
      name: 'ipts-tcp',
      rules: [
        { match: Match().protocol('tcp').destPorts(22), action: new AcceptAction(), comment: 'ssh' },
        { match: Match().protocol('tcp').destPorts(80, 443), action: new AcceptAction(), comment: 'web' },
      ],
    });
    const input = new Chain({
      name: 'ipts-input',
      rules: [
        { match: Match().conntrackState('ESTABLISHED,RELATED'), action: new AcceptAction(), comment: 'replies to our own traffic' },
        { match: Match().inInterface('lo'), action: new AcceptAction() },
        { match: Match().protocol('tcp'), action: new JumpAction({ target: 'ipts-tcp' }) },
        { match: Match().protocol('icmp').icmpType(8), action: new AcceptAction(), comment: 'ping' },
      ],
    });
    expect(filter?.chains.map((c) => c.name)).toEqual(['ipts-input', 'ipts-tcp']);
    expect(filter?.chains[0]?.ruleHashes()).toEqual(input.ruleHashes());
    expect(filter?.chains[1]?.ruleHashes()).toEqual(tcp.ruleHashes());
    expect(filter?.chains[1]?.rules.map((r) => r.body)).toEqual(tcp.rules.map((r) => r.body));
    expect([...(filter?.inserts.keys() ?? [])]).toEqual(['INPUT']);
    expect(filter?.inserts.get('INPUT')?.map((r) => r.body)).toEqual(['--jump ipts-input']);
  });

  it('takes every argument shape: flags, marks (hex numbers and strings), pairs, ranges, addrtype, state lists', () => {
    const rules = parseRules(
      `tables:
  mangle:
    chains:
      ipts-m:
        - match:
            markMatchesWithMask: [0x10, 0xff]
            notMarkMatchesWithMask: { mark: "0x1", mask: "0xf" }
            rpfCheckPassed: true
            srcAddrType: { type: LOCAL, limitIfaceOut: true }
            destAddrType: LOCAL
            conntrackState: NEW
            protocol: tcp
            sourcePortRanges: [{ first: 1000, last: 2000 }, { first: 3000, last: 3000 }]
            destPorts: 80
          action: { setMaskedMark: [0x100, 0xf00] }
        - match: [ { protocol: udp }, { notSourceNet: 10.0.0.0/8 }, { notSourceNet: 192.168.0.0/16 } ]
          action: { setMark: "0x4000" }
        - match: { protocol: icmp, icmpTypeAndCode: { type: 3, code: 4 } }
          action: return
`,
      'shapes.yaml',
    );
    const [chain] = rules.tables.get('mangle')?.chains ?? [];
    const want = new Chain({
      name: 'ipts-m',
      rules: [
        {
          match: Match()
            .markMatchesWithMask(0x10, 0xff)
            .notMarkMatchesWithMask(0x1, 0xf)
            .rpfCheckPassed()
            .srcAddrType('LOCAL', true)
            .destAddrType('LOCAL')
            .conntrackState('NEW')
            .protocol('tcp')
            .sourcePortRanges([{ first: 1000, last: 2000 }, { first: 3000, last: 3000 }])
            .destPorts(80),
          action: new SetMaskedMarkAction({ mark: 0x100, mask: 0xf00 }),
        },
        { match: Match().protocol('udp').notSourceNet('10.0.0.0/8').notSourceNet('192.168.0.0/16'), action: new SetMarkAction({ mark: 0x4000 }) },
        { match: Match().protocol('icmp').icmpTypeAndCode(3, 4), action: new ReturnAction() },
      ],
    });
    expect(chain?.rules.map((r) => r.body)).toEqual(want.rules.map((r) => r.body));
    expect(chain?.ruleHashes()).toEqual(want.ruleHashes());
  });

  it('reads JSON with the same vocabulary (hex marks as strings)', () => {
    const rules = parseRules(
      JSON.stringify({ tables: { nat: { chains: { 'ipts-n': [{ match: { protocol: 'tcp' }, action: { dnat: { destAddr: '10.0.0.1', destPort: 8080 } } }, { action: 'masq' }] } } } }),
      'rules.json',
    );
    const bodies = rules.tables.get('nat')?.chains[0]?.rules.map((r) => r.body);
    expect(bodies).toEqual([
      `${Match().protocol('tcp').render()} ${new DNATAction({ destAddr: '10.0.0.1', destPort: 8080 }).toFragment()}`,
      new MasqAction().toFragment(),
    ]);
  });

  it('JSON files take a fast strict-JSON path that builds exactly what the YAML parser builds', () => {
    const doc = {
      $schema: '../schema/rules.schema.json',
      tables: {
        filter: {
          chains: Object.fromEntries(
            Array.from({ length: 20 }, (_, c) => [
              `ipts-c${c}`,
              Array.from({ length: 50 }, (_, r) => ({
                match: { protocol: 'tcp', sourceNet: `10.${c}.${r}.0/24`, destPorts: [1000 + r, 2000], markMatchesWithMask: ['0x10', 255] },
                action: r % 2 ? 'accept' : { jump: 'ipts-c0' },
                comment: `rule ${r} \u00e9`,
              })),
            ]),
          ),
          insert: { INPUT: [{ action: { jump: 'ipts-c1' } }] },
        },
      },
    };
    const text = `\ufeff${JSON.stringify(doc, null, 2)}`;
    const viaJson = parseRules(text, 'big.json').tables.get('filter');
    const viaYaml = parseRules(text, 'big.yaml').tables.get('filter');
    expect(viaJson?.chains).toHaveLength(20);
    expect(viaJson?.chains.map((c) => c.ruleHashes())).toEqual(viaYaml?.chains.map((c) => c.ruleHashes()));
    expect(viaJson?.inserts.get('INPUT')?.map((r) => r.body)).toEqual(viaYaml?.inserts.get('INPUT')?.map((r) => r.body));
  });

  it('an empty table, empty chain lists and a null match are allowed', () => {
    const rules = parseRules('tables:\n  raw:\n  filter:\n    chains:\n      ipts-e:\n    insert:\n      FORWARD: []\n', 'e.yaml');
    expect(rules.tables.get('raw')).toEqual({ name: 'raw', chains: [], inserts: new Map() });
    expect(rules.tables.get('filter')?.chains[0]?.rules).toEqual([]);
    expect(rules.tables.get('filter')?.inserts.get('FORWARD')).toEqual([]);
  });

  it('uses the IPv6 family with ipVersion 6', () => {
    const rules = parseRules(chainWith('        - match: { sourceNet: "fd00::/8", protocol: ipv6-icmp, icmpV6Type: 128 }\n          action: accept\n'), 'v6.yaml', { ipVersion: 6 });
    expect(rules.tables.get('filter')?.chains[0]?.rules[0]?.body).toBe('--source fd00::/8 -p ipv6-icmp -m icmp6 --icmpv6-type 128 --jump ACCEPT');
  });

  it('knows every Match() method, and nothing else', () => {
    for (const method of Object.keys(MATCH_METHODS)) {
      expect(typeof (MatchCriteria.prototype as unknown as Record<string, unknown>)[method], method).toBe('function');
    }
    expect(Object.keys(MATCH_METHODS)).toHaveLength(52);
  });

  it('schema/rules.schema.json is the generated schema, and lists every match method', () => {
    const file = JSON.parse(readFileSync(join(ROOT, 'schema/rules.schema.json'), 'utf8')) as { definitions: { match: { properties: object } } };
    expect(file).toEqual(rulesJsonSchema());
    expect(Object.keys(file.definitions.match.properties).sort()).toEqual(Object.keys(MATCH_METHODS).sort());
  });

  it('every example file is valid', () => {
    for (const name of ['demo.yaml', 'host-firewall.yaml', 'service-proxy.yaml']) {
      expect(() => loadRulesFile(join(ROOT, 'examples', name))).not.toThrow();
    }
  });
});

describe('rules file: errors name file:line:column and what was expected', () => {
  it('YAML syntax errors', () => {
    const i = issueOf('tables:\n  filter: {\n  nat: {}\n');
    expect(i.first).toMatch(/^rules\.yaml:\d+:\d+: invalid YAML: /);
    const dup = issueOf('tables:\n  filter: {}\n  filter: {}\n');
    expect(dup).toMatchObject({ line: 3, column: 3, message: 'invalid YAML: Map keys must be unique' });
    expect(dup.first).toBe('rules.yaml:3:3: invalid YAML: Map keys must be unique');
  });

  it('JSON syntax errors say JSON, with positions', () => {
    const json = (text: string): string => issueOf(text, undefined, 'rules.json').first;
    expect(json('{"tables": {"filter": {]}}')).toBe('rules.json:1:24: invalid JSON: expected a "quoted" key, found "]"');
    expect(json('{\n  "tables": {},\n  "tables": {}\n}')).toBe('rules.json:3:3: invalid JSON: Map keys must be unique');
    expect(json('{"tables": {}} x')).toBe('rules.json:1:16: invalid JSON: unexpected "x" after the end of the document');
    expect(json('{"tables": {\n')).toBe('rules.json:2:1: invalid JSON: expected a "quoted" key, found the end of the file');
    expect(json('{"tables": {"filter": 0x10}}')).toBe('rules.json:1:24: invalid JSON: expected "," or "}", found "x"');
    expect(json('{"tables": "a\\qb"}')).toBe('rules.json:1:12: invalid JSON: invalid escape in a string');
    expect(json('{tables: {}}')).toBe('rules.json:1:2: invalid JSON: expected a "quoted" key, found "t"');
  });

  it('an empty file, an unknown top-level key, a missing "tables"', () => {
    expect(issueOf('').first).toBe('rules.yaml:1:1: the file is empty: expected a mapping with a "tables:" key');
    expect(issueOf('tables: {}\ntabels: {}\n').first).toBe('rules.yaml:2:1: tabels: unknown key "tabels": expected "tables" (did you mean "tables"?)');
    expect(issueOf('- a\n').first).toBe('rules.yaml:1:1: expected a mapping with a "tables:" key, got a list');
  });

  it('unknown tables and table keys', () => {
    expect(issueOf('tables:\n  filtr: {}\n').first).toBe(
      'rules.yaml:2:3: tables.filtr: unknown table "filtr": expected one of filter, nat, mangle, raw (did you mean "filter"?)',
    );
    expect(issueOf('tables:\n  filter:\n    chain: {}\n')).toMatchObject({ line: 3, column: 5, path: 'tables.filter.chain' });
    expect(issueOf('tables:\n  filter:\n    chains: 5\n')).toMatchObject({
      line: 3,
      column: 13,
      message: 'expected a mapping of chain names to lists of rules, got the number 5',
    });
  });

  it('chain names: prefix, kernel chains, inserts into our chains, length', () => {
    expect(issueOf('tables:\n  filter:\n    chains:\n      web:\n        - action: accept\n').first).toBe(
      'rules.yaml:4:7: tables.filter.chains.web: chain name must start with the chain prefix "ipts-" (set with --chain-prefix)',
    );
    expect(() => parseRules('tables:\n  filter:\n    chains:\n      web-a: []\n', 'x.yaml', { chainPrefix: 'web-' })).not.toThrow();
    expect(issueOf('tables:\n  filter:\n    chains:\n      INPUT:\n        - action: accept\n')).toMatchObject({
      line: 4,
      column: 7,
      message: 'INPUT is a kernel chain of table filter: put rules for it under "insert:"',
    });
    expect(issueOf('tables:\n  filter:\n    insert:\n      ipts-x:\n        - action: accept\n')).toMatchObject({ line: 4, column: 7, path: 'tables.filter.insert.ipts-x' });
    const long = issueOf(`tables:\n  filter:\n    chains:\n      ipts-${'a'.repeat(30)}: []\n`);
    expect(long).toMatchObject({ line: 4, column: 7 });
    expect(long.message).toMatch(/at most 28/);
  });

  it('rules: not a mapping, missing action, unknown keys', () => {
    expect(issueOf(chainWith('        - accept\n'))).toMatchObject({ line: 5, column: 11, path: 'tables.filter.chains.ipts-a[0]' });
    expect(issueOf(chainWith('      - action: accept\n      - match: { protocol: tcp }\n'))).toMatchObject({
      line: 6,
      column: 9,
      path: 'tables.filter.chains.ipts-a[1]',
      message: 'missing key "action": expected e.g. "action: accept" or "action: { jump: <chain> }"',
    });
    expect(issueOf(chainWith('        - action: accept\n          comments: x\n')).first).toBe(
      'rules.yaml:6:11: tables.filter.chains.ipts-a[0].comments: unknown key "comments": expected "match", "action" or "comment" (did you mean "comment"?)',
    );
    expect(issueOf('tables:\n  filter:\n    chains:\n      ipts-a: accept\n')).toMatchObject({ line: 4, column: 15 });
  });

  it('match methods: unknown names, wrong shapes, values the library rejects (at the bad list item)', () => {
    expect(issueOf(chainWith('        - match: { protocol: tcp, dstPorts: [80] }\n          action: accept\n')).first).toBe(
      'rules.yaml:5:35: tables.filter.chains.ipts-a[0].match.dstPorts: unknown match method "dstPorts" (did you mean "destPorts"?)',
    );
    expect(issueOf(chainWith('        - match: { rpfCheckPassed: false }\n          action: accept\n'))).toMatchObject({ line: 5, column: 36 });
    expect(issueOf(chainWith('        - match: { protocol: tcp, destPorts: [80, 70000] }\n          action: accept\n')).first).toBe(
      'rules.yaml:5:51: tables.filter.chains.ipts-a[0].match.destPorts: port must be an integer from 0 to 65535 (got 70000 (0x11170))',
    );
    expect(issueOf(chainWith('        - match: { markMatchesWithMask: [0x11, 0x10] }\n          action: accept\n'))).toMatchObject({
      line: 5,
      column: 42,
      message: 'mark has bits outside mask 0x10 (got 17 (0x11))',
    });
    const range = issueOf(chainWith('        - match:\n            destPortRanges:\n              - { first: 1, last: 2 }\n              - { first: 9, last: 3 }\n          action: accept\n'));
    expect(range).toMatchObject({ line: 8, column: 17 });
    expect(range.message).toMatch(/first must not exceed last/);
    expect(issueOf(chainWith('        - match: { srcAddrType: { type: LOCAL, limit: true } }\n          action: accept\n'))).toMatchObject({
      line: 5,
      column: 48,
      path: 'tables.filter.chains.ipts-a[0].match.srcAddrType.limit',
    });
    expect(issueOf(chainWith('        - match: { protocol: 6 }\n          action: accept\n')).message).toBe(
      'expected a string, got the number 6 (use protocolNum for a protocol number)',
    );
    expect(issueOf(chainWith('        - match: [ { protocol: tcp, destPorts: 80 } ]\n          action: accept\n'))).toMatchObject({ line: 5, column: 20, message: 'expected exactly one match method in each list entry, got 2' });
  });

  it('address families and ICMP versions follow --ip-version', () => {
    expect(issueOf(chainWith('        - match: { sourceNet: "fd00::/8" }\n          action: accept\n'))).toMatchObject({
      line: 5,
      column: 31,
      message: '"fd00::/8" is an IPv6 address, but the rules are for IPv4 (--ip-version 4)',
    });
    expect(issueOf(chainWith('        - match: { icmpV6Type: 128 }\n          action: accept\n'))).toMatchObject({ line: 5, column: 20 });
    expect(issueOf(chainWith('        - match: { icmpType: 8 }\n          action: accept\n'), { ipVersion: 6 }).message).toMatch(/use icmpV6Type/);
  });

  it('actions: unknown, ambiguous, undefined jump targets, wrong table, bad values', () => {
    expect(issueOf(chainWith('        - action: ACCEPT\n')).message).toMatch(/^unknown action "ACCEPT": expected one of accept, .* \(did you mean "accept"\?\)$/);
    expect(issueOf(chainWith('        - action: { jump: ipts-b, goto: ipts-b }\n'))).toMatchObject({
      line: 5,
      column: 19,
      message: 'expected exactly one action in the mapping, got 2 (jump, goto)',
    });
    expect(issueOf(chainWith('        - action: { jump: ipts-b }\n')).first).toBe(
      'rules.yaml:5:27: tables.filter.chains.ipts-a[0].action.jump: no chain "ipts-b" is defined under tables.filter.chains (names with the chain prefix are ours, so the target must be defined in this file)',
    );
    expect(issueOf(chainWith('        - action: { dnat: { destAddr: 10.0.0.1 } }\n'))).toMatchObject({
      line: 5,
      column: 21,
      message: 'dnat is only valid in the nat table, not in filter',
    });
    expect(issueOf('tables:\n  mangle:\n    chains:\n      ipts-a:\n        - action: { setMark: 0 }\n')).toMatchObject({
      line: 5,
      column: 30,
      message: 'mark must not be 0 (got 0 (0x0))',
    });
    expect(issueOf(chainWith('        - action: jump\n')).message).toMatch(/jump needs an argument/);
  });

  it('comments the library rejects point at the comment', () => {
    expect(issueOf(chainWith('        - action: accept\n          comment: \'say "hi"\'\n'))).toMatchObject({ line: 6, column: 20, path: 'tables.filter.chains.ipts-a[0].comment' });
  });

  it('positions in JSON files', () => {
    const text = '{\n  "tables": {\n    "filter": {\n      "chains": {\n        "ipts-a": [ { "action": "accept", "match": { "destPorts": "80" } } ]\n      }\n    }\n  }\n}\n';
    expect(issueOf(text, undefined, 'rules.json').first).toBe(
      'rules.json:5:67: tables.filter.chains.ipts-a[0].match.destPorts: expected a port or a list of ports such as [80, 443], got the string "80"',
    );
  });

  it('collects every problem of a file, in order, with the source line and a caret', () => {
    let error: ConfigError | undefined;
    try {
      parseRules(chainWith('        - action: drop\n          match: { dstPort: 1 }\n        - action: { goto: ipts-zz }\n'), 'many.yaml');
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.issues.map((i) => `${i.line}:${i.column}`)).toEqual(['6:20', '7:27']);
    expect(error?.detailed()).toContain('    6 |           match: { dstPort: 1 }\n      |                    ^');
    expect(error?.line).toBe(6);
    expect(error?.column).toBe(20);
    expect(error?.file).toBe('many.yaml');
  });

  it('a file with more problems than it reports says how many it left out', () => {
    // 60 chains without the prefix: 60 problems, the first 50 reported, and the count of the rest
    // (a user who got the prefix wrong must not read "50 problems" for a file that has 100,000).
    const chains = Array.from({ length: 60 }, (_, i) => `      bad-${i}:\n        - action: accept\n`).join('');
    for (const [text, file] of [
      [`tables:\n  filter:\n    chains:\n${chains}`, 'many.yaml'],
      [JSON.stringify({ tables: { filter: { chains: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`bad-${i}`, [{ action: 'accept' }]])) } } }), 'many.json'],
    ] as const) {
      let error: ConfigError | undefined;
      try {
        parseRules(text, file);
      } catch (e) {
        error = e as ConfigError;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect(error?.issues).toHaveLength(50);
      expect(error?.issues[49]?.path).toBe('tables.filter.chains.bad-49');
      expect(error?.omitted).toBe(10);
      expect(error?.message.split('\n')).toHaveLength(51);
      expect(error?.message.endsWith(`\n${file}: 10 more problems not shown (only the first 50 are reported)`)).toBe(true);
      expect(error?.detailed().endsWith(`\n${file}: 10 more problems not shown (only the first 50 are reported)`)).toBe(true);
    }
    // Exactly 50: nothing left out, no such line.
    try {
      parseRules(`tables:\n  filter:\n    chains:\n${Array.from({ length: 50 }, (_, i) => `      bad-${i}:\n        - action: accept\n`).join('')}`, 'fifty.yaml');
    } catch (e) {
      expect((e as ConfigError).omitted).toBe(0);
      expect((e as ConfigError).message).not.toContain('not shown');
    }
  });

  it('an unreadable file is a ConfigError naming the file', () => {
    expect(() => loadRulesFile('/nonexistent/rules.yaml')).toThrow(/^\/nonexistent\/rules\.yaml: cannot read the rules file/);
  });
});

describe("rules file: latest Felix's actions and matches", () => {
  const bodies = (text: string, options?: ConfigOptions, table = 'filter'): string[] =>
    parseRules(text, 'new.yaml', options).tables.get(table as 'filter')?.chains[0]?.rules.map((r) => r.body) ?? [];

  it('builds every new match and action with the text the API renders (written by hand)', () => {
    const text = chainWith(
      [
        '        - match: { notConntrackState: [INVALID], notDestAddrType: LOCAL }',
        '          action: reject',
        '        - match: { rpfCheckPassed: true }',
        '          action: { reject: icmp-admin-prohibited }',
        '        - match: [{ rpfCheckFailed: { acceptLocal: true } }, { rpfCheckPassed: { acceptLocal: false } }]',
        '          action: { reject: { with: port-unreach } }',
        '        - match: { protocol: tcp, destPort: 443, limit: { rate: 10/minute, burst: 20 } }',
        '          action: { reject: tcp-reset }',
        '        - match: { protocol: udp, vxlanVni: 0x1000, limit: 5/second }',
        '          action: { setConnMark: { mark: 0x10, mask: 0xff } }',
        '        - action: { setConnMark: "0x20" }',
        '        - action: saveConnMark',
        '        - action: { saveConnMark: 0xff00 }',
        '        - action: { restoreConnMark: { restoreMask: 1 } }',
        '        - action: { nflog: { group: 1, prefix: "API0|x" } }',
        '        - action: { nflog: { group: 2, prefix: p, size: -1 } }',
        '        - action: { limitPacketRate: { rate: 100, burst: 5, mark: "0x400" } }',
        '        - match: { destNet: 10.0.0.0/8 }',
        '          action: { limitNumConnections: { num: 10, rejectWith: tcp-reset } }',
        '',
      ].join('\n'),
    );
    expect(bodies(text)).toEqual([
      '-m conntrack ! --ctstate INVALID -m addrtype ! --dst-type LOCAL --jump REJECT',
      '-m rpfilter --jump REJECT --reject-with icmp-admin-prohibited',
      '-m rpfilter --invert --validmark --accept-local -m rpfilter --validmark --jump REJECT --reject-with port-unreach',
      '-p tcp --dport 443 -m limit --limit 10/minute --limit-burst 20 --jump REJECT --reject-with tcp-reset',
      '-p udp -m u32 --u32 "0>>22&0x3C@12>>8=0x1000" -m limit --limit 5/second --jump CONNMARK --set-mark 0x10/0xff',
      '--jump CONNMARK --set-mark 0x20/0xffffffff',
      '--jump CONNMARK --save-mark --mask 0xffffffff',
      '--jump CONNMARK --save-mark --mask 0xff00',
      '--jump CONNMARK --restore-mark --mask 0x1',
      '--jump NFLOG --nflog-group 1 --nflog-prefix API0|x --nflog-range 80',
      '--jump NFLOG --nflog-group 2 --nflog-prefix p',
      '-m limit --limit 100/sec --limit-burst 5 --jump MARK --set-mark 0x400/0x400',
      '--destination 10.0.0.0/8 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 10 --connlimit-mask 0 -j REJECT --reject-with tcp-reset',
    ]);
  });

  it('dscp lives in mangle', () => {
    expect(bodies('tables:\n  mangle:\n    chains:\n      ipts-m:\n        - action: { dscp: 46 }\n        - action: { dscp: { value: 0 } }\n', undefined, 'mangle')).toEqual([
      '--jump DSCP --set-dscp 46',
      '--jump DSCP --set-dscp 0',
    ]);
    expect(issueOf(chainWith('        - action: { dscp: 46 }\n')).message).toBe('dscp is only valid in the mangle table, not in filter');
  });

  it('errors name the place and the reason', () => {
    expect(issueOf(chainWith('        - action: { reject: icmp6-no-route }\n'))).toMatchObject({
      line: 5,
      path: 'tables.filter.chains.ipts-a[0].action',
      message: '--jump REJECT --reject-with icmp6-no-route is IPv6 only, but the rules are for IPv4 (--ip-version 4)',
    });
    expect(issueOf(chainWith('        - action: { reject: icmp-net-prohibited }\n'), { ipVersion: 6 }).message).toMatch(/IPv4 only, but the rules are for IPv6/);
    expect(issueOf(chainWith('        - action: { reject: nope }\n')).message).toMatch(/^unknown reject type/);
    expect(issueOf(chainWith('        - action: { reject: tcp-reset }\n')).message).toMatch(/needs the rule to match protocol tcp/);
    expect(issueOf(chainWith('        - action: { nflog: { group: 1 } }\n')).message).toMatch(/missing key "prefix"/);
    expect(issueOf(chainWith('        - action: { limitPacketRate: { rate: 0, burst: 1, mark: 1 } }\n')).message).toMatch(/rate must be at least 1/);
    expect(issueOf(chainWith('        - match: { limit: 10/week }\n          action: accept\n')).path).toBe('tables.filter.chains.ipts-a[0].match.limit');
    expect(issueOf(chainWith('        - match: { rpfCheckPassed: { acceptLocal: 1 } }\n          action: accept\n')).message).toMatch(/expected true or false/);
    expect(issueOf(chainWith('        - match: { vxlanVni: 16777216 }\n          action: accept\n')).message).toMatch(/VNI/);
  });
});
