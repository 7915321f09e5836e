// Health of the watch loop, for /healthz and /readyz. The loop reports each pass; the handlers
// only read that state, so a probe never waits for iptables.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from './errors';

/**
 * /healthz turns 503 when a pass has been running (or, before the first pass, the loop has been
 * starting) for longer than this. A Table kills every child after its command timeout (120 s)
 * and gives up on the lock after the lock timeout, so a pass this long means the loop is stuck.
 */
export const DEFAULT_STUCK_AFTER_MS = 300_000;

/** What a probe answers: the HTTP status and a one-line reason. */
export interface HealthVerdict {
  /** The HTTP status to answer: 200 healthy/ready, 503 not. */
  readonly status: 200 | 503;
  /** Why, in one line (the response body). */
  readonly reason: string;
}

/** The loop's state as the probes see it (times are ms since the epoch). */
export interface HealthState {
  /** When the watch loop started. */
  readonly startedAt: number;
  /** When the pass now running started; undefined between passes. */
  readonly passRunningSince: number | undefined;
  /** When the last pass finished; undefined before the first one. */
  readonly lastPassFinishedAt: number | undefined;
  /** Whether the last finished pass applied every table (the dataplane was in sync after it). */
  readonly lastPassOk: boolean | undefined;
  /** Why the last finished pass failed. */
  readonly lastError: string | undefined;
  /** When a pass last applied every table; undefined before the first success. */
  readonly lastSuccessAt: number | undefined;
}

/** Options of WatchHealth. */
export interface WatchHealthOptions {
  /** See DEFAULT_STUCK_AFTER_MS (ms). */
  readonly stuckAfterMs?: number;
  /** Tests: replaces Date.now(). */
  readonly now?: () => number;
}

/** Tracks the watch loop's passes; the loop calls passStarted() and passFinished(). */
export class WatchHealth {
  private readonly now: () => number;
  private readonly stuckAfterMs: number;
  private current: HealthState;

  /** Starts the clock of the start-up bound now.
   *  @throws {@link InvalidOptionError} naming the option and the value for a bad option. */
  constructor(options: WatchHealthOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'expected an object');
    const { now = Date.now, stuckAfterMs = DEFAULT_STUCK_AFTER_MS } = options;
    if (typeof now !== 'function') throw new InvalidOptionError('now', now, 'expected a function returning ms since the epoch');
    if (typeof stuckAfterMs !== 'number' || !Number.isFinite(stuckAfterMs) || stuckAfterMs < 0) {
      throw new InvalidOptionError('stuckAfterMs', stuckAfterMs, 'expected a finite number of milliseconds >= 0');
    }
    this.now = now;
    this.stuckAfterMs = stuckAfterMs;
    this.current = { startedAt: this.now(), passRunningSince: undefined, lastPassFinishedAt: undefined, lastPassOk: undefined, lastError: undefined, lastSuccessAt: undefined };
  }

  /** A reconcile pass begins. */
  passStarted(): void {
    this.current = { ...this.current, passRunningSince: this.now() };
  }

  /** `ok`: every table applied and was in sync at the end of the pass; else `error` says why. */
  passFinished(ok: boolean, error?: string): void {
    const at = this.now();
    this.current = {
      ...this.current,
      passRunningSince: undefined,
      lastPassFinishedAt: at,
      lastPassOk: ok,
      lastError: ok ? undefined : (error ?? 'apply failed'),
      lastSuccessAt: ok ? at : this.current.lastSuccessAt,
    };
  }

  /** The state the probes answer from. */
  get state(): HealthState {
    return this.current;
  }

  /** 200 while the loop makes progress: no pass (nor the start-up) has been going on for longer
   *  than the stuck bound. A failing apply is still healthy: the loop retries it. */
  healthz(): HealthVerdict {
    const s = this.current;
    const since = s.passRunningSince ?? (s.lastPassFinishedAt === undefined ? s.startedAt : undefined);
    if (since === undefined) return { status: 200, reason: 'ok: idle between passes' };
    const runningMs = this.now() - since;
    if (runningMs > this.stuckAfterMs) return { status: 503, reason: `stuck: a pass has been running for ${runningMs} ms (bound ${this.stuckAfterMs} ms)` };
    return { status: 200, reason: `ok: a pass is running (${runningMs} ms)` };
  }

  /** 200 when the last finished pass applied every table (so the dataplane was in sync then). */
  readyz(): HealthVerdict {
    const s = this.current;
    if (s.lastPassOk === undefined) return { status: 503, reason: 'not ready: the first apply has not finished' };
    if (!s.lastPassOk) return { status: 503, reason: `not ready: the last apply failed: ${s.lastError ?? ''}` };
    return { status: 200, reason: `ok: in sync since ${new Date(s.lastSuccessAt ?? 0).toISOString()}` };
  }
}

/** Answers GET /healthz and /readyz from `health`; returns false for other requests. */
export function serveHealth(health: WatchHealth, req: IncomingMessage, res: ServerResponse): boolean {
  const path = req.url?.split('?')[0];
  if (req.method !== 'GET' || (path !== '/healthz' && path !== '/readyz')) return false;
  const verdict = path === '/healthz' ? health.healthz() : health.readyz();
  res.writeHead(verdict.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${verdict.reason}\n`);
  return true;
}
