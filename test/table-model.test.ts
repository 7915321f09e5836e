// Model-based property test of the Table against real iptables (both backends): random
// sequences of chain updates and removals, insert changes on FORWARD/INPUT, external clobbers by
// "another program" (deleting one of our rules by number, flushing one of our chains, adding
// foreign rules at the top or the bottom of a kernel chain) and applies. After every apply the
// dataplane, read independently with iptables-save and plain regexes, must equal the model:
//  - every wanted chain holds exactly its ruleHashes(), and no other chain with our prefix exists;
//  - FORWARD and INPUT hold the foreign rules, in their order, untouched, and our inserts as one
//    block in order: at the top in insert mode; in append mode wherever it already was when it
//    is intact and current, else appended at the bottom (SPEC 4 and 5a);
//  - OUTPUT (no inserts wanted) is empty.
// The model of the kernel chains is a list of tokens ("id:<rule ID>" or the foreign rule line),
// observed from the dump after each clobber and predicted by the rules above for each apply.
// The Table notices clobbers only when it re-reads, so each clobber is followed by either
// invalidateDataplaneCache() or advancing the fake clock past refreshIntervalMs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AcceptAction, Chain, DropAction, JumpAction, Match, ReturnAction, type RuleSpec } from '../src/index';
import type { InsertMode } from '../src/restore-plan';
import { buildRuleSpec, kernelRuleArb, type RuleCase } from './helpers/arbitraries';
import { BACKENDS, chainRules, useNamespace, resetTables } from './helpers/netns';
import { idsByChain, makeTable } from './helpers/table-env';

const NUM_RUNS = Number(process.env.MODEL_RUNS ?? 15);
const MAX_STEPS = Number(process.env.MODEL_STEPS ?? 12);
const REFRESH_MS = 10_000;

// Our chains: three that come and go, and cali-fw which always exists (inserts jump to it).
const M_CHAINS = ['cali-m0', 'cali-m1', 'cali-m2'] as const;
const FW = 'cali-fw';
const INSERT_CHAINS = ['FORWARD', 'INPUT'] as const;
type InsertChain = (typeof INSERT_CHAINS)[number];

// ------------------------------------------------------------------------------------------
// Rules for kernel chains and cali-fw (which INPUT reaches): only matches valid in any hook.

interface SmallRule {
  readonly iface?: string;
  readonly proto?: { readonly p: 'tcp' | 'udp'; readonly ports: readonly number[] };
  readonly ct?: string;
  readonly mark?: number;
  readonly src?: string;
  readonly action: 'accept' | 'drop' | 'return' | 'jump-fw';
}

const smallRuleArb = (allowJump: boolean): fc.Arbitrary<SmallRule> =>
  fc
    .record(
      {
        iface: fc.constantFrom('eth0', 'cali+', 'tap1', 'veth-x'),
        proto: fc.record({ p: fc.constantFrom('tcp' as const, 'udp' as const), ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 3 }) }),
        ct: fc.constantFrom('NEW', 'ESTABLISHED,RELATED', 'INVALID'),
        mark: fc.integer({ min: 0, max: 31 }).map((b) => 2 ** b),
        src: fc.constantFrom('10.0.0.0/8', '192.168.1.1', '172.16.0.0/12'),
        action: allowJump ? fc.constantFrom('accept' as const, 'drop' as const, 'return' as const, 'jump-fw' as const) : fc.constantFrom('accept' as const, 'drop' as const, 'return' as const),
      },
      { requiredKeys: ['action'] },
    );

function buildSmall(r: SmallRule): RuleSpec {
  let m = Match();
  if (r.iface) m = m.inInterface(r.iface);
  if (r.src) m = m.sourceNet(r.src);
  if (r.proto) m = m.protocol(r.proto.p).destPorts(...r.proto.ports);
  if (r.ct) m = m.conntrackState(r.ct);
  if (r.mark !== undefined) m = m.markSingleBitSet(r.mark);
  const action =
    r.action === 'accept' ? new AcceptAction() : r.action === 'drop' ? new DropAction() : r.action === 'return' ? new ReturnAction() : new JumpAction({ target: FW });
  return { match: m, action };
}

// The m-chains are referenced by nothing, so any kernel-loadable rule fits (jumps go to cali-fw).
const mRulesArb = fc.array(kernelRuleArb({ family: 4, targets: [FW] }), { maxLength: 5 });
const fwRulesArb = fc.array(smallRuleArb(false), { maxLength: 4 });
const insertRulesArb = fc.array(smallRuleArb(true), { maxLength: 3 });

// ------------------------------------------------------------------------------------------
// Steps.

type Notice = 'invalidate' | 'refresh';
type Step =
  | { readonly kind: 'update'; readonly chain: (typeof M_CHAINS)[number]; readonly rules: readonly RuleCase[] }
  | { readonly kind: 'update-fw'; readonly rules: readonly SmallRule[] }
  | { readonly kind: 'remove'; readonly chain: (typeof M_CHAINS)[number] }
  | { readonly kind: 'inserts'; readonly chain: InsertChain; readonly rules: readonly SmallRule[] }
  | { readonly kind: 'delete-ours'; readonly pick: number; readonly notice: Notice }
  | { readonly kind: 'flush-ours'; readonly pick: number; readonly notice: Notice }
  | { readonly kind: 'foreign-top'; readonly chain: InsertChain; readonly notice: Notice }
  | { readonly kind: 'foreign-bottom'; readonly chain: InsertChain; readonly notice: Notice }
  | { readonly kind: 'apply' };

const noticeArb = fc.constantFrom<Notice>('invalidate', 'refresh');
const mChainArb = fc.constantFrom(...M_CHAINS);
const insertChainArb = fc.constantFrom(...INSERT_CHAINS);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('update' as const), chain: mChainArb, rules: mRulesArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('update-fw' as const), rules: fwRulesArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), chain: mChainArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('inserts' as const), chain: insertChainArb, rules: insertRulesArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete-ours' as const), pick: fc.nat(), notice: noticeArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush-ours' as const), pick: fc.nat(), notice: noticeArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('foreign-top' as const), chain: insertChainArb, notice: noticeArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('foreign-bottom' as const), chain: insertChainArb, notice: noticeArb }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'apply' as const }) },
);
const scenarioArb = fc.record({
  mode: fc.constantFrom<InsertMode>('insert', 'append'),
  fw: fwRulesArb,
  steps: fc.array(stepArb, { minLength: 1, maxLength: MAX_STEPS }),
});

// ------------------------------------------------------------------------------------------
// The independent reading.

const OUR_ID = /--comment "?cali:([A-Za-z0-9_-]+)/;

/** A kernel chain of a dump as tokens: "id:<ID>" for ours, the line itself for foreign rules. */
function tokens(dump: string, chain: string): string[] {
  return chainRules(dump, chain).map((line) => {
    const m = OUR_ID.exec(line);
    return m ? `id:${m[1]}` : line;
  });
}

/** The Table's documented treatment of a kernel chain on apply (SPEC 4, 5a). */
function predictInserts(current: readonly string[], wanted: readonly string[], mode: InsertMode): string[] {
  const ours: number[] = [];
  current.forEach((t, i) => {
    if (t.startsWith('id:')) ours.push(i);
  });
  const wantedTokens = wanted.map((id) => `id:${id}`);
  const start = ours[0] ?? 0;
  const inPlace =
    ours.length === wanted.length &&
    (ours.length === 0 || ((mode === 'append' || start === 0) && ours.every((at, k) => at === start + k && current[at] === wantedTokens[k])));
  if (inPlace) return [...current];
  const foreign = current.filter((t) => !t.startsWith('id:'));
  return mode === 'insert' ? [...wantedTokens, ...foreign] : [...foreign, ...wantedTokens];
}

describe.each(BACKENDS)('Table model-based test (%s)', (backend) => {
  const ns = useNamespace(`tm${backend}`);

  it(`random updates, removals, insertions, clobbers and applies: the dataplane equals the model (${NUM_RUNS} runs)`, async () => {
    let foreignCounter = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ mode, fw, steps }) => {
        await resetTables(ns, backend);
        let clock = Date.now();
        const { table } = makeTable(ns, backend, { insertMode: mode, refreshIntervalMs: REFRESH_MS, now: () => clock });

        // The model.
        const chains = new Map<string, RuleSpec[]>();
        const inserts = new Map<InsertChain, RuleSpec[]>(INSERT_CHAINS.map((c) => [c, []]));
        const kernel = new Map<InsertChain, string[]>(INSERT_CHAINS.map((c) => [c, []]));

        const setChain = (name: string, rules: RuleSpec[]): void => {
          chains.set(name, rules);
          table.updateChain({ name, rules });
        };
        const notice = (how: Notice): void => {
          if (how === 'invalidate') table.invalidateDataplaneCache('external clobber');
          else clock += REFRESH_MS + 1;
        };
        const observeKernel = async (): Promise<void> => {
          const dump = await ns.save(backend, 'filter');
          for (const c of INSERT_CHAINS) kernel.set(c, tokens(dump, c));
        };
        const applyAndCheck = async (label: string): Promise<void> => {
          await table.apply();
          for (const c of INSERT_CHAINS) {
            kernel.set(c, predictInserts(kernel.get(c) ?? [], new Chain({ name: c, rules: inserts.get(c) ?? [] }).ruleHashes(), mode));
          }
          const dump = await ns.save(backend, 'filter');
          const ids = idsByChain(dump);
          for (const [name, rules] of chains) {
            expect(ids.get(name), `${label}: chain ${name}`).toEqual(new Chain({ name, rules }).ruleHashes());
          }
          const ourChains = [...ids.keys()].filter((c) => c.startsWith('cali-')).sort();
          expect(ourChains, `${label}: our chains`).toEqual([...chains.keys()].sort());
          for (const c of INSERT_CHAINS) {
            expect(tokens(dump, c), `${label}: ${c}`).toEqual(kernel.get(c));
          }
          expect(chainRules(dump, 'OUTPUT'), `${label}: OUTPUT`).toEqual([]);
        };

        setChain(FW, fw.map(buildSmall));
        await applyAndCheck('initial apply');

        for (const [i, step] of steps.entries()) {
          const label = `step ${i} (${step.kind})`;
          switch (step.kind) {
            case 'update':
              setChain(step.chain, step.rules.map(buildRuleSpec));
              break;
            case 'update-fw':
              setChain(FW, step.rules.map(buildSmall));
              break;
            case 'remove':
              chains.delete(step.chain);
              table.removeChainByName(step.chain);
              break;
            case 'inserts': {
              const rules = step.rules.map(buildSmall);
              inserts.set(step.chain, rules);
              table.setRuleInsertions(step.chain, rules);
              break;
            }
            case 'delete-ours': {
              // Another program deletes one of our rules (in our chains or our inserts) by number.
              const dump = await ns.save(backend, 'filter');
              const candidates: [string, number][] = [];
              for (const [chain, list] of idsByChain(dump)) {
                list.forEach((id, at) => {
                  if (id !== '') candidates.push([chain, at + 1]);
                });
              }
              if (candidates.length > 0) {
                const [chain, num] = candidates[step.pick % candidates.length] as [string, number];
                await ns.iptables(backend, ['-t', 'filter', '-D', chain, String(num)]);
              }
              await observeKernel();
              notice(step.notice);
              break;
            }
            case 'flush-ours': {
              const dump = await ns.save(backend, 'filter');
              const ours = [...idsByChain(dump)].filter(([c, list]) => c.startsWith('cali-') && list.length > 0).map(([c]) => c);
              if (ours.length > 0) await ns.iptables(backend, ['-t', 'filter', '-F', ours[step.pick % ours.length] as string]);
              notice(step.notice);
              break;
            }
            case 'foreign-top':
            case 'foreign-bottom': {
              const iface = `ext${foreignCounter++ % 1000}`;
              const rule = step.kind === 'foreign-top' ? ['-I', step.chain, '1'] : ['-A', step.chain];
              await ns.iptables(backend, ['-t', 'filter', ...rule, '-i', iface, '-j', step.kind === 'foreign-top' ? 'ACCEPT' : 'DROP']);
              await observeKernel();
              notice(step.notice);
              break;
            }
            case 'apply':
              await applyAndCheck(label);
              break;
          }
        }
        await applyAndCheck('final apply');
        // And a converged table has nothing more to write.
        table.invalidateDataplaneCache('final check');
        const plan = await table.plan();
        expect(plan.input).toBe('');
        expect(plan.deletionInput).toBe('');
      }),
      { numRuns: NUM_RUNS, interruptAfterTimeLimit: 70_000, markInterruptAsFailure: false },
    );
  }, 120_000);
});
