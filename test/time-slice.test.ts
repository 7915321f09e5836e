// TimeSlicer: loops that follow each other in one event-loop turn share that turn's slice, so a
// chain of sliced steps (decode, build, compare) never runs a fresh slice per step in one turn.
import { performance } from 'node:perf_hooks';
import { expect, it } from 'vitest';
import { SLICE_MS, TimeSlicer } from '../src/time-slice';

/** Whether `slicer` says it is due within one clock check's worth of items. */
function dueSoon(slicer: TimeSlicer): boolean {
  for (let i = 0; i < 1024; i++) if (slicer.due()) return true;
  return false;
}

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the turn's slice is being used up
  }
}

it('a slicer made later in the same turn continues that turn\'s slice', () => {
  const first = new TimeSlicer();
  busyFor(SLICE_MS + 1);
  const second = new TimeSlicer();
  expect(dueSoon(second)).toBe(true);
  expect(dueSoon(first)).toBe(true);
});

it('a slicer made in a fresh turn, or resumed after its yield, starts a fresh slice', async () => {
  const slicer = new TimeSlicer();
  busyFor(SLICE_MS + 1);
  expect(dueSoon(slicer)).toBe(true);
  await slicer.yield();
  expect(dueSoon(slicer)).toBe(false);
  expect(dueSoon(new TimeSlicer())).toBe(false);
  await new Promise((resolve) => setImmediate(resolve));
  expect(dueSoon(new TimeSlicer())).toBe(false);
});
