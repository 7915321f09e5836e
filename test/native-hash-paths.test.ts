// The addon's SHA-224 has two block functions on x86-64: the CPU's SHA extensions where it has
// them (IPTABLES_SYNC_SHA unset) and the portable code (IPTABLES_SYNC_SHA=portable, and every CPU
// without them). Each, in a process of its own, gives the TypeScript twin's rule IDs.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { buildCliIfMissing, ROOT, runCommandLine } from './helpers/run-cli';

const script = `
const { ruleIdsOfChains, ruleIdsOfChainsTs } = require(${JSON.stringify(join(ROOT, 'dist', 'hash.js'))});
const { loadNative } = require(${JSON.stringify(join(ROOT, 'dist', 'native.js'))});
if (!loadNative()) throw new Error('the addon did not load');
// Bodies of 0 to 300 bytes (one to six SHA blocks with the chain's 28-byte seed), multibyte too.
const chains = [];
for (let c = 0; c < 200; c++) {
  const rules = [];
  for (let r = 0; r < 1 + (c % 9); r++) {
    const n = (c * 37 + r * 101) % 301;
    rules.push({ body: Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((c + r + i * 7) % 95))).join('') + (r % 4 === 0 ? ' é中' : '') });
  }
  chains.push({ name: 'ipts-' + c, rules });
}
process.stdout.write(JSON.stringify({ native: ruleIdsOfChains(chains), twin: ruleIdsOfChainsTs(chains) }));
`;

it.each(['', 'portable'])('IPTABLES_SYNC_SHA=%s: the native IDs are the TypeScript twin\'s', async (sha) => {
  buildCliIfMissing();
  const run = await runCommandLine(process.execPath, ['-e', script], { env: { IPTABLES_SYNC_SHA: sha } });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout) as { native: string[][]; twin: string[][] };
  expect(out.native.flat().length).toBeGreaterThan(900);
  expect(out.native).toEqual(out.twin);
});
