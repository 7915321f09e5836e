// Bad input everywhere (SPEC section 6): every public entry point, fed arbitrary values of any
// type (fast-check's anything(), hostile strings, edge numbers), either accepts the value or
// throws the library's typed error (IptablesSyncError: InvalidRuleError / InvalidOptionError /
// ConfigError) — never a TypeError from deep inside, never a crash later in apply() — and a
// value it accepts can only ever render to one restore line without control characters.
// A rejected update leaves the desired state exactly as it was (the next plan is unchanged).
//
// That accepted values re-parse into exactly one rule on the real iptables-restore is checked
// in test/no-line-injection.test.ts.
import fc from 'fast-check';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandFactory } from '../src/commands';
import {
  AcceptAction,
  Chain,
  DropAction,
  InvalidOptionError,
  InvalidRuleError,
  IptablesSyncError,
  Match,
  MatchCriteria,
  Reconciler,
  SaveTimeoutError,
  Rule,
  Table,
  WatchHealth,
  grabIptablesLocks,
  readSaveOutput,
  SharedLock,
  tryBindAbstractOnce,
  tryFlockOnce,
} from '../src/index';
import { FakeIptables } from '../src/testing';
import { TABLE_OPTION_NAMES } from '../src/table-options';
import { ACTION_CLASSES, buildChainSpec, invalidInputArb, validChainsArb } from './helpers/arbitraries';

// What can end or split a line for iptables-restore (it reads lines with fgets and splits words
// on C isspace): C0 controls incl. \n \r \v \f, DEL, and C1 for good measure. U+2028/2029 are
// plain bytes to iptables, so they are not in here (they are among the hostile inputs).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const RUNS = 400;

/** Values of every type, with the strings and numbers most likely to break a fragment. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc
    .tuple(fc.string({ maxLength: 10 }), fc.constantFrom('\n', '\r', '\0', '"', "'", '\\', '`', '$', ' ', '\t', '\u2028', '\u0085', '\ufeff', '\ud800', '-A x', '#', '!', '*filter', 'COMMIT'), fc.string({ maxLength: 10 }))
    .map(([a, b, c]) => a + b + c),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 0.5, -1, 2 ** 32, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE),
  fc.integer(),
  fc.double(),
);
const garbage: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, withSparseArray: true, withTypedArray: true }) },
  { weight: 3, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.array(fc.oneof(hostileString, hostileNumber), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, true, {}, [], () => 'x', Symbol('s'), new Array(2), [, 80], Object.create(null)) },
);

/** Accepted (returns) or throws the typed error; anything else fails the property. */
function acceptedOrTyped<T>(what: string, run: () => T): T | undefined {
  try {
    return run();
  } catch (e) {
    if (!(e instanceof IptablesSyncError)) {
      throw new Error(`${what} threw ${(e as Error)?.constructor?.name ?? typeof e} instead of a typed error: ${(e as Error)?.message}`);
    }
    return undefined;
  }
}

function expectOneLine(text: string): void {
  expect(typeof text).toBe('string');
  expect(CONTROL.test(text), JSON.stringify(text)).toBe(false);
}

// --- match builder, actions, rules, chains --------------------------------------------------

const MATCH_METHODS = Object.getOwnPropertyNames(MatchCriteria.prototype).filter(
  (m) => !['constructor', 'with', 'render', 'toString', 'ipSetNames', 'addrTypeMatch', 'ipSet', 'multiport'].includes(m) && typeof (MatchCriteria.prototype as never)[m] === 'function',
);

describe('match builder', () => {
  it('knows the public methods it is checking', () => {
    expect(MATCH_METHODS).toEqual(expect.arrayContaining(['markClear', 'inInterface', 'destPorts', 'notDestPortRanges', 'icmpV6TypeAndCode', 'conntrackState']));
    expect(MATCH_METHODS.length).toBeGreaterThanOrEqual(45);
  });

  it('every method takes any value or throws InvalidRuleError; an accepted value renders to one line', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MATCH_METHODS), fc.array(garbage, { maxLength: 3 }), (method, args) => {
        const m = acceptedOrTyped(`Match().${method}`, () => (Match() as unknown as Record<string, (...a: unknown[]) => MatchCriteria>)[method]!(...args));
        if (m !== undefined) {
          expect(m).toBeInstanceOf(MatchCriteria);
          expectOneLine(m.render());
          // A lone port or ICMP criterion lacks its protocol: the Rule refuses it, typed.
          const rule = acceptedOrTyped(`Rule with Match().${method}`, () => new Rule({ match: m, action: new AcceptAction() }));
          if (rule) expectOneLine(rule.renderAppend('c', ''));
        }
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it("every SPEC section 6 class is rejected with InvalidRuleError naming the value (the shared arbitrary)", () => {
    fc.assert(
      fc.property(invalidInputArb, (c) => {
        expect(c.run).toThrow(InvalidRuleError);
      }),
      { numRuns: RUNS },
    );
  });

  it('a hand-made MatchCriteria (public constructor) cannot smuggle a second line into a Rule', () => {
    fc.assert(
      fc.property(garbage, (fragments) => {
        const m = acceptedOrTyped('new MatchCriteria', () => new MatchCriteria(fragments as string[]));
        if (m === undefined) return;
        const rule = acceptedOrTyped('Rule with a hand-made match', () => new Rule({ match: m, action: new DropAction() }));
        if (rule) expectOneLine(rule.renderAppend('c', ''));
      }),
      { numRuns: RUNS },
    );
  });
});

const FIELDS = ['target', 'prefix', 'destAddr', 'destPort', 'toAddr', 'toPorts', 'mark', 'mask', 'with', 'saveMask', 'restoreMask', 'group', 'size', 'rate', 'burst', 'num', 'rejectWith', 'value'];
const fieldsArb = fc.oneof(garbage, fc.dictionary(fc.constantFrom(...FIELDS), garbage, { maxKeys: 3 }));

describe('actions, rules, chains', () => {
  it('every action constructor takes any fields or throws InvalidRuleError; accepted ones render to one line', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(ACTION_CLASSES)), fieldsArb, (name, fields) => {
        const Class = ACTION_CLASSES[name]!;
        const action = acceptedOrTyped(name, () => new Class(fields as never));
        if (action) {
          expectOneLine(action.toFragment());
          expect(action.toFragment()).not.toBe('');
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('Rule takes any spec or throws InvalidRuleError; render methods take any chain/number/prefix or throw it', () => {
    const specArb = fc.oneof(
      garbage,
      fc.record({ match: fc.oneof(garbage, fc.constant(Match().protocol('tcp'))), action: fc.oneof(garbage, fc.constant(new AcceptAction())), comment: garbage }, { requiredKeys: [] }),
      // A user-made action object: its fragment is checked too.
      garbage.map((g) => ({ action: { toFragment: () => g } })),
    );
    fc.assert(
      fc.property(specArb, garbage, garbage, garbage, (spec, chain, num, prefix) => {
        const rule = acceptedOrTyped('new Rule', () => new Rule(spec as never));
        const r = rule ?? new Rule({ action: new DropAction() });
        for (const render of [() => r.renderAppend(chain as string, prefix as string), () => r.renderInsert(chain as string, ''), () => r.renderReplace('c', num as number, '')]) {
          const line = acceptedOrTyped('render', render);
          if (line !== undefined) expectOneLine(line);
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('Chain takes any spec or throws InvalidRuleError', () => {
    const specArb = fc.oneof(garbage, fc.record({ name: garbage, rules: fc.oneof(garbage, fc.array(garbage, { maxLength: 3 })) }, { requiredKeys: [] }));
    fc.assert(
      fc.property(specArb, (spec) => {
        const chain = acceptedOrTyped('new Chain', () => new Chain(spec as never));
        if (chain) for (const r of chain.rules) expectOneLine(r.renderAppend(chain.name, ''));
      }),
      { numRuns: RUNS },
    );
  });
});

// --- Table ----------------------------------------------------------------------------------

/** The public fake iptables (an empty dataplane; plan() never writes), so plan() runs without a
 *  namespace. It also serves commands wrapped in `ip netns exec NAME` (the netns option). */
const fakeIptables: CommandFactory = new FakeIptables().commandFactory;
const OK_LOCK = { lock: (): void => undefined, unlock: (): void => undefined };
const baseOptions = { backend: 'legacy' as const, commandFactory: fakeIptables, sleep: async () => undefined };

const TABLE_OPTIONS = [
  'historicChainPrefixes',
  'extraCleanupRegexPattern',
  'insertMode',
  'refreshIntervalMs',
  'postWriteIntervalMs',
  'lockTimeoutMs',
  'lockFile',
  'commandTimeoutMs',
  'backend',
  'netns',
  'logger',
  'readerImplementation',
  'commandFactory',
  'sleep',
  'now',
  'registry',
] as const;

describe('Table', () => {
  it('the constructor takes any name/ipVersion/hashPrefix/lock/options or throws a typed error', () => {
    fc.assert(
      fc.property(
        fc.oneof(garbage, fc.constantFrom('filter', 'nat', 'mangle', 'raw')),
        fc.oneof(garbage, fc.constantFrom(4, 6)),
        fc.oneof(garbage, fc.constant('cali:')),
        fc.oneof(garbage, fc.constant(OK_LOCK)),
        fc.oneof({ weight: 3, arbitrary: fc.constant(baseOptions) }, { weight: 1, arbitrary: garbage }),
        (name, v, prefix, lock, options) => {
          acceptedOrTyped('new Table', () => new Table(name as never, v as never, prefix as string, lock as never, options as never));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a duration longer than Node can time (2^31-1 ms) is refused, not accepted and then fired at once', async () => {
    // Found by the property below: commandTimeoutMs 1.797e308 was accepted, and the save's
    // deadline then fired after 1 ms (Node clamps an overflowing setTimeout delay to 1).
    for (const option of ['commandTimeoutMs', 'lockTimeoutMs', 'refreshIntervalMs', 'postWriteIntervalMs'] as const) {
      for (const value of [2 ** 31, 1.797e308]) {
        expect(() => new Table('filter', 4, 'cali:', OK_LOCK, { ...baseOptions, [option]: value }), `${option}=${value}`).toThrow(InvalidOptionError);
      }
      const longest = new Table('filter', 4, 'cali:', OK_LOCK, { ...baseOptions, [option]: 2 ** 31 - 1 });
      longest.updateChain(new Chain({ name: 'cali-x', rules: [{ action: new AcceptAction() }] }));
      expect((await longest.plan()).input).toContain('-A cali-x');
    }
  });

  it('an option the Table does not know is refused, naming it and the option meant (a typo was silently ignored)', () => {
    // Found by hand: { historicPrefixes } was accepted and ignored, so no chain counted as ours
    // and stale chains of an earlier run were never cleaned up.
    let error: unknown;
    try {
      new Table('filter', 4, 'cali:', OK_LOCK, { ...baseOptions, historicPrefixes: ['cali-'] } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ option: 'historicPrefixes' });
    expect((error as Error).message).toMatch(/did you mean "historicChainPrefixes"/);
    expect(() => new Table('filter', 4, 'cali:', OK_LOCK, { ...baseOptions, nosuchOption: 1 } as never)).toThrow(InvalidOptionError);
    // Every documented option, undefined, is still taken.
    expect(() => new Table('filter', 4, 'cali:', OK_LOCK, Object.fromEntries(TABLE_OPTION_NAMES.map((k) => [k, undefined])))).not.toThrow();
  });

  it('a command timeout under 1 ms is refused (Node timers cannot wait less: it would be 1 ms)', () => {
    // Found by the property below (seed 948768527): commandTimeoutMs 2.03e-322 was accepted, and
    // the save was then killed at its 1 ms deadline.
    for (const value of [2.03e-322, 0.5, 0.999]) {
      expect(() => new Table('filter', 4, 'cali:', OK_LOCK, { ...baseOptions, commandTimeoutMs: value }), String(value)).toThrow(InvalidOptionError);
    }
    expect(() => new Table('filter', 4, 'cali:', OK_LOCK, { ...baseOptions, commandTimeoutMs: 1 })).not.toThrow();
    expect(() => new Table('filter', 4, 'cali:', OK_LOCK, { ...baseOptions, commandTimeoutMs: 0 })).not.toThrow(); // 0: the default
  });

  it('every option is validated when the Table is made: an accepted value never fails later in plan()', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TABLE_OPTIONS), garbage, async (option, value) => {
        const options = { ...baseOptions, [option]: value };
        const table = acceptedOrTyped(`option ${option}`, () => new Table('filter', 4, 'cali:', OK_LOCK, options as never));
        if (!table) return;
        // A function is all the constructor can check of the test hooks; what a hook returns is
        // its author's contract (commandFactory must return a SpawnedCommand).
        if (typeof value === 'function') return;
        table.updateChain(new Chain({ name: 'cali-x', rules: [{ action: new AcceptAction() }] }));
        const plan = await table.plan().then(
          (p) => p,
          (e: Error) => {
            // A command timeout of a few milliseconds may really expire before the fake's save
            // ends: that is the option working, not a value that should have been refused.
            if (option === 'commandTimeoutMs' && typeof value === 'number' && value < 1000 && e instanceof SaveTimeoutError) return undefined;
            throw new Error(`option ${option}=${String(value)} was accepted but plan() failed: ${e.name}: ${e.message}`);
          },
        );
        if (plan === undefined) return;
        expectOneLine(plan.input.split('\n')[1] ?? '');
      }),
      { numRuns: RUNS },
    );
  });

  it('methods take any value or throw a typed error, and a rejected update changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(validChainsArb({ maxChains: 2, maxRules: 3 }), fc.constantFrom('updateChain', 'updateChains', 'removeChains', 'removeChainByName', 'setRuleInsertions'), garbage, garbage, async (chains, method, a, b) => {
        const table = new Table('filter', 4, 'cali:', OK_LOCK, baseOptions);
        table.updateChains(chains.map(buildChainSpec));
        const before = await table.plan();
        const t = table as unknown as Record<string, (...args: unknown[]) => void>;
        const accepted = acceptedOrTyped(`Table.${method}`, () => {
          t[method]!(a, b);
          return true;
        });
        const after = await table.plan();
        if (!accepted) expect(after).toEqual(before);
        expectOneLine(after.input.split('\n').slice(1, -2).join(''));
        for (const line of `${after.input}${after.deletionInput}`.split('\n').filter((l) => l !== '')) expectOneLine(line);
      }),
      { numRuns: RUNS },
    );
  });
});

// --- locks and the reader -------------------------------------------------------------------
// Their documented errors: InvalidOptionError (naming the argument and the value) for a
// non-string or NUL-holding path/name or a bad duration, LockSystemError for what the kernel
// refuses, ReaderConfigError (an InvalidOptionError) for a bad reader config, option or source. Paths are confined to a temporary directory (a bare garbage string would create a file
// in the working directory).

describe('locks and the reader', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ipts-badlock-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const LOCK_ERRORS = ['InvalidOptionError', 'LockSystemError'];
  const pathArb = fc.oneof(
    garbage.filter((g) => typeof g !== 'string'),
    fc.constantFrom('', '\0', 'a\0b'),
    hostileString.map((h) => `${dir}/${h}`),
  );
  const nameArb = fc.oneof(garbage.filter((g) => typeof g !== 'string'), fc.constantFrom('', '@', '\0', `@${'x'.repeat(108)}`), hostileString.map((h) => `@ipts-bad-${process.pid}-${h}`));
  const durationArb = fc.oneof(garbage, fc.integer({ min: 1, max: 50 }));

  const settle = async (what: string, run: () => unknown, allowed: readonly string[]): Promise<void> => {
    let value: unknown;
    try {
      value = await run();
    } catch (e) {
      const name = (e as Error)?.name;
      if (!allowed.includes(name)) throw new Error(`${what} threw ${name}: ${(e as Error)?.message}`);
      return;
    }
    // Accepted: release whatever was taken.
    const v = value as { release?: () => void; close?: () => void } | undefined;
    v?.release?.();
    v?.close?.();
  };

  it('tryFlockOnce, tryBindAbstractOnce, grabIptablesLocks and SharedLock take any value or throw their documented error', async () => {
    await fc.assert(
      fc.asyncProperty(pathArb, nameArb, durationArb, durationArb, async (path, name, timeout, probe) => {
        await settle('tryFlockOnce', () => tryFlockOnce(path as string), LOCK_ERRORS);
        await settle('tryBindAbstractOnce', () => tryBindAbstractOnce(name as string), LOCK_ERRORS);
        await settle('grabIptablesLocks', () => grabIptablesLocks(path as string, name as string, timeout as number, probe as number), [...LOCK_ERRORS, 'Err16LockTimeout', 'Err14LockTimeout']);
        await settle('SharedLock', async () => {
          const l = new SharedLock(path as string, timeout as number, probe as number, name as string);
          await l.lock();
          l.unlock();
        }, [...LOCK_ERRORS, 'Err16LockTimeout', 'Err14LockTimeout']);
      }),
      { numRuns: 150 },
    );
  });

  it('readSaveOutput takes any config/source/options or rejects with ReaderConfigError', async () => {
    const sourceArb = fc.oneof(
      garbage,
      fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), hostileString), { maxLength: 3 }).map((chunks) => (async function* () {
        for (const c of chunks) yield c as Uint8Array;
      })()),
    );
    const configArb = fc.oneof(garbage, fc.record({ hashPrefix: fc.oneof(garbage, fc.constant('cali:')), historicChainPrefixes: fc.oneof(garbage, fc.constant(['cali-'])), extraCleanupPattern: garbage }, { requiredKeys: [] }));
    await fc.assert(
      fc.asyncProperty(sourceArb, configArb, fc.oneof(fc.constant(undefined), garbage), async (source, config, options) => {
        await settle('readSaveOutput', () => readSaveOutput(source as never, config as never, options as never), ['ReaderConfigError', 'TruncatedDumpError', 'NativeReaderUnavailableError']);
      }),
      { numRuns: RUNS },
    );
  });
});

// --- the reconcile loop and its health ---------------------------------------------------------

describe('Reconciler and WatchHealth', () => {
  const optionsArb = fc.oneof(
    garbage,
    fc.record(
      { tables: fc.oneof(garbage, fc.array(garbage, { maxLength: 2 })), onPass: garbage, onPassStart: garbage, firstRetryMs: garbage, maxRetryMs: garbage, timers: garbage, stuckAfterMs: garbage, now: garbage },
      { requiredKeys: [] },
    ),
  );
  it('take any options or throw a typed error naming the option', () => {
    fc.assert(
      fc.property(optionsArb, (options) => {
        acceptedOrTyped('new Reconciler', () => new Reconciler(options as never));
        acceptedOrTyped('new WatchHealth', () => new WatchHealth(options as never));
      }),
      { numRuns: RUNS },
    );
  });
});

// --- the CLI's rules file -------------------------------------------------------------------

describe('the CLI rules file (src/config.ts)', () => {
  const hasConfig = existsSync(`${__dirname}/../src/config.ts`);
  it.runIf(hasConfig)('any document, or a valid one with a value replaced by garbage, parses or throws ConfigError; accepted rules render to one line', async () => {
    const { parseRules, ConfigError } = await import('../src/config');
    const good = {
      tables: {
        filter: {
          chains: { 'ipts-web': [{ match: { protocol: 'tcp', destPorts: [80, 443] }, action: 'accept', comment: 'web' }, { action: 'drop' }] },
          insert: { INPUT: [{ match: { inInterface: 'eth0' }, action: { jump: 'ipts-web' } }] },
        },
      },
    };
    // Paths to every leaf and object of the good document, to replace one with garbage.
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, path: (string | number)[]): void => {
      paths.push(path);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    };
    walk(good, []);
    const replace = (doc: unknown, path: (string | number)[], value: unknown): unknown => {
      if (path.length === 0) return value;
      const copy = Array.isArray(doc) ? [...doc] : { ...(doc as object) };
      (copy as Record<string | number, unknown>)[path[0]!] = replace((doc as Record<string | number, unknown>)[path[0]!], path.slice(1), value);
      return copy;
    };
    const jsonable = fc.jsonValue().chain((j) => fc.oneof(fc.constant(j), hostileString, hostileNumber.filter(Number.isFinite)));
    const docArb = fc.oneof(
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
      { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...paths), jsonable).map(([p, v]) => JSON.stringify(replace(good, p, v), null, 1)) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...paths), hostileString).map(([p, v]) => JSON.stringify(replace(good, p, v)).replace(JSON.stringify(v), v)) },
    );
    fc.assert(
      fc.property(docArb, (text) => {
        let parsed;
        try {
          parsed = parseRules(text, 'rules.yaml');
        } catch (e) {
          if (!(e instanceof ConfigError)) throw new Error(`parseRules threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          expect((e as InstanceType<typeof ConfigError>).issues.length).toBeGreaterThan(0);
          return;
        }
        for (const t of parsed.tables.values()) {
          for (const c of t.chains) for (const r of c.rules) expectOneLine(r.renderAppend(c.name, '-m comment --comment "ipts:x"'));
          for (const [chain, rules] of t.inserts) for (const r of rules) expectOneLine(r.renderInsert(chain, ''));
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });
});
