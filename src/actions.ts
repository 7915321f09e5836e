// Rule actions (targets). Each is an immutable class built from an object of Felix's Go fields,
// validated in the constructor, with toFragment() giving the exact restore-input text.
import { InvalidRuleError } from './errors';
import { chainName, hex, ipAddress, MAX_LOG_PREFIX_LENGTH, nonZeroMark, port, quotedText, uint32 } from './validate';

export interface Action {
  toFragment(): string;
  toString(): string;
}

abstract class FixedAction implements Action {
  protected abstract readonly fragment: string;
  toFragment(): string {
    return this.fragment;
  }
}

export class AcceptAction extends FixedAction {
  protected readonly fragment = '--jump ACCEPT';
  override toString(): string {
    return 'Accept';
  }
}

export class DropAction extends FixedAction {
  protected readonly fragment = '--jump DROP';
  override toString(): string {
    return 'Drop';
  }
}

export class ReturnAction extends FixedAction {
  protected readonly fragment = '--jump RETURN';
  override toString(): string {
    return 'Return';
  }
}

export class NoTrackAction extends FixedAction {
  protected readonly fragment = '--jump NOTRACK';
  override toString(): string {
    return 'NoTrack';
  }
}

export class JumpAction implements Action {
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

export class GotoAction implements Action {
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

export class LogAction implements Action {
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

export class DNATAction implements Action {
  readonly destAddr: string;
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

export class SNATAction implements Action {
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
  toFragment(): string {
    return `--jump SNAT --to-source ${this.toAddr}`;
  }
  toString(): string {
    return `SNAT->${this.toAddr}`;
  }
}

export class MasqAction implements Action {
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
  toFragment(): string {
    return this.toPorts === '' ? '--jump MASQUERADE' : `--jump MASQUERADE --to-ports ${this.toPorts}`;
  }
  toString(): string {
    return 'Masq';
  }
}

export class ClearMarkAction implements Action {
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

export class SetMarkAction implements Action {
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

export class SetMaskedMarkAction implements Action {
  readonly mark: number;
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
