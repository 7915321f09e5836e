// Two Tables side by side in one process: chains are ours by prefix, so overlapping chain
// prefixes under different hash prefixes make each delete the other's chains. The constructor
// warns of that; this module keeps the live Tables (weakly) to compare with.
import type { Logger } from './logger';

interface LiveTable {
  readonly scope: string;
  readonly hashPrefix: string;
  readonly prefixes: readonly string[];
  readonly table: WeakRef<object>;
}
const liveTables: LiveTable[] = [];

/**
 * Two Tables of one table (and namespace) with different hash prefixes never touch each other's
 * rules; but chains are ours by prefix, so when one's chain prefix is a prefix of the other's,
 * each deletes the other's chains. Finds such overlaps among the live Tables of this process.
 */
export function registerAndFindOverlaps(
  table: object,
  scope: string,
  hashPrefix: string,
  prefixes: readonly string[],
): { mine: string; theirs: string; otherHashPrefix: string }[] {
  const found: { mine: string; theirs: string; otherHashPrefix: string }[] = [];
  for (let i = liveTables.length - 1; i >= 0; i--) {
    const other = liveTables[i] as LiveTable;
    if (other.table.deref() === undefined) {
      liveTables.splice(i, 1);
      continue;
    }
    // The same hash prefix is the same program (a Table made again), not a second instance.
    if (other.scope !== scope || other.hashPrefix === hashPrefix) continue;
    for (const mine of prefixes) {
      const theirs = other.prefixes.find((p) => p.startsWith(mine) || mine.startsWith(p));
      if (theirs !== undefined) found.push({ mine, theirs, otherHashPrefix: other.hashPrefix });
    }
  }
  liveTables.push({ scope, hashPrefix, prefixes, table: new WeakRef(table) });
  return found;
}


/** Where a new Table programs, and what it calls its own: what the overlap check compares. */
export interface TablePlace {
  readonly netns: string | undefined;
  readonly table: string;
  readonly ipVersion: number;
  readonly hashPrefix: string;
  readonly prefixes: readonly string[];
  readonly logger: Logger;
}

/** Registers a new Table and warns of every live Table whose chain prefixes overlap its own. */
export function warnAboutOverlaps(table: object, p: TablePlace): void {
  const scope = `${p.netns ?? ''}\0${p.table}\0${p.ipVersion}`;
  for (const o of registerAndFindOverlaps(table, scope, p.hashPrefix, p.prefixes)) {
    p.logger.warn(
      { table: p.table, ipVersion: p.ipVersion, netns: p.netns, chainPrefix: o.mine, otherChainPrefix: o.theirs, otherHashPrefix: o.otherHashPrefix },
      "chain prefix overlaps that of another Table with a different hash prefix: each would delete the other's chains; use chain prefixes of which neither is a prefix of the other",
    );
  }
}
