// The CLI's switches for latest Felix's Table features (issue 14), through the built CLI on real
// iptables in a namespace: --only-referenced-chains for every command that plans or writes, and
// watch's --canary-interval (a flush is repaired without waiting for the refresh) and
// --metric-names felix (Felix's metric names on /metrics).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseRules } from '../src/config';
import { Watch } from './helpers/watch-cli';
import { BACKENDS, chainRules, hasChain, useNamespace, resetTables } from './helpers/netns';
import { buildCliIfMissing, runCli } from './helpers/run-cli';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ipts-used is reached from INPUT; ipts-unused from nothing.
const FILE = `tables:
  filter:
    chains:
      ipts-used:
        - match: { protocol: tcp, destPorts: [22] }
          action: accept
      ipts-unused:
        - action: drop
    insert:
      INPUT:
        - action: { jump: ipts-used }
`;

beforeAll(buildCliIfMissing);

describe('rules file forceProgramming:', () => {
  it('marks the named chains of the table as always written', () => {
    const filter = parseRules(`${FILE}    forceProgramming: [ipts-unused]\n`, 'f.yaml').tables.get('filter');
    expect(filter?.chains.map((c) => [c.name, c.forceProgramming])).toEqual([
      ['ipts-used', false],
      ['ipts-unused', true],
    ]);
  });

  it('refuses a name that is not one of the table\'s chains, and a non-list, with file:line:column', () => {
    for (const [tail, message] of [
      ['    forceProgramming: [ipts-nope]\n', /^f\.yaml:12:24: tables\.filter\.forceProgramming\[0\]: "ipts-nope" is not one of this table's chains/],
      ['    forceProgramming: ipts-used\n', /^f\.yaml:12:23: tables\.filter\.forceProgramming: expected a list of chain names/],
    ] as const) {
      let err: unknown;
      try {
        parseRules(`${FILE}${tail}`, 'f.yaml');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
    }
  });
});

describe.each(BACKENDS)('CLI switches for latest Felix Table features (%s)', (backend) => {
  const ns = useNamespace(`clifx${backend}`);
  let watch: Watch | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ipts-clifelix-'));
  const file = join(dir, 'rules.yaml');

  beforeAll(async () => {
    writeFileSync(file, FILE);
  });
  afterEach(async () => {
    watch?.child.kill('SIGKILL');
    watch = undefined;
    await resetTables(ns, backend);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: readonly string[]) => runCli([...args, '--netns', ns.name, '--backend', backend]);

  it('--only-referenced-chains: plan and apply write only the chains something refers to', async () => {
    const all = await cli(['plan', '-f', file]);
    expect(all.stdout).toContain(':ipts-unused');
    const referenced = await cli(['plan', '-f', file, '--only-referenced-chains']);
    expect(referenced.stdout).toContain(':ipts-used');
    expect(referenced.stdout).not.toContain(':ipts-unused');

    const applied = await cli(['apply', '-f', file, '--only-referenced-chains']);
    expect(applied.code, applied.stderr).toBe(0);
    const dump = await ns.save(backend, 'filter');
    expect(hasChain(dump, 'ipts-used')).toBe(true);
    expect(hasChain(dump, 'ipts-unused')).toBe(false);

    // forceProgramming: in the file writes the unreferenced chain all the same.
    const forcedFile = join(dir, 'forced.yaml');
    writeFileSync(forcedFile, `${FILE}    forceProgramming: [ipts-unused]\n`);
    const forced = await cli(['apply', '-f', forcedFile, '--only-referenced-chains']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(chainRules(await ns.save(backend, 'filter'), 'ipts-unused')).toHaveLength(1);
  });

  it('watch --canary-interval: a flush of the table is repaired within a few intervals, long before the refresh', async () => {
    const w = new Watch(['-f', file, '--netns', ns.name, '--backend', backend, '--canary-interval', '500ms', '--refresh-interval', '10m'], 20_000);
    watch = w;
    await w.waitFor((e) => e.msg.startsWith('in sync'), 'the first apply');
    expect(chainRules(await ns.save(backend, 'filter'), 'ipts-used')).toHaveLength(1);
    // Post-write re-reads come 50 ms after the write, then at doubling gaps (+150, +350, +750,
    // +1550, +3150, +6350, +12750 ms). Flushing at about +3.6 s raced the +3150 re-read when a
    // loaded CI machine delayed it (both backends failed so once); flushing at about +8.5 s
    // leaves the +6350 re-read 2 s of delay and the canary (every 500 ms) 4 s before +12750.
    await sleep(8500);
    const seen = w.logs().length;
    await ns.iptables(backend, ['-F']);
    const flushedAt = Date.now();
    await w.waitFor((e) => e.msg.includes('canary chain gone'), 'the canary to notice the flush', seen, 10_000);
    for (let i = 0; i < 100 && chainRules(await ns.save(backend, 'filter'), 'ipts-used').length === 0; i++) await sleep(50);
    expect(chainRules(await ns.save(backend, 'filter'), 'ipts-used')).toHaveLength(1);
    expect(Date.now() - flushedAt).toBeLessThan(8_000); // the refresh is 10 minutes away
  });

  it('watch --metric-names felix: /metrics carries Felix\'s names instead of ours', async () => {
    const w = new Watch(['-f', file, '--netns', ns.name, '--backend', backend, '--metrics', '127.0.0.1:0', '--metric-names', 'felix'], 20_000);
    watch = w;
    const url = (await w.waitFor((e) => e.msg === 'serving metrics', 'the metrics address')).url as string;
    await w.waitFor((e) => e.msg.startsWith('in sync'), 'the first apply');
    const body = await (await fetch(url)).text();
    expect(body).toMatch(/^felix_iptables_restore_calls \d+/m);
    expect(body).toMatch(/^felix_iptables_chains\{table="filter",ip_version="4"\} 2$/m); // both chains of the file
    expect(body).not.toMatch(/^iptables_sync_restore_calls_total/m);
  });

  it('refuses a bad --metric-names or --canary-interval before touching anything', async () => {
    const bad = await runCli(['watch', '-f', file, '--netns', ns.name, '--metric-names', 'prometheus']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--metric-names must be one of iptables-sync, felix/);
    const badInterval = await runCli(['watch', '-f', file, '--netns', ns.name, '--canary-interval', 'soon']);
    expect(badInterval.code).toBe(1);
    expect(badInterval.stderr).toMatch(/expected a duration/);
    expect(hasChain(await ns.save(backend, 'filter'), 'ipts-used')).toBe(false);
  });
});
