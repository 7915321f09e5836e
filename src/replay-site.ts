// Where a failed iptables-restore transaction can be replayed: what the retry policy
// (src/restore-retry.ts) hands the search for the refused rule (src/restore-bisect.ts).
import type { CommandFactory } from './commands';

/** The commands, binaries and table of a failed write, for replaying it on a copy. */
export interface ReplaySite {
  /** Runs commands where the failure happened (the real namespace, if any). */
  readonly run: CommandFactory;
  /** Runs commands on the host (to create the throwaway namespace). */
  readonly runOnHost: CommandFactory;
  /** The save binary, such as `iptables-legacy-save`. */
  readonly save: string;
  /** The restore binary. */
  readonly restore: string;
  /** Extra arguments for the restore binary (e.g. --wait N). */
  readonly restoreArgs: readonly string[];
  /** The table, such as `filter`. */
  readonly table: string;
}
