// An idle Node process (no work but the event loop's own timers), forked by the worker beside a
// bare restore or save: its longest event-loop delay is what this machine alone costs a process
// that runs no JavaScript, measured in the same run as our Table's stall inside apply().
//
// Protocol over IPC: 'start' → resets the monitor, replies 'started'; 'stop' → replies
// { maxMs, p99Ms }. It exits when the parent disconnects.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LongestTurn } from './longest-turn';

const h = monitorEventLoopDelay({ resolution: 1 });
// Keep the loop alive (a real agent has timers and sockets); the monitor's own 1 ms timer does
// the sampling.
const keepAlive = setInterval(() => undefined, 1000);

// Measured as the Table's stall is (bench/measure.ts): the longest turn, or the monitor's max.
let turns: LongestTurn | undefined;

process.on('message', (msg: unknown) => {
  if (msg === 'start') {
    h.reset();
    h.enable();
    turns = new LongestTurn();
    turns.from();
    process.send?.('started');
  } else if (msg === 'stop') {
    const watched = turns;
    turns = undefined;
    void (watched ? watched.stop() : Promise.resolve(0)).then((longestMs) => {
      h.disable();
      process.send?.({ maxMs: Math.max(longestMs, h.count > 0 ? h.max / 1e6 : 0), p99Ms: h.count > 0 ? h.percentile(99) / 1e6 : 0 });
    });
  }
});
process.on('disconnect', () => {
  clearInterval(keepAlive);
});
