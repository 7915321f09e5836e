// The diff of the nftables backend: the desired chains against what our table holds, as `nft -f`
// commands. Rules are compared by ID (rule-ids.ts) and edited by handle: the rules whose IDs are
// there in the right order (the longest run of them) stay untouched, keeping their counters; in
// each gap between two of those, rules are replaced in place, then added or deleted. Pure and
// synchronous: plan() shows exactly what apply() writes.
import { referencedChain } from '../chain-references';
import { InvalidRuleError } from '../errors';
import type { PlanSummary } from '../restore-plan';
import type { Rule } from '../rule';
import type { NftFamily } from './render';

/** What the engine believes one chain of our table holds. */
export interface NftChainState {
  /** The base chain's declaration as nft lists it; undefined for a regular chain. */
  readonly declaration: string | undefined;
  /** Per rule: our ID, or "" for a rule that is not ours. */
  readonly ids: readonly string[];
  /** Per rule: its handle; undefined for a rule written since the last read whose handle the
   *  write did not learn (a big transaction is written without echo). */
  readonly handles: readonly (number | undefined)[];
}

/** What the engine believes our table holds. */
export interface NftTableState {
  readonly exists: boolean;
  readonly chains: ReadonlyMap<string, NftChainState>;
}

/** The empty state: no table. */
export const NO_TABLE: NftTableState = Object.freeze({ exists: false, chains: new Map<string, NftChainState>() });

/** One desired chain, rendered. */
export interface DesiredNftChain {
  /** The base chain's declaration (`type … hook … priority …; policy accept;`); undefined for
   *  a regular chain. */
  readonly declaration: string | undefined;
  /** The rules, for their jump targets. */
  readonly rules: readonly Rule[];
  /** Per rule: its nft statements (counter included, comment not). */
  readonly texts: readonly string[];
  /** Per rule: its ID. */
  readonly ids: readonly string[];
  /** Per rule: its whole comment (hash prefix, ID, the rule's own comment). */
  readonly comments: readonly string[];
}

/** What a plan is computed from. */
export interface NftPlanInput {
  readonly family: NftFamily;
  readonly table: string;
  /** Every chain our table should hold (base chains only when they have rules). */
  readonly desired: ReadonlyMap<string, DesiredNftChain>;
  readonly state: NftTableState;
}

/** One command of the transaction. `rule` indexes the chain's desired rules. */
export type NftOp =
  | { readonly op: 'create table' }
  | { readonly op: 'delete table' }
  | { readonly op: 'add chain'; readonly chain: string; readonly declaration: string | undefined }
  | { readonly op: 'delete chain' | 'flush chain'; readonly chain: string }
  | { readonly op: 'replace'; readonly chain: string; readonly handle: number; readonly rule: number }
  | { readonly op: 'insert'; readonly chain: string; readonly before: number; readonly rule: number }
  | { readonly op: 'add'; readonly chain: string; readonly after: number | undefined; readonly rule: number }
  | { readonly op: 'delete rule'; readonly chain: string; readonly handle: number };

/** A chain we cannot delete yet: a desired rule still jumps or goes to it. */
export interface StuckChain {
  readonly chain: string;
  readonly referrers: readonly string[];
}

/** What {@link planNft} found. */
export interface NftPlan {
  /** The commands, in order ([] when nothing differs). */
  readonly ops: readonly NftOp[];
  /** Counted as the iptables backends count (inserts: rules of base chains). */
  readonly summary: PlanSummary;
  /** The chains the transaction deletes. */
  readonly chainsToDelete: readonly string[];
  /** Chains no longer wanted that stay because desired rules refer to them. */
  readonly stuck: readonly StuckChain[];
  /** Chains whose diff needs a handle the engine does not know: read, then plan again. */
  readonly needsRead: boolean;
  /** What the table holds once the transaction landed (new rules' handles unknown). */
  readonly after: NftTableState;
}

/** The text of one command (no newline). */
export function opLine(op: NftOp, p: Pick<NftPlanInput, 'family' | 'table' | 'desired'>): string {
  const where = `${p.family} ${p.table}`;
  const rule = (chain: string, i: number): string => {
    const c = p.desired.get(chain) as DesiredNftChain;
    return `${c.texts[i] as string} comment "${c.comments[i] as string}"`;
  };
  switch (op.op) {
    case 'create table':
    case 'delete table':
      return `${op.op} ${where}`;
    case 'add chain':
      return op.declaration === undefined ? `add chain ${where} ${op.chain}` : `add chain ${where} ${op.chain} { ${op.declaration} }`;
    case 'delete chain':
    case 'flush chain':
      return `${op.op} ${where} ${op.chain}`;
    case 'replace':
      return `replace rule ${where} ${op.chain} handle ${op.handle} ${rule(op.chain, op.rule)}`;
    case 'insert':
      return `insert rule ${where} ${op.chain} position ${op.before} ${rule(op.chain, op.rule)}`;
    case 'add':
      return `add rule ${where} ${op.chain}${op.after === undefined ? '' : ` position ${op.after}`} ${rule(op.chain, op.rule)}`;
    case 'delete rule':
      return `delete rule ${where} ${op.chain} handle ${op.handle}`;
  }
}

/** The summary's counts, as the plan adds them up. */
type Counts = { -readonly [K in Exclude<keyof PlanSummary, 'chainsToDelete'>]: number };

/** The transaction that brings our table from `state` to `desired`. */
export function planNft(p: NftPlanInput): NftPlan {
  const ops: NftOp[] = [];
  const counts: Counts = { chainsToCreate: 0, rulesToReplace: 0, rulesToAppend: 0, rulesToDelete: 0, insertsToDelete: 0, insertsToAdd: 0 };
  const empty = { ops, summary: { ...counts, chainsToDelete: 0 }, chainsToDelete: [], stuck: [], needsRead: false, after: p.state };
  // Nothing wanted: the table goes altogether (a Table that wants nothing leaves nothing).
  if (p.desired.size === 0) {
    if (!p.state.exists) return empty;
    const doomed = [...p.state.chains.keys()].sort();
    return { ...empty, ops: [{ op: 'delete table' }], summary: { ...counts, chainsToDelete: doomed.length }, chainsToDelete: doomed, after: NO_TABLE };
  }
  const names = [...p.desired.keys()].sort();
  // Chains first (rules may jump to any of them), base chains whose hook differs re-made.
  for (const name of names) {
    const want = p.desired.get(name) as DesiredNftChain;
    const have = p.state.chains.get(name);
    if (have !== undefined && have.declaration === want.declaration) continue;
    if (have !== undefined) ops.push({ op: 'delete chain', chain: name });
    ops.push({ op: 'add chain', chain: name, declaration: want.declaration });
    counts.chainsToCreate++;
  }
  let needsRead = false;
  const after = new Map<string, NftChainState>();
  for (const name of names) {
    const want = p.desired.get(name) as DesiredNftChain;
    const have = p.state.chains.get(name);
    const fresh = have === undefined || have.declaration !== want.declaration;
    const handles = diffChain(name, want, fresh ? undefined : have, ops, counts);
    if (handles === undefined) needsRead = true;
    after.set(name, { declaration: want.declaration, ids: want.ids, handles: handles ?? new Array<undefined>(want.ids.length).fill(undefined) });
  }
  // Chains no longer wanted: flushed first, so jumps among them go before any is deleted.
  const unwanted = [...p.state.chains.keys()].filter((n) => !p.desired.has(n)).sort();
  const stuck = stuckChains(p.desired, p.state);
  const doomed = unwanted.filter((n) => !stuck.some((s) => s.chain === n));
  for (const chain of doomed) ops.push({ op: 'flush chain', chain });
  for (const chain of doomed) ops.push({ op: 'delete chain', chain });
  for (const chain of stuck) after.set(chain.chain, p.state.chains.get(chain.chain) as NftChainState);
  // A table another program deleted since our read fails the transaction; the retry reads again.
  // `create`, not `add`: one another program made since we found none (or before a first apply
  // that did not read) fails the transaction with EEXIST instead of being merged into, and the
  // engine reads it and writes the difference.
  if (!p.state.exists) ops.unshift({ op: 'create table' });
  return { ops, summary: { ...counts, chainsToDelete: doomed.length }, chainsToDelete: doomed, stuck, needsRead, after: { exists: true, chains: after } };
}

/**
 * Chains no longer wanted that desired rules still jump or go to: they stay until nothing does.
 * @throws {@link InvalidRuleError} for a jump to a chain our table neither holds nor wants: our
 *   table holds no other chains, and nft cannot jump into another table.
 */
function stuckChains(desired: ReadonlyMap<string, DesiredNftChain>, state: NftTableState): StuckChain[] {
  const referrers = new Map<string, string[]>();
  for (const [name, chain] of desired) {
    for (const rule of chain.rules) {
      const target = referencedChain(rule);
      if (target === undefined || (desired.has(target) && desired.get(target)?.declaration === undefined)) continue;
      if (!state.chains.has(target) || state.chains.get(target)?.declaration !== undefined) {
        throw new InvalidRuleError(`nftables chain ${name}`, target, 'backend nftables: a jump or goto must target a chain of this Table (our table holds no other chains, and nft cannot jump into another table or to a base chain)');
      }
      const list = referrers.get(target) ?? [];
      if (!list.includes(name)) list.push(name);
      referrers.set(target, list);
    }
  }
  return [...referrers].sort(([a], [b]) => (a < b ? -1 : 1)).map(([chain, from]) => ({ chain, referrers: from.sort() }));
}

/**
 * Appends the commands that turn `have` (undefined: a chain made empty in this transaction)
 * into `want`, and returns the handles the chain's rules have then (undefined for new rules).
 * Returns undefined when a handle it needs is unknown (nothing appended then).
 */
function diffChain(chain: string, want: DesiredNftChain, have: NftChainState | undefined, ops: NftOp[], counts: Counts): (number | undefined)[] | undefined {
  const base = want.declaration !== undefined;
  const added = (): void => void (base ? counts.insertsToAdd++ : counts.rulesToAppend++);
  const deleted = (): void => void (base ? counts.insertsToDelete++ : counts.rulesToDelete++);
  if (have === undefined || have.ids.length === 0) {
    for (let j = 0; j < want.ids.length; j++) {
      ops.push({ op: 'add', chain, after: undefined, rule: j });
      added();
    }
    return new Array<undefined>(want.ids.length).fill(undefined);
  }
  if (sameIds(have.ids, want.ids)) return [...have.handles];
  const kept = keptPairs(have.ids, want.ids);
  const mine: NftOp[] = [];
  const handles = new Array<number | undefined>(want.ids.length).fill(undefined);
  for (const [o, n] of kept) handles[n] = have.handles[o];
  const handleAt = (i: number): number | undefined => have.handles[i];
  // Walk the gaps between kept pairs (and before the first, after the last).
  let i = 0;
  let j = 0;
  for (let k = 0; k <= kept.length; k++) {
    const anchor = kept[k];
    const iEnd = anchor ? anchor[0] : have.ids.length;
    const jEnd = anchor ? anchor[1] : want.ids.length;
    const pairs = Math.min(iEnd - i, jEnd - j);
    for (let n = 0; n < pairs; n++) {
      const handle = handleAt(i + n);
      if (handle === undefined) return undefined;
      mine.push({ op: 'replace', chain, handle, rule: j + n });
      handles[j + n] = handle;
      counts.rulesToReplace++;
    }
    // New rules go right before the next kept rule, in order; at the end, appended in order
    // (the gap's left-over old rules, deleted below, are then all before them or gone).
    const before = anchor ? handleAt(anchor[0]) : undefined;
    if (anchor && before === undefined && jEnd - j > pairs) return undefined;
    for (let n = j + pairs; n < jEnd; n++) {
      mine.push(before === undefined ? { op: 'add', chain, after: undefined, rule: n } : { op: 'insert', chain, before, rule: n });
      added();
    }
    for (let n = i + pairs; n < iEnd; n++) {
      const handle = handleAt(n);
      if (handle === undefined) return undefined;
      mine.push({ op: 'delete rule', chain, handle });
      deleted();
    }
    i = iEnd + 1;
    j = jEnd + 1;
  }
  for (const op of mine) ops.push(op);
  return handles;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The rules to keep: pairs (old index, new index) of equal IDs, increasing in both, as many as
 * possible (the longest increasing run of old positions, O(n log n)). A rule without our ID
 * ("") is never kept: it is another program's, in our table, and goes.
 */
export function keptPairs(have: readonly string[], want: readonly string[]): [number, number][] {
  const at = new Map<string, number[]>();
  for (let i = have.length - 1; i >= 0; i--) {
    const id = have[i] as string;
    if (id === '') continue;
    const list = at.get(id);
    if (list) list.push(i);
    else at.set(id, [i]);
  }
  // Each desired rule's old position (the first unused copy of its ID), or -1.
  const old = new Array<number>(want.length);
  for (let j = 0; j < want.length; j++) old[j] = at.get(want[j] as string)?.pop() ?? -1;
  // Patience sorting over the old positions.
  const tails: number[] = []; // tails[len-1] = j ending the best run of that length
  const prev = new Array<number>(want.length).fill(-1);
  for (let j = 0; j < want.length; j++) {
    const o = old[j] as number;
    if (o < 0) continue;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((old[tails[mid] as number] as number) < o) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[j] = tails[lo - 1] as number;
    tails[lo] = j;
  }
  const pairs: [number, number][] = [];
  for (let j = tails.length > 0 ? (tails[tails.length - 1] as number) : -1; j >= 0; j = prev[j] as number) pairs.push([old[j] as number, j]);
  return pairs.reverse();
}
