// FakeIptables (iptables-sync/testing) against the real thing. For each backend (legacy and nft),
// the same inputs go to the fake and to the real binaries in a throwaway namespace:
//
// 1. Rendering: every match and action of the library (test/helpers/rule-corpus.ts), random
//    kernel-safe chains (v4 and v6) and foreign rules in other spellings are loaded into both;
//    the fake's iptables-save text equals the real one line for line (only the two time-stamped
//    comment lines and nft's "# Warning" line are dropped).
// 2. Table scenarios: a Table on the fake and a Table on the namespace get the same updates, and
//    "another program" makes the same edits with `fake.restore(text)` and the real
//    `iptables-restore --noflush`; after every step both dataplanes are compared as the Table sees
//    them: per chain (in iptables-save order) our rule IDs by position and foreign rules by their
//    exact iptables-save text; and both Tables must have sent the same restore inputs. Our own rules are compared by ID only because the ID is all the
//    Table reads of them (the body is checked by part 1); foreign rules are compared verbatim,
//    because the Table must keep them as they are.
//    Fixed scenarios name each step; a property runs random sequences of updates, removals,
//    insert changes and foreign edits (FAKE_MODEL_RUNS, FAKE_MODEL_STEPS).
// 3. Restore semantics: the same restore inputs change both alike, and the same bad ones fail on
//    both with the same exit code, line and first line of stderr, leaving both unchanged.
import fc from 'fast-check';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AcceptAction, Chain, ChainDeletionError, DNATAction, DropAction, JumpAction, Match, type RuleSpec, Table, type TableName, type TableOptions } from '../src/index';
import { FakeIptables, FakeRestoreError } from '../src/testing';
import { BACKENDS, useNamespace, resetTables } from './helpers/netns';
import { buildChainSpec, kernelChainArb } from './helpers/arbitraries';
import { ALL_FEATURES, type Load, LOADS, NEW_LOADS, PREFIX, restoreInput, SETS, TARGET } from './helpers/rule-corpus';
import { recordingFactory, type Recorder } from './helpers/recording';
import { NO_LOCK } from './helpers/table-env';

/** iptables-save text without the lines that differ by nature: time stamps and nft's warning. */
const withoutComments = (dump: string): string[] => dump.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

/** What the Table sees of a dump: per chain, `id:<ID>` for our rules, the body for others. */
function tableView(dump: string): [string, string[]][] {
  const chains = new Map<string, string[]>();
  for (const line of withoutComments(dump)) {
    const decl = /^:(\S+) (\S+)/.exec(line);
    if (decl) chains.set(`${decl[1]} ${decl[2]}`, []);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (!rule) continue;
    const key = [...chains.keys()].find((k) => k.startsWith(`${rule[1]} `)) as string;
    const id = /--comment "?([^" ]+)/.exec(rule[2] as string)?.[1];
    (chains.get(key) as string[]).push(id?.startsWith(PREFIX) ? `id:${id.slice(PREFIX.length)}` : (rule[2] as string));
  }
  return [...chains];
}

/** The whole corpus: latest Felix's rules with no features and with every feature. */
const CORPUS: readonly Load[] = [
  ...LOADS,
  ...NEW_LOADS.flatMap((l) => [
    { ...l, label: `${l.label}, no features` },
    { ...l, label: `${l.label}, every feature`, chain: l.chain.withFeatures(ALL_FEATURES) },
  ]),
];

interface Pair {
  readonly fake: FakeIptables;
  readonly onFake: Table;
  readonly onReal: Table;
  /** What the Table on the namespace ran. */
  readonly rec: Recorder;
}

describe.each(BACKENDS)('FakeIptables against the real iptables-%s', (backend) => {
  const ns = useNamespace(`fake${backend}`, { resetBeforeEach: backend });
  beforeAll(async () => {
    await ns.execOk('ipset', ['create', SETS.v4, 'hash:net']);
    await ns.execOk('ipset', ['create', SETS.v4port, 'hash:ip,port']);
    await ns.execOk('ipset', ['create', SETS.v6, 'hash:net', 'family', 'inet6']);
    await ns.execOk('ipset', ['create', SETS.v6port, 'hash:ip,port', 'family', 'inet6']);
  });
  beforeEach(async () => {
    // The reset keeps kernel chain policies; some tests change them.
    await ns.restore(backend, '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
  });

  it.each(CORPUS.map((l) => [l.label, l] as const))('prints %s as iptables-save does', async (_label, load) => {
    const fake = new FakeIptables({ backend });
    const input = restoreInput(load.table, [load.chain], load.extraChains);
    fake.restore(input, { ipVersion: load.family });
    await ns.restore(backend, input, load.family);
    const real = withoutComments(await ns.save(backend, load.table, load.family));
    expect(withoutComments(fake.save(load.table, { ipVersion: load.family }))).toEqual(real);
    // And what the fake printed reads back as itself (save → restore → save is stable).
    const again = new FakeIptables({ backend });
    again.restore(fake.save(load.table, { ipVersion: load.family }), { ipVersion: load.family });
    expect(withoutComments(again.save(load.table, { ipVersion: load.family }))).toEqual(withoutComments(fake.save(load.table, { ipVersion: load.family })));
  });

  it('prints random kernel-safe chains (v4 and v6) as iptables-save does', async () => {
    for (const family of [4, 6] as const) {
      const name = `fk-rand${family}`;
      await fc.assert(
        fc.asyncProperty(
          kernelChainArb(name, { family, ipSets: [family === 4 ? SETS.v4 : SETS.v6], ipPortSets: [family === 4 ? SETS.v4port : SETS.v6port], targets: [TARGET], maxRules: 25 }),
          async (c) => {
            const chain = new Chain(buildChainSpec(c));
            // `:name - -` flushes the chain again on each run (--noflush keeps everything else).
            const input = restoreInput('filter', [chain], [TARGET]);
            const fake = new FakeIptables({ backend });
            fake.restore(input, { ipVersion: family });
            await ns.restore(backend, input, family);
            expect(withoutComments(fake.save('filter', { ipVersion: family }))).toEqual(withoutComments(await ns.save(backend, 'filter', family)));
          },
        ),
        { numRuns: Number(process.env.FAKE_DIFFERENTIAL_RUNS ?? 10) },
      );
    }
  });

  it('prints foreign rules as iptables-save does (spellings other programs use)', async () => {
    const input = [
      '*filter',
      ':ext-a - [0:0]',
      ':ext-b - [0:0]',
      '-A ext-a -s 10.0.0.1 -j DROP',
      '-A ext-a --source 10.1.2.3/16 --destination 192.168.1.1/24 -p udp --dport 53 -j ACCEPT',
      '-A ext-a -i eth0 -d 10.1.0.0/16 -p tcp -m tcp --destination-port 22 --goto ext-b',
      '-A ext-a -m state --state ESTABLISHED,RELATED --jump ACCEPT',
      '-A ext-a -m mark --mark 16 -j MARK --set-mark 0x20',
      '-A ext-a -p tcp -j REJECT',
      '-A ext-a -p tcp -j REJECT --reject-with tcp-reset',
      '-A ext-a -p 17 -m comment --comment "a b" -j RETURN',
      "-A ext-a -m comment --comment plain -o lo ! -s 10.0.0.0/8 -j LOG --log-prefix x",
      '-A INPUT -m conntrack --ctstate ESTABLISHED,NEW -j ext-a',
      'COMMIT',
      '',
    ].join('\n');
    const fake = new FakeIptables({ backend });
    fake.restore(input);
    await ns.restore(backend, input);
    expect(withoutComments(fake.save('filter'))).toEqual(withoutComments(await ns.save(backend, 'filter')));
  });

  it.each<[string, string, boolean]>([
    [':CHAIN flushes an existing user chain and sets a kernel chain policy ("-" keeps it)', '*filter\n:ext-keep - [0:0]\n:INPUT DROP [0:0]\n:FORWARD - [0:0]\nCOMMIT\n', true],
    ['-N, -I without a number, -I 2, -D by number', '*filter\n-N ext-n\n-A ext-n -j ACCEPT\n-I ext-n -j DROP\n-I ext-n 2 -j RETURN\n-A ext-n -p udp -j DROP\n-D ext-n 1\nCOMMIT\n', true],
    // (Only of a rule committed before: iptables-nft-restore v1.8.9 crashes on -R of a rule added
    // in the same transaction.)
    ['-R of a rule', '*filter\n-R ext-keep 2 -p udp -j REJECT\nCOMMIT\n', true],
    ['-D by rule spec, written in another spelling than it was added', '*filter\n-A ext-keep --source 10.0.0.1 --jump DROP\n-A ext-keep -s 10.0.0.2/32 -j DROP\n-D ext-keep -s 10.0.0.1/32 -j DROP\nCOMMIT\n', true],
    ['-F of one chain, then -X of it', '*filter\n-F ext-keep\n-X ext-keep\nCOMMIT\n', true],
    ['-F of the whole table, -P', '*filter\n-A INPUT -j ACCEPT\n-F\n-P OUTPUT DROP\nCOMMIT\n', true],
    ['-X of every (empty, unreferenced) user chain', '*filter\n:ext-e - [0:0]\n-F ext-keep\n-X\nCOMMIT\n', true],
    ['-X of an empty kernel chain: refused by legacy, done by nft (which still lists it)', '*filter\n-X INPUT\nCOMMIT\n', true],
    ['-X of an empty kernel chain of policy DROP: refused by both', '*filter\n:INPUT DROP [0:0]\nCOMMIT\n*filter\n-X INPUT\nCOMMIT\n', true],
    ['counters in front of rules (restore -c input) are dropped', '*filter\n[5:300] -A ext-keep -j DROP\nCOMMIT\n', true],
    ['without --noflush, a table is replaced', '*filter\n:ext-new - [0:0]\n-A INPUT -j ext-new\nCOMMIT\n', false],
    ['two transactions, the second failing: the first stays', '*filter\n:ext-t - [0:0]\nCOMMIT\n*filter\n-A ext-t -j ACCEPT\n-A ext-nope -j ACCEPT\nCOMMIT\n', true],
    ['two tables: one transaction each', '*filter\n:ext-t - [0:0]\nCOMMIT\n*nat\n:ext-t - [0:0]\n-A PREROUTING -j ext-t\nCOMMIT\n', true],
  ])('applies %s like iptables-restore', async (_label, input, noflush) => {
    const setup = '*filter\n:ext-keep - [0:0]\n-A ext-keep -j ACCEPT\n-A ext-keep -j DROP\nCOMMIT\n';
    const fake = new FakeIptables({ backend });
    fake.restore(setup);
    await ns.restore(backend, setup);
    const real = await ns.exec(`iptables-${backend}-restore`, noflush ? ['--noflush'] : [], input);
    let fakeExit = 0;
    try {
      fake.restore(input, { noflush });
    } catch (e) {
      if (!(e instanceof FakeRestoreError)) throw e;
      fakeExit = e.exitCode;
    }
    expect(fakeExit, real.stderr).toBe(real.code);
    for (const table of ['filter', 'nat'] as const) {
      expect(withoutComments(fake.save(table)), table).toEqual(withoutComments(await ns.save(backend, table)));
    }
  });

  it.each<[string, string]>([
    ['a rule in a missing chain', '*filter\n:ext-q - [0:0]\n-A ext-q -j ACCEPT\n-A ext-nope -j ACCEPT\nCOMMIT\n'],
    ['a rule number past the end', '*filter\n:ext-q - [0:0]\n-I ext-q 2 -j ACCEPT\nCOMMIT\n'],
    ['replacing a rule that is not there', '*filter\n:ext-q - [0:0]\n-R ext-q 1 -j ACCEPT\nCOMMIT\n'],
    ['deleting a rule that is not there', '*filter\n:ext-q - [0:0]\n-A ext-q -j ACCEPT\n-D ext-q -j DROP\nCOMMIT\n'],
    ['deleting a rule number that is not there', '*filter\n:ext-q - [0:0]\n-D ext-q 1\nCOMMIT\n'],
    ['creating a chain that exists', '*filter\n-N ext-keep\nCOMMIT\n'],
    ['deleting a missing chain', '*filter\n-X ext-nope\nCOMMIT\n'],
    ['deleting a kernel chain that has rules', '*filter\n-A INPUT -j ACCEPT\n-X INPUT\nCOMMIT\n'],
    ['deleting a chain that still has rules', '*filter\n-X ext-keep\nCOMMIT\n'],
    ['deleting a referenced chain', '*filter\n:ext-q - [0:0]\n-A INPUT -j ext-q\n-X ext-q\nCOMMIT\n'],
    ['a jump to a missing chain', '*filter\n:ext-q - [0:0]\n-A ext-q -j ext-nope\n-A ext-q -j ACCEPT\nCOMMIT\n'],
    ['a jump to a missing chain, then a rule in a missing chain', '*filter\n:ext-q - [0:0]\n-A ext-q -j ext-nope\n-A ext-nope2 -j ACCEPT\nCOMMIT\n'],
    ['an unknown command', '*filter\n:ext-q - [0:0]\nbogus ext-q\nCOMMIT\n'],
    ['no COMMIT', '*filter\n:ext-q - [0:0]\n-A ext-q -j ACCEPT\n'],
  ])('rejects %s like iptables-restore --noflush, and changes nothing', async (_label, input) => {
    const setup = '*filter\n:ext-keep - [0:0]\n-A ext-keep -j ACCEPT\nCOMMIT\n';
    const fake = new FakeIptables({ backend });
    fake.restore(setup);
    await ns.restore(backend, setup);
    const before = fake.save('filter');
    let fakeError: unknown;
    try {
      fake.restore(input);
    } catch (e) {
      fakeError = e;
    }
    const real = await ns.exec(`iptables-${backend}-restore`, ['--noflush'], input);
    expect(real.code).not.toBe(0);
    expect(fakeError).toBeInstanceOf(FakeRestoreError);
    const err = fakeError as FakeRestoreError;
    expect(err.exitCode).toBe(real.code);
    expect(err.line).toBe(Number(/line:? (\d+)/.exec(real.stderr)?.[1]));
    expect(err.stderr.split('\n')[0]).toBe(real.stderr.split('\n')[0]);
    expect(withoutComments(fake.save('filter'))).toEqual(withoutComments(before));
    expect(withoutComments(await ns.save(backend, 'filter'))).toEqual(withoutComments(before));
  });

  /** A Table on the fake and one on the namespace, same options. */
  function pair(name: TableName, ipVersion: 4 | 6, extra: TableOptions = {}): Pair {
    const fake = new FakeIptables({ backend });
    const rec = recordingFactory();
    const options = { backend, historicChainPrefixes: ['cali-'], ...extra } as const;
    return {
      fake,
      rec,
      onFake: new Table(name, ipVersion, PREFIX, NO_LOCK, { ...options, commandFactory: fake.commandFactory }),
      onReal: new Table(name, ipVersion, PREFIX, NO_LOCK, { ...options, netns: ns.name, commandFactory: rec.factory }),
    };
  }

  /** Both dataplanes as the Table sees them are the same. */
  async function expectSame(p: Pair, step: string, name: TableName = 'filter', ipVersion: 4 | 6 = 4): Promise<void> {
    const real = tableView(await ns.save(backend, name, ipVersion));
    expect(tableView(p.fake.save(name, { ipVersion })), step).toEqual(real);
  }

  /** Applies both Tables; both must succeed or fail the same way, having sent the same restore
   *  inputs (so both saw the same dataplane). */
  async function applyBoth(p: Pair, step: string): Promise<unknown> {
    const outcome = async (t: Table): Promise<unknown> =>
      t.apply().then(
        () => 'ok',
        (e: unknown) => (e instanceof ChainDeletionError ? { error: e.name, failures: e.failures } : { error: (e as Error).name }),
      );
    const [onFake, onReal] = [await outcome(p.onFake), await outcome(p.onReal)];
    expect(onFake, step).toEqual(onReal);
    expect(p.fake.restores.map((c) => c.input), step).toEqual(p.rec.restoreInputs());
    return onFake;
  }

  /** Another program's edit, made to both dataplanes. */
  async function otherProgram(p: Pair, input: string, ipVersion: 4 | 6 = 4): Promise<void> {
    p.fake.restore(input, { ipVersion });
    await ns.restore(backend, input, ipVersion);
  }

  const tcp = (port: number): RuleSpec => ({ match: Match().protocol('tcp').destPorts(port), action: new AcceptAction() });
  const web = (name: string, ports: readonly number[]): Chain => new Chain({ name, rules: ports.map(tcp) });

  it('Table scenarios on filter v4: the fake and the kernel agree after every step', async () => {
    const p = pair('filter', 4);
    const both = (f: (t: Table) => void): void => {
      f(p.onFake);
      f(p.onReal);
    };
    const step = async (label: string, expected: unknown = 'ok'): Promise<void> => {
      expect(await applyBoth(p, label), label).toEqual(expected);
      await expectSame(p, label);
    };
    const insertB = [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-b' }) }];

    // Leftovers of an older version: a hook without ID into a historic chain.
    await otherProgram(p, '*filter\n:cali-old - [0:0]\n-A cali-old -j ACCEPT\n-A FORWARD -j cali-old\n-A FORWARD -i eth9 -j ACCEPT\nCOMMIT\n');
    await expectSame(p, 'leftovers');

    both((t) => {
      t.updateChains([web('cali-a', [1, 2, 3, 4]), new Chain({ name: 'cali-b', rules: [{ action: new JumpAction({ target: 'cali-a' }) }, { action: new DropAction() }] })]);
      t.setRuleInsertions('FORWARD', insertB);
      t.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'cali-b' }) }]);
    });
    await step('create chains, insert into kernel chains, clean up leftovers');

    both((t) => t.updateChain(web('cali-a', [1, 20, 3, 4])));
    await step('change a rule in the middle');

    both((t) => {
      t.updateChain(web('cali-a', [1, 20, 3, 4, 5, 6]));
      t.updateChain(new Chain({ name: 'cali-b', rules: [{ action: new JumpAction({ target: 'cali-a' }) }] }));
    });
    await step('grow one chain, shrink another');

    // Another program: its own chain and rules in kernel chains, and a stray rule in our chain.
    await otherProgram(p, '*filter\n:ext-x - [0:0]\n-A ext-x -s 10.0.0.1 -j DROP\n-I INPUT 1 -p tcp --dport 22 -j ext-x\n-A FORWARD -o eth1 -j ACCEPT\n-I cali-a 2 -j DROP\nCOMMIT\n');
    await expectSame(p, 'foreign rules');
    both((t) => t.invalidateDataplaneCache('test'));
    await step('re-read: the stray rule in our chain goes, the foreign rules stay');

    // A clobber: another program's read-modify-write flushes our chain and deletes our insert.
    const ourInput = p.fake.rules('INPUT')?.findIndex((r) => r.includes(PREFIX)) ?? -1;
    expect(ourInput).toBeGreaterThanOrEqual(0);
    await otherProgram(p, `*filter\n:cali-a - [0:0]\n-D INPUT ${ourInput + 1}\n-R cali-b 1 -j ACCEPT\nCOMMIT\n`);
    await expectSame(p, 'clobbered');
    both((t) => t.invalidateDataplaneCache('test'));
    await step('re-read: repaired');

    both((t) => t.setRuleInsertions('FORWARD', [...insertB, { match: Match().outInterface('cali+'), action: new JumpAction({ target: 'cali-a' }) }]));
    await step('a second insert into FORWARD');

    both((t) => {
      t.removeChainByName('cali-b');
      t.setRuleInsertions('FORWARD', [{ match: Match().outInterface('cali+'), action: new JumpAction({ target: 'cali-a' }) }]);
      t.setRuleInsertions('INPUT', []);
    });
    await step('delete a chain and its inserts');

    // A foreign jump to a chain of a historic prefix is an old insert of ours: it goes, and so
    // does the chain.
    await otherProgram(p, '*filter\n-A ext-x -j cali-a\nCOMMIT\n');
    both((t) => {
      t.removeChainByName('cali-a');
      t.setRuleInsertions('FORWARD', []);
    });
    await step('delete a chain an unhashed foreign rule jumps to');

    // A chain of ours outside the historic prefixes that a foreign rule jumps to: deleting it
    // fails on both, naming the referrer, and succeeds once the referrer is gone.
    both((t) => t.updateChain(web('own-q', [7])));
    await step('create a chain outside the historic prefixes');
    await otherProgram(p, '*filter\n-A ext-x -j own-q\nCOMMIT\n');
    both((t) => t.removeChainByName('own-q'));
    await step('delete a chain a foreign rule still jumps to', { error: 'ChainDeletionError', failures: [{ chain: 'own-q', referrers: ['ext-x'] }] });
    await otherProgram(p, '*filter\n-D ext-x -j own-q\nCOMMIT\n');
    both((t) => t.invalidateDataplaneCache('test'));
    await step('the referrer is gone: the chain is deleted');
    expect(p.fake.chainNames()).toEqual(['INPUT', 'FORWARD', 'OUTPUT', 'ext-x']);
  });

  it('random Table updates and foreign edits: the fake and the kernel agree after every step', async () => {
    type Op =
      | { readonly kind: 'update'; readonly chain: number; readonly ports: readonly number[] }
      | { readonly kind: 'remove'; readonly chain: number }
      | { readonly kind: 'inserts'; readonly into: 'FORWARD' | 'INPUT'; readonly count: number }
      | { readonly kind: 'foreign'; readonly text: string };
    const names = ['cali-m0', 'cali-m1', 'cali-m2'] as const;
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('update' as const), chain: fc.integer({ min: 0, max: 2 }), ports: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 6 }) }),
      fc.record({ kind: fc.constant('remove' as const), chain: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant('inserts' as const), into: fc.constantFrom('FORWARD' as const, 'INPUT' as const), count: fc.integer({ min: 0, max: 3 }) }),
      fc
        .oneof(
          fc.integer({ min: 0, max: 9 }).map((i) => `-A FORWARD -i eth${i} -j ACCEPT`),
          fc.integer({ min: 0, max: 9 }).map((i) => `-I INPUT 1 -s 10.0.0.${i} -j DROP`),
          fc.tuple(fc.constantFrom(...names), fc.integer({ min: 1, max: 4 })).map(([c, n]) => `-D ${c} ${n}`),
          fc.constantFrom(...names).map((c) => `:${c} - [0:0]`),
          fc.tuple(fc.constantFrom(...names), fc.integer({ min: 1, max: 3 })).map(([c, n]) => `-I ${c} ${n} -p udp -j DROP`),
          fc.constantFrom('-D FORWARD 1', '-D INPUT 1', '-F FORWARD'),
        )
        .map((line) => ({ kind: 'foreign' as const, text: `*filter\n${line}\nCOMMIT\n` })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: Number(process.env.FAKE_MODEL_STEPS ?? 10) }), async (ops) => {
        await resetTables(ns, backend);
        const p = pair('filter', 4);
        const both = (f: (t: Table) => void): void => {
          f(p.onFake);
          f(p.onReal);
        };
        const fw = new Chain({ name: 'cali-fw', rules: [{ action: new AcceptAction() }] });
        both((t) => t.updateChain(fw));
        for (const [i, op] of ops.entries()) {
          const label = `step ${i}: ${JSON.stringify(op)}`;
          if (op.kind === 'update') both((t) => t.updateChain(web(names[op.chain] as string, op.ports)));
          if (op.kind === 'remove') both((t) => t.removeChainByName(names[op.chain] as string));
          if (op.kind === 'inserts') {
            const rules = Array.from({ length: op.count }, (_, k) => ({ match: Match().inInterface(`cali${k}`), action: new JumpAction({ target: 'cali-fw' }) }));
            both((t) => t.setRuleInsertions(op.into, rules));
          }
          if (op.kind === 'foreign') {
            // Another program's edit: it may fail (a rule number not there), on both alike.
            const real = await ns.exec(`iptables-${backend}-restore`, ['--noflush'], op.text);
            const fakeExit = ((): number => {
              try {
                p.fake.restore(op.text);
                return 0;
              } catch (e) {
                if (e instanceof FakeRestoreError) return e.exitCode;
                throw e;
              }
            })();
            expect(fakeExit, `${label}: ${real.stderr}`).toBe(real.code);
            await expectSame(p, label);
            both((t) => t.invalidateDataplaneCache('test'));
          }
          await applyBoth(p, label);
          await expectSame(p, label);
        }
      }),
      { numRuns: Number(process.env.FAKE_MODEL_RUNS ?? 6) },
    );
  });

  it('Table scenarios on nat v6, with insertMode append: the fake and the kernel agree after every step', async () => {
    const p = pair('nat', 6, { insertMode: 'append' });
    const both = (f: (t: Table) => void): void => {
      f(p.onFake);
      f(p.onReal);
    };
    const step = async (label: string): Promise<void> => {
      expect(await applyBoth(p, label), label).toBe('ok');
      await expectSame(p, label, 'nat', 6);
    };
    const dnat = new Chain({
      name: 'cali-svc',
      rules: [
        { match: Match().protocol('tcp').destNet('fd00::10').destPorts(80), action: new DNATAction({ destAddr: 'fd00::1', destPort: 8080 }) },
        { match: Match().protocol('udp').destPorts(53), action: new DNATAction({ destAddr: 'fd00::2' }) },
      ],
    });
    await otherProgram(p, '*nat\n-A PREROUTING -d fd00::99 -j RETURN\nCOMMIT\n', 6);
    both((t) => {
      t.updateChain(dnat);
      t.setRuleInsertions('PREROUTING', [{ action: new JumpAction({ target: 'cali-svc' }) }]);
      t.setRuleInsertions('OUTPUT', [{ action: new JumpAction({ target: 'cali-svc' }) }]);
    });
    await step('create a nat chain, append hooks after a foreign rule');
    await otherProgram(p, '*nat\n-F PREROUTING\n-A PREROUTING -j RETURN\nCOMMIT\n', 6);
    both((t) => t.invalidateDataplaneCache('test'));
    await step('another program flushed PREROUTING: the hook comes back after its rule');
    both((t) => {
      t.removeChainByName('cali-svc');
      t.setRuleInsertions('PREROUTING', []);
      t.setRuleInsertions('OUTPUT', []);
    });
    await step('remove everything of ours');
    expect(p.fake.chainNames({ table: 'nat', ipVersion: 6 })).toEqual(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);
    expect(p.fake.rules('PREROUTING', { table: 'nat', ipVersion: 6 })).toEqual(['-j RETURN']);
  });
});
