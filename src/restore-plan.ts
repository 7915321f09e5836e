// The diff: desired state + what the dataplane holds → the iptables-restore transaction.
//
// Pure and synchronous, so a plan can be inspected (the CLI's `plan`) before it runs, and the
// Table's apply() runs exactly what plan() showed. Chains are visited in sorted order so the same
// state always gives the same bytes.
import { primeRuleIds, ruleHashesFor } from './hash';
import type { DataplaneChain } from './reader';
import type { Chain, Rule } from './rule';

/** Where a Table puts its rules in chains it does not own: at the top, or at the end. */
export type InsertMode = 'insert' | 'append';

export interface PlanInput {
  readonly table: string;
  readonly hashPrefix: string;
  readonly insertMode: InsertMode;
  /** The desired chains (at least every dirty one that is desired). */
  readonly desiredChains: ReadonlyMap<string, Chain>;
  readonly insertRules: ReadonlyMap<string, readonly Rule[]>;
  /** Rules kept at the end of a chain we do not own (appendRules); absent = none anywhere. */
  readonly appendRules?: ReadonlyMap<string, readonly Rule[]>;
  readonly dirtyChains: ReadonlySet<string>;
  readonly dirtyInserts: ReadonlySet<string>;
  /** The last known dataplane: what we read, updated by what we wrote since. */
  readonly dataplane: ReadonlyMap<string, DataplaneChain>;
}

/** How much a plan changes, counted. */
export interface PlanSummary {
  /** Chains of ours the dataplane lacks, to be created. */
  readonly chainsToCreate: number;
  /** Rules of ours replaced in place (`-R`). */
  readonly rulesToReplace: number;
  /** Rules of ours appended (`-A`). */
  readonly rulesToAppend: number;
  /** Rules of ours deleted from chains of ours (`-D`). */
  readonly rulesToDelete: number;
  /** Our rules removed from chains we do not own. */
  readonly insertsToDelete: number;
  /** Our rules added to chains we do not own. */
  readonly insertsToAdd: number;
  /** Chains of ours to delete. */
  readonly chainsToDelete: number;
}

/** What {@link Table.plan} returns: the iptables-restore input apply() would run now. */
export interface RestorePlan {
  /** The table it is for. */
  readonly table: string;
  /** The main transaction ("" when nothing is to change): creates, rule changes, inserts. */
  readonly input: string;
  /** Chain deletions, a separate transaction so a still-referenced chain cannot block the rest. */
  readonly deletionInput: string;
  /** The chains `deletionInput` deletes. */
  readonly chainsToDelete: readonly string[];
  /** The changes, counted. */
  readonly summary: PlanSummary;
  /** The dataplane chains as they will be once `input` has been applied. */
  readonly afterWrite: ReadonlyMap<string, DataplaneChain>;
}

const NO_SAVED_RULES: ReadonlyMap<number, string> = new Map();

/** Rules hashed per native call while a plan streams: about a millisecond of hashing, so the
 *  restore's first bytes go out early and a batch that starts just before a slice's deadline
 *  does not stretch it much (2048 rules took ~4.5 ms with their ID strings, and ran slices over). */
const HASH_BATCH_RULES = 512;
/** Chains whose IDs have been computed (Chain caches them): not hashed again in a batch. */
const hashed = new WeakSet<Chain>();

/** The IDs of chains[from], hashing it and the chains after it that fit in one batch first. */
function batchedIds(chains: readonly Chain[], from: number): readonly string[] {
  const first = chains[from] as Chain;
  if (!hashed.has(first)) {
    const batch: Chain[] = [];
    let rules = 0;
    for (let k = from; k < chains.length && (batch.length === 0 || rules < HASH_BATCH_RULES); k++) {
      const chain = chains[k] as Chain;
      if (hashed.has(chain)) continue;
      batch.push(chain);
      hashed.add(chain);
      rules += chain.ruleCount;
    }
    primeRuleIds(batch);
  }
  return first.ruleIds();
}

/** A restore line: the operation, our ID comment, the rule's body (rendered once, when the rule
 *  was made; the same string was hashed for its ID). Names and bodies are validated already. */
function ruleLine(operation: string, idComment: string, rule: Rule): string {
  return rule.body === '' ? `${operation} ${idComment}` : `${operation} ${idComment} ${rule.body}`;
}

/** Whether a chain we do not own holds exactly our inserts, in the place the mode wants them,
 *  and (when there are any) exactly our appends as its last rules. */
export function insertsInPlace(
  dataplane: DataplaneChain | undefined,
  expected: readonly string[],
  mode: InsertMode,
  expectedAppends: readonly string[] = [],
): boolean {
  const all = dataplane?.ids ?? [];
  // Appends must be the very last rules: a foreign rule appended below them puts them out of
  // place, and the resync moves ours back below it (as latest Felix does).
  const tail = all.length - expectedAppends.length;
  if (tail < 0) return false;
  for (let k = 0; k < expectedAppends.length; k++) if (all[tail + k] !== expectedAppends[k]) return false;
  const ids = expectedAppends.length === 0 ? all : all.slice(0, tail);
  const ours: number[] = [];
  for (let i = 0; i < ids.length; i++) if (ids[i] !== '') ours.push(i);
  if (ours.length !== expected.length) return false;
  if (ours.length === 0) return true;
  const start = ours[0] as number;
  // Insert mode: our block must be at the very top. Append mode: one contiguous block; foreign
  // rules appended after it are left alone (Felix v3.2.2 re-appended ours on every resync).
  if (mode === 'insert' && start !== 0) return false;
  for (let k = 0; k < expected.length; k++) {
    if (ours[k] !== start + k || ids[start + k] !== expected[k]) return false;
  }
  return true;
}

export function insertIds(chainName: string, rules: readonly Rule[]): string[] {
  return ruleHashesFor(chainName, rules);
}

/** IDs of appended rules: hashed under a different seed than the inserts (latest Felix's
 *  "<chain>*appends*"), so the same rule inserted and appended gets two IDs. */
export function appendIds(chainName: string, rules: readonly Rule[]): string[] {
  return ruleHashesFor(`${chainName}*appends*`, rules);
}

/** Which of `given` (as rendered, `rules`) the dataplane chain does not hold, as a chain of that
 *  name or as its appends (checkRulesPresent). */
export function missingFrom<T>(chainName: string, held: DataplaneChain | undefined, given: readonly T[], rules: readonly Rule[]): T[] {
  const ids = new Set(held?.ids ?? []);
  const asChain = ruleHashesFor(chainName, rules);
  const asAppends = appendIds(chainName, rules);
  return given.filter((_, i) => !ids.has(asChain[i] as string) && !ids.has(asAppends[i] as string));
}

/** What a plan accumulates besides its lines: counts, and the dataplane after the write. */
export interface PlanProgress {
  chainsToCreate: number;
  rulesToReplace: number;
  rulesToAppend: number;
  rulesToDelete: number;
  insertsToDelete: number;
  insertsToAdd: number;
  readonly afterWrite: Map<string, DataplaneChain>;
}

export function newPlanProgress(): PlanProgress {
  return { chainsToCreate: 0, rulesToReplace: 0, rulesToAppend: 0, rulesToDelete: 0, insertsToDelete: 0, insertsToAdd: 0, afterWrite: new Map() };
}

/** What a Table holds that a plan is made of (live, changing under a plan that streams out). */
export interface LiveState extends Pick<PlanInput, 'table' | 'hashPrefix' | 'insertMode' | 'insertRules' | 'dataplane'> {
  /** The desired chains that get written (all of them, or the referenced ones). */
  readonly programmed: ReadonlyMap<string, Chain>;
  readonly appendRules: ReadonlyMap<string, readonly Rule[]>;
  readonly dirtyChains: Set<string>;
  readonly dirtyInserts: Set<string>;
}

/** A consistent copy of what the plan needs, of the dirty entries only (so the work per apply
 *  follows what changed, not the table's size): updates made while a plan streams out do not
 *  change it, and stay dirty for the next apply. */
export function planInputOf(l: LiveState): PlanInput {
  const desiredChains = new Map<string, Chain>();
  for (const name of l.dirtyChains) {
    const chain = l.programmed.get(name);
    if (chain !== undefined) desiredChains.set(name, chain);
  }
  const insertRules = new Map<string, readonly Rule[]>();
  const appendRules = new Map<string, readonly Rule[]>();
  for (const name of l.dirtyInserts) {
    const inserts = l.insertRules.get(name);
    if (inserts !== undefined) insertRules.set(name, inserts);
    const appends = l.appendRules.get(name);
    if (appends !== undefined) appendRules.set(name, appends);
  }
  return {
    table: l.table,
    hashPrefix: l.hashPrefix,
    insertMode: l.insertMode,
    desiredChains,
    insertRules,
    ...(appendRules.size > 0 ? { appendRules } : {}),
    dirtyChains: new Set(l.dirtyChains),
    dirtyInserts: new Set(l.dirtyInserts),
    dataplane: l.dataplane,
  };
}

/** After a plan's write: clears the dirty marks it covered (a chain updated since stays dirty). */
export function clearCovered(plan: PlanInput, l: LiveState): void {
  for (const name of plan.dirtyChains) {
    const planned = plan.desiredChains.get(name);
    if (planned !== undefined && l.programmed.get(name) === planned) l.dirtyChains.delete(name);
    // Removal of a chain the dataplane never had: nothing to delete.
    if (planned === undefined && !l.programmed.has(name) && !l.dataplane.has(name)) l.dirtyChains.delete(name);
  }
  for (const name of plan.dirtyInserts) {
    if (l.insertRules.get(name) === plan.insertRules.get(name)) l.dirtyInserts.delete(name);
  }
}

/** Chains to delete: dirty, unwanted, and present in the dataplane. */
export function chainsToDeleteOf(p: Pick<PlanInput, 'dirtyChains' | 'desiredChains' | 'dataplane'>): string[] {
  return [...p.dirtyChains].filter((name) => !p.desiredChains.has(name) && p.dataplane.has(name)).sort();
}

/**
 * The body lines of the main transaction (between "*table" and "COMMIT"), one at a time, so a
 * caller can stream them to iptables-restore in slices without blocking the event loop, or
 * collect them (computePlan).
 */
export function* planLines(p: PlanInput, progress: PlanProgress): Generator<string, void, undefined> {
  const comment = (id: string): string => `-m comment --comment "${p.hashPrefix}${id}"`;
  const dirtyChains = [...p.dirtyChains].sort();

  // ":NAME - -" creates a missing chain; all creations come first so rules may jump to them.
  // (With --noflush it would also flush an existing chain, so existing chains are edited rule
  // by rule, keeping their counters.)
  for (const name of dirtyChains) {
    if (p.desiredChains.has(name) && !p.dataplane.has(name)) {
      progress.chainsToCreate++;
      yield `:${name} - -`;
    }
  }

  const written = dirtyChains.filter((name) => p.desiredChains.has(name));
  const chains = written.map((name) => p.desiredChains.get(name) as Chain);
  for (let k = 0; k < written.length; k++) {
    const name = written[k] as string;
    const chain = chains[k] as Chain;
    const previous = p.dataplane.get(name)?.ids ?? [];
    const current = batchedIds(chains, k);
    const longest = Math.max(previous.length, current.length);
    for (let i = 0; i < longest; i++) {
      if (i < previous.length && i < current.length) {
        if (previous[i] === current[i]) continue;
        progress.rulesToReplace++;
        yield ruleLine(`-R ${name} ${i + 1}`, comment(current[i] as string), chain.rules[i] as Rule);
      } else if (i < current.length) {
        progress.rulesToAppend++;
        yield ruleLine(`-A ${name}`, comment(current[i] as string), chain.rules[i] as Rule);
      } else {
        // The old chain was longer: delete past the new end, one position at a time.
        progress.rulesToDelete++;
        yield `-D ${name} ${current.length + 1}`;
      }
    }
    progress.afterWrite.set(name, { ids: current, savedRules: NO_SAVED_RULES });
  }

  for (const name of [...p.dirtyInserts].sort()) {
    const existing = p.dataplane.get(name);
    const rules = p.insertRules.get(name) ?? [];
    const appends = p.appendRules?.get(name) ?? [];
    const expected = insertIds(name, rules);
    const expectedAppends = appendIds(name, appends);
    if (insertsInPlace(existing, expected, p.insertMode, expectedAppends)) continue;
    // Out of place: delete all of ours (by full rule text, so a rule another program inserted
    // since our read is never hit by a stale number), then add ours afresh.
    const ids = existing?.ids ?? [];
    for (let i = ids.length - 1; i >= 0; i--) {
      if (ids[i] === '') continue;
      const saved = existing?.savedRules.get(i);
      progress.insertsToDelete++;
      yield saved !== undefined && saved.startsWith('-A ') ? `-D ${saved.slice(3)}` : `-D ${name} ${i + 1}`;
    }
    const ourLines = rules.map((rule, i) => rule.renderAppend(name, comment(expected[i] as string)));
    if (p.insertMode === 'insert') {
      for (let i = rules.length - 1; i >= 0; i--) yield (rules[i] as Rule).renderInsert(name, comment(expected[i] as string));
    } else {
      yield* ourLines;
    }
    const appendLines = appends.map((rule, i) => rule.renderAppend(name, comment(expectedAppends[i] as string)));
    yield* appendLines;
    progress.insertsToAdd += rules.length + appends.length;
    const foreign = ids.filter((id) => id === '');
    const newIds = p.insertMode === 'insert' ? [...expected, ...foreign, ...expectedAppends] : [...foreign, ...expected, ...expectedAppends];
    const offset = p.insertMode === 'insert' ? 0 : foreign.length;
    const saved = new Map(ourLines.map((line, i) => [offset + i, line]));
    appendLines.forEach((line, i) => saved.set(foreign.length + rules.length + i, line));
    progress.afterWrite.set(name, { ids: newIds, savedRules: saved });
  }
}

export function summaryOf(progress: PlanProgress, chainsToDelete: number): PlanSummary {
  const { chainsToCreate, rulesToReplace, rulesToAppend, rulesToDelete, insertsToDelete, insertsToAdd } = progress;
  return { chainsToCreate, rulesToReplace, rulesToAppend, rulesToDelete, insertsToDelete, insertsToAdd, chainsToDelete };
}

/** The whole plan at once (for inspection: the CLI's plan, tests). */
export function computePlan(p: PlanInput): RestorePlan {
  const progress = newPlanProgress();
  const body = [...planLines(p, progress)];
  const chainsToDelete = chainsToDeleteOf(p);
  return {
    table: p.table,
    input: body.length === 0 ? '' : `*${p.table}\n${body.join('\n')}\nCOMMIT\n`,
    deletionInput: deletionInput(p.table, chainsToDelete),
    chainsToDelete,
    summary: summaryOf(progress, chainsToDelete.length),
    afterWrite: progress.afterWrite,
  };
}

/** Body lines that flush every chain first (severing references among them), then delete them. */
export function deletionLines(chains: readonly string[]): string[] {
  return [...chains.map((n) => `:${n} - -`), ...chains.map((n) => `--delete-chain ${n}`)];
}

export function deletionInput(table: string, chains: readonly string[]): string {
  return chains.length === 0 ? '' : `*${table}\n${deletionLines(chains).join('\n')}\nCOMMIT\n`;
}

/** The body lines of a whole restore input (without "*table", "COMMIT" and empty lines). */
export function restoreBodyLines(input: string): string[] {
  return input.split('\n').filter((l) => l !== '' && !l.startsWith('*') && l !== 'COMMIT');
}
