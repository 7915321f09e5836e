// Port lists in the multiport match's syntax.
import { InvalidRuleError } from './errors';
import { MAX_MULTIPORT_SLOTS, port } from './validate';

/** An inclusive range of ports, 0 to 65535; `first` equal to `last` is one port. */
export interface PortRange {
  /** The first port of the range. */
  readonly first: number;
  /** The last port of the range (not below `first`). */
  readonly last: number;
}

/** Decimal ports joined with ",", as the multiport match takes them.
 *  @throws {@link InvalidRuleError} for an empty list, more than 15 ports, or a port outside 0–65535. */
export function portsToMultiport(ports: readonly number[]): string {
  return formatPorts('portsToMultiport', ports);
}

/** "first" when first = last, else "first:last", joined with ",".
 *  @throws {@link InvalidRuleError} for an empty list, a bad range, or more than 15 multiport
 *  slots (a range counts as two). */
export function portRangesToMultiport(ranges: readonly PortRange[]): string {
  return formatPortRanges('portRangesToMultiport', ranges);
}

/** portsToMultiport, with errors naming the caller's method. */
export function formatPorts(where: string, ports: readonly number[]): string {
  if (!Array.isArray(ports) || ports.length === 0) throw new InvalidRuleError(where, ports, 'needs at least one port');
  if (ports.length > MAX_MULTIPORT_SLOTS) {
    throw new InvalidRuleError(where, ports, `multiport takes at most ${MAX_MULTIPORT_SLOTS} ports`);
  }
  // Array.from: a hole in a sparse array is a missing port, not an empty slot in the list.
  return Array.from(ports, (p) => String(port(where, p))).join(',');
}

/** portRangesToMultiport, with errors naming the caller's method. */
export function formatPortRanges(where: string, ranges: readonly PortRange[]): string {
  if (!Array.isArray(ranges) || ranges.length === 0) throw new InvalidRuleError(where, ranges, 'needs at least one range');
  let slots = 0;
  const parts = Array.from(ranges, (range: PortRange) => {
    if (typeof range !== 'object' || range === null) throw new InvalidRuleError(where, range, 'expected {first, last}');
    const first = port(where, range.first);
    const last = port(where, range.last);
    if (first > last) throw new InvalidRuleError(where, range, 'range first must not exceed last');
    slots += first === last ? 1 : 2;
    return first === last ? String(first) : `${first}:${last}`;
  });
  if (slots > MAX_MULTIPORT_SLOTS) {
    throw new InvalidRuleError(where, ranges, `multiport takes at most ${MAX_MULTIPORT_SLOTS} ports, a range counting as two`);
  }
  return parts.join(',');
}
