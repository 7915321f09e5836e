// The naive baseline: a wrapper that spawns one `iptables` process per rule, as a simple
// per-rule library would. It runs *inside* the namespace (`ip netns exec <ns> node naive.js`),
// so each of its iptables children is spawned directly, as it would be on a host, and does not
// pay the `ip netns exec` wrapper per call (which would make the baseline look worse than it is).
//
//   node naive.js <iptables binary> <argv list JSON file> <check every k-th rule>
// Prints JSON: {appendWallMs, appendSpawns, appendChildCpuMs, checkWallMs, checkSpawns, checkSample}
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { childrenCpuMs } from './measure';

function runOne(bin: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} ${args.join(' ')}: exit ${code}: ${err.trim()}`))));
  });
}

async function main(): Promise<void> {
  const [bin, file, every] = process.argv.slice(2) as [string, string, string];
  const argvs = JSON.parse(readFileSync(file, 'utf8')) as string[][];
  const sample = Math.max(1, Number(every));
  const kids0 = childrenCpuMs();
  const t0 = performance.now();
  for (const argv of argvs) await runOne(bin, ['-w', '-t', 'filter', ...argv]);
  const appendWallMs = performance.now() - t0;
  const appendChildCpuMs = childrenCpuMs() - kids0;
  const checks = argvs.filter((a) => a[0] === '-A').map((a) => ['-C', ...a.slice(1)]);
  const sampled = checks.filter((_, i) => i % sample === 0);
  const t1 = performance.now();
  for (const argv of sampled) await runOne(bin, ['-w', '-t', 'filter', ...argv]);
  const checkWallMs = ((performance.now() - t1) * checks.length) / sampled.length;
  process.stdout.write(
    JSON.stringify({ appendWallMs, appendSpawns: argvs.length, appendChildCpuMs, checkWallMs, checkSpawns: checks.length, checkSample: sample }),
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
