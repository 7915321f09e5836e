// The Table's clock arithmetic: when a re-read is due (refresh timer, growing post-write
// intervals), when apply() should be called again, and the decaying peaks of save/restore time.

/** Each observation decays the peak save/restore time by 1% (latest Felix's factor). */
const PEAK_DECAY = 0.99;
/** Post-write re-reads stop once their interval reaches an hour. */
const MAX_POST_WRITE_INTERVAL_MS = 60 * 60 * 1000;

/** The timing state the Table keeps between applies. */
export interface ApplyClock {
  /** 0: no refresh timer. */
  readonly refreshIntervalMs: number;
  readonly lastReadTime: number;
  readonly lastWriteTime: number;
  readonly postWriteIntervalMs: number;
}

/** At the start of an apply: the post-write interval doubled past each re-read now due, and why
 *  the cache must be re-read (undefined: no need). */
export function rereadDue(c: ApplyClock, now: number): { readonly postWriteIntervalMs: number; readonly reason: string | undefined } {
  let reason: string | undefined;
  if (c.refreshIntervalMs > 0 && now - c.lastReadTime >= c.refreshIntervalMs) reason = 'refresh timer';
  // After a write, re-read at growing intervals in case another program clobbers us.
  let interval = c.postWriteIntervalMs;
  while (interval < MAX_POST_WRITE_INTERVAL_MS && now >= c.lastWriteTime + interval) {
    interval *= 2;
    reason ??= 'post-write re-read';
  }
  return { postWriteIntervalMs: interval, reason };
}

/** How many ms after `now` (the apply's start) apply() should run again; 0: not needed. Never 0
 *  while a refresh is due. */
export function rescheduleAfter(c: ApplyClock, now: number): number {
  let rescheduleAfterMs = 0;
  if (c.refreshIntervalMs > 0) rescheduleAfterMs = Math.max(1, c.refreshIntervalMs - (now - c.lastReadTime));
  if (c.postWriteIntervalMs < MAX_POST_WRITE_INTERVAL_MS) {
    const untilPostWrite = c.lastWriteTime + c.postWriteIntervalMs - now;
    if (untilPostWrite <= 0) rescheduleAfterMs = 1;
    else if (c.refreshIntervalMs <= 0 || untilPostWrite < rescheduleAfterMs) rescheduleAfterMs = untilPostWrite;
  }
  return Math.max(0, rescheduleAfterMs);
}

/** A peak that decays by 1% per observation and jumps to any longer one (latest Felix's). */
export function peakAfter(peakMs: number, observedMs: number): number {
  return Math.max(peakMs * PEAK_DECAY, observedMs);
}
