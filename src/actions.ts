// Rule actions (targets). Each is an immutable class built from an object of Felix's Go fields,
// validated in the constructor, with toFragment() giving the exact restore-input text.
//
// toFragment() without features gives Felix v3.2.2's text; with features (src/features.ts) the
// text of latest Felix on a host with those features (--random-fully, --nflog-size).
import type { IpVersion } from './backend';
import { InvalidRuleError } from './errors';
import type { Features } from './features';
import { chainName, hex, ipAddress, MAX_LOG_PREFIX_LENGTH, nonZeroMark, port, quotedText, uint, uint32, word } from './validate';

/** What a rule does with a packet it matches (its iptables target). Build one with the action
 *  classes; each validates its fields in the constructor and throws {@link InvalidRuleError}
 *  naming the field. Actions are immutable. */
export interface Action {
  /** The restore-input text; `features` (default: none) picks the host-dependent options. */
  toFragment(features?: Features): string;
  /** A short human-readable name, such as `Accept` or `Jump->ipts-in` (for logs). */
  toString(): string;
  /** The only IP version whose iptables knows this action as configured (absent: both). */
  readonly ipVersion?: IpVersion;
  /** The kernel takes this action only in a rule that matches `-p tcp` (REJECT with tcp-reset). */
  readonly needsTcpMatch?: boolean;
  /** The fragment starts with its own `-p tcp`, so the rule's match must not name a protocol. */
  readonly setsProtocol?: boolean;
}

abstract class FixedAction implements Action {
  protected abstract readonly fragment: string;
  toFragment(): string {
    return this.fragment;
  }
}

/** `--jump ACCEPT`: let the packet through. */
export class AcceptAction extends FixedAction {
  protected readonly fragment = '--jump ACCEPT';
  override toString(): string {
    return 'Accept';
  }
}

/** `--jump DROP`: discard the packet silently. */
export class DropAction extends FixedAction {
  protected readonly fragment = '--jump DROP';
  override toString(): string {
    return 'Drop';
  }
}

/** `--jump RETURN`: go back to the calling chain. */
export class ReturnAction extends FixedAction {
  protected readonly fragment = '--jump RETURN';
  override toString(): string {
    return 'Return';
  }
}

/** `--jump NOTRACK`: skip connection tracking (raw table). */
export class NoTrackAction extends FixedAction {
  protected readonly fragment = '--jump NOTRACK';
  override toString(): string {
    return 'NoTrack';
  }
}

/** `--jump <target>`: continue in chain `target`, coming back here at its end.
 *  @throws {@link InvalidRuleError} from the constructor for an invalid chain name. */
export class JumpAction implements Action {
  /** The chain to jump to. */
  readonly target: string;
  constructor(fields: { readonly target: string }) {
    this.target = chainName('JumpAction.target', fields?.target);
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump ${this.target}`;
  }
  toString(): string {
    return `Jump->${this.target}`;
  }
}

/** `--goto <target>`: continue in chain `target` without coming back.
 *  @throws {@link InvalidRuleError} from the constructor for an invalid chain name. */
export class GotoAction implements Action {
  /** The chain to go to. */
  readonly target: string;
  constructor(fields: { readonly target: string }) {
    this.target = chainName('GotoAction.target', fields?.target);
    Object.freeze(this);
  }
  toFragment(): string {
    return `--goto ${this.target}`;
  }
  toString(): string {
    return `Goto->${this.target}`;
  }
}

/** `--jump LOG --log-prefix "<prefix>: " --log-level 5`: log the packet and go on.
 *  @throws {@link InvalidRuleError} from the constructor for a prefix longer than 27 bytes or
 *  one with quotes, backslashes, `$`, backticks or control characters. */
export class LogAction implements Action {
  /** The log prefix, without the `: ` the fragment adds. */
  readonly prefix: string;
  constructor(fields: { readonly prefix: string }) {
    this.prefix = quotedText('LogAction.prefix', fields?.prefix, 'log prefix', MAX_LOG_PREFIX_LENGTH);
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump LOG --log-prefix "${this.prefix}: " --log-level 5`;
  }
  toString(): string {
    return 'Log';
  }
}

/** `--jump DNAT --to-destination <destAddr>[:<destPort>]`: rewrite the destination (nat
 *  table). An IPv6 address is bracketed before a port.
 *  @throws {@link InvalidRuleError} from the constructor for a bad address or port. */
export class DNATAction implements Action {
  /** The new destination address. */
  readonly destAddr: string;
  /** The new destination port; 0 (default) keeps the port. */
  readonly destPort: number;
  private readonly family: 4 | 6;
  constructor(fields: { readonly destAddr: string; readonly destPort?: number }) {
    this.family = ipAddress('DNATAction.destAddr', fields?.destAddr);
    this.destAddr = fields.destAddr;
    this.destPort = port('DNATAction.destPort', fields.destPort ?? 0);
    Object.freeze(this);
  }
  toFragment(): string {
    if (this.destPort === 0) return `--jump DNAT --to-destination ${this.destAddr}`;
    // An IPv6 address needs brackets before ":port" (Felix v3.2.2 omits them; iptables rejects that).
    const host = this.family === 6 ? `[${this.destAddr}]` : this.destAddr;
    return `--jump DNAT --to-destination ${host}:${this.destPort}`;
  }
  toString(): string {
    return `DNAT->${this.destAddr}:${this.destPort}`;
  }
}

/** Reject types of ip6tables' REJECT (names and aliases, as `ip6tables -j REJECT --help` lists). */
const REJECT_WITH_V6 = [
  'icmp6-no-route', 'no-route', 'icmp6-adm-prohibited', 'adm-prohibited', 'icmp6-addr-unreachable', 'addr-unreach',
  'icmp6-port-unreachable', 'port-unreach', 'tcp-reset', 'icmp6-policy-fail', 'policy-fail', 'icmp6-reject-route', 'reject-route',
] as const;
/** Reject types of iptables' REJECT (names and aliases, as `iptables -j REJECT --help` lists). */
const REJECT_WITH_V4 = [
  'icmp-net-unreachable', 'net-unreach', 'icmp-host-unreachable', 'host-unreach', 'icmp-proto-unreachable', 'proto-unreach',
  'icmp-port-unreachable', 'port-unreach', 'icmp-net-prohibited', 'net-prohib', 'icmp-host-prohibited', 'host-prohib',
  'tcp-reset', 'tcp-rst', 'icmp-admin-prohibited', 'admin-prohib',
] as const;
/** A `--reject-with` type of iptables or ip6tables, names and aliases; see {@link REJECT_WITH}. */
export type RejectWith = (typeof REJECT_WITH_V4)[number] | (typeof REJECT_WITH_V6)[number];
/** Every `--reject-with` value iptables or ip6tables knows, and which IP versions know it. */
export const REJECT_WITH: ReadonlyMap<RejectWith, readonly IpVersion[]> = new Map(
  [...new Set<RejectWith>([...REJECT_WITH_V4, ...REJECT_WITH_V6])].map((w) => [
    w,
    [...((REJECT_WITH_V4 as readonly string[]).includes(w) ? [4 as const] : []), ...((REJECT_WITH_V6 as readonly string[]).includes(w) ? [6 as const] : [])],
  ]),
);

/** A known reject type; returns the one IP version that knows it, or undefined for both. */
function rejectWith(where: string, value: unknown): IpVersion | undefined {
  const versions = typeof value === 'string' ? REJECT_WITH.get(value as RejectWith) : undefined;
  if (versions === undefined) {
    throw new InvalidRuleError(where, value, `unknown reject type; iptables knows ${REJECT_WITH_V4.join(', ')}; ip6tables knows ${REJECT_WITH_V6.join(', ')}`);
  }
  return versions.length === 1 ? versions[0] : undefined;
}

/** `--jump REJECT [--reject-with <with>]`: refuse the packet with an ICMP error or a TCP
 *  reset. A type only one IP version knows sets `ipVersion`; `tcp-reset` needs a `-p tcp` match.
 *  @throws {@link InvalidRuleError} from the constructor for a type neither version knows. */
export class RejectAction implements Action {
  /** "" for iptables' default (icmp-port-unreachable, or icmp6-port-unreachable for IPv6). */
  readonly with: RejectWith | '';
  /** The only IP version that knows `with`, if just one does. */
  readonly ipVersion?: IpVersion;
  /** True for `tcp-reset`/`tcp-rst`: the rule must match `-p tcp`. */
  readonly needsTcpMatch?: boolean;
  constructor(fields: { readonly with?: RejectWith | '' } = {}) {
    const value = fields?.with ?? '';
    if (value !== '') {
      const only = rejectWith('RejectAction.with', value);
      if (only !== undefined) this.ipVersion = only;
      if (value === 'tcp-reset' || value === 'tcp-rst') this.needsTcpMatch = true;
    }
    this.with = value;
    Object.freeze(this);
  }
  toFragment(): string {
    return this.with === '' ? '--jump REJECT' : `--jump REJECT --reject-with ${this.with}`;
  }
  toString(): string {
    return 'Reject';
  }
}

/** `--jump SNAT --to-source <toAddr>` (plus `--random-fully` where the host has it, with
 *  features): rewrite the source (nat table).
 *  @throws {@link InvalidRuleError} from the constructor unless `toAddr` is an address or a
 *  range `first-last` of one family. */
export class SNATAction implements Action {
  /** The new source: an address, or a range `first-last`. */
  readonly toAddr: string;
  constructor(fields: { readonly toAddr: string }) {
    const where = 'SNATAction.toAddr';
    const addr = fields?.toAddr;
    // One address, or a range "first-last" of the same family.
    const parts = typeof addr === 'string' ? addr.split('-') : [addr];
    if (parts.length > 2) throw new InvalidRuleError(where, addr, 'expected an address or a range "first-last"');
    const families = parts.map((p) => ipAddress(where, p));
    if (families.length === 2 && families[0] !== families[1]) {
      throw new InvalidRuleError(where, addr, 'range ends must be of one address family');
    }
    this.toAddr = addr as string;
    Object.freeze(this);
  }
  toFragment(features?: Features): string {
    return `--jump SNAT --to-source ${this.toAddr}${features?.snatFullyRandom === true ? ' --random-fully' : ''}`;
  }
  toString(): string {
    return `SNAT->${this.toAddr}`;
  }
}

/** `--jump MASQUERADE [--to-ports <toPorts>]` (plus `--random-fully` where the host has it,
 *  with features): source NAT to the outgoing interface's address.
 *  @throws {@link InvalidRuleError} from the constructor unless `toPorts` is "", a port or a
 *  range `first-last`. */
export class MasqAction implements Action {
  /** Source ports to use: "" (default: any), a port, or a range `first-last`. */
  readonly toPorts: string;
  constructor(fields: { readonly toPorts?: string } = {}) {
    const where = 'MasqAction.toPorts';
    const toPorts = fields?.toPorts ?? '';
    if (typeof toPorts !== 'string') throw new InvalidRuleError(where, toPorts, 'expected a string such as "1024-65535"');
    if (toPorts !== '') {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(toPorts);
      if (!m) throw new InvalidRuleError(where, toPorts, 'expected "port" or "first-last"');
      const first = port(where, Number(m[1]));
      const last = m[2] === undefined ? first : port(where, Number(m[2]));
      if (first > last) throw new InvalidRuleError(where, toPorts, 'range first must not exceed last');
    }
    this.toPorts = toPorts;
    Object.freeze(this);
  }
  toFragment(features?: Features): string {
    const random = features?.masqFullyRandom === true ? ' --random-fully' : '';
    return this.toPorts === '' ? `--jump MASQUERADE${random}` : `--jump MASQUERADE --to-ports ${this.toPorts}${random}`;
  }
  toString(): string {
    return 'Masq';
  }
}

/** `--jump MARK --set-mark 0/<mark>`: clear these bits of the packet mark.
 *  @throws {@link InvalidRuleError} from the constructor unless `mark` is a non-zero 32-bit integer. */
export class ClearMarkAction implements Action {
  /** The mark bits to clear. */
  readonly mark: number;
  constructor(fields: { readonly mark: number }) {
    this.mark = nonZeroMark('ClearMarkAction.mark', fields?.mark);
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump MARK --set-mark 0/${hex(this.mark)}`;
  }
  toString(): string {
    return `Clear:${hex(this.mark)}`;
  }
}

/** `--jump MARK --set-mark <mark>/<mark>`: set these bits of the packet mark.
 *  @throws {@link InvalidRuleError} from the constructor unless `mark` is a non-zero 32-bit integer. */
export class SetMarkAction implements Action {
  /** The mark bits to set. */
  readonly mark: number;
  constructor(fields: { readonly mark: number }) {
    this.mark = nonZeroMark('SetMarkAction.mark', fields?.mark);
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump MARK --set-mark ${hex(this.mark)}/${hex(this.mark)}`;
  }
  toString(): string {
    return `Set:${hex(this.mark)}`;
  }
}

/** `--jump MARK --set-mark <mark>/<mask>`: set the bits of `mask` to those of `mark`.
 *  @throws {@link InvalidRuleError} from the constructor for a zero mask or a mark with bits
 *  outside it. */
export class SetMaskedMarkAction implements Action {
  /** The bits to write (within `mask`). */
  readonly mark: number;
  /** The bits to change; non-zero. */
  readonly mask: number;
  constructor(fields: { readonly mark: number; readonly mask: number }) {
    const where = 'SetMaskedMarkAction';
    this.mark = uint32(`${where}.mark`, fields?.mark, 'mark');
    this.mask = uint32(`${where}.mask`, fields.mask, 'mask');
    if (this.mask === 0) throw new InvalidRuleError(`${where}.mask`, fields.mask, 'mask must not be 0');
    if ((this.mark & this.mask) >>> 0 !== this.mark) {
      throw new InvalidRuleError(`${where}.mark`, fields.mark, `mark has bits outside mask ${hex(this.mask)}`);
    }
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump MARK --set-mark ${hex(this.mark)}/${hex(this.mask)}`;
  }
  toString(): string {
    return `SetMasked:${hex(this.mark)}/${hex(this.mask)}`;
  }
}

/** A CONNMARK mask: absent or 0 (Go's zero value, as latest Felix reads it) means 0xffffffff. */
function connMarkMask(where: string, value: unknown): number {
  const mask = value === undefined ? 0 : uint32(where, value, 'mask');
  return mask === 0 ? 0xffffffff : mask;
}

/** `--jump CONNMARK --set-mark <mark>/<mask>`: set bits of the connection mark; `mask`
 *  absent or 0 means 0xffffffff.
 *  @throws {@link InvalidRuleError} from the constructor for a mark with bits outside the mask. */
export class SetConnMarkAction implements Action {
  /** The bits to write (within `mask`). */
  readonly mark: number;
  /** The bits to change (0xffffffff when given as absent or 0). */
  readonly mask: number;
  constructor(fields: { readonly mark: number; readonly mask?: number }) {
    const where = 'SetConnMarkAction';
    this.mark = uint32(`${where}.mark`, fields?.mark, 'mark');
    this.mask = connMarkMask(`${where}.mask`, fields.mask);
    if ((this.mark & this.mask) >>> 0 !== this.mark) {
      throw new InvalidRuleError(`${where}.mark`, fields.mark, `mark has bits outside mask ${hex(this.mask)}`);
    }
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump CONNMARK --set-mark ${hex(this.mark)}/${hex(this.mask)}`;
  }
  toString(): string {
    return `SetConnMarkWithMask:${hex(this.mark)}/${hex(this.mask)}`;
  }
}

/** `--jump CONNMARK --save-mark --mask <saveMask>`: copy packet-mark bits to the connection
 *  mark; `saveMask` absent or 0 means 0xffffffff. */
export class SaveConnMarkAction implements Action {
  /** The bits to copy (0xffffffff when given as absent or 0). */
  readonly saveMask: number;
  constructor(fields: { readonly saveMask?: number } = {}) {
    this.saveMask = connMarkMask('SaveConnMarkAction.saveMask', fields?.saveMask);
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump CONNMARK --save-mark --mask ${hex(this.saveMask)}`;
  }
  toString(): string {
    return `SaveConnMarkWithMask:${hex(this.saveMask)}`;
  }
}

/** `--jump CONNMARK --restore-mark --mask <restoreMask>`: copy connection-mark bits to the
 *  packet mark; `restoreMask` absent or 0 means 0xffffffff. */
export class RestoreConnMarkAction implements Action {
  /** The bits to copy (0xffffffff when given as absent or 0). */
  readonly restoreMask: number;
  constructor(fields: { readonly restoreMask?: number } = {}) {
    this.restoreMask = connMarkMask('RestoreConnMarkAction.restoreMask', fields?.restoreMask);
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump CONNMARK --restore-mark --mask ${hex(this.restoreMask)}`;
  }
  toString(): string {
    return `RestoreConnMarkWithMask:${hex(this.restoreMask)}`;
  }
}

/** NFLOG's prefix is 64 bytes with the NUL; iptables-legacy cuts a longer one silently. */
export const MAX_NFLOG_PREFIX_BYTES = 63;
const DEFAULT_NFLOG_SIZE = 80;

/** `--jump NFLOG --nflog-group <group> --nflog-prefix <prefix>` and `--nflog-range <size>`
 *  (or `--nflog-size` where the host has it, with features): hand the packet to a netlink logger.
 *  @throws {@link InvalidRuleError} from the constructor for a group above 65535, a prefix that
 *  is not one word of at most 63 bytes, or a size that is not an integer up to 4294967295. */
export class NflogAction implements Action {
  /** The NFLOG group, 0 to 65535. */
  readonly group: number;
  /** The NFLOG prefix: one word of at most 63 bytes. */
  readonly prefix: string;
  /** Bytes of each packet to copy: 80 by default; negative leaves the option out. */
  readonly size: number;
  constructor(fields: { readonly group: number; readonly prefix: string; readonly size?: number }) {
    const where = 'NflogAction';
    this.group = uint(`${where}.group`, fields?.group, 0xffff, 'NFLOG group');
    // Latest Felix writes the prefix unquoted: it must be one word.
    const prefix = word(`${where}.prefix`, fields.prefix, 'NFLOG prefix');
    if (Buffer.byteLength(prefix, 'utf8') > MAX_NFLOG_PREFIX_BYTES) {
      throw new InvalidRuleError(`${where}.prefix`, prefix, `NFLOG prefix must be at most ${MAX_NFLOG_PREFIX_BYTES} bytes`);
    }
    this.prefix = prefix;
    const size = fields.size ?? 0;
    if (typeof size !== 'number' || !Number.isInteger(size) || size > 0xffffffff) {
      throw new InvalidRuleError(`${where}.size`, size, 'size must be an integer up to 4294967295 (negative: no size option)');
    }
    // 0 is Go's zero value: latest Felix renders the default for it.
    this.size = size === 0 ? DEFAULT_NFLOG_SIZE : size < 0 ? -1 : size;
    Object.freeze(this);
  }
  /** `--nflog-size` where the kernel has it (4.8+), else the older `--nflog-range`. */
  toFragment(features?: Features): string {
    const base = `--jump NFLOG --nflog-group ${this.group} --nflog-prefix ${this.prefix}`;
    if (this.size < 0) return base;
    return features?.nfLogSize === true ? `${base} --nflog-size ${this.size}` : `${base} --nflog-range ${this.size}`;
  }
  toString(): string {
    return `Nflog:g=${this.group},p=${this.prefix}`;
  }
}

/** The limit match's scale (XT_LIMIT_SCALE): the most packets per second and the largest burst. */
export const MAX_LIMIT_RATE = 10000;

/** `-m limit --limit <rate>/sec --limit-burst <burst> --jump MARK --set-mark <mark>/<mark>`:
 *  mark packets while under the rate (a later rule acts on the mark).
 *  @throws {@link InvalidRuleError} from the constructor for a rate or burst outside 1..10000 or
 *  a zero mark. */
export class LimitPacketRateAction implements Action {
  /** Packets per second, 1 to 10000 (iptables refuses 0: "bad rate"). */
  readonly rate: number;
  /** Packets allowed in a burst above the rate, 1 to 10000. */
  readonly burst: number;
  /** The mark bits set on packets under the rate; non-zero. */
  readonly mark: number;
  constructor(fields: { readonly rate: number; readonly burst: number; readonly mark: number }) {
    const where = 'LimitPacketRateAction';
    this.rate = uint(`${where}.rate`, fields?.rate, MAX_LIMIT_RATE, 'rate');
    if (this.rate === 0) throw new InvalidRuleError(`${where}.rate`, 0, 'rate must be at least 1 (iptables refuses a rate of 0)');
    this.burst = uint(`${where}.burst`, fields.burst, MAX_LIMIT_RATE, 'burst');
    if (this.burst === 0) throw new InvalidRuleError(`${where}.burst`, 0, 'burst must be at least 1');
    this.mark = nonZeroMark(`${where}.mark`, fields.mark);
    Object.freeze(this);
  }
  toFragment(): string {
    return `-m limit --limit ${this.rate}/sec --limit-burst ${this.burst} --jump MARK --set-mark ${hex(this.mark)}/${hex(this.mark)}`;
  }
  toString(): string {
    return `LimitPacketRate:${this.rate}/s,burst:${this.burst}`;
  }
}

/** Rejects new TCP connections (`-p tcp` SYN packets) above `num` open ones
 *  (`-m connlimit --connlimit-above <num> --connlimit-mask 0 -j REJECT --reject-with
 *  <rejectWith>`). It writes its own `-p tcp`, so the rule's match must not name a protocol.
 *  @throws {@link InvalidRuleError} from the constructor for a bad count or reject type. */
export class LimitNumConnectionsAction implements Action {
  /** The most open connections allowed, counted over all sources together (`--connlimit-mask 0`). */
  readonly num: number;
  /** How a connection above the limit is refused. */
  readonly rejectWith: RejectWith;
  /** The only IP version that knows `rejectWith`, if just one does. */
  readonly ipVersion?: IpVersion;
  /** Always true: the fragment starts with its own `-p tcp`. */
  readonly setsProtocol = true;
  constructor(fields: { readonly num: number; readonly rejectWith: RejectWith }) {
    const where = 'LimitNumConnectionsAction';
    this.num = uint32(`${where}.num`, fields?.num, 'connection limit');
    const only = rejectWith(`${where}.rejectWith`, fields.rejectWith);
    if (only !== undefined) this.ipVersion = only;
    this.rejectWith = fields.rejectWith;
    Object.freeze(this);
  }
  toFragment(): string {
    // Latest Felix writes the long form of --syn (what iptables-save shows) and -j here.
    return `-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above ${this.num} --connlimit-mask 0 -j REJECT --reject-with ${this.rejectWith}`;
  }
  toString(): string {
    return `LimitNumConnectionsAction:${this.num},rejectWith:${this.rejectWith}`;
  }
}

/** `--jump DSCP --set-dscp <value>`: set the packet's DSCP field (mangle table).
 *  @throws {@link InvalidRuleError} from the constructor for a value outside 0..63. */
export class DSCPAction implements Action {
  /** The DSCP value, 0 to 63. */
  readonly value: number;
  constructor(fields: { readonly value: number }) {
    this.value = uint('DSCPAction.value', fields?.value, 63, 'DSCP value');
    Object.freeze(this);
  }
  toFragment(): string {
    return `--jump DSCP --set-dscp ${this.value}`;
  }
  toString(): string {
    return `DSCP ${this.value}`;
  }
}

/** The built-in actions whose text never depends on the host's features (all but SNAT,
 *  MASQUERADE and NFLOG): a Rule re-rendered for a host skips them without rendering twice.
 *  By constructor, so a subclass (which may render differently) is rendered and compared. */
const FEATURE_FREE: ReadonlySet<unknown> = new Set<unknown>([
  AcceptAction, DropAction, ReturnAction, NoTrackAction, JumpAction, GotoAction, LogAction, DNATAction, RejectAction,
  ClearMarkAction, SetMarkAction, SetMaskedMarkAction, SetConnMarkAction, SaveConnMarkAction, RestoreConnMarkAction,
  LimitPacketRateAction, LimitNumConnectionsAction, DSCPAction,
]);

/** Whether the action's text is the same on every host (see FEATURE_FREE). */
export function rendersWithoutFeatures(action: Action): boolean {
  return FEATURE_FREE.has(Object.getPrototypeOf(action)?.constructor);
}
