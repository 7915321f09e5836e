// `iptables-sync watch --metrics` (the real, built CLI) in a namespace with the legacy backend:
// /healthz, /readyz and the apply metrics, through a fault that is reliable here: the xtables
// lock file held by another process while a file edit needs a write (iptables-legacy-restore
// 1.8.9 waits --wait seconds for it, then gives up). And WatchHealth's rules on a fake clock.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WatchHealth } from '../src/health';
import { Watch } from './helpers/watch-cli';
import { chainRules, run, useNamespace, resetTables } from './helpers/netns';
import { buildCliIfMissing } from './helpers/run-cli';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const rulesText = (ports: readonly number[]): string => `tables:
  filter:
    chains:
      ipts-hl:
${ports.map((p) => `        - match: { protocol: tcp, destPorts: [${p}] }\n          action: accept\n`).join('')}    insert:
      INPUT:
        - action: { jump: ipts-hl }
`;

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** One sample's value from Prometheus text, by its full name and labels. */
function sample(body: string, nameAndLabels: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${nameAndLabels} `));
  if (line === undefined) throw new Error(`no sample ${nameAndLabels} in:\n${body}`);
  return Number(line.slice(nameAndLabels.length + 1));
}

const LABELS = '{table="filter",ip_version="4"}';

beforeAll(buildCliIfMissing);

describe('watch --metrics: /healthz, /readyz and the apply metrics on real iptables (legacy)', () => {
  const ns = useNamespace('dochealth');
  let watch: Watch | undefined;
  let holder: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ipts-health-'));
  const file = join(dir, 'rules.yaml');
  const lockFile = join(dir, 'xtables.lock');

  beforeAll(async () => {
    await resetTables(ns, 'legacy');
  });
  afterEach(() => {
    watch?.child.kill('SIGKILL');
    holder?.kill('SIGKILL');
  });

  it('healthz 200 throughout; readyz 200 after the first apply, 503 while applies fail on a held lock, 200 again after; histogram and gauge follow', async () => {
    writeFileSync(file, rulesText([22]));
    const startedAt = Date.now();
    const w = new Watch(['--netns', ns.name, '--backend', 'legacy', '-f', file, '--metrics', '127.0.0.1:0', '--lock-file', lockFile, '--lock-timeout', '1s', '--debounce', '50ms'], 20_000);
    watch = w;
    const url = (await w.waitFor((e) => e.msg === 'serving metrics', 'the metrics address')).url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const base = url.replace(/\/metrics$/, '');
    expect((await get(`${base}/healthz`)).status).toBe(200);

    await w.waitFor((e) => e.msg.startsWith('in sync'), 'the first apply');
    expect(chainRules(await ns.save('legacy', 'filter'), 'ipts-hl')).toHaveLength(1);
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatch(/^ok: in sync since \d{4}-\d\d-\d\dT/);
    expect((await get(`${base}/healthz`)).status).toBe(200);

    let metrics = (await get(url)).body;
    expect(metrics).toMatch(/^# TYPE iptables_sync_apply_duration_seconds histogram$/m);
    const count1 = sample(metrics, `iptables_sync_apply_duration_seconds_count${LABELS}`);
    const sum1 = sample(metrics, `iptables_sync_apply_duration_seconds_sum${LABELS}`);
    expect(count1).toBeGreaterThanOrEqual(1);
    expect(sum1).toBeGreaterThan(0);
    expect(sum1).toBeLessThan(60 * count1);
    expect(sample(metrics, `iptables_sync_apply_duration_seconds_bucket{le="+Inf",table="filter",ip_version="4"}`)).toBe(count1);
    const synced1 = sample(metrics, `iptables_sync_last_successful_sync_timestamp_seconds${LABELS}`);
    expect(synced1).toBeGreaterThanOrEqual(startedAt / 1000 - 1);
    expect(synced1).toBeLessThanOrEqual(Date.now() / 1000 + 1);

    // Another process holds the lock file; an edit needs a write, which cannot get the lock.
    const held = spawn('flock', ['-o', lockFile, 'sleep', '120'], { stdio: 'ignore' });
    holder = held;
    const deadline = Date.now() + 5000;
    while ((await run('flock', ['-n', lockFile, 'true'])).code === 0) {
      if (Date.now() > deadline) throw new Error('the flock holder did not take the lock');
      await sleep(20);
    }
    let seen = w.logs().length;
    writeFileSync(file, rulesText([22, 80]));
    const failure = await w.waitFor((e) => e.level === 'error' && e.msg.startsWith('apply failed'), 'an apply to fail on the held lock', seen);
    const notReady = await get(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatch(/^not ready: the last apply failed: filter: .*lock/);
    const alive = await get(`${base}/healthz`);
    expect(alive.status).toBe(200); // failing, but the loop goes on
    metrics = (await get(url)).body;
    const syncedDuringFailure = sample(metrics, `iptables_sync_last_successful_sync_timestamp_seconds${LABELS}`);
    expect(syncedDuringFailure).toBeLessThanOrEqual(Date.parse(String(failure.time)) / 1000);
    expect(metrics).toMatch(/^iptables_sync_watch_in_sync 0$/m);
    // The retry fails too: still 503, and no success was recorded in between.
    seen = w.logs().length;
    await w.waitFor((e) => e.level === 'error' && e.msg.startsWith('apply failed'), 'the retry to fail too', seen);
    expect((await get(`${base}/readyz`)).status).toBe(503);
    metrics = (await get(url)).body;
    expect(sample(metrics, `iptables_sync_last_successful_sync_timestamp_seconds${LABELS}`)).toBe(syncedDuringFailure);
    expect(chainRules(await ns.save('legacy', 'filter'), 'ipts-hl')).toHaveLength(1);

    // The holder goes away: the next retry applies the edit and we are ready again.
    held.kill('SIGKILL');
    seen = w.logs().length;
    const released = Date.now();
    // (watch logs the retry's write as "repaired drift": it no longer knows the file caused it)
    await w.waitFor((e) => /^(applied|repaired drift) in filter: 1 rule appended/.test(e.msg), 'the edit to be applied after the lock is free', seen, 30_000);
    expect(chainRules(await ns.save('legacy', 'filter'), 'ipts-hl')).toHaveLength(2);
    expect((await get(`${base}/readyz`)).status).toBe(200);
    metrics = (await get(url)).body;
    const synced2 = sample(metrics, `iptables_sync_last_successful_sync_timestamp_seconds${LABELS}`);
    expect(synced2).toBeGreaterThanOrEqual(released / 1000 - 1);
    expect(synced2).toBeGreaterThan(syncedDuringFailure);
    // Failed applies are timed too: at least the first, the two failures and the success.
    expect(sample(metrics, `iptables_sync_apply_duration_seconds_count${LABELS}`)).toBeGreaterThanOrEqual(count1 + 3);
    // Each failed apply waited about the 1 s lock timeout.
    expect(sample(metrics, `iptables_sync_apply_duration_seconds_sum${LABELS}`)).toBeGreaterThan(sum1 + 1.5);

    w.child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => (w.child.exitCode !== null ? r(w.child.exitCode) : w.child.once('close', (c) => r(c))));
    expect(code).toBe(0);
  }, 120_000);
});

describe('WatchHealth', () => {
  it('healthz: 200 while starting and between passes, 503 once a pass (or the start-up) outlives the bound; a failing pass is still healthy', () => {
    let now = 1_000_000;
    const h = new WatchHealth({ stuckAfterMs: 10_000, now: () => now });
    expect(h.healthz().status).toBe(200);
    now += 10_001;
    expect(h.healthz()).toMatchObject({ status: 503, reason: expect.stringContaining('stuck') });
    h.passStarted();
    expect(h.healthz().status).toBe(200);
    now += 5_000;
    h.passFinished(false, 'filter: boom');
    expect(h.healthz().status).toBe(200);
    now += 60_000; // idle for long: fine, nothing is running
    expect(h.healthz().status).toBe(200);
    h.passStarted();
    now += 10_000;
    expect(h.healthz().status).toBe(200);
    now += 1;
    expect(h.healthz().status).toBe(503);
    h.passFinished(true);
    expect(h.healthz().status).toBe(200);
  });

  it('readyz: 503 until the first pass succeeds, 503 after a failed one (with its error), 200 after a good one', () => {
    let now = Date.UTC(2026, 0, 2, 3, 4, 5);
    const h = new WatchHealth({ now: () => now });
    expect(h.readyz()).toEqual({ status: 503, reason: 'not ready: the first apply has not finished' });
    h.passStarted();
    h.passFinished(false, 'filter: lock timeout');
    expect(h.readyz()).toEqual({ status: 503, reason: 'not ready: the last apply failed: filter: lock timeout' });
    h.passStarted();
    now += 1000;
    h.passFinished(true);
    expect(h.readyz()).toEqual({ status: 200, reason: 'ok: in sync since 2026-01-02T03:04:06.000Z' });
    h.passStarted(); // a pass running keeps the last verdict
    expect(h.readyz().status).toBe(200);
    expect(h.state).toMatchObject({ lastPassOk: true, lastSuccessAt: now, lastError: undefined });
  });
});
