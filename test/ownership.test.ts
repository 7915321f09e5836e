// Ownership (issue 10): a Table touches only what is its own, and always converges. Every case
// runs on both backends with foreign rules written by the real iptables binary, and is judged by
// an independent iptables-save (with counters): every foreign rule, chain and counter must be
// unchanged after apply, after a re-read + apply, after watch repairs, and after cleanup.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AcceptAction, Chain, DropAction, InvalidOptionError, InvalidRuleError, JumpAction, LogAction, Match, Table, type RuleSpec } from '../src/index';
import type { Logger } from '../src/logger';
import { BACKENDS, chainRules, hasChain, type Backend, useNamespace, resetTables } from './helpers/netns';
import { ConfigError, parseRules } from '../src/config';
import { parseSaveWithCounters } from '../src/show';
import { recordingFactory } from './helpers/recording';
import { NO_LOCK } from './helpers/table-env';

/** A dump without its "# Generated … on <time>" / "# Completed on <time>" lines, which change
 *  whenever a second passes between two saves. */
const withoutTimestamps = (dump: string): string => dump.split('\n').filter((line) => !line.startsWith('#')).join('\n');

/** Recorded in RELIABILITY.md. */
const KERNEL_PROPERTY_RUNS = 10;

const PREFIX = 'ipts:';
const A16 = 'A'.repeat(16);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface LogLine {
  readonly level: string;
  readonly fields: object;
  readonly message: string | undefined;
}
function capturingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (fields: object, message?: string) => void lines.push({ level, fields, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** One program's desired state: a chain and a hook rule into INPUT, with their expected IDs. */
interface Instance {
  readonly hashPrefix: string;
  readonly chainPrefix: string;
  readonly chain: Chain;
  readonly inserts: readonly RuleSpec[];
  /** `--comment "<prefix><id>"` of each of our rules, to tell ours from foreign independently. */
  readonly comments: readonly string[];
}

function instance(hashPrefix: string, chainPrefix: string): Instance {
  const name = `${chainPrefix}input`;
  const chain = new Chain({
    name,
    rules: [
      { match: Match().protocol('tcp').destPorts(80), action: new AcceptAction(), comment: 'web' },
      { match: Match().sourceNet('10.9.0.0/16'), action: new LogAction({ prefix: 'ipts-drop' }) },
      { action: new DropAction() },
    ],
  });
  const inserts: RuleSpec[] = [{ match: Match().inInterface('eth9'), action: new JumpAction({ target: name }) }];
  const ids = [...chain.ruleHashes(), ...new Chain({ name: 'INPUT', rules: inserts }).ruleHashes()];
  return { hashPrefix, chainPrefix, chain, inserts, comments: ids.map((id) => `--comment "${hashPrefix}${id}"`) };
}

const A = instance(PREFIX, 'ipts-');
const B = instance('ipts:b', 'bb-'); // a second program: its hash prefix starts with ours

describe.each(BACKENDS)('ownership (%s)', (backend: Backend) => {
  const ns = useNamespace(`own${backend}`, { resetBeforeEach: backend });

  function tableOf(inst: Instance, options: { logger?: Logger; desired?: boolean } = {}): Table {
    const table = new Table('filter', 4, inst.hashPrefix, NO_LOCK, {
      netns: ns.name,
      backend,
      historicChainPrefixes: [inst.chainPrefix],
      ...(options.logger ? { logger: options.logger } : {}),
    });
    if (options.desired !== false) {
      table.updateChain(inst.chain);
      table.setRuleInsertions('INPUT', inst.inserts);
    }
    return table;
  }

  /** Independent reading: every chain and rule (with counters) that is not the instance's own. */
  async function foreignOf(inst: Instance): Promise<string[]> {
    const dump = await ns.save(backend, 'filter', 4, true);
    return dump.split('\n').filter((line) => {
      const decl = /^:(\S+) /.exec(line);
      if (decl) return !(decl[1] as string).startsWith(inst.chainPrefix);
      const rule = /^\[\d+:\d+\] -A (\S+) /.exec(line);
      if (!rule) return false;
      return !(rule[1] as string).startsWith(inst.chainPrefix) && !inst.comments.some((c) => line.includes(c));
    });
  }

  /** The instance's rules are all there, in its chain and as its insert. */
  async function expectOursPresent(inst: Instance): Promise<void> {
    const dump = await ns.save(backend, 'filter');
    const mine = [...chainRules(dump, inst.chain.name), ...chainRules(dump, 'INPUT')].filter((l) => inst.comments.some((c) => l.includes(c)));
    expect(mine).toHaveLength(inst.comments.length);
  }

  async function oursPresent(inst: Instance): Promise<boolean> {
    const dump = await ns.save(backend, 'filter');
    const mine = [...chainRules(dump, inst.chain.name), ...chainRules(dump, 'INPUT')].filter((l) => inst.comments.some((c) => l.includes(c)));
    return mine.length === inst.comments.length;
  }

  async function expectOursGone(inst: Instance): Promise<void> {
    const dump = await ns.save(backend, 'filter');
    expect(hasChain(dump, inst.chain.name)).toBe(false);
    expect(inst.comments.some((c) => dump.includes(c))).toBe(false);
  }

  /** Another program deletes our insert and flushes our chain (with the real binaries). */
  async function clobber(inst: Instance): Promise<void> {
    const dump = await ns.save(backend, 'filter');
    const insert = chainRules(dump, 'INPUT').find((l) => inst.comments.some((c) => l.includes(c)));
    await ns.restore(backend, `*filter\n-D ${(insert as string).slice(3)}\n-F ${inst.chain.name}\nCOMMIT\n`);
  }

  /** apply, re-read + apply, a restarted Table, watch repairs, cleanup: foreign stays as it was. */
  async function expectOnlyOursTouched(inst: Instance, before: readonly string[]): Promise<void> {
    const table = tableOf(inst);
    await table.apply();
    await expectOursPresent(inst);
    expect(await foreignOf(inst)).toEqual(before);

    table.invalidateDataplaneCache('test: re-read');
    await table.apply();
    expect(await foreignOf(inst)).toEqual(before);

    await tableOf(inst).apply(); // a restart: a new Table reads what the old one wrote
    expect(await foreignOf(inst)).toEqual(before);

    // watch: the post-write re-read finds the damage and repairs it. It is due 50 ms after a
    // write, or later when save and restore have been slow (at least twice their peak), so call
    // apply() again after the delay it asks for, as watch does, until the repair is in.
    await clobber(inst);
    const giveUpAt = Date.now() + 10_000;
    let delayMs = 50;
    while (!(await oursPresent(inst)) && Date.now() < giveUpAt) {
      await sleep(Math.min(Math.max(delayMs, 10), 1000));
      delayMs = await table.apply();
    }
    await expectOursPresent(inst);
    expect(await foreignOf(inst)).toEqual(before);

    await tableOf(inst, { desired: false }).apply(); // cleanup: nothing wanted, the prefixes say what is ours
    await expectOursGone(inst);
    expect(await foreignOf(inst)).toEqual(before);
  }

  async function writeForeign(rules: readonly (readonly string[])[]): Promise<void> {
    let n = 1;
    for (const args of rules) await ns.iptables(backend, [...args.slice(0, 2), '-c', String(n++), String(n * 100), ...args.slice(2)]);
  }

  it('keeps foreign rules whose comment merely starts with our hash prefix', async () => {
    await writeForeign([
      ['-A', 'INPUT', '-m', 'comment', '--comment', 'ipts:allow-ssh', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'comment', '--comment', `ipts:v2:${A16}`, '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'comment', '--comment', `ipts:${A16}A`, '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-m', 'comment', '--comment', `ipts:${A16} and more words`, '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'comment', '--comment', 'other', '-m', 'comment', '--comment', `ipts:${A16}`, '-j', 'ACCEPT'],
    ]);
    const before = await foreignOf(A);
    expect(before.filter((l) => l.includes('-A INPUT'))).toHaveLength(5);
    await expectOnlyOursTouched(A, before);
  });

  it('never reads text inside other matches and targets as our comment or our jump', async () => {
    await ns.iptables(backend, ['-N', 'ipts-input']); // a stale chain of ours, so "-j ipts-input" would be an old insert
    await writeForeign([
      ['-A', 'INPUT', '-j', 'LOG', '--log-prefix', '-m comment --comment ipts:A'],
      ['-A', 'INPUT', '-m', 'string', '--algo', 'bm', '--string', '-m comment --comment ipts:Z', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'string', '--algo', 'bm', '--string', `-m comment --comment ipts:${A16}`, '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'comment', '--comment', 'see -j ipts-input docs', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'comment', '--comment', 'or -g ipts-input', '-j', 'LOG', '--log-prefix', '-j ipts-input "x\\'],
      ['-A', 'FORWARD', '-m', 'comment', '--comment', `say "ipts:${A16}"`, '-j', 'DROP'],
    ]);
    const before = (await foreignOf(A)).filter((l) => !l.startsWith(':ipts-'));
    expect(before.filter((l) => / -A (INPUT|FORWARD) /.test(l))).toHaveLength(6);
    await expectOnlyOursTouched(A, before);
  });

  it('two instances whose hash prefixes are prefixes of each other never touch each other', async () => {
    await writeForeign([['-A', 'INPUT', '-m', 'comment', '--comment', 'someone else', '-j', 'ACCEPT']]);
    await tableOf(B).apply();
    await expectOursPresent(B);
    const beforeA = await foreignOf(A); // B's chain and insert are foreign to A
    expect(beforeA.some((l) => l.includes(B.comments[0] as string))).toBe(true);
    await expectOnlyOursTouched(A, beforeA);
    await expectOursPresent(B);

    await tableOf(A).apply();
    const beforeB = await foreignOf(B);
    expect(beforeB.some((l) => l.includes(A.comments[0] as string))).toBe(true);
    await expectOnlyOursTouched(B, beforeB);
    await expectOursPresent(A);
  });

  it('converges with the longest hash prefix whose ID comment fits in 255 bytes, and refuses a longer one before writing', async () => {
    const longest = `p${'x'.repeat(237)}:`; // 239 bytes + 16 = 255
    const rec = recordingFactory();
    const table = new Table('filter', 4, longest, NO_LOCK, { netns: ns.name, backend, historicChainPrefixes: ['ipts-'], commandFactory: rec.factory });
    table.updateChain(A.chain);
    await table.apply();
    const dump = await ns.save(backend, 'filter');
    expect(chainRules(dump, A.chain.name).every((l) => l.includes(`--comment "${longest}`))).toBe(true);
    rec.clear();
    table.invalidateDataplaneCache('test: re-read');
    await table.apply();
    expect(rec.restoreInputs()).toEqual([]); // the IDs read back: nothing to rewrite

    const before = withoutTimestamps(await ns.save(backend, 'filter', 4, true));
    const callsBefore = rec.calls.length;
    for (const bad of [`${longest}y`, `p${'x'.repeat(244)}`, `${'ä'.repeat(120)}:`]) {
      let err: unknown;
      try {
        new Table('filter', 4, bad, NO_LOCK, { netns: ns.name, backend, commandFactory: rec.factory });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidOptionError);
      // Errors quote at most ~200 characters of a value (issue 11), so look for its start.
      expect((err as Error).message).toContain(JSON.stringify(bad).slice(0, 150));
      expect((err as Error).message).toContain('255');
    }
    expect(rec.calls).toHaveLength(callsBefore); // the refused Tables ran nothing
    expect(withoutTimestamps(await ns.save(backend, 'filter', 4, true))).toEqual(before);
  });

  it('refuses strings with an unpaired surrogate everywhere, before anything is written', async () => {
    const rec = recordingFactory();
    const table = new Table('filter', 4, PREFIX, NO_LOCK, { netns: ns.name, backend, historicChainPrefixes: ['ipts-'], commandFactory: rec.factory });
    const lone = 'ipts-\ud800x';
    const refusals: (() => unknown)[] = [
      () => table.updateChains([A.chain, { name: lone, rules: [] }]),
      () => table.updateChain({ name: 'ipts-ok', rules: [{ action: new AcceptAction(), comment: 'bad \udc00 comment' }] }),
      () => table.setRuleInsertions(lone, []),
      () => table.removeChainByName(lone),
      () => new JumpAction({ target: lone }),
      () => new LogAction({ prefix: 'x\ud83d' }),
      () => Match().sourceIpSet('set\udfff'),
      () => Match().conntrackState('NEW\ud800'),
    ];
    for (const refuse of refusals) expect(refuse).toThrow(InvalidRuleError);
    const options: [string, () => unknown][] = [
      ['hashPrefix', () => new Table('filter', 4, 'ipts\ud800:', NO_LOCK)],
      ['historicChainPrefixes', () => new Table('filter', 4, PREFIX, NO_LOCK, { historicChainPrefixes: ['ipts-\udc00'] })],
      ['extraCleanupRegexPattern', () => new Table('filter', 4, PREFIX, NO_LOCK, { extraCleanupRegexPattern: 'a\ud800' })],
      ['netns', () => new Table('filter', 4, PREFIX, NO_LOCK, { netns: 'n\ud800' })],
    ];
    for (const [option, refuse] of options) {
      expect(refuse).toThrow(InvalidOptionError);
      expect(refuse).toThrow(option);
    }
    // The chain accepted before the bad one in the same call was not taken either.
    expect(table.desiredChainNames()).toEqual([]);
    const before = withoutTimestamps(await ns.save(backend, 'filter', 4, true));
    await table.apply();
    expect(rec.restoreInputs()).toEqual([]);
    expect(withoutTimestamps(await ns.save(backend, 'filter', 4, true))).toEqual(before);
  });

  it('refuses to remove a kernel chain, and leaves a chain it never managed alone', async () => {
    await ns.iptables(backend, ['-N', 'DOCKER']);
    await writeForeign([
      ['-A', 'DOCKER', '-m', 'comment', '--comment', 'docker owns this', '-j', 'ACCEPT'],
      ['-A', 'FORWARD', '-j', 'DOCKER'],
    ]);
    const logger = capturingLogger();
    const table = tableOf(A, { logger });
    await table.apply();
    const before = await foreignOf(A);
    expect(() => table.removeChainByName('INPUT')).toThrow(InvalidRuleError);
    expect(() => table.removeChains([{ name: 'FORWARD', rules: [] }])).toThrow(/kernel chain/);
    table.removeChainByName('DOCKER');
    table.removeChains([{ name: 'DOCKER', rules: [] }]);
    expect(logger.lines.some((l) => l.level === 'debug' && /DOCKER/.test(JSON.stringify(l.fields)) && /never managed/.test(l.message ?? ''))).toBe(true);
    await table.apply();
    expect(await foreignOf(A)).toEqual(before);
    await sleep(120);
    await table.apply(); // and still nothing on the next re-read
    expect(await foreignOf(A)).toEqual(before);
    await expectOursPresent(A);
    // A chain it manages is still removed.
    table.removeChainByName(A.chain.name);
    table.setRuleInsertions('INPUT', []);
    await table.apply();
    await expectOursGone(A);
    expect(await foreignOf(A)).toEqual(before);
  });

  it(`property: random foreign rules between ours survive apply and cleanup (${KERNEL_PROPERTY_RUNS} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(foreignRuleArgs, fc.nat()), { minLength: 1, maxLength: 5 }), async (foreign) => {
        await resetTables(ns, backend);
        await tableOf(A).apply();
        let length = 1; // our insert
        let n = 1;
        for (const [args, at] of foreign) {
          const pos = (at % (length + 1)) + 1;
          await ns.iptables(backend, ['-I', 'INPUT', String(pos), '-c', String(n), String(n * 10), ...args]);
          n++;
          length++;
        }
        const before = await foreignOf(A);
        expect(before.filter((l) => l.includes(' -A INPUT '))).toHaveLength(foreign.length);
        const table = tableOf(A);
        await table.apply(); // ours is out of place now: it moves back to the top
        await expectOursPresent(A);
        expect(await foreignOf(A)).toEqual(before);
        await tableOf(A, { desired: false }).apply();
        await expectOursGone(A);
        expect(await foreignOf(A)).toEqual(before);
      }),
      { numRuns: KERNEL_PROPERTY_RUNS },
    );
  }, 120_000);
});

// Values that embed our prefix, comment syntax, jumps to our chains, quotes and backslashes;
// never exactly one of our IDs (that would be ours by definition).
const trickyPiece = fc.oneof(
  fc.constantFrom('-m comment --comment ', '--comment ', '-j ipts-input', '-g ipts-', 'ipts:', 'ipts:b', '"', '\\', "'", ' ', 'x'),
  fc.stringMatching(/^[A-Za-z0-9_-]{16}$/),
);
const tricky = (maxBytes: number): fc.Arbitrary<string> =>
  fc
    .array(trickyPiece, { minLength: 1, maxLength: 6 })
    .map((p) => p.join('').slice(0, maxBytes))
    .filter((v) => v.trim() !== '' && !/^ipts:[A-Za-z0-9_-]{16}$/.test(v));
const foreignRuleArgs: fc.Arbitrary<readonly string[]> = fc.oneof(
  tricky(255).map((v) => ['-m', 'comment', '--comment', v, '-j', 'ACCEPT']),
  tricky(255).map((v) => ['-p', 'tcp', '--dport', '22', '-m', 'comment', '--comment', v, '-j', 'DROP']),
  tricky(29).map((v) => ['-j', 'LOG', '--log-prefix', v]),
  tricky(128).map((v) => ['-m', 'string', '--algo', 'bm', '--string', v, '-j', 'ACCEPT']),
  fc.tuple(tricky(100), fc.stringMatching(/^[A-Za-z0-9_-]{16}$/)).map(([v, id]) => ['-m', 'comment', '--comment', v, '-m', 'comment', '--comment', `ipts:${id}`, '-j', 'ACCEPT']),
);

describe('overlapping instances', () => {
  it('warns when a Table of the same table and namespace has a chain prefix that overlaps', () => {
    const logger = capturingLogger();
    const first = new Table('filter', 4, 'one:', NO_LOCK, { historicChainPrefixes: ['app-'], netns: 'own-overlap' });
    new Table('filter', 4, 'two:', NO_LOCK, { historicChainPrefixes: ['other-'], netns: 'own-overlap', logger });
    new Table('nat', 4, 'three:', NO_LOCK, { historicChainPrefixes: ['app-x'], netns: 'own-overlap', logger }); // another table
    new Table('filter', 4, 'four:', NO_LOCK, { historicChainPrefixes: ['app-x'], netns: 'own-elsewhere', logger }); // another namespace
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
    new Table('filter', 4, 'five:', NO_LOCK, { historicChainPrefixes: ['app-x'], netns: 'own-overlap', logger });
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0])).toContain('app-x');
    expect(JSON.stringify(warnings[0])).toContain('app-');
    expect(first.hashPrefix).toBe('one:');
  });
});

describe('show', () => {
  it('lists as ours only rules that carry our exact ID as their first comment match', () => {
    const dump = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      `[1:10] -A INPUT -m comment --comment "ipts:${A16}" -j ACCEPT`,
      '[2:20] -A INPUT -m comment --comment "ipts:allow-ssh" -j ACCEPT',
      `[3:30] -A INPUT -j LOG --log-prefix "-m comment --comment ipts:${A16.slice(0, 2)}"`,
      `[4:40] -A INPUT -m comment --comment "ipts:b${A16}" -j ACCEPT`,
      'COMMIT',
    ].join('\n');
    const { inserts } = parseSaveWithCounters(dump, { hashPrefix: PREFIX, chainPrefix: 'ipts-' });
    expect(inserts).toEqual([{ name: 'INPUT', rules: [{ num: 1, id: A16, packets: 1, bytes: 10, rule: `-m comment --comment "ipts:${A16}" -j ACCEPT` }] }]);
  });
});

describe('rules files', () => {
  it.each([
    ['chain name (JSON key)', 'r.json', '{\n  "tables": {"filter": {"chains": {\n    "ipts-\\ud800x": [{"action": "accept"}]}}}}\n', 3, 5, '"ipts-\\ud800x"'],
    ['comment (JSON)', 'r.json', '{"tables": {"filter": {"chains": {"ipts-a": [\n  {"action": "accept", "comment": "x\\udc00"}]}}}}\n', 2, 35, '"x\\udc00"'],
    ['comment (YAML)', 'r.yaml', 'tables:\n  filter:\n    chains:\n      ipts-a:\n        - action: accept\n          comment: "x\\ud800"\n', 6, 20, '"x\\ud800"'],
    ['insert chain (YAML)', 'r.yaml', 'tables:\n  filter:\n    insert:\n      "IN\\ud800":\n        - action: accept\n', 4, 7, '"IN\\ud800"'],
    ['ipset name (YAML)', 'r.yaml', 'tables:\n  filter:\n    chains:\n      ipts-a:\n        - match: { sourceIpSet: "s\\ud800" }\n          action: accept\n', 5, 33, '"s\\ud800"'],
  ])('refuses an unpaired surrogate in a %s with file:line:column', (_what, file, text, line, column, shown) => {
    let err: unknown;
    try {
      parseRules(text, file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(`${file}:${line}:${column}: `);
    expect((err as ConfigError).message).toContain('well-formed Unicode');
    expect((err as ConfigError).message).toContain(shown);
  });
});

describe('the CLI', () => {
  it('says in its help that a second instance needs its own hash prefix and a non-overlapping chain prefix', () => {
    const help = execFileSync(process.execPath, [join(__dirname, '..', 'dist', 'cli.js'), 'apply', '--help'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
    expect(help).toContain('a second instance beside this one needs its own');
    expect(help).toContain('neither is a prefix of the other');
  });
});

describe('hash prefixes', () => {
  it.each(['ipts"', 'ipts\\', "ipts'", 'ip ts:', 'ipts:\t', ''])('refuses %j (iptables-save would escape or split it)', (bad) => {
    expect(() => new Table('filter', 4, bad, NO_LOCK)).toThrow(InvalidOptionError);
    expect(() => new Table('filter', 4, bad, NO_LOCK)).toThrow(`option hashPrefix: `);
    if (bad !== '') expect(() => new Table('filter', 4, bad, NO_LOCK)).toThrow(JSON.stringify(bad));
  });
});
