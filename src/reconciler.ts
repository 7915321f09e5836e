// Reconciler: the re-apply loop around one or more Tables. apply() resolves to "call me again
// in N ms"; a program that keeps iptables in sync calls it on that timer, again when its desired
// state changes, and sooner after a failure. This is that loop, once, with one pass at a time.
// `iptables-sync watch` is a thin client of it (signals, the rules file, metrics).
import { InvalidOptionError } from './errors';
import type { ApplyReport } from './table';
import { nonNegativeMs } from './validate';

/** What the Reconciler needs of a Table. A Table fits; tests may pass their own. */
export interface ReconciledTable {
  /** The table's name (filter, nat, …), for reports and logs. */
  readonly name: string;
  /** 4 or 6. */
  readonly ipVersion: number;
  /** One apply, resolving to what it did (Table.applyWithReport). */
  applyWithReport(): Promise<ApplyReport>;
  /** Makes the next apply re-read the dataplane. */
  invalidateDataplaneCache(reason: string): void;
  /** After a failed apply: what landed before the failure. */
  readonly lastApplyReport?: ApplyReport | undefined;
}

/** How one table fared in a pass. */
export interface TableOutcome {
  /** The table applied. */
  readonly table: ReconciledTable;
  /** What the apply did; after a failure, what landed before it (when the table says). */
  readonly report: ApplyReport | undefined;
  /** Why the apply failed; absent when it succeeded. */
  readonly error?: unknown;
}

/** One reconcile pass: every table applied once, in order. */
export interface PassResult {
  /** What asked for the pass ("start", "re-read", "retry", or the caller's reason). */
  readonly trigger: string;
  /** The reason of the desired-state change this pass took, else the trigger. */
  readonly reason: string;
  /** This pass took a desired-state change staged with reload(). */
  readonly desiredStateChanged: boolean;
  /** No pass has succeeded before this one (its writes bring the state in, not repair drift). */
  readonly first: boolean;
  /** Each table's outcome, in the order applied. */
  readonly tables: readonly TableOutcome[];
  /** Every table applied without error. */
  readonly ok: boolean;
  /** When the Reconciler runs the next pass on its own (ms from the pass's end), if at all. */
  readonly nextPassMs: number | undefined;
}

/** Timers the Reconciler schedules with (tests pass fakes). */
export interface ReconcilerTimers {
  /** Calls `fn` in `ms`; returns a handle for clearTimeout. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer setTimeout returned. */
  clearTimeout(handle: unknown): void;
}

/** Options of a {@link Reconciler}; all optional. */
export interface ReconcilerOptions {
  /** The tables to keep in sync, applied in this order. reload() replaces them. */
  readonly tables?: Iterable<ReconciledTable>;
  /** Called when a pass begins (health probes time passes with it). */
  readonly onPassStart?: () => void;
  /** Called after every pass (before the next is scheduled to run). Exceptions are not caught. */
  readonly onPass?: (result: PassResult) => void;
  /** First delay after a failed pass (default 1 s); doubles per failure in a row. */
  readonly firstRetryMs?: number;
  /** Longest delay after failed passes (default 60 s). */
  readonly maxRetryMs?: number;
  /** Tests: replaces setTimeout and clearTimeout. */
  readonly timers?: ReconcilerTimers;
}

function optionalFunction<F>(option: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new InvalidOptionError(option, value, 'expected a function');
  return value;
}

/** The tables as an array, each checked for what the Reconciler calls. */
function tablesFrom(option: string, tables: unknown): ReconciledTable[] {
  const iterable = tables as { [Symbol.iterator]?: unknown } | null;
  if (typeof iterable !== 'object' || iterable === null || typeof iterable[Symbol.iterator] !== 'function') {
    throw new InvalidOptionError(option, tables, 'expected an iterable of tables (such as an array of Table)');
  }
  const list = [...(tables as Iterable<unknown>)];
  list.forEach((table, i) => {
    const t = table as Partial<ReconciledTable> | null;
    if (typeof t !== 'object' || t === null || typeof t.applyWithReport !== 'function' || typeof t.invalidateDataplaneCache !== 'function') {
      throw new InvalidOptionError(`${option}[${i}]`, table, 'expected a table with applyWithReport() and invalidateDataplaneCache()');
    }
  });
  return list as ReconciledTable[];
}

const REAL_TIMERS: ReconcilerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Keeps Tables in sync: one pass at a time applies each table, then schedules the next pass when
 * the tables ask for it (the soonest rescheduleAfterMs), or sooner after a failure (backing off
 * from firstRetryMs to maxRetryMs). A trigger that arrives during a pass runs one more pass
 * after it. A desired-state change staged with reload() is taken at the start of the next pass,
 * so a pass never sees the state change under it and each write is reported with its cause.
 */
export class Reconciler {
  private current: ReconciledTable[];
  private readonly onPassStart: (() => void) | undefined;
  private readonly onPass: ((result: PassResult) => void) | undefined;
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly timers: ReconcilerTimers;

  private timer: unknown;
  private running: Promise<void> | undefined;
  private queued: string | undefined;
  private staged: { readonly reason: string; readonly change: () => Iterable<ReconciledTable> } | undefined;
  private stopping = false;
  private errorBackoffMs = 0;
  private succeededOnce = false;

  /** Makes a Reconciler; nothing runs until trigger() (or schedule()).
   *  @throws {@link InvalidOptionError} naming the option and the value for a bad option. */
  constructor(options: ReconcilerOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'expected an object');
    this.current = tablesFrom('tables', options.tables ?? []);
    this.onPassStart = optionalFunction('onPassStart', options.onPassStart);
    this.onPass = optionalFunction('onPass', options.onPass);
    this.firstRetryMs = nonNegativeMs('firstRetryMs', options.firstRetryMs, 1000);
    this.maxRetryMs = nonNegativeMs('maxRetryMs', options.maxRetryMs, 60_000);
    const timers: unknown = options.timers ?? REAL_TIMERS;
    const t = timers as Partial<ReconcilerTimers> | null;
    if (typeof t !== 'object' || t === null || typeof t.setTimeout !== 'function' || typeof t.clearTimeout !== 'function') {
      throw new InvalidOptionError('timers', timers, 'expected an object with setTimeout and clearTimeout functions');
    }
    this.timers = timers as ReconcilerTimers;
  }

  /** The tables the next pass applies (before a staged change). */
  get tables(): readonly ReconciledTable[] {
    return this.current;
  }

  /** Asks for a pass now; during a pass, one more runs after it. Nothing after stop(). */
  trigger(reason: string): void {
    if (this.stopping) return;
    if (this.running) {
      this.queued = this.queued ?? reason;
      return;
    }
    this.running = this.pass(reason).then(
      () => this.passEnded(),
      () => this.passEnded(),
    );
  }

  /** Asks for a pass in delayMs, replacing any pass scheduled before. */
  schedule(reason: string, delayMs: number): void {
    if (this.stopping) return;
    this.clearTimer();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.trigger(reason);
    }, delayMs);
  }

  /**
   * Stages a change of the desired state: `change` runs at the start of the next pass (not now)
   * and returns the tables to keep in sync from then on. A later reload before that pass
   * replaces this one. Does not ask for a pass: call trigger() for that.
   * @throws {@link InvalidOptionError} when `change` is not a function.
   */
  reload(reason: string, change: () => Iterable<ReconciledTable>): void {
    if (typeof change !== 'function') throw new InvalidOptionError('change', change, 'reload() takes a function returning the tables');
    this.staged = { reason, change };
  }

  /** Makes every table re-read the dataplane on its next apply (e.g. on SIGHUP). */
  invalidate(reason: string): void {
    for (const table of this.current) table.invalidateDataplaneCache(reason);
  }

  /**
   * One pass now: takes a staged change, applies every table, reports, schedules the next.
   * trigger() is the way to ask for one without overlapping a pass under way.
   */
  async pass(trigger: string): Promise<PassResult> {
    this.onPassStart?.();
    const staged = this.staged;
    this.staged = undefined;
    if (staged) this.current = [...staged.change()];
    const first = !this.succeededOnce;
    const outcomes: TableOutcome[] = [];
    let soonest = Infinity;
    for (const table of this.current) {
      try {
        const report = await table.applyWithReport();
        outcomes.push({ table, report });
        if (report.rescheduleAfterMs > 0) soonest = Math.min(soonest, report.rescheduleAfterMs);
      } catch (error) {
        outcomes.push({ table, report: table.lastApplyReport, error });
      }
    }
    const ok = outcomes.every((o) => !('error' in o));
    let nextPassMs: number | undefined;
    if (ok) {
      this.succeededOnce = true;
      this.errorBackoffMs = 0;
      if (Number.isFinite(soonest)) nextPassMs = soonest;
    } else {
      this.errorBackoffMs = Math.min(this.maxRetryMs, this.errorBackoffMs === 0 ? this.firstRetryMs : this.errorBackoffMs * 2);
      nextPassMs = Math.min(soonest, this.errorBackoffMs);
    }
    const result: PassResult = Object.freeze({
      trigger,
      reason: staged?.reason ?? trigger,
      desiredStateChanged: staged !== undefined,
      first,
      tables: Object.freeze(outcomes),
      ok,
      nextPassMs,
    });
    this.onPass?.(result);
    if (nextPassMs !== undefined) this.schedule(ok ? 're-read' : 'retry', nextPassMs);
    return result;
  }

  /** Resolves once no pass is running or queued. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops scheduling passes; resolves once the pass under way (never cut short) has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimer();
    this.queued = undefined;
    await this.idle();
  }

  private passEnded(): void {
    this.running = undefined;
    if (this.queued !== undefined && !this.stopping) {
      const next = this.queued;
      this.queued = undefined;
      this.trigger(next);
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
