// Property tests of the rule model (fast-check). The arbitraries carry the SPEC section 2
// rendering of every step, so rendered lines are compared with an independent reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectInvalidRule } from './helpers/expect-invalid';
import { InvalidRuleError } from '../src/errors';
import { Match } from '../src/match';
import { Chain, Rule } from '../src/rule';
import {
  badValueText,
  buildChainSpec,
  buildRule,
  chainNameArb,
  expectedAppend,
  expectedMatch,
  invalidInputArb,
  matchStepsArb,
  withoutDestPortAfterMultiport,
  refRuleLine,
  validChainArb,
  validRuleArb,
} from './helpers/arbitraries';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const ID_FORMAT = /^[A-Za-z0-9_-]{16}$/;

/** The line with the quoted text of comments and log prefixes replaced by X. */
const stripQuoted = (line: string): string =>
  line
    .replace(/--comment "[^"]*"/g, '--comment X')
    .replace(/--log-prefix "[^"]*"/g, '--log-prefix X')
    // vxlanVni's u32 program, quoted as latest Felix writes it (fixed text and a hex number).
    .replace(/--u32 "0>>22&0x3C@12>>8=0x[0-9a-f]+"/g, '--u32 X');
/** Whether every double quote in a line is one of a balanced "…" pair around a comment, a log prefix or a u32 program. */
const quotesOnlyAroundText = (line: string): boolean => !stripQuoted(line).includes('"');

describe('valid rules', () => {
  it('render to the SPEC line: one line, no control characters, quotes only around text', () => {
    fc.assert(
      fc.property(validRuleArb(), chainNameArb, fc.integer({ min: 1, max: 100000 }), (c, chain, num) => {
        const rule = buildRule(c);
        const prefix = '-m comment --comment "cali:AAAAAAAAAAAAAAAA"';
        const append = rule.renderAppend(chain, prefix);
        expect(append).toBe(expectedAppend(chain, prefix, c));
        const match = expectedMatch(c.steps);
        expect(rule.renderInsert(chain, '')).toBe(refRuleLine(`-I ${chain}`, '', c.comment, match, c.action.fragment));
        expect(rule.renderReplace(chain, num, prefix)).toBe(refRuleLine(`-R ${chain} ${num}`, prefix, c.comment, match, c.action.fragment));
        for (const line of [append, rule.renderInsert(chain, ''), rule.renderReplace(chain, num, '')]) {
          expect(line).not.toMatch(CONTROL);
          expect(line.split('\n')).toHaveLength(1);
          // Single spaces between parts (quoted text may hold any spaces).
          expect(stripQuoted(line)).not.toMatch(/ {2}|^ | $/);
          expect(quotesOnlyAroundText(line)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('the match builder renders every step in order and never changes an earlier value', () => {
    fc.assert(
      fc.property(matchStepsArb(10).map(withoutDestPortAfterMultiport), (steps) => {
        const snapshots: [ReturnType<typeof Match>, string][] = [];
        let m = Match();
        for (const s of steps) {
          snapshots.push([m, m.render()]);
          m = (m as unknown as Record<string, (...a: unknown[]) => typeof m>)[s.method]!.apply(m, [...s.args]);
        }
        expect(m.render()).toBe(expectedMatch(steps));
        expect(m.toString()).toBe(`MatchCriteria[${expectedMatch(steps)}]`);
        for (const [value, rendered] of snapshots) expect(value.render()).toBe(rendered);
        expect(Match().render()).toBe('');
      }),
      { numRuns: 500 },
    );
  });
});

describe('rule IDs', () => {
  it('are deterministic: the same rules give the same IDs, 16 chars of [A-Za-z0-9_-], one per rule', () => {
    fc.assert(
      fc.property(validChainArb(), (c) => {
        const a = new Chain(buildChainSpec(c)).ruleHashes();
        const b = new Chain(buildChainSpec(c)).ruleHashes(); // rebuilt from scratch
        const fromRules = new Chain({ name: c.name, rules: new Chain(buildChainSpec(c)).rules }).ruleHashes();
        expect(b).toEqual(a);
        expect(fromRules).toEqual(a);
        expect(a).toHaveLength(c.rules.length);
        for (const id of a) expect(id).toMatch(ID_FORMAT);
      }),
      { numRuns: 300 },
    );
  });

  it('are chained: a prefix of the rules keeps its IDs; changing rule i changes IDs from i on only', () => {
    fc.assert(
      fc.property(
        validChainArb({ maxRules: 8 }).filter((c) => c.rules.length > 0),
        fc.nat(),
        validRuleArb(),
        (c, at, replacement) => {
          const full = new Chain(buildChainSpec(c)).ruleHashes();
          const k = at % c.rules.length;
          const prefix = new Chain(buildChainSpec({ name: c.name, rules: c.rules.slice(0, k) })).ruleHashes();
          expect(prefix).toEqual(full.slice(0, k));

          const changedRules = [...c.rules];
          changedRules[k] = replacement;
          const sameText = expectedAppend(c.name, '', replacement) === expectedAppend(c.name, '', c.rules[k]!);
          const changed = new Chain(buildChainSpec({ name: c.name, rules: changedRules })).ruleHashes();
          expect(changed.slice(0, k)).toEqual(full.slice(0, k));
          for (let i = k; i < full.length; i++) {
            if (sameText) expect(changed[i]).toBe(full[i]);
            else expect(changed[i]).not.toBe(full[i]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('depend on the chain name', () => {
    fc.assert(
      fc.property(validChainArb().filter((c) => c.rules.length > 0), chainNameArb, (c, other) => {
        fc.pre(other !== c.name);
        const a = new Chain(buildChainSpec(c)).ruleHashes();
        const b = new Chain(buildChainSpec({ ...c, name: other })).ruleHashes();
        for (let i = 0; i < a.length; i++) expect(b[i]).not.toBe(a[i]);
      }),
      { numRuns: 200 },
    );
  });
});

// Every class of SPEC section 6 that invalidInputArb generates; the run below must see them all.
const INVALID_KINDS = [
  'chain name too long',
  'chain name breakout',
  'mark outside 32 bits',
  'mask outside 32 bits',
  'mask 0',
  'mark not subset of mask',
  'single bit: zero bits',
  'single bit: 2+ bits',
  'ClearMark 0',
  'SetMark 0',
  'port outside 0-65535',
  'empty port list',
  'empty range list',
  'range first > last',
  'protocol number outside 0-255',
  'negated protocol 0/all',
  'negated /0 net',
  'interface too long',
  'ipset name too long',
  'ICMP type outside 0-255',
  'ICMP code outside 0-255',
  'ICMPv6 type outside 0-255',
  'ICMPv6 code outside 0-255',
  'ports without a protocol with ports',
  'ports before their protocol',
  'icmp without -p icmp',
  'negated protocol of icmp',
  'two protocols',
  'interface breakout',
  'ipset breakout',
  'comment breakout',
  'log prefix breakout',
  'address breakout',
  'target breakout',
  'comment too long',
];

describe('invalid input', () => {
  it('every class of SPEC section 6 throws InvalidRuleError naming the bad value', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(invalidInputArb, (c) => {
        seen.add(c.kind);
        let err: unknown;
        let result: unknown;
        try {
          result = c.run();
        } catch (e) {
          err = e;
        }
        expect(result, `${c.kind}: ${badValueText(c.bad)} was accepted`).toBeUndefined();
        expect(err).toBeInstanceOf(InvalidRuleError);
        expect((err as InvalidRuleError).message).toContain(badValueText(c.bad));
      }),
      { numRuns: 2000 },
    );
    expect([...seen].sort()).toEqual([...INVALID_KINDS].sort());
  });

  it('a bad value in a plain rule object stops the whole Chain, before any ID is computed', () => {
    fc.assert(
      fc.property(validChainArb({ maxRules: 4 }), fc.nat(), (c, at) => {
        const spec = buildChainSpec(c);
        const rules: unknown[] = [...spec.rules];
        rules.splice(at % (rules.length + 1), 0, { action: spec.rules[0]?.action ?? { toFragment: () => '--jump DROP' }, comment: 'bad\ncomment' });
        expect(() => new Chain({ name: c.name, rules } as never)).toThrow(InvalidRuleError);
      }),
      { numRuns: 100 },
    );
  });

  // JSON.stringify would render NaN and ±Infinity as "null"; the message must name them.
  it('NaN and Infinity are named in the message', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      expectInvalidRule(() => Match().markClear(bad), String(bad));
    }
  });

  it('NaN and Infinity are rejected everywhere a number is taken', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(() => Match().markClear(bad)).toThrow(InvalidRuleError);
      expect(() => Match().destPorts(bad)).toThrow(InvalidRuleError);
      expect(() => Match().protocolNum(bad)).toThrow(InvalidRuleError);
      expect(() => Match().icmpType(bad)).toThrow(InvalidRuleError);
      expect(() => new Rule({ action: { toFragment: () => '--jump DROP', toString: () => '' } }).renderReplace('c', bad, '')).toThrow(InvalidRuleError);
    }
  });
});
