// Deleting the chains no longer wanted, after the main write: one transaction, else one chain at
// a time, and the ones that stay reported with the chains that still refer to them.
import { runCommand, type CommandFactory } from './commands';
import { ChainDeletionError, RestoreFailedError } from './errors';
import type { RestoreOutcome } from './restore-writer';
import { deletionLines } from './restore-plan';
import { jumpOf } from './save-line';

/** How to delete, and what to tell the Table. */
export interface ChainDeletion {
  /** One iptables-restore run of these lines. */
  readonly restore: (lines: Iterable<string>) => Promise<RestoreOutcome>;
  /** Called for each chain deleted. */
  readonly onDeleted: (name: string) => void;
  /** Called for each run that landed, with how many chains it deleted. */
  readonly onWrite: (outcome: RestoreOutcome, chains: number) => void;
  /** Which chains refer to each of these (read only when some deletion failed). */
  readonly findReferrers: (chains: readonly string[]) => Promise<Map<string, string[]>>;
}

/**
 * Deletes the doomed chains. Resolves true when the single transaction took them all.
 *
 * @throws {@link ChainDeletionError} naming each chain that stayed and its referrers.
 */
export async function deleteChains(d: ChainDeletion, doomed: readonly string[]): Promise<boolean> {
  try {
    d.onWrite(await d.restore(deletionLines(doomed)), doomed.length);
    doomed.forEach(d.onDeleted);
    return true;
  } catch (error) {
    if (!(error instanceof RestoreFailedError)) throw error;
  }
  // Land what can be landed one chain at a time; report the rest with who refers to them.
  const failed: string[] = [];
  let lastStderr = '';
  for (const name of doomed) {
    try {
      d.onWrite(await d.restore(deletionLines([name])), 1);
      d.onDeleted(name);
    } catch (error) {
      if (!(error instanceof RestoreFailedError)) throw error;
      failed.push(name);
      lastStderr = error.stderr;
    }
  }
  if (failed.length === 0) return false;
  const referrers = await d.findReferrers(failed);
  throw new ChainDeletionError(
    failed.map((chain) => ({ chain, referrers: referrers.get(chain) ?? [] })),
    lastStderr,
  );
}

/** Which chains jump or go to each of the given chains (a failure path: one plain read). */
export async function findReferrers(run: CommandFactory, save: string, table: string, timeoutMs: number, chains: readonly string[]): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>(chains.map((c) => [c, []]));
  const dump = await runCommand(run, save, ['-t', table], '', timeoutMs);
  for (const line of dump.stdout.split('\n')) {
    const jump = jumpOf(line);
    if (!jump) continue;
    const list = result.get(jump.target);
    if (list && !list.includes(jump.chain)) list.push(jump.chain);
  }
  return result;
}
