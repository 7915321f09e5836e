// Model-based property test of the nftables engine against real nft: random sequences of chain
// updates and removals, insert and append changes on INPUT, clobbers by "another program" in our
// table (a rule deleted by handle, a chain flushed, a foreign rule inserted, a foreign chain
// added), restarts (a new engine or Table over the table the last one left, whose first apply
// writes without reading and falls back to read and diff) and applies. After every apply the table, listed independently (`nft -a list table`
// and plain regexes), must equal the model: exactly the wanted chains, each holding the rules'
// texts in order as the test spells them (not as the code under test renders them), each rule
// with a counter and one of our ID comments. Rules an apply did not need to change keep their
// handles.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AcceptAction, DropAction, JumpAction, ReturnAction } from '../src/actions';
import { Match } from '../src/match';
import { Chain, Rule } from '../src/rule';
import { NO_OP_LOCK } from '../src/locks';
import { Table } from '../src/table';
import type { NftDesiredState } from '../src/nftables/dataplane';
import { useNamespace } from './helpers/netns';
import { listTable, makeEngine, type SeenChain } from './nftables-env';

const NUM_RUNS = Number(process.env.MODEL_RUNS ?? 12);
const MAX_STEPS = Number(process.env.MODEL_STEPS ?? 14);
const CHAINS = ['ipts-m0', 'ipts-m1', 'ipts-m2'] as const;
const FW = 'ipts-fw';

interface SmallRule {
  readonly port?: number;
  readonly action: 'accept' | 'drop' | 'return' | 'jump';
}

// Few ports, so equal rules (the occurrence part of the ID) come up often.
const ruleArb = (allowJump: boolean): fc.Arbitrary<SmallRule> =>
  fc.record(
    { port: fc.constantFrom(22, 80, 443), action: allowJump ? fc.constantFrom('accept' as const, 'drop' as const, 'jump' as const) : fc.constantFrom('accept' as const, 'drop' as const, 'return' as const) },
    { requiredKeys: ['action'] },
  );
const rulesArb = (allowJump: boolean): fc.Arbitrary<SmallRule[]> => fc.array(ruleArb(allowJump), { maxLength: 6 });

type Step =
  | { readonly kind: 'update'; readonly chain: number; readonly rules: SmallRule[] }
  | { readonly kind: 'remove'; readonly chain: number }
  | { readonly kind: 'inserts'; readonly rules: SmallRule[] }
  | { readonly kind: 'appends'; readonly rules: SmallRule[] }
  | { readonly kind: 'delete-rule'; readonly pick: number }
  | { readonly kind: 'flush'; readonly pick: number }
  | { readonly kind: 'foreign-rule'; readonly pick: number }
  | { readonly kind: 'foreign-chain' }
  | { readonly kind: 'restart' }
  | { readonly kind: 'apply' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('update' as const), chain: fc.nat(CHAINS.length - 1), rules: rulesArb(false) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), chain: fc.nat(CHAINS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('inserts' as const), rules: rulesArb(true) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('appends' as const), rules: rulesArb(false) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete-rule' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('foreign-rule' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('foreign-chain' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('apply' as const) }) },
);

const toRule = (r: SmallRule): Rule =>
  new Rule({
    ...(r.port !== undefined ? { match: Match().protocol('tcp').destPorts(r.port) } : {}),
    action: r.action === 'accept' ? new AcceptAction() : r.action === 'drop' ? new DropAction() : r.action === 'return' ? new ReturnAction() : new JumpAction({ target: FW }),
  });
/** How nft lists the rule back: the test's own spelling. */
const listed = (r: SmallRule): string => `${r.port !== undefined ? `tcp dport ${r.port} ` : ''}counter ${r.action === 'jump' ? `jump ${FW}` : r.action}`;

const ns = useNamespace('nftmodel');

/** What the model drives: the engine itself, or a Table on backend 'nftables' (its desired state
 *  set through the Table's own methods). */
interface Driver {
  invalidate(): void;
  apply(d: NftDesiredState): Promise<unknown>;
}

const engineDriver = (): Driver => {
  const engine = makeEngine(ns);
  return { invalidate: () => engine.invalidate(), apply: (d) => engine.apply(d) };
};

const tableDriver = (): Driver => {
  const table = new Table('filter', 4, 'ipts:', NO_OP_LOCK, { netns: ns.name, backend: 'nftables' });
  let known = new Set<string>();
  return {
    invalidate: () => table.invalidateDataplaneCache('clobbered'),
    apply: async (d) => {
      for (const name of known) if (!d.chains.has(name)) table.removeChainByName(name);
      table.updateChains([...d.chains.values()]);
      known = new Set(d.chains.keys());
      table.setRuleInsertions('INPUT', d.inserts.get('INPUT') ?? []);
      table.appendRules('INPUT', d.appends.get('INPUT') ?? []);
      return table.apply();
    },
  };
};

describe.each([
  ['engine', engineDriver],
  ['Table', tableDriver],
] as const)('nftables model through the %s (real nft)', (_what, makeDriver) => {
  it('after every apply, the table listed independently equals the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: MAX_STEPS }), async (steps) => {
        await ns.execOk('nft', ['flush', 'ruleset']);
        let engine = makeDriver();
        const model = new Map<string, SmallRule[]>([[FW, [{ action: 'accept', port: 8080 }]]]);
        let inserts: SmallRule[] = [];
        let appends: SmallRule[] = [];
        const desired = (): NftDesiredState => ({
          chains: new Map([...model].map(([name, rules]) => [name, new Chain({ name, rules: rules.map(toRule) })])),
          inserts: new Map([['INPUT', inserts.map(toRule)]]),
          appends: new Map([['INPUT', appends.map(toRule)]]),
        });
        let last: Map<string, SeenChain> | undefined;
        const ourRules = (seen: Map<string, SeenChain> | undefined): { chain: string; handle: number }[] =>
          [...(seen ?? [])].flatMap(([chain, c]) => c.rules.map((r) => ({ chain, handle: r.handle })));
        const chainsOf = async (): Promise<string[]> => [...((await listTable(ns, 'ip', 'ipts-filter')) ?? new Map()).keys()];
        for (const step of steps) {
          switch (step.kind) {
            case 'update':
              model.set(CHAINS[step.chain] as string, step.rules);
              break;
            case 'remove':
              model.delete(CHAINS[step.chain] as string);
              break;
            case 'inserts':
              inserts = step.rules;
              break;
            case 'appends':
              appends = step.rules;
              break;
            case 'delete-rule': {
              const all = ourRules(await listTable(ns, 'ip', 'ipts-filter'));
              const victim = all[step.pick % Math.max(1, all.length)];
              if (victim) await ns.execOk('nft', ['delete', 'rule', 'ip', 'ipts-filter', victim.chain, 'handle', String(victim.handle)]);
              engine.invalidate();
              break;
            }
            case 'flush': {
              const chains = await chainsOf();
              const victim = chains[step.pick % Math.max(1, chains.length)];
              if (victim) await ns.execOk('nft', ['flush', 'chain', 'ip', 'ipts-filter', victim]);
              engine.invalidate();
              break;
            }
            case 'foreign-rule': {
              const chains = await chainsOf();
              const victim = chains[step.pick % Math.max(1, chains.length)];
              if (victim) await ns.execOk('nft', ['insert', 'rule', 'ip', 'ipts-filter', victim, 'udp', 'dport', '53', 'drop']);
              engine.invalidate();
              break;
            }
            case 'foreign-chain':
              await ns.execOk('nft', ['-f', '-'], 'add table ip ipts-filter\nadd chain ip ipts-filter stray\nadd rule ip ipts-filter stray accept\n');
              engine.invalidate();
              break;
            case 'restart':
              engine = makeDriver();
              break;
            case 'apply': {
              await engine.apply(desired());
              const seen = (await listTable(ns, 'ip', 'ipts-filter')) ?? new Map<string, SeenChain>();
              const expected = new Map([...model].map(([name, rules]) => [name, rules.map(listed)]));
              const base = [...inserts, ...appends];
              if (base.length > 0) expected.set('INPUT', base.map(listed));
              expect(new Map([...seen].map(([name, c]) => [name, c.rules.map((r) => r.text)]))).toEqual(expected);
              for (const c of seen.values()) {
                const comments = c.rules.map((r) => r.comment);
                for (const comment of comments) expect(comment).toMatch(/^ipts:[A-Za-z0-9_-]{16}$/);
                expect(new Set(comments).size).toBe(comments.length);
              }
              if (base.length > 0) expect(seen.get('INPUT')?.declaration).toBe('type filter hook input priority filter; policy accept;');
              // Nothing changed since the last apply: nothing is written, every handle is kept.
              if (last !== undefined && steps.indexOf(step) > 0 && steps[steps.indexOf(step) - 1]?.kind === 'apply') {
                expect(ourRules(seen)).toEqual(ourRules(last));
              }
              last = seen;
              break;
            }
          }
        }
      }),
      { numRuns: NUM_RUNS },
    );
  }, 300_000);
});
