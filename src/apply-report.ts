// What one Table.apply() did, as the Table counted it while doing it.
import type { PlanSummary } from './restore-plan';

/** One iptables-restore run that succeeded during an apply. */
export interface AppliedWrite {
  /** The whole input, byte for byte as iptables-restore read it. */
  readonly input: string;
  /** What it changed, counted as plan() counts (a deletion run counts only chainsToDelete). */
  readonly summary: PlanSummary;
}

/** What became of a first apply's write without a read (backend nftables only): `'landed'`;
 *  `'table existed'` (its `create table` failed, so nothing of it landed, and the apply read the
 *  table and wrote the difference); `'failed'` (it failed otherwise: handled as any failed write,
 *  retried after a read when a retry can pass). */
export type SpeculativeWrite = 'landed' | 'table existed' | 'failed';

/** What one apply did. */
export interface ApplyReport {
  /** Call apply again this many ms from now (0: no need): what apply() resolves to. */
  readonly rescheduleAfterMs: number;
  /** The restore runs that succeeded, in order: the main transaction, then chain deletions. */
  readonly writes: readonly AppliedWrite[];
  /** Chains deleted, in the order they went. */
  readonly deletedChains: readonly string[];
  /** iptables-save runs (retries included). */
  readonly reads: number;
  /** Tries of the main transaction (1, or more after retryable failures; a write without a read
   *  that found the table existing counts as one). */
  readonly attempts: number;
  /** Backend nftables: present when this apply wrote without reading first (the first apply of
   *  a Table that wants something), and what became of that write. */
  readonly speculativeWrite?: SpeculativeWrite;
}

/** The report while the apply runs. */
export interface ReportInProgress {
  writes: AppliedWrite[];
  deletedChains: string[];
  reads: number;
  attempts: number;
  speculativeWrite?: SpeculativeWrite;
}

/** A write whose input is joined from the chunks the writer kept only when someone reads it:
 *  joining 14 MB at the end of every apply stalled the event loop ~10 ms and doubled the input's
 *  memory at the apply's peak, for a report that apply() callers never look at. */
export function appliedWrite(input: () => string, summary: PlanSummary): AppliedWrite {
  let source: (() => string) | undefined = input;
  let text: string | undefined;
  return Object.freeze({
    get input(): string {
      if (text === undefined) {
        text = (source as () => string)();
        source = undefined;
      }
      return text;
    },
    summary,
  });
}

/** An empty report for an apply that starts. */
export function startReport(): ReportInProgress {
  return { writes: [], deletedChains: [], reads: 0, attempts: 0 };
}

/** The finished report: a frozen copy, safe to hand out while the Table goes on. */
export function finishReport(report: ReportInProgress, rescheduleAfterMs: number): ApplyReport {
  return Object.freeze({
    rescheduleAfterMs,
    writes: Object.freeze([...report.writes]),
    deletedChains: Object.freeze([...report.deletedChains]),
    reads: report.reads,
    attempts: report.attempts,
    ...(report.speculativeWrite !== undefined ? { speculativeWrite: report.speculativeWrite } : {}),
  });
}
