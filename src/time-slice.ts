// Cooperative time slicing: long loops on the main thread (100k rules) call tick() per item and
// yield to the event loop every few milliseconds, so the embedding agent's timers and I/O keep
// running while we work.
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** Time one slice may take before we yield. */
export const SLICE_MS = 4;
const ITEMS_BETWEEN_CLOCK_CHECKS = 256;

export class TimeSlicer {
  private items = 0;
  private deadline = performance.now() + SLICE_MS;

  /** Whether this slice is used up (checks the clock every few hundred items only). An item
   *  may count as `weight` items (say a chain as its rules). */
  due(weight = 1): boolean {
    const before = this.items;
    this.items += weight;
    return Math.floor(before / ITEMS_BETWEEN_CLOCK_CHECKS) !== Math.floor(this.items / ITEMS_BETWEEN_CLOCK_CHECKS) && performance.now() > this.deadline;
  }

  /** Yields to the event loop and starts a new slice. */
  async yield(): Promise<void> {
    await yieldToEventLoop();
    this.deadline = performance.now() + SLICE_MS;
  }
}
