// `iptables-sync watch` (the real, built CLI) on real iptables, both backends: it repairs what
// other programs break within its post-write re-reads, follows file edits, keeps the old rules
// when an edit is invalid, re-reads on SIGHUP, serves /metrics, and exits 0 on SIGTERM leaving
// the rules in place.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../src/config';
import { sleep, until, Watch } from './helpers/watch-cli';
import { BACKENDS, chainRules, useNamespace, resetTables } from './helpers/netns';
import { idsByChain } from './helpers/table-env';
import { buildCliIfMissing, ROOT } from './helpers/run-cli';

const DEMO_TEXT = readFileSync(join(ROOT, 'examples', 'demo.yaml'), 'utf8');

/** A dump without its "# Generated/Completed" lines, which carry the time. */
const stable = (dump: string): string =>
  dump
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');

beforeAll(buildCliIfMissing);

describe.each(BACKENDS)('watch on real iptables (%s)', (backend) => {
  const ns = useNamespace(`cw${backend}`);
  let watch: Watch | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ipts-watch-'));
  const file = join(dir, 'rules.yaml');

  beforeAll(async () => {
    await resetTables(ns, backend);
  });
  afterEach(() => {
    watch?.kill('SIGKILL');
  });

  it('repairs, follows the file, keeps the rules on a bad edit, serves metrics, and stops on SIGTERM leaving the rules', async () => {
    writeFileSync(file, DEMO_TEXT);
    const expected = loadRulesFile(file).tables.get('filter');
    const tcpIds = expected?.chains.find((c) => c.name === 'ipts-tcp')?.ruleHashes();
    const w = new Watch(['--netns', ns.name, '--backend', backend, '-f', file, '--metrics', '127.0.0.1:0', '--debounce', '50ms']);
    watch = w;
    const served = await w.waitFor((e) => e.msg === 'serving metrics', 'the metrics address');
    const url = served.url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await w.waitFor((e) => e.msg.startsWith('in sync'), 'the first apply');
    expect(idsByChain(await ns.save(backend, 'filter'), 'ipts:').get('ipts-tcp')).toEqual(tcpIds);

    // Another program deletes one of our rules and puts its own on top of INPUT.
    let seen = w.logs().length;
    await ns.iptables(backend, ['-D', 'ipts-tcp', '1']);
    await ns.iptables(backend, ['-I', 'INPUT', '1', '-s', '192.0.2.1', '-j', 'DROP']);
    const tookMs = await until(
      async () => {
        const dump = await ns.save(backend, 'filter');
        const input = chainRules(dump, 'INPUT');
        return idsByChain(dump, 'ipts:').get('ipts-tcp')?.join() === tcpIds?.join() && (input[0] ?? '').includes('ipts-input') && input.length === 2;
      },
      10_000,
      'watch to repair ipts-tcp and INPUT',
    );
    expect(tookMs).toBeLessThan(10_000);
    const repair = await w.waitFor((e) => e.msg.startsWith('repaired drift in filter'), 'the repair log line', seen);
    expect(repair).toMatchObject({ level: 'info', table: 'filter', reason: 're-read' });
    expect((repair.lines as string[]).some((l) => l.startsWith('-R ipts-tcp 1 ') || l.startsWith('-A ipts-tcp '))).toBe(true);
    expect(chainRules(await ns.save(backend, 'filter'), 'INPUT')[1]).toContain('192.0.2.1'); // theirs stays

    // Metrics are served on loopback.
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toMatch(/^iptables_sync_watch_repairs_total\{table="filter"\} [1-9]/m);
    expect(body).toMatch(/^iptables_sync_restore_calls_total\{table="filter",ip_version="4"\} [1-9]/m);
    expect(body).toMatch(/^iptables_sync_watch_in_sync 1$/m);
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);

    // A file edit is applied; an invalid edit is reported with its position and changes nothing.
    seen = w.logs().length;
    writeFileSync(file, DEMO_TEXT.replace('destPorts: [80, 443]', 'destPorts: [80, 443, 8443]'));
    await w.waitFor((e) => e.msg.startsWith('applied in filter') && e.reason === 'file change', 'the file change to be applied', seen);
    expect(chainRules(await ns.save(backend, 'filter'), 'ipts-tcp')[1]).toMatch(/80,443,8443/);
    const before = await ns.save(backend, 'filter');
    seen = w.logs().length;
    writeFileSync(file, DEMO_TEXT.replace('action: accept\n          comment: ssh', 'action: acept\n          comment: ssh'));
    const invalid = await w.waitFor((e) => e.level === 'error' && e.msg.startsWith('invalid rules file'), 'the invalid-file error', seen);
    expect(invalid.msg).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: tables\\.filter\\.chains\\.ipts-tcp\\[0\\]\\.action: unknown action "acept"`));
    await sleep(300);
    expect(stable(await ns.save(backend, 'filter'))).toBe(stable(before));

    // SIGHUP re-reads the dataplane at once. First the file is made valid again; then we wait until
    // the post-write re-reads are far apart (50 ms doubling: the one after 1.6 s comes at 3.2 s),
    // so the repair below can only come from the SIGHUP.
    seen = w.logs().length;
    writeFileSync(file, DEMO_TEXT);
    await w.waitFor((e) => e.msg.startsWith('applied in filter') && e.reason === 'file change', 'the restored file to be applied', seen);
    await sleep(1700);
    // The post-write schedule's floor also grows with slow saves and restores (twice their peak),
    // so a scheduled re-read can still land between the delete and the signal and repair first
    // ("SIGHUP re-read: in sync"). Then the damage is done again; the SIGHUP must repair one of three.
    let repairedBySighup = false;
    for (let attempt = 0; attempt < 3 && !repairedBySighup; attempt++) {
      await ns.iptables(backend, ['-D', 'ipts-input', '2']);
      seen = w.logs().length;
      w.kill('SIGHUP');
      const outcome = await w.waitFor((e) => (e.msg.startsWith('repaired drift in filter') && e.reason === 'SIGHUP') || e.msg === 'SIGHUP re-read: in sync', 'the SIGHUP repair', seen);
      repairedBySighup = outcome.msg.startsWith('repaired drift');
    }
    expect(repairedBySighup).toBe(true);
    expect(idsByChain(await ns.save(backend, 'filter'), 'ipts:').get('ipts-input')).toEqual(expected?.chains.find((c) => c.name === 'ipts-input')?.ruleHashes());

    // SIGTERM: exit 0, rules stay.
    const kept = await ns.save(backend, 'filter');
    w.kill('SIGTERM');
    const exit = await Promise.race([w.exited, sleep(10_000).then(() => 'timeout' as const)]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(w.logs().at(-1)?.msg).toBe('stopped');
    expect(stable(await ns.save(backend, 'filter'))).toBe(stable(kept));
    expect(chainRules(kept, 'ipts-tcp')).toHaveLength(2);
  });
});
