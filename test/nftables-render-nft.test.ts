// The real nft takes what the nftables renderer writes. In a throwaway namespace, every rule of
// the corpus (every match and action of the library, per table and family, with and without
// host features) is rendered, loaded with `nft -f -` into a table whose base chains are of the
// iptables table's kind (nat chains for NAT, …) and found back in `nft -a list table`. A
// property test does the same for random rules: each either renders and loads, or is refused
// with an InvalidRuleError naming a builder method or action field, never an nft error. Names
// and strings that nft-names.ts accepts are taken and read back unchanged.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AcceptAction, DropAction, GotoAction, JumpAction } from '../src/actions';
import { InvalidRuleError } from '../src/errors';
import { AddrType, Match, MatchCriteria } from '../src/match';
import { NFT_KEYWORDS, NFT_MAX_COMMENT_BYTES, NFT_MAX_LOG_PREFIX_BYTES, nftNameProblem, nftQuoted, nftStringProblem } from '../src/nftables/nft-names';
import { type NftRenderContext, renderNftRule, renderNftRuleParts } from '../src/nftables/render';
import { Rule } from '../src/rule';
import { saveLineTokens } from '../src/save-line';
import { TABLE_NAMES, type TableName } from '../src/table-names';
import { buildRule, kernelRuleArb, type RuleCase, validRuleArb } from './helpers/arbitraries';
import { useNamespace } from './helpers/netns';
import { type LoadedRule, loadAndList } from './helpers/nft-load';
import { ALL_FEATURES, type Load, LOADS, NEW_LOADS } from './helpers/rule-corpus';

const ns = useNamespace('nftrender');

const familyOf = (load: Load): 'ip' | 'ip6' => (load.family === 4 ? 'ip' : 'ip6');
const identity = (chain: string): string => chain;

/** Every builder method and action field an InvalidRuleError from the renderer may name. */
const NAMEABLE = new Set([
  ...Object.getOwnPropertyNames(MatchCriteria.prototype),
  'DNATAction', 'DNATAction.destAddr', 'DNATAction.destPort', 'SNATAction', 'SNATAction.toAddr', 'MasqAction', 'MasqAction.toPorts', 'NoTrackAction', 'DSCPAction',
  'RejectAction', 'RejectAction.with', 'LimitNumConnectionsAction.rejectWith', 'SaveConnMarkAction.saveMask', 'RestoreConnMarkAction.restoreMask',
  'NflogAction.prefix', 'LogAction.prefix', 'JumpAction.target', 'GotoAction.target',
]);

/** Renders the rules, separating the refused ones (each must name a builder method or field). */
function renderAll(rules: readonly Rule[], ctx: NftRenderContext): { bodies: string[]; refused: InvalidRuleError[] } {
  const bodies: string[] = [];
  const refused: InvalidRuleError[] = [];
  for (const rule of rules) {
    try {
      bodies.push(renderNftRule(rule, ctx));
    } catch (e) {
      if (!(e instanceof InvalidRuleError)) throw e;
      expect(e.message).toContain('backend nftables');
      expect(NAMEABLE, `${e.message} names no builder method or field`).toContain(e.where);
      refused.push(e);
    }
  }
  return { bodies, refused };
}

/** A rule line of `nft -a list table` as the backend writes rules: counter, …, comment, handle. */
const RULE_LINE = /^counter packets 0 bytes 0 (?:.* )?comment "id(\d+)" # handle \d+$/;

async function expectAllTaken(family: 'ip' | 'ip6', table: TableName, bodies: readonly string[], extraChains: readonly string[] = []): Promise<LoadedRule[]> {
  const { listed, rules } = await loadAndList(ns, family, table, bodies, extraChains);
  listed.forEach((lines, i) => {
    expect(lines, `rule ${i} (${bodies[i]}) listed once`).toHaveLength(1);
    expect(RULE_LINE.exec(lines[0] ?? '')?.[1], `rule ${i}: ${lines[0]}`).toBe(String(i));
  });
  return rules;
}

describe('the corpus', () => {
  // What the corpus holds that nftables cannot express here (asserted, not skipped): ipsets,
  // a conntrack state list mixing SNAT/DNAT with other states, the negation of ICMP type 255
  // (iptables' "any type"), masked connection-mark copies, rpfilter --accept-local's OR.
  const EXPECTED_REFUSALS = new Set([
    'sourceIpSet', 'notSourceIpSet', 'sourceIpPortSet', 'notSourceIpPortSet', 'destIpSet', 'notDestIpSet', 'destIpPortSet', 'notDestIpPortSet',
    'conntrackState', 'notIcmpTypeAndCode', 'SaveConnMarkAction.saveMask', 'RestoreConnMarkAction.restoreMask', 'rpfCheckPassed',
  ]);

  const cases = [...LOADS, ...NEW_LOADS].flatMap((load) => [
    [`${load.label} (no features)`, load, load.chain.rules] as const,
    ...(LOADS.includes(load) ? [] : [[`${load.label} (all features)`, load, load.chain.withFeatures(ALL_FEATURES).rules] as const]),
  ]);

  it.each(cases)('%s: every rule nftables can express is taken by nft in a base chain of its kind', async (_label, load, rules) => {
    const family = familyOf(load);
    const { bodies, refused } = renderAll(rules, { family, table: load.table, chainName: identity });
    for (const e of refused) expect(EXPECTED_REFUSALS, e.message).toContain(e.where);
    expect(bodies.length).toBeGreaterThan(rules.length / 2);
    const placed = await expectAllTaken(family, load.table, bodies, load.extraChains);
    // Every rule of the corpus found a hook whose base chain took it.
    for (const r of placed) expect(r.hook, r.body).toBeDefined();
  });

  it('the rule listed is the one written: one rule read back in full', async () => {
    const rule = new Rule({ match: Match().inInterface('cali+').protocol('tcp').destPorts(80, 443).conntrackState('NEW'), action: new DropAction() });
    const { listed } = await loadAndList(ns, 'ip', 'filter', [renderNftRule(rule, { family: 'ip', table: 'filter', chainName: identity })]);
    expect(listed[0]).toEqual([expect.stringMatching(/^counter packets 0 bytes 0 iifname "cali\*" tcp dport \{ 80, 443 \} ct state new drop comment "id0" # handle \d+$/)]);
  });
});

describe('random rules (property)', () => {
  const tableArb = fc.constantFrom(...TABLE_NAMES);
  const familyArb = fc.constantFrom<'ip' | 'ip6'>('ip', 'ip6');

  /** Renders a batch of rules and loads what rendered; chains jumped to are created. */
  async function check(cases: readonly RuleCase[], family: 'ip' | 'ip6', table: TableName): Promise<number> {
    const rules = cases.map(buildRule);
    const { bodies } = renderAll(rules, { family, table, chainName: identity });
    const targets = rules.flatMap((r) => (r.action instanceof JumpAction || r.action instanceof GotoAction ? [r.action.target] : [])).filter((t) => nftNameProblem(t) === undefined);
    if (bodies.length > 0) await expectAllTaken(family, table, bodies, targets);
    return bodies.length;
  }

  it('any valid rule, any table and family: renders and nft takes it, or an InvalidRuleError names the method', async () => {
    let rendered = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(validRuleArb(), { minLength: 1, maxLength: 12 }), familyArb, tableArb, async (cases, family, table) => {
        rendered += await check(cases, family, table);
      }),
      { numRuns: 60 },
    );
    // The property is about rules that render, not only about refusals.
    expect(rendered).toBeGreaterThan(30);
  });

  it.each([4, 6] as const)('rules iptables takes in a filter chain (IPv%i): renders and nft takes it, or an InvalidRuleError', async (v) => {
    let rendered = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(kernelRuleArb({ family: v, targets: ['kt-target'] }), { minLength: 1, maxLength: 12 }), async (cases) => {
        rendered += await check(cases, v === 4 ? 'ip' : 'ip6', 'filter');
      }),
      { numRuns: 40 },
    );
    expect(rendered).toBeGreaterThan(80);
  });
});

describe('what real packets say', () => {
  // Raw ICMP to 127.0.0.1 (echo request, timestamp request, port unreachable): what the
  // iptables rule and the rendered nft rule count, side by side in the OUTPUT hook.
  const SEND_ICMP = `
import socket, struct
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
for t, c in [(8, 0), (13, 0), (3, 3)]:
    h = struct.pack('!BBHHH', t, c, 0, 1, 1) + b'abcd'
    s.sendto(struct.pack('!BBHHH', t, c, csum(h), 1, 1) + b'abcd', ('127.0.0.1', 0))
`;

  const pns = useNamespace('nftrpkt');

  it('iptables reads ICMP type 255 as any type: the rendered rule counts the same packets; the negation counts none', async () => {
      const rules = [Match().protocol('icmp').icmpType(255), Match().protocol('icmp').icmpTypeAndCode(255, 3), Match().protocol('icmp').icmpType(8), Match().protocol('icmp').notIcmpTypeAndCode(3, 3)];
      for (const m of [...rules, Match().protocol('icmp').notIcmpType(255)]) await pns.iptables('legacy', ['-A', 'OUTPUT', ...saveLineTokens(m.render())]);
      const bodies = rules.map((m) => renderNftRule(new Rule({ match: m, action: new AcceptAction() }), { family: 'ip', table: 'filter', chainName: identity }).replace(/ accept$/, ''));
      await pns.execOk('nft', ['-f', '-'], `table ip pk {\n chain out {\n  type filter hook output priority 0; policy accept;\n${bodies.map((b) => `  ${b} counter\n`).join('')} }\n}\n`);
      await pns.execOk('python3', ['-c', SEND_ICMP]);
      const iptCounts = (await pns.iptables('legacy', ['-L', 'OUTPUT', '-v', '-x', '-n'])).split('\n').slice(2).filter((l) => l.trim() !== '').map((l) => Number(l.trim().split(/\s+/)[0]));
      const nftCounts = [...(await pns.execOk('nft', ['list', 'table', 'ip', 'pk'])).matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
      // 3 sent, plus the echo and timestamp replies; type 8 is the echo request alone.
      expect(iptCounts).toEqual([5, 5, 1, 4, 0]);
      expect(nftCounts).toEqual(iptCounts.slice(0, 4));
  });
});

describe('what real packets say: iptables and the rendered rules count the same packets', () => {
  // One traffic mix over lo (a TCP connection with data, a refused TCP connection, UDP with a
  // VXLAN header, UDP to a closed port, an ICMP echo), seen by counting iptables rules and the
  // rendered nft rules side by side in the OUTPUT hook: each pair must count the same packets.
  const TRAFFIC = `
import socket, struct, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(('127.0.0.1', 8080)); srv.listen(1)
c = socket.create_connection(('127.0.0.1', 8080)); a, _ = srv.accept()
c.sendall(b'hello'); a.recv(5); a.sendall(b'world'); c.recv(5); c.close(); a.close()
try:
    socket.create_connection(('127.0.0.1', 9), timeout=1)
except OSError:
    pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(struct.pack('!II', 0x08000000, 4096 << 8), ('127.0.0.1', 4789))
u.sendto(b'x', ('127.0.0.1', 9))
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
h = struct.pack('!BBHHH', 8, 0, 0xf7fd, 1, 1)
r.sendto(h, ('127.0.0.1', 0))
time.sleep(0.3)
`;
  const tcp = () => Match().protocol('tcp');
  const MATCHES = [
    Match().protocol('tcp'), Match().protocol('udp'), Match().protocolNum(1), Match().notProtocol('tcp'),
    tcp().destPorts(9, 8080), tcp().sourcePorts(8080), tcp().notDestPorts(8080), tcp().destPortRanges([{ first: 1, last: 10 }, { first: 8000, last: 8100 }]), Match().protocol('udp').destPort(4789),
    Match().outInterface('lo'), Match().outInterface('l+'), Match().outInterface('eth+'), Match().outInterface('+'),
    Match().sourceNet('127.0.0.0/8'), Match().notDestNet('127.0.0.2'), Match().destNet('127.0.0.1/32'), Match().notSourceNet('10.0.0.0/8'),
    Match().markClear(1), Match().markNotClear(1), Match().markMatchesWithMask(0, 0xff), Match().notMarkMatchesWithMask(0, 0xffffffff),
    Match().conntrackState('NEW'), Match().conntrackState('ESTABLISHED'), Match().conntrackState('RELATED'), Match().conntrackState('INVALID,UNTRACKED'), Match().notConntrackState('NEW'), Match().conntrackState('RELATED,ESTABLISHED'),
    Match().srcAddrType(AddrType.Local, false), Match().srcAddrType(AddrType.Local, true), Match().destAddrType(AddrType.Local), Match().notDestAddrType(AddrType.Unicast), Match().notSrcAddrType(AddrType.Local, false),
    // The limit after the protocol: only UDP packets take tokens (IP header criteria come first).
    Match().limit('1/hour', 2).protocol('udp'), tcp().limit('1/hour', 3),
    Match().protocol('udp').destPorts(4789).vxlanVni(4096), Match().protocol('udp').vxlanVni(4095),
    Match().protocol('icmp').icmpType(8), Match().protocol('icmp').notIcmpType(3), Match().protocol('icmp').icmpTypeAndCode(3, 3), Match().protocol('icmp').notIcmpTypeAndCode(3, 3),
    Match().outInterface('lo+').sourceNet('127.0.0.1').protocol('tcp').conntrackState('NEW').destPorts(8080),
  ];

  const pns = useNamespace('nftrpkts');

  it('for every kind of criterion', async () => {
      const ctx: NftRenderContext = { family: 'ip', table: 'filter', chainName: identity };
      const bodies = MATCHES.map((m) => renderNftRuleParts(new Rule({ match: m, action: new AcceptAction() }), ctx).matches);
      for (const m of MATCHES) await pns.iptables('legacy', ['-A', 'OUTPUT', ...saveLineTokens(m.render())]);
      await pns.execOk('nft', ['-f', '-'], `table ip pk {\n chain out {\n  type filter hook output priority 0; policy accept;\n${bodies.map((b) => `  ${b} counter\n`).join('')} }\n}\n`);
      await pns.execOk('python3', ['-c', TRAFFIC]);
      const ipt = (await pns.iptables('legacy', ['-L', 'OUTPUT', '-v', '-x', '-n'])).split('\n').slice(2).filter((l) => l.trim() !== '').map((l) => Number(l.trim().split(/\s+/)[0]));
      const nft = [...(await pns.execOk('nft', ['list', 'table', 'ip', 'pk'])).matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
      expect(ipt).toHaveLength(MATCHES.length);
      const side = MATCHES.map((m, i) => `${m.render()}: iptables ${ipt[i]}, nft ${nft[i]} (${bodies[i]})`);
      expect(nft, side.join('\n')).toEqual(ipt);
      // Not vacuous: the traffic reaches most rules, and the limits did limit.
      expect(ipt.filter((n) => n > 0).length, side.join('\n')).toBeGreaterThan(MATCHES.length / 2);
      expect(ipt.slice(32, 34), side.join('\n')).toEqual([2, 3]);
  });
});

describe('hostile fragments (property)', () => {
  // MatchCriteria's constructor takes raw fragments unchecked, and an Action is any object with
  // toFragment(): a builder fragment with one token changed to nft syntax must be refused with
  // an InvalidRuleError, or render to something nft takes; it may never reach nft as a syntax
  // error (an injection).
  const HOSTILE = ['}', '{', ';', '"x"', '$x', '@x', 'drop', 'accept', '#', 'x;drop', '0x1}', '1.2.3.4/8}', 'eth0"', 'a b', '*', '\\', '80,443}', 'jump', '-p', '!'];
  const caseArb = fc.tuple(validRuleArb({ maxMatches: 4 }), fc.nat(), fc.constantFrom(...HOSTILE), fc.boolean(), fc.constantFrom<'ip' | 'ip6'>('ip', 'ip6'), fc.constantFrom(...TABLE_NAMES));

  it('a builder fragment with one token replaced or inserted: refused, or taken by nft', async () => {
    // Nearly all are refused (which is the point); the few that render, such as a quoted
    // interface name the tokenizer unquotes, must be text nft takes. (nft -c does see an
    // injected token: the check below is not vacuous.)
    const injected = await ns.exec('nft', ['-c', '-f', '-'], 'table ip fz {\n chain c0 {\n  ip saddr 1.2.3.4} drop\n }\n}\n');
    expect(injected.stderr).toMatch(/Error: syntax error/);
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb, { minLength: 1, maxLength: 10 }), async (cases) => {
        const bodies: { family: 'ip' | 'ip6'; body: string }[] = [];
        for (const [c, at, hostile, inAction, family, table] of cases) {
          const rule = buildRule(c);
          const action = rule.action.toFragment();
          const tokens = (inAction ? action : rule.match.render()).split(' ').filter((t) => t !== '');
          const i = tokens.length === 0 ? 0 : at % (tokens.length + 1);
          const mutated = [...tokens.slice(0, i), hostile, ...tokens.slice(i + (at % 2))].join(' ');
          let hostileRule: Rule;
          try {
            hostileRule = inAction
              ? new Rule({ match: rule.match, action: { toFragment: () => mutated } })
              : new Rule({ match: new MatchCriteria([mutated]), action: rule.action });
          } catch (e) {
            expect(e).toBeInstanceOf(InvalidRuleError);
            continue;
          }
          try {
            bodies.push({ family, body: renderNftRule(hostileRule, { family, table, chainName: identity }) });
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(InvalidRuleError);
          }
        }
        if (bodies.length === 0) return;
        // Loaded into unreferenced chains: what is checked is the text, not where it may run.
        const input = `${bodies.map((b, i) => `table ${b.family} fz {\n chain c${i} {\n  ${b.body}\n }\n}`).join('\n')}\n`;
        const res = await ns.exec('nft', ['-c', '-f', '-'], input);
        // A jump to a chain that does not exist is a kernel lookup, not a syntax error.
        const errors = res.stderr.split('\n').filter((l) => /Error:/.test(l) && !/No such file or directory/.test(l));
        expect(errors, `${res.stderr}\n--- input ---\n${input}`).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});

describe('names and strings against the real nft', () => {
  const nameArb = fc
    .tuple(fc.constantFrom(...'abcXYZ_.'.split('')), fc.array(fc.constantFrom(...'azAZ09/_.-'.split('')), { maxLength: 30 }))
    .map(([a, b]) => a + b.join(''));

  it('names nftName takes are taken by nft as chain names and jump targets', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(nameArb.filter((n) => nftNameProblem(n) === undefined), { minLength: 1, maxLength: 20 }), async (names) => {
        const { listed, listing } = await loadAndList(ns, 'ip', 'filter', names.map((n) => `jump ${n}`), names);
        listed.forEach((lines, i) => expect(lines[0], listing).toContain(`jump ${names[i] as string} comment`));
      }),
      { numRuns: 15 },
    );
    const long = `a${'b'.repeat(254)}`;
    expect(nftNameProblem(long)).toBeUndefined();
    const { listed } = await loadAndList(ns, 'ip', 'filter', [`jump ${long}`], [long]);
    expect(listed[0]?.[0]).toContain(`jump ${long} `);
  });

  it('nft reads keywords as syntax: why nftName refuses them', async () => {
    for (const keyword of ['ip', 'counter', 'accept', 'tcp', 'jump', 'meta']) {
      expect(NFT_KEYWORDS.has(keyword)).toBe(true);
      const res = await ns.exec('nft', ['-f', '-'], `table ip kw {\n chain c {\n  jump ${keyword}\n }\n}\n`);
      expect(res.code, keyword).not.toBe(0);
      expect(res.stderr).toContain('syntax error');
    }
  });

  it('strings nftQuoted takes are read back unchanged (log prefixes, via nft --json)', async () => {
    const charArb = fc.oneof(fc.constantFrom(...` !#%&'()*+,-./:;<=>?@[]^_{|}~\`azAZ09`.split('')), fc.constantFrom('é', '✓', '日', '😀', '\u00a0'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(charArb, { maxLength: 40 }).map((cs) => cs.join('')), { minLength: 1, maxLength: 10 }), async (prefixes) => {
        const ok = prefixes.filter((p) => nftStringProblem(p, 127) === undefined);
        const bodies = ok.map((p) => `log prefix ${nftQuoted('prefix', p, 'log prefix', 127)}`);
        await loadAndList(ns, 'ip', 'filter', bodies);
        const json = JSON.parse(await ns.execOk('nft', ['--json', 'list', 'table', 'ip', 'ipts-render-t'])) as { nftables: { rule?: { chain: string; expr: { log?: { prefix: string } }[] } }[] };
        const logged = json.nftables.flatMap((o) => (o.rule ? o.rule.expr.flatMap((e) => (e.log ? [[o.rule!.chain, e.log.prefix] as const] : [])) : []));
        ok.forEach((p, i) => expect(logged).toContainEqual([`r/${i}`, p]));
      }),
      { numRuns: 15 },
    );
  });

  it('the byte limits nft-names states are nft\'s own (comments, log prefixes)', async () => {
    const load = (statement: string) => ns.exec('nft', ['-f', '-'], `table ip lim {\n chain c {\n  ${statement}\n }\n}\n`);
    const comment = (n: number) => `accept comment ${nftQuoted('c', 'é'.repeat(n >> 1) + 'x'.repeat(n & 1), 'comment', n)}`;
    expect((await load(comment(NFT_MAX_COMMENT_BYTES))).code).toBe(0);
    expect((await load(comment(NFT_MAX_COMMENT_BYTES + 1))).code).not.toBe(0);
    const prefix = (n: number) => `log prefix ${nftQuoted('p', 'x'.repeat(n), 'log prefix', n)}`;
    expect((await load(prefix(NFT_MAX_LOG_PREFIX_BYTES))).code).toBe(0);
    expect((await load(prefix(NFT_MAX_LOG_PREFIX_BYTES + 1))).code).not.toBe(0);
    expect(() => nftQuoted('p', 'x'.repeat(NFT_MAX_LOG_PREFIX_BYTES + 1), 'log prefix', NFT_MAX_LOG_PREFIX_BYTES)).toThrow(InvalidRuleError);
  });

  it('nft would misread what nftQuoted refuses: "$" expands, "\\"" ends the string', async () => {
    for (const text of ['a$b', 'a"b']) {
      expect(nftStringProblem(text, 127)).toBeDefined();
      const res = await ns.exec('nft', ['-f', '-'], `table ip q {\n chain c {\n  log prefix "${text}"\n }\n}\n`);
      expect(res.code, text).not.toBe(0);
    }
  });
});
