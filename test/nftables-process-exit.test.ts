// A process that uses backend 'nftables' ends by itself when its work is done: the listing worker
// never holds it open (as with the iptables backends, no close() is needed).
import { beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { useNamespace } from './helpers/netns';
import { buildCliIfMissing, ROOT, runCommandLine } from './helpers/run-cli';

const ns = useNamespace('nftexit');
beforeAll(() => buildCliIfMissing());

const script = (netns: string, applies: number): string => `
const lib = require(${JSON.stringify(join(ROOT, 'dist', 'index.js'))});
(async () => {
  const t = new lib.Table('filter', 4, 'ipts:', lib.NO_OP_LOCK, { netns: ${JSON.stringify(netns)}, backend: 'nftables', historicChainPrefixes: ['ipts-'] });
  t.updateChain(new lib.Chain({ name: 'ipts-a', rules: [{ action: new lib.AcceptAction() }] }));
  for (let i = 0; i < ${applies}; i++) { t.invalidateDataplaneCache('again'); await t.apply(); }
  console.log('applied');
})();
`;

it.each([1, 2])('exits on its own after %i apply() call(s), the first into a namespace without our table', async (applies) => {
  await ns.execOk('nft', ['flush', 'ruleset']);
  const run = await runCommandLine(process.execPath, ['-e', script(ns.name, applies)], { timeoutMs: 8_000 });
  expect(run.stderr).toBe('');
  expect(run.stdout).toBe('applied\n');
  expect(run.signal).toBeNull(); // SIGKILLed at the deadline: something held the process open
  expect(run.code).toBe(0);
});
