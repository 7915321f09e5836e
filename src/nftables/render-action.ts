// Actions (the fragments the action classes of src/actions.ts render) to nft statements. See
// render.ts. Each fragment is matched whole against the exact form its class writes.
import { isIP } from 'node:net';
import type { InvalidRuleError } from '../errors';
import type { TableName } from '../table-names';
import { hex } from '../validate';
import { NFT_MAX_LOG_PREFIX_BYTES, nftName, nftQuoted } from './nft-names';
import type { NftFamily, NftRenderContext } from './render-context';
import { limitStatement, portHeader, protocolStatement, refuse, type NftProtocol } from './render-match';

/** nft's names of the REJECT types, per family (iptables' names and aliases as keys). */
const REJECT_V4: Readonly<Record<string, string>> = {
  'icmp-net-unreachable': 'net-unreachable', 'net-unreach': 'net-unreachable',
  'icmp-host-unreachable': 'host-unreachable', 'host-unreach': 'host-unreachable',
  'icmp-proto-unreachable': 'prot-unreachable', 'proto-unreach': 'prot-unreachable',
  'icmp-port-unreachable': 'port-unreachable', 'port-unreach': 'port-unreachable',
  'icmp-net-prohibited': 'net-prohibited', 'net-prohib': 'net-prohibited',
  'icmp-host-prohibited': 'host-prohibited', 'host-prohib': 'host-prohibited',
  'icmp-admin-prohibited': 'admin-prohibited', 'admin-prohib': 'admin-prohibited',
};
const REJECT_V6: Readonly<Record<string, string>> = {
  'icmp6-no-route': 'no-route', 'no-route': 'no-route',
  'icmp6-adm-prohibited': 'admin-prohibited', 'adm-prohibited': 'admin-prohibited',
  'icmp6-addr-unreachable': 'addr-unreachable', 'addr-unreach': 'addr-unreachable',
  'icmp6-port-unreachable': 'port-unreachable', 'port-unreach': 'port-unreachable',
  'icmp6-policy-fail': 'policy-fail', 'policy-fail': 'policy-fail',
  'icmp6-reject-route': 'reject-route', 'reject-route': 'reject-route',
};

/** iptables target extensions: a `--jump` to one of these names is that target, never a chain. */
const TARGET_NAMES: ReadonlySet<string> = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'QUEUE', 'NFQUEUE', 'LOG', 'NFLOG', 'ULOG', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'NETMAP',
  'MARK', 'CONNMARK', 'CONNSECMARK', 'SECMARK', 'DSCP', 'TOS', 'TTL', 'HL', 'ECN', 'NOTRACK', 'CT', 'TRACE', 'TPROXY', 'TCPMSS',
  'TCPOPTSTRIP', 'CLASSIFY', 'TEE', 'AUDIT', 'SET', 'CHECKSUM', 'IDLETIMER', 'LED', 'RATEEST', 'SYNPROXY', 'HMARK', 'CLUSTERIP',
]);

/** Where each table-bound action may go, as iptables decides it (and nftables needs a nat chain for NAT). */
const ACTION_TABLES: Readonly<Record<string, { readonly table: TableName; readonly action: string }>> = {
  DNAT: { table: 'nat', action: 'DNATAction' },
  SNAT: { table: 'nat', action: 'SNATAction' },
  MASQUERADE: { table: 'nat', action: 'MasqAction' },
  NOTRACK: { table: 'raw', action: 'NoTrackAction' },
  DSCP: { table: 'mangle', action: 'DSCPAction' },
  REJECT: { table: 'filter', action: 'RejectAction' },
};

type ActionRenderer = (m: RegExpExecArray, protocol: NftProtocol | undefined, ctx: NftRenderContext, fragment: string) => string[];

const H = '(0|0x[0-9a-f]{1,8})';
const FULL = 0xffffffff;

/** `<key> set …` for iptables' masked writes: new = (old & ~mask) ^ value, value within mask. */
function maskedSet(key: string, value: number, mask: number): string {
  if (mask === FULL) return `${key} set ${hex(value)}`;
  const keep = (~mask & FULL) >>> 0;
  if (value === 0) return `${key} set ${key} & ${hex(keep)}`;
  if (value === mask) return `${key} set ${key} | ${hex(mask)}`;
  return `${key} set ${key} & ${hex(keep)} | ${hex(value)}`;
}

function familyOf(address: string): NftFamily | undefined {
  const v = isIP(address);
  return v === 4 ? 'ip' : v === 6 ? 'ip6' : undefined;
}

function rejectStatement(type: string | undefined, where: string, ctx: NftRenderContext, fragment: string): string {
  if (type === undefined) return 'reject';
  if (type === 'tcp-reset' || type === 'tcp-rst') return 'reject with tcp reset';
  const name = (ctx.family === 'ip' ? REJECT_V4 : REJECT_V6)[type];
  if (name === undefined) throw refuse(where, fragment, `reject type ${type} is not one of the ${ctx.family} table's (IPv${ctx.family === 'ip' ? 4 : 6})`);
  return `reject with ${ctx.family === 'ip' ? 'icmp' : 'icmpv6'} type ${name}`;
}

/** The decimal text when it is at most `max`; anything else is no fragment of the action classes. */
function upTo(text: string | undefined, max: number, fragment: string): string {
  if (text === undefined || Number(text) > max) throw unknownAction(fragment);
  return text;
}

function unknownAction(fragment: string): InvalidRuleError {
  return refuse('Rule.action', fragment, 'not an action of this library that the nftables renderer knows');
}

/** A NAT port (or range) needs the rule to match a protocol with ports, as iptables requires. */
function needsPortProtocol(protocol: NftProtocol | undefined, where: string, fragment: string): void {
  if (portHeader(protocol) === undefined) throw refuse(where, fragment, 'a port needs a protocol with ports (tcp, udp, udplite, sctp or dccp) in the match');
}

/** The verdicts; NOTRACK is left to the table check below. */
const VERDICTS: ReadonlyMap<string, string> = new Map([['--jump ACCEPT', 'accept'], ['--jump DROP', 'drop'], ['--jump RETURN', 'return']]);

const ACTIONS: readonly (readonly [RegExp, ActionRenderer])[] = [
  [/^--jump NOTRACK$/, () => ['notrack']],
  [/^--jump LOG --log-prefix "([^"]*)" --log-level 5$/, (m) => [`log prefix ${nftQuoted('LogAction.prefix', m[1], 'log prefix', NFT_MAX_LOG_PREFIX_BYTES)} level notice`]],
  [
    /^--jump DNAT --to-destination (\S+)$/,
    (m, protocol, ctx, fragment) => {
      // "address", "v4:port" or "[v6]:port"
      const to = m[1] as string;
      const bracketed = /^\[(.+)\]:(\d{1,5})$/.exec(to);
      const withPort = bracketed ?? (isIP(to) === 0 ? /^(.+):(\d{1,5})$/.exec(to) : null);
      const address = withPort ? (withPort[1] as string) : to;
      if (familyOf(address) !== ctx.family) throw refuse('DNATAction.destAddr', fragment, `the address does not fit the ${ctx.family} table`);
      if (!withPort) return [`dnat to ${address}`];
      needsPortProtocol(protocol, 'DNATAction.destPort', fragment);
      return [`dnat to ${ctx.family === 'ip6' ? `[${address}]` : address}:${upTo(withPort[2], 65535, fragment)}`];
    },
  ],
  [
    /^--jump SNAT --to-source ([0-9A-Fa-f:.]+(?:-[0-9A-Fa-f:.]+)?)( --random-fully)?$/,
    (m, _p, ctx, fragment) => {
      if (!(m[1] as string).split('-').every((a) => familyOf(a) === ctx.family)) {
        throw refuse('SNATAction.toAddr', fragment, `the address does not fit the ${ctx.family} table`);
      }
      return [`snat to ${m[1] as string}${m[2] ? ' fully-random' : ''}`];
    },
  ],
  [
    /^--jump MASQUERADE(?: --to-ports (\d{1,5}(?:-\d{1,5})?))?( --random-fully)?$/,
    (m, protocol, _c, fragment) => {
      if (m[1] !== undefined) {
        for (const p of m[1].split('-')) upTo(p, 65535, fragment);
        needsPortProtocol(protocol, 'MasqAction.toPorts', fragment);
      }
      return [`masquerade${m[1] === undefined ? '' : ` to :${m[1]}`}${m[2] ? ' fully-random' : ''}`];
    },
  ],
  [/^--jump REJECT(?: --reject-with ([a-z0-9-]+))?$/, (m, _p, ctx, fragment) => [rejectStatement(m[1], 'RejectAction.with', ctx, fragment)]],
  [new RegExp(`^--jump MARK --set-mark ${H}/${H}$`), (m) => [maskedSet('meta mark', Number(m[1]), Number(m[2]))]],
  [new RegExp(`^--jump CONNMARK --set-mark ${H}/${H}$`), (m) => [maskedSet('ct mark', Number(m[1]), Number(m[2]))]],
  [
    new RegExp(`^--jump CONNMARK --(save|restore)-mark --mask ${H}$`),
    (m, _p, _c, fragment) => {
      const save = m[1] === 'save';
      if (Number(m[2]) !== FULL) {
        // (to & ~mask) | (from & mask) needs two registers in one expression, which nft 1.0 lacks.
        throw refuse(save ? 'SaveConnMarkAction.saveMask' : 'RestoreConnMarkAction.restoreMask', fragment, 'nftables can copy a whole mark between packet and connection, not the bits under a mask (the other bits would be lost)');
      }
      return [save ? 'ct mark set meta mark' : 'meta mark set ct mark'];
    },
  ],
  [
    /^--jump NFLOG --nflog-group (\d{1,5}) --nflog-prefix (\S+)(?: --nflog-(range|size) (\d{1,10}))?$/,
    // --nflog-range never reached the kernel (it ignores the field), so it has no nft form.
    (m, _p, _c, fragment) => {
      const group = upTo(m[1], 0xffff, fragment);
      const prefix = nftQuoted('NflogAction.prefix', m[2], 'NFLOG prefix', NFT_MAX_LOG_PREFIX_BYTES);
      return [`log group ${group} prefix ${prefix}${m[3] === 'size' ? ` snaplen ${upTo(m[4], FULL, fragment)}` : ''}`];
    },
  ],
  [
    new RegExp(`^-m limit --limit (\\d{1,5})/sec --limit-burst (\\d{1,5}) --jump MARK --set-mark ${H}/${H}$`),
    (m, _p, _c, fragment) => [limitStatement(upTo(m[1], 10000, fragment), 'second', upTo(m[2], 10000, fragment)), maskedSet('meta mark', Number(m[3]), Number(m[4]))],
  ],
  [
    /^-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above (\d{1,10}) --connlimit-mask 0 -j REJECT --reject-with ([a-z0-9-]+)$/,
    // connlimit over mask 0 counts every connection this rule saw: nft's per-rule `ct count`.
    (m, _p, ctx, fragment) => [
      protocolStatement(ctx.family, 6, false),
      'tcp flags & (fin|syn|rst|ack) == syn',
      `ct count over ${upTo(m[1], FULL, fragment)}`,
      rejectStatement(m[2], 'LimitNumConnectionsAction.rejectWith', ctx, fragment),
    ],
  ],
  [/^--jump DSCP --set-dscp (\d{1,2})$/, (m, _p, ctx, fragment) => [`${ctx.family} dscp set ${upTo(m[1], 63, fragment)}`]],
];

/** The target a fragment ends in (`--jump X`/`-j X`), for the table check. */
function targetOf(fragment: string): string | undefined {
  return /(?:^| )(?:--jump|-j) (\S+)/.exec(fragment)?.[1];
}

/** The nft text of an action fragment: any match expressions the action brings (a limit, TCP
 *  flags, a connection count), then the one statement it ends in, always last. `protocol` is
 *  the rule's protocol criterion. */
export function renderNftAction(fragment: string, protocol: NftProtocol | undefined, ctx: NftRenderContext): string[] {
  // The common cases first: a verdict, or a jump to a chain.
  const verdict = VERDICTS.get(fragment);
  if (verdict !== undefined) return [verdict];
  const jump = /^--(jump|goto) (\S+)$/.exec(fragment);
  if (jump && !TARGET_NAMES.has(jump[2] as string)) {
    const where = jump[1] === 'jump' ? 'JumpAction.target' : 'GotoAction.target';
    return [`${jump[1] as string} ${nftName(where, ctx.chainName(jump[2] as string))}`];
  }
  const target = targetOf(fragment);
  const bound = target === undefined ? undefined : ACTION_TABLES[target];
  if (bound !== undefined && bound.table !== ctx.table) {
    throw refuse(bound.action, fragment, `${target as string} belongs in the ${bound.table} table, as in iptables (this rule is for ${ctx.table})`);
  }
  for (const [pattern, render] of ACTIONS) {
    const m = pattern.exec(fragment);
    if (m) return render(m, protocol, ctx, fragment);
  }
  throw unknownAction(fragment);
}
