// fast-check arbitraries for the rule model, shared by the property tests, the kernel acceptance
// test and (later) the Table model-based test and fuzzers.
//
// Every generated match step and action carries the fragment SPEC section 2 says it renders to,
// written here by hand from the SPEC table. That makes the arbitraries an independent reference
// renderer: a test can compare the library's output with `expected…` without asking the code
// under test what the answer is.
//
// Two flavours:
//  - `validRuleArb()` / `validChainArb()`: anything the API accepts, in any combination (the
//    same option twice, …) within iptables' protocol dependencies, which a Rule checks (one -p;
//    multiport after a -p with ports; icmp with -p icmp). Renders to one line; not all of it
//    would load.
//  - `kernelRuleArb()` / `kernelChainArb()`: rules that iptables-restore accepts in a user chain
//    of the filter table that no built-in chain jumps to (one -p per rule, multiport and --dport
//    only after -p tcp/udp, icmp only after -p icmp, no rpfilter/ipvs, ipsets only from the given
//    names).
//
// `invalidInputArb` yields one bad input of every class of SPEC section 6, with the value that
// the error message must name.
import fc from 'fast-check';
import {
  AcceptAction,
  type Action,
  ClearMarkAction,
  DNATAction,
  DropAction,
  GotoAction,
  JumpAction,
  LogAction,
  SetMarkAction,
  SetMaskedMarkAction,
  SNATAction,
} from '../../src/actions';
import * as actionModule from '../../src/actions';
import { AddrType, Match, type MatchCriteria } from '../../src/match';
import { Rule } from '../../src/rule';

// ------------------------------------------------------------------------------------------
// Reference formatting, straight from SPEC section 2 (not from src/).

/** `0x` + lowercase hex, `0x0` for zero. */
export const refHex = (n: number): string => `0x${n.toString(16)}`;
export interface PortRangeSpec {
  readonly first: number;
  readonly last: number;
}
export const refPorts = (ports: readonly number[]): string => ports.join(',');
export const refRanges = (ranges: readonly PortRangeSpec[]): string =>
  ranges.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}:${r.last}`)).join(',');

/** Joins the non-empty parts with single spaces, as SPEC section 2 describes a rule line. */
export const refJoin = (parts: readonly string[]): string => parts.filter((p) => p !== '').join(' ');

/** The rule line SPEC section 2 describes, from expected parts. */
export function refRuleLine(op: string, prefix: string, comment: string | undefined, match: string, action: string): string {
  return refJoin([op, prefix, comment === undefined || comment === '' ? '' : `-m comment --comment "${comment}"`, match, action]);
}

// ------------------------------------------------------------------------------------------
// Scalars.

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const charFrom = (chars: string): fc.Arbitrary<string> => fc.constantFrom(...chars.split(''));
const stringFrom = (chars: string, minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.array(charFrom(chars), { minLength, maxLength }).map((cs) => cs.join(''));

/** Valid chain names: 1–28 bytes, no whitespace/quotes/controls, not starting with - or !. */
export const chainNameArb: fc.Arbitrary<string> = fc
  .tuple(charFrom(`${ALNUM}_`), stringFrom(`${ALNUM}_-.`, 0, 27))
  .map(([a, b]) => a + b);

export const u32Arb = fc.integer({ min: 0, max: 0xffffffff });
export const nonZeroU32Arb = fc.integer({ min: 1, max: 0xffffffff });
export const u8Arb = fc.integer({ min: 0, max: 255 });
export const portArb = fc.integer({ min: 0, max: 65535 });
/** Edge-heavy marks. */
export const markArb: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, 0x80000000, 0xffffffff, 0xff, 0xff00),
  u32Arb,
);
/** A non-zero mask and a mark that is a subset of it. */
export const markAndMaskArb: fc.Arbitrary<{ mark: number; mask: number }> = fc
  .tuple(fc.oneof(fc.constantFrom(1, 0x80000000, 0xffffffff), nonZeroU32Arb), u32Arb)
  .map(([mask, bits]) => ({ mask, mark: (mask & bits) >>> 0 }));
export const singleBitArb = fc.integer({ min: 0, max: 31 }).map((b) => 2 ** b);

/** 1–15 ports (multiport's limit). */
export const portsArb = fc.array(portArb, { minLength: 1, maxLength: 15 });
/** Ranges using at most 15 multiport slots (a range first<last takes two). */
export const portRangesArb: fc.Arbitrary<PortRangeSpec[]> = fc
  .array(
    fc.tuple(portArb, portArb, fc.boolean()).map(([a, b, single]) =>
      single ? { first: a, last: a } : { first: Math.min(a, b), last: Math.max(a, b) },
    ),
    { minLength: 1, maxLength: 15 },
  )
  .map((ranges) => {
    const out: PortRangeSpec[] = [];
    let slots = 0;
    for (const r of ranges) {
      const need = r.first === r.last ? 1 : 2;
      if (slots + need > 15) break;
      slots += need;
      out.push(r);
    }
    return out;
  });

export const ipv4Arb: fc.Arbitrary<string> = fc.ipV4();
export const ipv6Arb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('::', '::1', 'fd00::1', '2001:db8::', 'fe80::1:2:3:4', '2001:db8:0:0:0:0:0:ffff'),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':')),
);
export const cidr4Arb: fc.Arbitrary<string> = fc.oneof(ipv4Arb, fc.tuple(ipv4Arb, fc.integer({ min: 0, max: 32 })).map(([a, n]) => `${a}/${n}`));
export const cidr6Arb: fc.Arbitrary<string> = fc.oneof(ipv6Arb, fc.tuple(ipv6Arb, fc.integer({ min: 0, max: 128 })).map(([a, n]) => `${a}/${n}`));

/** Interface names and wildcards: 1–15 bytes, optionally ending in +. */
export const interfaceArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('cali+', 'eth0', 'lo', 'tunl0', 'cali1234567890a', 'wg-v6.cali', '+'),
  fc.tuple(stringFrom(`${ALNUM}_-.`, 1, 14), fc.boolean()).map(([n, plus]) => (plus ? `${n}+` : n)),
);
/** ipset names: 1–31 bytes, no comma, not starting with - or !. */
export const ipSetNameArb: fc.Arbitrary<string> = fc
  .tuple(charFrom(`${ALNUM}_`), stringFrom(`${ALNUM}_-:.`, 0, 30))
  .map(([a, b]) => a + b);

/** Printable text allowed inside the double quotes of a comment or log prefix. */
const QUOTABLE_ASCII = `${ALNUM} !#%&'()*+,-./:;<=>?@[]^_{|}~`;
const quotableCharArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: charFrom(QUOTABLE_ASCII) },
  { weight: 1, arbitrary: fc.constantFrom('é', 'ü', 'ß', '✓', '日', '本', '😀', 'Ω', '\u00a0') },
);
const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');
function quotedTextArb(maxBytes: number, maxChars: number): fc.Arbitrary<string> {
  return fc
    .array(quotableCharArb, { maxLength: maxChars })
    .map((cs) => {
      let out = '';
      for (const c of cs) {
        if (byteLength(out + c) > maxBytes) break;
        out += c;
      }
      return out;
    });
}
/** Comments: at most 255 UTF-8 bytes (iptables truncates 256 and more). */
export const commentArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: quotedTextArb(255, 40) },
  { weight: 1, arbitrary: fc.constantFrom('a'.repeat(255), 'é'.repeat(127), `${'✓'.repeat(85)}`) },
);
/** Log prefixes: at most 27 bytes (iptables' 29 minus the ": " we append). */
export const logPrefixArb: fc.Arbitrary<string> = quotedTextArb(27, 27);

const CT_STATES = ['INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'SNAT', 'DNAT'] as const;
export const conntrackStatesArb: fc.Arbitrary<string> = fc
  .subarray([...CT_STATES], { minLength: 1 })
  .map((s) => s.join(','));
export const addrTypeArb: fc.Arbitrary<AddrType> = fc.constantFrom(...(Object.values(AddrType) as AddrType[]));

// ------------------------------------------------------------------------------------------
// Match steps: one builder call and the fragment SPEC section 2 gives for it.

export interface MatchStep {
  readonly method: string;
  readonly args: readonly unknown[];
  readonly fragment: string;
}

const step = (method: string, args: readonly unknown[], fragment: string): MatchStep => ({ method, args, fragment });
const neg = (n: boolean): string => (n ? '! ' : '');
const notName = (n: boolean, method: string): string => (n ? `not${method[0]!.toUpperCase()}${method.slice(1)}` : method);

/** Applies steps to Match() through the public builder. */
export function buildMatch(steps: readonly MatchStep[]): MatchCriteria {
  let m = Match();
  for (const s of steps) {
    const fn = (m as unknown as Record<string, (...a: unknown[]) => MatchCriteria>)[s.method];
    if (typeof fn !== 'function') throw new Error(`no match method ${s.method}`);
    m = fn.apply(m, [...s.args]);
  }
  return m;
}
export const expectedMatch = (steps: readonly MatchStep[]): string => refJoin(steps.map((s) => s.fragment));

const markStepArb: fc.Arbitrary<MatchStep> = fc.oneof(
  nonZeroU32Arb.map((m) => step('markClear', [m], `-m mark --mark 0/${refHex(m)}`)),
  nonZeroU32Arb.map((m) => step('markNotClear', [m], `-m mark ! --mark 0/${refHex(m)}`)),
  singleBitArb.map((m) => step('markSingleBitSet', [m], `-m mark --mark ${refHex(m)}/${refHex(m)}`)),
  fc.tuple(markAndMaskArb, fc.boolean()).map(([{ mark, mask }, n]) =>
    step(n ? 'notMarkMatchesWithMask' : 'markMatchesWithMask', [mark, mask], `-m mark ${neg(n)}--mark ${refHex(mark)}/${refHex(mask)}`),
  ),
);
const interfaceStepArb: fc.Arbitrary<MatchStep> = fc.oneof(
  interfaceArb.map((i) => step('inInterface', [i], `--in-interface ${i}`)),
  interfaceArb.map((i) => step('outInterface', [i], `--out-interface ${i}`)),
);
const addrTypeStepArb: fc.Arbitrary<MatchStep> = fc.oneof(
  fc.tuple(addrTypeArb, fc.boolean(), fc.boolean()).map(([t, limit, n]) =>
    step(n ? 'notSrcAddrType' : 'srcAddrType', [t, limit], `-m addrtype ${neg(n)}--src-type ${t}${limit ? ' --limit-iface-out' : ''}`),
  ),
  addrTypeArb.map((t) => step('destAddrType', [t], `-m addrtype --dst-type ${t}`)),
);
/** The address types the kernel's addrtype match takes for IPv6 (it refuses BROADCAST,
 *  BLACKHOLE, PROHIBIT, THROW, NAT and XRESOLVE there; see test/kernel-accept.test.ts). */
export const ADDR_TYPES_V6: readonly AddrType[] = [AddrType.Unspec, AddrType.Unicast, AddrType.Local, AddrType.Anycast, AddrType.Multicast, AddrType.Unreachable];
const addrTypeStepArb6: fc.Arbitrary<MatchStep> = addrTypeStepArb.filter((st) => ADDR_TYPES_V6.includes(st.args[0] as AddrType));
const conntrackStepArb = fc
  .tuple(conntrackStatesArb, fc.boolean())
  .map(([s, n]) => step(notName(n, 'conntrackState'), [s], `-m conntrack ${neg(n)}--ctstate ${s}`));
const notDestAddrTypeStepArb = (types: fc.Arbitrary<AddrType>): fc.Arbitrary<MatchStep> =>
  types.map((t) => step('notDestAddrType', [t], `-m addrtype ! --dst-type ${t}`));
/** Per-second rates with any burst stay far below xt_limit's overflow (latest Felix's limit). */
const limitStepArb: fc.Arbitrary<MatchStep> = fc
  .tuple(fc.integer({ min: 1, max: 10000 }), fc.constantFrom('second', 'sec', 's'), fc.integer({ min: 0, max: 10000 }))
  .map(([n, unit, burst]) => step('limit', [`${n}/${unit}`, burst], `-m limit --limit ${n}/${unit}${burst === 0 ? '' : ` --limit-burst ${burst}`}`));
const vxlanStepArb: fc.Arbitrary<MatchStep> = fc
  .integer({ min: 0, max: 0xffffff })
  .map((v) => step('vxlanVni', [v], `-m u32 --u32 "0>>22&0x3C@12>>8=${refHex(v)}"`));
/** A negated /0 net never matches (iptables-nft refuses it): negations get a non-zero prefix. */
const negatableNet = (c: string): string => c.replace(/\/0+$/, '/1');
const netStepArb = (cidrArb: fc.Arbitrary<string>): fc.Arbitrary<MatchStep> =>
  fc.tuple(cidrArb, fc.boolean(), fc.boolean()).map(([c0, dest, n]) => {
    const c = n ? negatableNet(c0) : c0;
    return step(notName(n, dest ? 'destNet' : 'sourceNet'), [c], `${neg(n)}--${dest ? 'destination' : 'source'} ${c}`);
  });
const IPSET_KINDS = [
  ['sourceIpSet', 'src'],
  ['sourceIpPortSet', 'src,src'],
  ['destIpSet', 'dst'],
  ['destIpPortSet', 'dst,dst'],
] as const;
const ipSetStepArb = (names: fc.Arbitrary<string>, kinds: readonly (typeof IPSET_KINDS)[number][] = IPSET_KINDS): fc.Arbitrary<MatchStep> =>
  fc.tuple(names, fc.constantFrom(...kinds), fc.boolean()).map(([s, [method, flags], n]) =>
    step(notName(n, method), [s], `-m set ${neg(n)}--match-set ${s} ${flags}`),
  );
const portStepArb: fc.Arbitrary<MatchStep> = fc.oneof(
  fc.tuple(portsArb, fc.boolean(), fc.boolean()).map(([ports, dest, n]) =>
    step(notName(n, dest ? 'destPorts' : 'sourcePorts'), ports, `-m multiport ${neg(n)}--${dest ? 'destination' : 'source'}-ports ${refPorts(ports)}`),
  ),
  fc.tuple(portRangesArb, fc.boolean(), fc.boolean()).map(([ranges, dest, n]) =>
    step(
      notName(n, dest ? 'destPortRanges' : 'sourcePortRanges'),
      [ranges],
      `-m multiport ${neg(n)}--${dest ? 'destination' : 'source'}-ports ${refRanges(ranges)}`,
    ),
  ),
);
const icmpStepArb: fc.Arbitrary<MatchStep> = fc.oneof(
  fc.tuple(u8Arb, fc.boolean()).map(([t, n]) => step(notName(n, 'icmpType'), [t], `-m icmp ${neg(n)}--icmp-type ${t}`)),
  fc.tuple(u8Arb, u8Arb, fc.boolean()).map(([t, c, n]) => step(notName(n, 'icmpTypeAndCode'), [t, c], `-m icmp ${neg(n)}--icmp-type ${t}/${c}`)),
);
const icmp6StepArb: fc.Arbitrary<MatchStep> = fc.oneof(
  fc.tuple(u8Arb, fc.boolean()).map(([t, n]) => step(notName(n, 'icmpV6Type'), [t], `-m icmp6 ${neg(n)}--icmpv6-type ${t}`)),
  fc.tuple(u8Arb, u8Arb, fc.boolean()).map(([t, c, n]) =>
    step(notName(n, 'icmpV6TypeAndCode'), [t, c], `-m icmp6 ${neg(n)}--icmpv6-type ${t}/${c}`),
  ),
);
const protocolStepArb: fc.Arbitrary<MatchStep> = fc.oneof(
  fc.constantFrom('tcp', 'udp', 'icmp', 'sctp', 'ipv6-icmp', 'icmpv6', 'udplite').map((p) => step('protocol', [p], `-p ${p}`)),
  fc.constantFrom('tcp', 'udp', 'icmp', 'sctp').map((p) => step('notProtocol', [p], `! -p ${p}`)),
  u8Arb.map((p) => step('protocolNum', [p], `-p ${p}`)),
  // `! -p 0` means "no protocol at all"; iptables refuses it ("rule would never match protocol").
  fc.integer({ min: 1, max: 255 }).map((p) => step('notProtocolNum', [p], `! -p ${p}`)),
);
const fixedStepArb: fc.Arbitrary<MatchStep> = fc.constantFrom(
  step('rpfCheckPassed', [], '-m rpfilter'),
  step('rpfCheckFailed', [], '-m rpfilter --invert'),
  step('rpfCheckPassed', [false], '-m rpfilter --validmark'),
  step('rpfCheckPassed', [true], '-m rpfilter --validmark --accept-local'),
  step('rpfCheckFailed', [false], '-m rpfilter --invert --validmark'),
  step('rpfCheckFailed', [true], '-m rpfilter --invert --validmark --accept-local'),
  step('ipvsConnection', [], '-m ipvs --ipvs'),
  step('notIpvsConnection', [], '-m ipvs ! --ipvs'),
);

/** Any single valid match step, any method of SPEC section 2. */
export const matchStepArb: fc.Arbitrary<MatchStep> = fc.oneof(
  markStepArb,
  interfaceStepArb,
  addrTypeStepArb,
  conntrackStepArb,
  protocolStepArb,
  netStepArb(fc.oneof(cidr4Arb, cidr6Arb)),
  ipSetStepArb(ipSetNameArb),
  portStepArb,
  icmpStepArb,
  icmp6StepArb,
  fixedStepArb,
  notDestAddrTypeStepArb(addrTypeArb),
  limitStepArb,
  vxlanStepArb,
  portArb.map((p) => step('destPort', [p], `--dport ${p}`)),
);
export const matchStepsArb = (maxLength = 6): fc.Arbitrary<MatchStep[]> => fc.array(matchStepArb, { maxLength });

// iptables' protocol dependencies, as measured on both backends (test/faults-input.test.ts):
// one -p per rule; multiport needs a non-negated -p with ports before it; the icmp and icmp6
// matches need their own non-negated -p anywhere in the rule.
type Needs = 'ports' | 'icmp' | 'icmp6';
const SATISFIES: Record<Needs, readonly string[]> = {
  ports: ['tcp', 'udp', 'udplite', 'sctp', 'dccp', '6', '17', '136', '132', '33'],
  icmp: ['icmp', '1'],
  icmp6: ['ipv6-icmp', 'icmpv6', '58'],
};
const PROTOCOL_STEP_FOR: Record<Needs, string> = { ports: 'tcp', icmp: 'icmp', icmp6: 'ipv6-icmp' };
const isProtocolStep = (s: MatchStep): boolean => /^(not)?[pP]rotocol(Num)?$/.test(s.method);
function needsOf(s: MatchStep): Needs | undefined {
  if (/Port(Range)?s$/.test(s.method)) return 'ports';
  if (/[iI]cmpV6Type/.test(s.method)) return 'icmp6';
  if (/[iI]cmpType/.test(s.method)) return 'icmp';
  return undefined;
}

/** The steps made to meet the protocol dependencies: later protocols and dependents of a
 *  second kind dropped, a fitting protocol put first when the one there does not fit, and a
 *  destPort after a multiport step dropped (iptables reads it as multiport's --dports). */
export function withProtocolDependencies(steps: readonly MatchStep[]): MatchStep[] {
  return withoutDestPortAfterMultiport(meetProtocolDependencies(steps));
}

/** The steps without a destPort that follows a multiport step (the builder refuses that order). */
export function withoutDestPortAfterMultiport(steps: readonly MatchStep[]): MatchStep[] {
  let multiportSeen = false;
  return steps.filter((s) => {
    if (s.method === 'destPort') return !multiportSeen;
    if (s.fragment.includes('-m multiport ')) multiportSeen = true;
    return true;
  });
}

function meetProtocolDependencies(steps: readonly MatchStep[]): MatchStep[] {
  let protocolSeen = false;
  const oneProtocol = steps.filter((s) => !isProtocolStep(s) || (!protocolSeen && (protocolSeen = true)));
  const need = oneProtocol.map(needsOf).find((n) => n !== undefined);
  if (need === undefined) return oneProtocol;
  const kept = oneProtocol.filter((s) => needsOf(s) === undefined || needsOf(s) === need);
  const protocol = kept.find(isProtocolStep);
  const rest = kept.filter((s) => s !== protocol);
  const fits = protocol !== undefined && !protocol.method.startsWith('not') && SATISFIES[need].includes(String(protocol.args[0]).toLowerCase());
  if (fits && need !== 'ports') return kept;
  const p = PROTOCOL_STEP_FOR[need];
  return [fits ? (protocol as MatchStep) : step('protocol', [p], `-p ${p}`), ...rest];
}

// ------------------------------------------------------------------------------------------
// Actions.

export interface ActionSpec {
  readonly kind: string;
  readonly fields: Record<string, unknown>;
  readonly fragment: string;
}

/** Every action class src/actions.ts exports, by class name: read from the module, so a new
 *  action is covered without a second list here. */
export const ACTION_CLASSES: Readonly<Record<string, new (fields: never) => Action>> = Object.fromEntries(
  Object.entries(actionModule).filter(([name, value]) => name.endsWith('Action') && typeof value === 'function'),
) as Record<string, new (fields: never) => Action>;
export function buildAction(spec: ActionSpec): Action {
  const cls = ACTION_CLASSES[spec.kind];
  if (!cls) throw new Error(`no action ${spec.kind}`);
  return new cls(spec.fields as never);
}

const act = (kind: string, fields: Record<string, unknown>, fragment: string): ActionSpec => ({ kind, fields, fragment });

export const dnatFragment = (addr: string, port: number): string =>
  port === 0 ? `--jump DNAT --to-destination ${addr}` : `--jump DNAT --to-destination ${addr.includes(':') ? `[${addr}]` : addr}:${port}`;

const simpleActionArb = (targets: fc.Arbitrary<string>): fc.Arbitrary<ActionSpec> =>
  fc.oneof(
    fc.constant(act('AcceptAction', {}, '--jump ACCEPT')),
    fc.constant(act('DropAction', {}, '--jump DROP')),
    fc.constant(act('ReturnAction', {}, '--jump RETURN')),
    targets.map((t) => act('JumpAction', { target: t }, `--jump ${t}`)),
    targets.map((t) => act('GotoAction', { target: t }, `--goto ${t}`)),
    logPrefixArb.map((p) => act('LogAction', { prefix: p }, `--jump LOG --log-prefix "${p}: " --log-level 5`)),
  );

/** Any of the thirteen actions with valid fields. */
export const actionArb: fc.Arbitrary<ActionSpec> = fc.oneof(
  simpleActionArb(chainNameArb),
  fc.constant(act('NoTrackAction', {}, '--jump NOTRACK')),
  fc.tuple(fc.oneof(ipv4Arb, ipv6Arb), fc.oneof(fc.constantFrom(0, 1, 65535), portArb)).map(([a, p]) =>
    act('DNATAction', { destAddr: a, destPort: p }, dnatFragment(a, p)),
  ),
  ipv4Arb.map((a) => act('DNATAction', { destAddr: a }, `--jump DNAT --to-destination ${a}`)),
  fc.oneof(ipv4Arb, ipv6Arb).map((a) => act('SNATAction', { toAddr: a }, `--jump SNAT --to-source ${a}`)),
  fc.constant(act('MasqAction', {}, '--jump MASQUERADE')),
  fc.tuple(portArb, portArb).map(([a, b]) => {
    const ports = a === b ? `${a}` : `${Math.min(a, b)}-${Math.max(a, b)}`;
    return act('MasqAction', { toPorts: ports }, `--jump MASQUERADE --to-ports ${ports}`);
  }),
  nonZeroU32Arb.map((m) => act('ClearMarkAction', { mark: m }, `--jump MARK --set-mark 0/${refHex(m)}`)),
  nonZeroU32Arb.map((m) => act('SetMarkAction', { mark: m }, `--jump MARK --set-mark ${refHex(m)}/${refHex(m)}`)),
  markAndMaskArb.map(({ mark, mask }) =>
    act('SetMaskedMarkAction', { mark, mask }, `--jump MARK --set-mark ${refHex(mark)}/${refHex(mask)}`),
  ),
  fc.constant(act('DSCPAction', { value: 46 }, '--jump DSCP --set-dscp 46')),
  newFilterActionArb(4).filter((a) => a.kind !== 'RejectAction' || a.fields.with === 'port-unreach' || a.fields.with === undefined),
);

/** Latest Felix's actions that load in a filter chain of the family: REJECT (types needing no
 *  tcp match), CONNMARK, NFLOG (no features: --nflog-range), rate limit. */
export function newFilterActionArb(family: 4 | 6): fc.Arbitrary<ActionSpec> {
  const types = family === 4 ? ['icmp-net-unreachable', 'icmp-host-prohibited', 'admin-prohib', 'port-unreach'] : ['icmp6-no-route', 'adm-prohibited', 'port-unreach', 'reject-route'];
  return fc.oneof(
    fc.constant(act('RejectAction', {}, '--jump REJECT')),
    fc.constantFrom(...types).map((w) => act('RejectAction', { with: w }, `--jump REJECT --reject-with ${w}`)),
    markAndMaskArb.map(({ mark, mask }) => act('SetConnMarkAction', { mark, mask }, `--jump CONNMARK --set-mark ${refHex(mark)}/${refHex(mask)}`)),
    fc.option(nonZeroU32Arb, { nil: undefined }).map((m) =>
      act('SaveConnMarkAction', m === undefined ? {} : { saveMask: m }, `--jump CONNMARK --save-mark --mask ${refHex(m ?? 0xffffffff)}`),
    ),
    nonZeroU32Arb.map((m) => act('RestoreConnMarkAction', { restoreMask: m }, `--jump CONNMARK --restore-mark --mask ${refHex(m)}`)),
    fc
      .tuple(fc.integer({ min: 0, max: 65535 }), stringFrom(`${ALNUM}|/._-`, 1, 63), fc.constantFrom(undefined, -1, 1, 80, 0xffff))
      .map(([group, prefix, size]) =>
        act(
          'NflogAction',
          size === undefined ? { group, prefix } : { group, prefix, size },
          `--jump NFLOG --nflog-group ${group} --nflog-prefix ${prefix}${size === -1 ? '' : ` --nflog-range ${size ?? 80}`}`,
        ),
      ),
    fc
      .tuple(fc.integer({ min: 1, max: 10000 }), fc.integer({ min: 1, max: 10000 }), nonZeroU32Arb)
      .map(([rate, burst, mark]) =>
        act('LimitPacketRateAction', { rate, burst, mark }, `-m limit --limit ${rate}/sec --limit-burst ${burst} --jump MARK --set-mark ${refHex(mark)}/${refHex(mark)}`),
      ),
  );
}

// ------------------------------------------------------------------------------------------
// Rules and chains.

export interface RuleCase {
  readonly steps: readonly MatchStep[];
  readonly action: ActionSpec;
  readonly comment: string | undefined;
}

/** The plain-object rule (RuleSpec shape) for a case. */
export function buildRuleSpec(c: RuleCase): { match: MatchCriteria; action: Action; comment?: string } {
  const spec: { match: MatchCriteria; action: Action; comment?: string } = { match: buildMatch(c.steps), action: buildAction(c.action) };
  if (c.comment !== undefined) spec.comment = c.comment;
  return spec;
}
export const buildRule = (c: RuleCase): Rule => new Rule(buildRuleSpec(c));
/** What renderAppend(chain, prefix) must give for a case, per SPEC section 2. */
export const expectedAppend = (chain: string, prefix: string, c: RuleCase): string =>
  refRuleLine(`-A ${chain}`, prefix, c.comment, expectedMatch(c.steps), c.action.fragment);

/** Any valid rule. */
export function validRuleArb(opts: { maxMatches?: number } = {}): fc.Arbitrary<RuleCase> {
  return fc.record({
    steps: matchStepsArb(opts.maxMatches ?? 6).map(withProtocolDependencies),
    action: actionArb,
    comment: fc.option(commentArb, { nil: undefined }),
  });
}

export interface ChainCase {
  readonly name: string;
  readonly rules: readonly RuleCase[];
}
export function validChainArb(opts: { maxRules?: number; maxMatches?: number } = {}): fc.Arbitrary<ChainCase> {
  return fc.record({
    name: chainNameArb,
    rules: fc.array(validRuleArb(opts), { maxLength: opts.maxRules ?? 8 }),
  });
}
/** Several chains with distinct names (for Table tests). */
export function validChainsArb(opts: { maxChains?: number; maxRules?: number; maxMatches?: number } = {}): fc.Arbitrary<ChainCase[]> {
  return fc.uniqueArray(validChainArb(opts), { maxLength: opts.maxChains ?? 5, selector: (c) => c.name });
}
export const buildChainSpec = (c: ChainCase) => ({ name: c.name, rules: c.rules.map(buildRuleSpec) });

// ------------------------------------------------------------------------------------------
// Kernel-loadable rules (filter table, unreferenced user chain).

export interface KernelRuleOptions {
  /** 4 (iptables) or 6 (ip6tables). */
  readonly family: 4 | 6;
  /** Existing ipsets of the family, plain (hash:ip / hash:net) ones. */
  readonly ipSets?: readonly string[];
  /** Existing ipsets of type hash:ip,port (for the …IpPortSet matches). */
  readonly ipPortSets?: readonly string[];
  /** Chains that exist in the same table, for Jump/Goto. */
  readonly targets?: readonly string[];
}

export function kernelRuleArb(o: KernelRuleOptions): fc.Arbitrary<RuleCase> {
  const icmp = o.family === 4 ? icmpStepArb : icmp6StepArb;
  const icmpProto = o.family === 4 ? 'icmp' : 'ipv6-icmp';
  // At most one -p per rule; port and icmp matches only after the protocol they need.
  const protoGroup: fc.Arbitrary<MatchStep[]> = fc.oneof(
    fc.constant([]),
    // destPort (`--dport`, the protocol's own match) at most once, before any multiport: after
    // one, iptables reads `--dport` as multiport's `--dports` (an abbreviation) and refuses it.
    fc
      .tuple(fc.constantFrom('tcp', 'udp'), fc.option(portArb, { nil: undefined }), fc.array(portStepArb, { maxLength: 2 }))
      .map(([p, dport, ports]) => [step('protocol', [p], `-p ${p}`), ...(dport === undefined ? [] : [step('destPort', [dport], `--dport ${dport}`)]), ...ports]),
    fc.array(icmp, { maxLength: 2 }).map((is) => [step('protocol', [icmpProto], `-p ${icmpProto}`), ...is]),
    fc.integer({ min: 1, max: 255 }).map((p) => [step('notProtocolNum', [p], `! -p ${p}`)]),
    fc.integer({ min: 0, max: 255 }).map((p) => [step('protocolNum', [p], `-p ${p}`)]),
  );
  const sets: fc.Arbitrary<MatchStep>[] = [];
  if (o.ipSets && o.ipSets.length > 0) sets.push(ipSetStepArb(fc.constantFrom(...o.ipSets), [IPSET_KINDS[0], IPSET_KINDS[2]]));
  if (o.ipPortSets && o.ipPortSets.length > 0) sets.push(ipSetStepArb(fc.constantFrom(...o.ipPortSets), [IPSET_KINDS[1], IPSET_KINDS[3]]));
  // Matches that may repeat (each -m is its own match instance).
  const addrTypes = o.family === 4 ? addrTypeArb : fc.constantFrom(...ADDR_TYPES_V6);
  const repeatable = fc.array(
    fc.oneof(markStepArb, o.family === 4 ? addrTypeStepArb : addrTypeStepArb6, notDestAddrTypeStepArb(addrTypes), conntrackStepArb, limitStepArb, vxlanStepArb, ...sets),
    { maxLength: 3 },
  );
  // Options iptables allows once per rule.
  const once = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const net = o.family === 4 ? cidr4Arb : cidr6Arb;
  const targets = o.targets && o.targets.length > 0 ? fc.constantFrom(...o.targets) : undefined;
  const basic: fc.Arbitrary<ActionSpec> = targets
    ? simpleActionArb(targets)
    : fc.constantFrom(act('AcceptAction', {}, '--jump ACCEPT'), act('DropAction', {}, '--jump DROP'), act('ReturnAction', {}, '--jump RETURN'));
  const action = fc.oneof({ arbitrary: basic, weight: 3 }, { arbitrary: newFilterActionArb(o.family), weight: 1 });
  return fc
    .record({
      proto: protoGroup,
      repeated: repeatable,
      inIf: once(interfaceArb.map((i) => step('inInterface', [i], `--in-interface ${i}`))),
      outIf: once(interfaceArb.map((i) => step('outInterface', [i], `--out-interface ${i}`))),
      src: once(netStepArb(net).filter((st) => st.method.endsWith('ourceNet'))),
      dst: once(netStepArb(net).filter((st) => st.method.endsWith('estNet'))),
      action,
      comment: fc.option(commentArb, { nil: undefined }),
    })
    .map((r) => ({
      steps: [
        ...[r.inIf, r.outIf, r.src, r.dst].filter((s): s is MatchStep => s !== undefined),
        ...r.proto,
        ...r.repeated,
      ],
      action: r.action,
      comment: r.comment,
    }));
}

export function kernelChainArb(name: string, o: KernelRuleOptions & { maxRules?: number }): fc.Arbitrary<ChainCase> {
  return fc.array(kernelRuleArb(o), { minLength: 1, maxLength: o.maxRules ?? 20 }).map((rules) => ({ name, rules }));
}

// ------------------------------------------------------------------------------------------
// Invalid inputs, one generator per class of SPEC section 6.

export interface InvalidCase {
  /** The SPEC section 6 class this case belongs to. */
  readonly kind: string;
  /** The offending value; the error message must name it. */
  readonly bad: unknown;
  /** Calls the API with the bad value; must throw InvalidRuleError. */
  readonly run: () => unknown;
}

/** How a bad value must appear in the message: strings JSON-quoted (so controls show), numbers in decimal. */
export function badValueText(bad: unknown): string {
  // Messages quote at most 200 characters of a value (so a 10 MB comment is not echoed).
  if (typeof bad === 'string' && bad.length > 200) return `${JSON.stringify(bad.slice(0, 200))}… (${bad.length} characters)`;
  return typeof bad === 'number' ? String(bad) : JSON.stringify(bad);
}

const inv = (kind: string, bad: unknown, run: () => unknown): InvalidCase => ({ kind, bad, run });

/** A string that would break out of its fragment: newline, CR, NUL, other controls, quotes. */
const breakoutArb = (base: fc.Arbitrary<string>, extra: readonly string[] = []): fc.Arbitrary<string> =>
  fc
    .tuple(base, fc.constantFrom('\n', '\r', '\0', '\t', '"', '\u0085', '\u007f', '\u001b', ...extra), fc.nat())
    .map(([s, bad, at]) => {
      const i = s.length === 0 ? 0 : at % (s.length + 1);
      return s.slice(0, i) + bad + s.slice(i);
    });

const tooLongChainArb = fc.oneof(
  stringFrom(ALNUM, 29, 40),
  fc.integer({ min: 15, max: 20 }).map((n) => 'ä'.repeat(n)), // 30+ bytes, 15+ characters
);
const outside32Arb = fc.oneof(
  fc.constantFrom(-1, 0x100000000, 2 ** 53, -(2 ** 31), 0.5, 1.5, 0xffffffff + 0.5),
  fc.integer({ min: 1, max: 2 ** 40 }).map((n) => 0xffffffff + n),
  fc.integer({ min: -(2 ** 40), max: -1 }),
  fc.double({ min: 0, max: 0xffffffff, noNaN: true }).filter((d) => !Number.isInteger(d)),
);
const badPortArb = fc.oneof(
  fc.constantFrom(-1, 65536, 70000, 1.5, 0x100000000),
  fc.integer({ min: 65536, max: 2 ** 31 }),
  fc.integer({ min: -(2 ** 31), max: -1 }),
);
const badU8Arb = fc.oneof(fc.constantFrom(-1, 256, 1000, 2.5), fc.integer({ min: 256, max: 2 ** 31 }), fc.integer({ min: -1000, max: -1 }));
const multiBitArb = fc.tuple(fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 31 })).filter(([a, b]) => a !== b).map(([a, b]) => (2 ** a + 2 ** b) >>> 0);

/** One invalid input of each SPEC section 6 class. */
export const invalidInputArb: fc.Arbitrary<InvalidCase> = fc.oneof(
  // Chain names.
  tooLongChainArb.map((n) => inv('chain name too long', n, () => new JumpAction({ target: n }))),
  tooLongChainArb.map((n) => inv('chain name too long', n, () => new Rule({ action: new DropAction() }).renderAppend(n, ''))),
  breakoutArb(chainNameArb, [' ', "'", '\u00a0']).map((n) => inv('chain name breakout', n, () => new GotoAction({ target: n }))),
  breakoutArb(chainNameArb, [' ', "'"]).map((n) => inv('chain name breakout', n, () => new Rule({ action: new DropAction() }).renderInsert(n, ''))),
  // Marks and masks.
  outside32Arb.map((m) => inv('mark outside 32 bits', m, () => Match().markMatchesWithMask(m, 0xffffffff))),
  outside32Arb.map((k) => inv('mask outside 32 bits', k, () => Match().notMarkMatchesWithMask(0, k))),
  outside32Arb.map((m) => inv('mark outside 32 bits', m, () => Match().markClear(m))),
  outside32Arb.map((m) => inv('mark outside 32 bits', m, () => Match().markNotClear(m))),
  outside32Arb.map((m) => inv('mark outside 32 bits', m, () => new SetMarkAction({ mark: m }))),
  outside32Arb.map((m) => inv('mark outside 32 bits', m, () => new ClearMarkAction({ mark: m }))),
  outside32Arb.map((m) => inv('mask outside 32 bits', m, () => new SetMaskedMarkAction({ mark: 0, mask: m }))),
  u32Arb.map((m) => inv('mask 0', 0, () => Match().markMatchesWithMask(m, 0))),
  fc.constant(inv('mask 0', 0, () => new SetMaskedMarkAction({ mark: 0, mask: 0 }))),
  fc
    .tuple(nonZeroU32Arb, nonZeroU32Arb)
    .filter(([m, k]) => (m & ~k) >>> 0 !== 0)
    .chain(([m, k]) =>
      fc.constantFrom(
        inv('mark not subset of mask', m, () => Match().markMatchesWithMask(m, k)),
        inv('mark not subset of mask', m, () => Match().notMarkMatchesWithMask(m, k)),
        inv('mark not subset of mask', m, () => new SetMaskedMarkAction({ mark: m, mask: k })),
      ),
    ),
  fc.constant(inv('single bit: zero bits', 0, () => Match().markSingleBitSet(0))),
  multiBitArb.map((m) => inv('single bit: 2+ bits', m, () => Match().markSingleBitSet(m))),
  fc.constant(inv('ClearMark 0', 0, () => new ClearMarkAction({ mark: 0 }))),
  fc.constant(inv('SetMark 0', 0, () => new SetMarkAction({ mark: 0 }))),
  // Ports.
  badPortArb.map((p) => inv('port outside 0-65535', p, () => Match().destPorts(80, p))),
  badPortArb.map((p) => inv('port outside 0-65535', p, () => Match().notSourcePorts(p))),
  badPortArb.map((p) => inv('port outside 0-65535', p, () => Match().sourcePortRanges([{ first: 0, last: p }]))),
  badPortArb.map((p) => inv('port outside 0-65535', p, () => new DNATAction({ destAddr: '10.0.0.1', destPort: p }))),
  fc.constant(inv('empty port list', [], () => Match().sourcePorts())),
  fc.constant(inv('empty port list', [], () => Match().notDestPorts())),
  fc.constant(inv('empty range list', [], () => Match().destPortRanges([]))),
  fc
    .tuple(portArb, portArb)
    .filter(([a, b]) => a !== b)
    .map(([a, b]) => {
      const r = { first: Math.max(a, b), last: Math.min(a, b) };
      return inv('range first > last', r, () => Match().notDestPortRanges([r]));
    }),
  // Protocol and ICMP numbers.
  badU8Arb.map((n) => inv('protocol number outside 0-255', n, () => Match().protocolNum(n))),
  badU8Arb.map((n) => inv('protocol number outside 0-255', n, () => Match().notProtocolNum(n))),
  fc.constantFrom<[unknown, () => unknown]>(
    [0, () => Match().notProtocolNum(0)],
    ['all', () => Match().notProtocol('all')],
    ['0', () => Match().notProtocol('0')],
  ).map(([bad, run]) => inv('negated protocol 0/all', bad, run)),
  fc
    .tuple(fc.oneof(ipv4Arb, ipv6Arb), fc.constantFrom('/0', '/00'), fc.boolean())
    .map(([a, z, dest]) => inv('negated /0 net', a + z, () => (dest ? Match().notDestNet(a + z) : Match().notSourceNet(a + z)))),
  fc.integer({ min: 8, max: 12 }).map((n) => inv('interface too long', 'ä'.repeat(n), () => Match().outInterface('ä'.repeat(n)))),
  fc.integer({ min: 16, max: 20 }).map((n) => inv('ipset name too long', 'ä'.repeat(n), () => Match().sourceIpPortSet('ä'.repeat(n)))),
  badU8Arb.map((n) => inv('ICMP type outside 0-255', n, () => Match().icmpType(n))),
  badU8Arb.map((n) => inv('ICMP code outside 0-255', n, () => Match().icmpTypeAndCode(0, n))),
  badU8Arb.map((n) => inv('ICMPv6 type outside 0-255', n, () => Match().notIcmpV6Type(n))),
  badU8Arb.map((n) => inv('ICMPv6 code outside 0-255', n, () => Match().icmpV6TypeAndCode(n, 0))),
  // Protocol dependencies (checked when the Rule is built; the bad value is the criterion).
  portsArb.map((ports) =>
    inv('ports without a protocol with ports', `-m multiport --destination-ports ${refPorts(ports)}`, () => new Rule({ match: Match().destPorts(...ports), action: new AcceptAction() })),
  ),
  fc.constantFrom('icmp', 'all', 'gre').map((p) =>
    inv('ports without a protocol with ports', '-m multiport --source-ports 53', () => new Rule({ match: Match().protocol(p).sourcePorts(53), action: new AcceptAction() })),
  ),
  fc.constantFrom('tcp', 'udp').map((p) =>
    inv('ports before their protocol', '-m multiport --destination-ports 80', () => new Rule({ match: Match().destPorts(80).protocol(p), action: new AcceptAction() })),
  ),
  fc.tuple(u8Arb, fc.constantFrom('tcp', 'ipv6-icmp')).map(([t, p]) =>
    inv('icmp without -p icmp', `-m icmp --icmp-type ${t}`, () => new Rule({ match: Match().protocol(p).icmpType(t), action: new AcceptAction() })),
  ),
  u8Arb.map((t) => inv('icmp without -p icmp', `-m icmp6 ! --icmpv6-type ${t}`, () => new Rule({ match: Match().notIcmpV6Type(t), action: new AcceptAction() }))),
  fc.constantFrom('icmp', 'ipv6-icmp').map((p) =>
    inv('negated protocol of icmp', `-m ${p === 'icmp' ? 'icmp --icmp-type 0' : 'icmp6 --icmpv6-type 0'}`, () =>
      new Rule({ match: p === 'icmp' ? Match().notProtocol(p).icmpType(0) : Match().notProtocol(p).icmpV6Type(0), action: new AcceptAction() }),
    ),
  ),
  fc.tuple(u8Arb, fc.integer({ min: 1, max: 255 })).map(([a, b]) => inv('two protocols', `! -p ${b}`, () => new Rule({ match: Match().protocolNum(a).notProtocolNum(b), action: new DropAction() }))),
  // Strings that would break out of their fragment.
  breakoutArb(interfaceArb.filter((i) => i.length < 15), [' ']).map((s) => inv('interface breakout', s, () => Match().inInterface(s))),
  breakoutArb(ipSetNameArb.filter((s) => s.length < 31), [' ']).map((s) => inv('ipset breakout', s, () => Match().destIpSet(s))),
  breakoutArb(commentArb.filter((c) => byteLength(c) < 255)).map((s) => inv('comment breakout', s, () => new Rule({ action: new AcceptAction(), comment: s }))),
  breakoutArb(logPrefixArb.filter((c) => byteLength(c) < 27)).map((s) => inv('log prefix breakout', s, () => new LogAction({ prefix: s }))),
  breakoutArb(ipv4Arb, [' ']).map((s) => inv('address breakout', s, () => Match().sourceNet(s))),
  breakoutArb(ipv4Arb, [' ']).map((s) => inv('address breakout', s, () => new SNATAction({ toAddr: s }))),
  breakoutArb(ipv6Arb, [' ']).map((s) => inv('address breakout', s, () => new DNATAction({ destAddr: s, destPort: 80 }))),
  breakoutArb(chainNameArb.filter((n) => n.length < 28), [' ']).map((s) => inv('target breakout', s, () => new JumpAction({ target: s }))),
  // Comments over 255 bytes (iptables silently truncates them, which would change the rule).
  fc.integer({ min: 256, max: 400 }).map((n) => inv('comment too long', 'x'.repeat(n), () => new Rule({ action: new DropAction(), comment: 'x'.repeat(n) }))),
  fc.integer({ min: 128, max: 200 }).map((n) => inv('comment too long', 'é'.repeat(n), () => new Rule({ action: new DropAction(), comment: 'é'.repeat(n) }))),
);
