// Cooperative time slicing: long loops on the main thread (100k rules) call due() per item and
// yield to the event loop every few milliseconds, so the embedding agent's timers and I/O keep
// running while we work.
//
// A slice belongs to the event loop's iteration, not to one loop: sliced steps that follow each
// other before the loop's timers run again (decode, build, compare; a slice begun in an I/O
// callback and resumed by setImmediate in the same iteration's check phase) share one slice,
// else the timers of the embedding agent would wait a slice per step.
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** Time one slice may take before we yield. A V8 scavenge (5-7 ms at 100k rules) or the
 *  scheduler (iptables-restore busy on one of two cores) can land inside any slice, so the
 *  longest turn is a slice plus those: 4 ms slices gave 100k-rule initial applies a median
 *  longest turn of 16.3 ms, 2 ms slices 12.9 ms (7 interleaved pairs), for no measurable cost. */
export const SLICE_MS = 2;
/** Items between two looks at the clock: a look costs ~50 ns; 64 rendered lines take ~0.3 ms. */
const ITEMS_BETWEEN_CLOCK_CHECKS = 64;

/** When the current slice ends; undefined once the loop's timers have run since it began. */
let sliceDeadline: number | undefined;
/** Counts slices, so a slice's marker timer firing late never ends the next slice. */
let sliceNumber = 0;

function endSlice(): void {
  sliceDeadline = undefined;
  sliceNumber++;
}

/** The current slice's deadline, beginning a slice now if none is running. A timer marks the
 *  slice's end: it runs in the loop's timers phase, which is what the agent waits for. (One set
 *  under 1 ms before that phase misses it: the next slice is then short, never long.) */
function currentDeadline(): number {
  if (sliceDeadline === undefined) {
    sliceDeadline = performance.now() + SLICE_MS;
    const mine = sliceNumber;
    setTimeout(() => {
      if (sliceNumber === mine) endSlice();
    }, 0).unref();
  }
  return sliceDeadline;
}

export class TimeSlicer {
  private items = 0;
  private deadline = currentDeadline();

  /** Whether this slice is used up (checks the clock every few hundred items only). An item
   *  may count as `weight` items (say a chain as its rules). */
  due(weight = 1): boolean {
    const before = this.items;
    this.items += weight;
    return Math.floor(before / ITEMS_BETWEEN_CLOCK_CHECKS) !== Math.floor(this.items / ITEMS_BETWEEN_CLOCK_CHECKS) && performance.now() > this.deadline;
  }

  /** Yields to the event loop, past its timers phase when the slice is used up, and goes on in
   *  the slice current then (the same one, when it is not used up and no timers ran since). */
  async yield(): Promise<void> {
    await yieldToEventLoop();
    if (sliceDeadline !== undefined && performance.now() > sliceDeadline) {
      // Used up, and resumed in a check phase that may be the slice's own iteration (begun in an
      // I/O callback): one more setImmediate, set here in the check phase, runs only after the
      // next iteration's timers. Waiting for the slice's 1 ms marker timer instead cost up to a
      // millisecond per slice (+5-10% on a 100k-rule re-read).
      await yieldToEventLoop();
      endSlice();
    }
    this.deadline = currentDeadline();
  }
}
