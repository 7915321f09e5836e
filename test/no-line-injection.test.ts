// No accepted value can inject a line into the restore input: on the real iptables-restore of
// both backends, every rendered rule re-parses into exactly one rule.
//
// Per backend, 1200 IPv4 and 300 IPv6 random kernel-loadable rules (the shared kernelRuleArb),
// a third of them carrying hostile strings that the library accepted (comments, log prefixes,
// interface names and chain names drawn from arbitrary binary/Unicode text, kept only when the
// library does not reject them), are written one chain per rule, as the Table writes them
// (`-A <chain> -m comment --comment "cali:<id>" <rule>`), in batches of 300 per
// iptables-restore run. Then iptables-save must show, for every chain, exactly one rule,
// carrying its own ID as the first comment (and its comment text, where it had one), and the
// total number of rules must equal the number written: a rule that split into two lines,
// swallowed the next, or escaped its quotes would break one of these.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AcceptAction, Chain, IptablesSyncError, LogAction, Match, Rule } from '../src/index';
import { buildRuleSpec, kernelRuleArb, type RuleCase } from './helpers/arbitraries';
import { BACKENDS, useNamespace } from './helpers/netns';

const V4 = 1200;
const V6 = 300;
const BATCH = 300;
const TARGET = 'hr-target';

function accepted<T>(run: () => T): T | undefined {
  try {
    return run();
  } catch (e) {
    if (e instanceof IptablesSyncError) return undefined;
    throw e;
  }
}

// Arbitrary text: any bytes as latin1-ish code units, any Unicode, and breakout characters.
const textArb = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  fc
    .tuple(fc.string({ maxLength: 8 }), fc.constantFrom("'", '#', '!', '-A x', '*filter', 'COMMIT', '--jump DROP', '\u2028', '\ufeff', '\u00a0', ';', '&&', '%s', '%n', '{', '}', '(', ')'), fc.string({ maxLength: 8 }))
    .map(([a, b, c]) => a + b + c),
);

interface Item {
  chain: string;
  rule: Rule;
  comment?: string;
  logPrefix?: string;
}

function hostileItems(n: number, seed: number, family: 4 | 6): Item[] {
  const items: Item[] = [];
  const texts = fc.sample(textArb, { numRuns: n * 20, seed });
  let t = 0;
  const nextAccepted = <T>(make: (s: string) => T): [string, T] | undefined => {
    for (let tries = 0; tries < 40 && t < texts.length; tries++) {
      const s = texts[t++] as string;
      const v = accepted(() => make(s));
      if (v !== undefined) return [s, v];
    }
    return undefined;
  };
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    if (kind === 0) {
      const c = nextAccepted((s) => new Rule({ action: new AcceptAction(), comment: s }));
      if (c) items.push({ chain: `hc${family}-${i}`, rule: c[1], comment: c[0] });
    } else if (kind === 1) {
      const l = nextAccepted((s) => new Rule({ action: new LogAction({ prefix: s }) }));
      if (l) items.push({ chain: `hl${family}-${i}`, rule: l[1], logPrefix: l[0] });
    } else if (kind === 2) {
      const f = nextAccepted((s) => new Rule({ match: Match().inInterface(s).outInterface(s), action: new AcceptAction() }));
      if (f) items.push({ chain: `hi${family}-${i}`, rule: f[1] });
    } else {
      // A hostile chain name: the rule is plain, the chain it lives in is not.
      const c = nextAccepted((s) => new Chain({ name: s, rules: [] }).name);
      if (c) items.push({ chain: c[1], rule: new Rule({ action: new AcceptAction() }) });
    }
  }
  return items;
}

function randomItems(n: number, seed: number, family: 4 | 6): Item[] {
  const cases: RuleCase[] = fc.sample(kernelRuleArb({ family, targets: [TARGET] }), { numRuns: n, seed });
  return cases.map((c, i) => ({ chain: `hr${family}-${i}`, rule: new Rule(buildRuleSpec(c)), comment: c.comment === '' ? undefined : c.comment }));
}

function makeItems(family: 4 | 6, total: number, seed: number): Item[] {
  const hostile = hostileItems(Math.floor(total / 3), seed, family);
  const items = [...hostile, ...randomItems(total - hostile.length, seed + 1, family)];
  // Chain names must be unique (a hostile name could repeat).
  const seen = new Set<string>([TARGET]);
  return items.filter((it) => !seen.has(it.chain) && seen.add(it.chain));
}

const idOf = (it: Item): string => new Chain({ name: it.chain, rules: [it.rule] }).ruleHashes()[0] as string;

describe.each(BACKENDS)('rendered rules re-parse into exactly one rule each (%s)', (backend) => {
  const ns = useNamespace(`rp${backend}`);

  for (const [family, total] of [
    [4, V4],
    [6, V6],
  ] as const) {
    it(`IPv${family}: ${total} random and hostile-but-accepted rules`, { timeout: 120_000 }, async () => {
      const items = makeItems(family, total, 7000 + family + (backend === 'nft' ? 100 : 0));
      expect(items.length).toBeGreaterThan(total * 0.95);
      const hostile = items.filter((it) => !it.chain.startsWith(`hr${family}-`)).length;
      console.log(`[reparse] ${backend} IPv${family}: ${items.length} rules (${hostile} with accepted hostile strings) in ${Math.ceil(items.length / BATCH)} restore runs`);
      const ids = items.map(idOf);
      const lines = items.map((it, i) => it.rule.renderAppend(it.chain, `-m comment --comment "cali:${ids[i]}"`));
      for (const line of lines) expect(line).not.toMatch(/[\n\r\0]/);

      const restore = (slice: number[]): Promise<string> =>
        ns.restore(backend, `*filter\n${slice.map((i) => `:${items[i]!.chain} - -`).join('\n')}\n${slice.map((i) => lines[i]).join('\n')}\nCOMMIT\n`, family);
      await ns.restore(backend, `*filter\n:${TARGET} - -\nCOMMIT\n`, family);
      for (let start = 0; start < items.length; start += BATCH) {
        const batch = Array.from({ length: Math.min(BATCH, items.length - start) }, (_, k) => start + k);
        try {
          await restore(batch);
        } catch (error) {
          // Name the rule iptables refused, one by one, so a failure is actionable.
          for (const i of batch) {
            await restore([i]).catch((e: Error) => {
              throw new Error(`iptables-${backend}-restore refused an accepted rule: ${JSON.stringify(lines[i])}: ${e.message}`);
            });
          }
          throw error;
        }
      }

      const dump = await ns.save(backend, 'filter', family);
      const rulesByChain = new Map<string, string[]>();
      let total2 = 0;
      for (const line of dump.split('\n')) {
        if (!line.startsWith('-A ')) continue;
        total2++;
        const chain = line.slice(3, line.indexOf(' ', 3));
        rulesByChain.set(chain, [...(rulesByChain.get(chain) ?? []), line]);
      }
      expect(total2).toBe(items.length);
      items.forEach((it, i) => {
        const saved = rulesByChain.get(it.chain) ?? [];
        expect(saved, `chain ${JSON.stringify(it.chain)} from ${JSON.stringify(lines[i])}`).toHaveLength(1);
        const line = saved[0] as string;
        // Our ID is the first comment (iptables-save may move -s/-d/-i/-o/-p before it).
        const first = /-m comment --comment ("?)([^" ]+)\1/.exec(line);
        expect(first?.[2], line).toBe(`cali:${ids[i]}`);
        // iptables-save escapes ' and \ inside its quotes (a single quote comes back as \').
        const unescaped = line.replace(/\\(.)/gu, '$1');
        if (it.comment !== undefined) expect(unescaped, `comment ${JSON.stringify(it.comment)}`).toContain(it.comment);
        if (it.logPrefix !== undefined) expect(unescaped).toContain(`--log-prefix "${it.logPrefix}: "`);
      });
    });
  }
});
