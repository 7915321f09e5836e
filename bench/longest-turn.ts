// The longest event-loop turn of a stretch of work, as the benchmark measures stalls (in the
// process under test and in the idle probe alike); its own file so the idle probe loads nothing else.

/**
 * The longest event-loop turn from `from()` on, seen by a 1 ms interval: a stall is the gap
 * between two ticks (the first one counted from `from()`). Unlike monitorEventLoopDelay, whose
 * first sample is its second timer firing, it also sees a stall in the turn that starts the work
 * and, after `stop()` (which waits for one more tick), in the turn that ends it.
 */
export class LongestTurn {
  private last = performance.now();
  private startedAt = Number.POSITIVE_INFINITY;
  private longest = 0;
  private readonly ticker = setInterval(() => this.tick(), 1);

  /** Counts from now on (turns before now are not counted). */
  from(): void {
    this.startedAt = performance.now();
    this.longest = 0;
  }

  private tick(): void {
    const now = performance.now();
    if (now > this.startedAt) this.longest = Math.max(this.longest, now - Math.max(this.last, this.startedAt));
    this.last = now;
  }

  /** Waits for the next tick (so the turn now under way is counted), stops; the longest turn in ms. */
  async stop(): Promise<number> {
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
    clearInterval(this.ticker);
    this.tick();
    return this.longest;
  }
}
