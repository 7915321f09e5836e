// The addon in several environments of one process (worker threads, as test runners and apps
// use): each has its own instance data, and a worker torn down mid-scan leaves the rest working.
import { Worker } from 'node:worker_threads';
import { expect, it } from 'vitest';
import { nativeInfo, loadNative } from '../src/native';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.path);
(async () => {
  const ids = addon.chainRuleHashes('FORWARD', '-A FORWARD HASH --jump DROP', 1);
  const s = new addon.Scanner(Buffer.from('cali:'), [Buffer.from('cali-')], false, 0);
  const lines = ['*filter'];
  for (let i = 0; i < 5000; i++) lines.push('-A cali-x -m comment --comment "cali:' + String(i).padStart(16, '0') + '" -j ACCEPT');
  lines.push('COMMIT', '');
  const dump = Buffer.from(lines.join('\\n'));
  for (let i = 0; i < dump.length; i += 1000) s.push(dump.subarray(i, i + 1000));
  if (workerData.abandon) { parentPort.postMessage({ ids, abandoned: true }); return; }
  const r = await s.finish();
  parentPort.postMessage({ ids, rules: r.codes.length, fault: r.fault ? String(r.fault) : undefined });
})();
`;

function runWorker(path: string, abandon: boolean): Promise<{ ids: string; rules?: number; fault?: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { path, abandon } });
    worker.once('message', (m: { ids: string; rules?: number; fault?: string }) => {
      // Terminating right away tears the environment down, possibly with a scan still queued.
      void worker.terminate().then(() => resolve(m));
    });
    worker.once('error', reject);
  });
}

it('works in worker threads next to the main thread, and survives their teardown', async () => {
  const path = nativeInfo().path;
  expect(path).toBeDefined();
  const results = await Promise.all([runWorker(path as string, false), runWorker(path as string, true), runWorker(path as string, false), runWorker(path as string, true)]);
  for (const r of results) expect(r.ids).toBe('hecdSCslEjdBPBPo');
  expect(results.filter((r) => r.rules !== undefined).map((r) => r.rules)).toEqual([5000, 5000]);
  // The main thread's instance is unaffected.
  expect(loadNative()?.chainRuleHashes('FORWARD', '-A FORWARD HASH --jump DROP', 1)).toBe('hecdSCslEjdBPBPo');
});
