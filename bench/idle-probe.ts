// An idle Node process (no work but the event loop's own timers), forked by the worker beside a
// bare restore or save: its longest event-loop delay is what this machine alone costs a process
// that runs no JavaScript, measured in the same run as our Table's stall inside apply().
//
// Protocol over IPC: 'start' → resets the monitor, replies 'started'; 'stop' → replies
// { maxMs, p99Ms }. It exits when the parent disconnects.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const h = monitorEventLoopDelay({ resolution: 1 });
// Keep the loop alive (a real agent has timers and sockets); the monitor's own 1 ms timer does
// the sampling.
const keepAlive = setInterval(() => undefined, 1000);

process.on('message', (msg: unknown) => {
  if (msg === 'start') {
    h.reset();
    h.enable();
    process.send?.('started');
  } else if (msg === 'stop') {
    h.disable();
    process.send?.({ maxMs: h.count > 0 ? h.max / 1e6 : 0, p99Ms: h.count > 0 ? h.percentile(99) / 1e6 : 0 });
  }
});
process.on('disconnect', () => {
  clearInterval(keepAlive);
});
