// TimeSlicer: sliced steps that run before the loop's timers get a turn share one slice, so a
// chain of them (decode, build, compare), or a slice resumed in the same loop iteration, never
// keeps the agent's timers waiting for more than one slice.
import { stat } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { SLICE_MS, TimeSlicer } from '../src/time-slice';

// The slicer's clock moves only when a test uses up time (busyFor): whether a slice is fresh
// must not depend on how a loaded machine schedules this process (a 2 ms slice can pass while
// the test is descheduled between two lines). The loop's timers run on real time.
let clock = 0;
beforeEach(() => {
  clock = performance.now();
  vi.spyOn(performance, 'now').mockImplementation(() => clock);
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Whether `slicer` says it is due within one clock check's worth of items. */
function dueSoon(slicer: TimeSlicer): boolean {
  for (let i = 0; i < 1024; i++) if (slicer.due()) return true;
  return false;
}

/** Uses up `ms` of the slice, on the slicer's clock and in real time (so the loop's timers set
 *  before it are due after it). */
function busyFor(ms: number): void {
  clock += ms;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // real time passes too
  }
}

const timersRun = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2));

it('a slicer made later in the same turn continues that turn\'s slice', () => {
  const first = new TimeSlicer();
  busyFor(SLICE_MS + 1);
  const second = new TimeSlicer();
  expect(dueSoon(second)).toBe(true);
  expect(dueSoon(first)).toBe(true);
});

it('a slice used up in an I/O callback yields past the loop\'s timers: an agent\'s due timer has run when it resumes, in a fresh slice', async () => {
  const result = await new Promise<{ readonly fired: boolean; readonly fresh: boolean }>((resolve, reject) => {
    stat(__filename, (error) => {
      if (error) return reject(error);
      // The poll phase: a bare setImmediate would resume in this iteration's check phase, before
      // the agent's timer below, which is due by the end of the slice.
      let fired = false;
      setTimeout(() => void (fired = true), 0);
      const slicer = new TimeSlicer();
      busyFor(SLICE_MS + 1);
      void slicer.yield().then(() => resolve({ fired, fresh: !dueSoon(slicer) }));
    });
  });
  expect(result).toEqual({ fired: true, fresh: true });
});

it('once the loop\'s timers have run, a slicer (new, or resuming) starts a fresh slice', async () => {
  const slicer = new TimeSlicer();
  busyFor(SLICE_MS + 1);
  expect(dueSoon(slicer)).toBe(true);
  await timersRun();
  expect(dueSoon(new TimeSlicer())).toBe(false);
  await timersRun();
  await slicer.yield();
  expect(dueSoon(slicer)).toBe(false);
});
