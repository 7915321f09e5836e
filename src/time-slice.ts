// Cooperative time slicing: long loops on the main thread (100k rules) call tick() per item and
// yield to the event loop every few milliseconds, so the embedding agent's timers and I/O keep
// running while we work.
//
// A slice belongs to the event-loop turn, not to one loop: sliced steps that follow each other
// in one turn (decode, build, compare) share its slice, else each would start a fresh one and
// the turn would last a slice per step.
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** Time one slice may take before we yield. */
export const SLICE_MS = 4;
const ITEMS_BETWEEN_CLOCK_CHECKS = 256;

/** When the slice of the current turn ends; undefined once that turn is over. */
let turnDeadline: number | undefined;

function endTurn(): void {
  turnDeadline = undefined;
}

/** The current turn's deadline, starting its slice now if none has started yet. An immediate
 *  runs only after this turn's callback and its microtasks, so it marks the turn's end. */
function currentTurnDeadline(): number {
  if (turnDeadline === undefined) {
    turnDeadline = performance.now() + SLICE_MS;
    setImmediate(endTurn);
  }
  return turnDeadline;
}

export class TimeSlicer {
  private items = 0;
  private deadline = currentTurnDeadline();

  /** Whether this slice is used up (checks the clock every few hundred items only). An item
   *  may count as `weight` items (say a chain as its rules). */
  due(weight = 1): boolean {
    const before = this.items;
    this.items += weight;
    return Math.floor(before / ITEMS_BETWEEN_CLOCK_CHECKS) !== Math.floor(this.items / ITEMS_BETWEEN_CLOCK_CHECKS) && performance.now() > this.deadline;
  }

  /** Yields to the event loop and goes on in the next turn's slice. */
  async yield(): Promise<void> {
    await yieldToEventLoop();
    this.deadline = currentTurnDeadline();
  }
}
