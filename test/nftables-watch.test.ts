// `iptables-sync watch --backend nftables` (the real, built CLI) on real nft: it applies the file,
// repairs another program's clobbering of our table on its refresh (a rule deleted by handle, a
// chain flushed, a foreign rule inserted), writes exactly the edited rule on a file edit, and
// stops on SIGTERM leaving our table; another program's nftables table and iptables-nft's rules
// stay byte for byte through all of it and through cleanup (independent `nft list ruleset`).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useNamespace } from './helpers/netns';
import { buildCliIfMissing, ROOT, runCli } from './helpers/run-cli';
import { sleep, until, Watch } from './helpers/watch-cli';
import { listTable, ruleset, tableText, type SeenChain } from './nftables-env';

const DEMO_TEXT = readFileSync(join(ROOT, 'examples', 'demo.yaml'), 'utf8');
const ns = useNamespace('nfcwatch');
let watch: Watch | undefined;
beforeAll(buildCliIfMissing);
afterEach(() => watch?.kill('SIGKILL'));

/** Our table, read independently. */
const ours = async (): Promise<Map<string, SeenChain>> => (await listTable(ns, 'ip', 'ipts-filter')) ?? new Map();
/** A chain's rules as nft lists them (text and comment, which holds the rule ID), without the
 *  handles and counter values. */
const shape = (chain: SeenChain | undefined): string[] => (chain?.rules ?? []).map((r) => `${r.text} comment "${r.comment ?? ''}"`);

describe('watch --backend nftables', () => {
  it('repairs clobbering on refresh, follows a file edit rule by rule, and leaves the other tables byte for byte', async () => {
    // Another program's table, and iptables-nft's own rules (its `ip filter` table).
    await ns.execOk('nft', ['-f', '-'], 'add table ip other\nadd chain ip other c { type filter hook input priority 0; policy accept; }\nadd rule ip other c tcp dport 22 counter accept\n');
    await ns.execOk('iptables-nft', ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '23', '-j', 'ACCEPT']);
    await ns.execOk('iptables-nft', ['-w', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth9', '-j', 'MASQUERADE']);
    const before = await ruleset(ns);
    const theirs = (text: string): string[] => [tableText(text, 'ip', 'other'), tableText(text, 'ip', 'filter'), tableText(text, 'ip', 'nat')];
    expect(theirs(before).every((t) => t !== '')).toBe(true);
    expect(tableText(before, 'ip', 'ipts-filter')).toBe('');

    const file = join(mkdtempSync(join(tmpdir(), 'ipts-nfcwatch-')), 'rules.yaml');
    writeFileSync(file, DEMO_TEXT);
    const w = new Watch(['--netns', ns.name, '--backend', 'nftables', '-f', file, '--refresh-interval', '500ms', '--debounce', '50ms', '--metrics', '127.0.0.1:0']);
    watch = w;
    const url = (await w.waitFor((e) => e.msg === 'serving metrics', 'the metrics address')).url as string;
    /** How many times watch has listed our table (nft list table). */
    const reads = async (): Promise<number> => Number(/^iptables_sync_save_calls_total\{table="filter",ip_version="4"\} (\d+)$/m.exec(await (await fetch(url)).text())?.[1] ?? NaN);
    await w.waitFor((e) => e.msg.startsWith('in sync'), 'the first apply');
    const applied = await ours();
    expect([...applied.keys()].sort()).toEqual(['INPUT', 'ipts-input', 'ipts-tcp']);
    const id = String.raw`ipts:[A-Za-z0-9_-]{16}`;
    expect(shape(applied.get('INPUT'))).toEqual([expect.stringMatching(new RegExp(`^counter jump ipts-input comment "${id}"$`))]);
    expect(shape(applied.get('ipts-tcp'))).toEqual([
      expect.stringMatching(new RegExp(`^tcp dport 22 counter accept comment "${id} ssh"$`)),
      expect.stringMatching(new RegExp(`^tcp dport \\{ 80, 443 \\} counter accept comment "${id} web"$`)),
    ]);
    expect(applied.get('ipts-input')?.rules).toHaveLength(4);
    /** What the last apply of the file wrote, which every repair must bring back. */
    let reference = applied;
    const want = (name: string): string[] => shape(reference.get(name));
    expect(theirs(await ruleset(ns))).toEqual(theirs(before));

    /** Clobbers our table with `nft ARGS`, then waits for watch's repair log line and for the
     *  table to read back as the file says; returns the lines the repair wrote. */
    const repairAfter = async (args: readonly string[], what: string): Promise<string[]> => {
      const seen = w.logs().length;
      await ns.execOk('nft', args);
      const repair = await w.waitFor((e) => e.msg.startsWith('repaired drift in filter'), `the repair of ${what}`, seen, 10_000);
      expect(repair, what).toMatchObject({ level: 'info', table: 'filter', reason: 're-read' });
      await until(async () => {
        const now = await ours();
        return [...now.keys()].every((name) => shape(now.get(name)).join('\n') === want(name).join('\n')) && now.size === reference.size;
      }, 5_000, `our table to read back as the file after ${what}`);
      expect(theirs(await ruleset(ns)), what).toEqual(theirs(before));
      return repair.lines as string[];
    };

    const ssh = applied.get('ipts-tcp')?.rules[0];
    const deleted = await repairAfter(['delete', 'rule', 'ip', 'ipts-filter', 'ipts-tcp', 'handle', String(ssh?.handle)], 'a rule deleted by handle');
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).toMatch(/^(add|insert) rule ip ipts-filter ipts-tcp .*tcp dport 22 counter accept comment "ipts:\S{16} ssh"$/);

    const flushed = await repairAfter(['flush', 'chain', 'ip', 'ipts-filter', 'ipts-input'], 'a flushed chain');
    expect(flushed.filter((l) => l.startsWith('add rule ip ipts-filter ipts-input '))).toHaveLength(4);

    // A foreign rule inserted at the top of ours; nft echoes its handle (-e -a).
    const seen = w.logs().length;
    const echoed = await ns.execOk('nft', ['-e', '-a', 'insert', 'rule', 'ip', 'ipts-filter', 'ipts-tcp', 'ip', 'saddr', '192.0.2.1', 'counter', 'drop']);
    const handle = /# handle (\d+)/.exec(echoed)?.[1];
    expect(handle).toMatch(/^\d+$/);
    const removal = await w.waitFor((e) => e.msg.startsWith('repaired drift in filter'), 'the repair of the foreign rule', seen, 10_000);
    expect(removal).toMatchObject({ reason: 're-read' });
    expect(removal.lines).toEqual([`delete rule ip ipts-filter ipts-tcp handle ${handle ?? ''}`]);
    expect(shape((await ours()).get('ipts-tcp'))).toEqual(want('ipts-tcp'));
    expect(theirs(await ruleset(ns))).toEqual(theirs(before));

    // A file edit: exactly the edited rule is written; every other rule keeps its handle.
    const beforeEdit = await ours();
    let mark = w.logs().length;
    writeFileSync(file, DEMO_TEXT.replace('destPorts: [80, 443]', 'destPorts: [80, 443, 8443]'));
    const edit = await w.waitFor((e) => e.msg.startsWith('applied in filter') && e.reason === 'file change', 'the file change to be applied', mark);
    const web = beforeEdit.get('ipts-tcp')?.rules[1];
    expect(edit.lines).toEqual([expect.stringMatching(new RegExp(`^replace rule ip ipts-filter ipts-tcp handle ${web?.handle} (ip protocol tcp )?tcp dport \\{ 80, 443, 8443 \\} counter accept comment "ipts:\\S{16} web"$`))]);
    const afterEdit = await ours();
    expect([...afterEdit.keys()]).toEqual([...beforeEdit.keys()]);
    for (const [name, chain] of beforeEdit) {
      const now = afterEdit.get(name)?.rules ?? [];
      expect(now.length, name).toBe(chain.rules.length);
      chain.rules.forEach((r, i) => {
        if (name === 'ipts-tcp' && i === 1) {
          expect(now[i]).toMatchObject({ handle: r.handle, text: 'tcp dport { 80, 443, 8443 } counter accept', comment: expect.stringMatching(new RegExp(`^${id} web$`)) });
          expect(now[i]?.comment).not.toBe(r.comment); // a new rule, a new ID
        }
        else expect(now[i], `${name}[${i}]`).toEqual(r);
      });
    }
    expect(theirs(await ruleset(ns))).toEqual(theirs(before));

    reference = afterEdit;
    // The refresh timer: post-write re-reads come at doubling intervals after the edit's write
    // (50 ms, ..., 1.6 s, 3.2 s, 6.4 s; later with slow applies), so from 3.3 s to 5.8 s after it
    // there is at most one (without the refresh, one or none were counted); the 500 ms refresh
    // reads four or five times. A rule deleted then is repaired too.
    await sleep(Math.max(0, Date.parse(edit.time as string) + 3_300 - Date.now()));
    const readsBefore = await reads();
    await sleep(2_500);
    expect((await reads()) - readsBefore).toBeGreaterThanOrEqual(3);
    const late = await repairAfter(['delete', 'rule', 'ip', 'ipts-filter', 'ipts-input', 'handle', String(afterEdit.get('ipts-input')?.rules[3]?.handle)], 'a rule deleted long after the last write');
    expect(late).toHaveLength(1);

    // SIGTERM: exit 0, our table stays as it was, theirs too.
    mark = w.logs().length;
    const kept = tableText(await ruleset(ns), 'ip', 'ipts-filter');
    w.kill('SIGTERM');
    expect(await Promise.race([w.exited, sleep(10_000).then(() => 'timeout' as const)])).toEqual({ code: 0, signal: null });
    expect(w.logs().at(-1)?.msg).toBe('stopped');
    const stopped = await ruleset(ns);
    expect(tableText(stopped, 'ip', 'ipts-filter')).toBe(kept);
    expect(theirs(stopped)).toEqual(theirs(before));

    // cleanup: our table goes, and the ruleset is what it was before watch, byte for byte.
    const cleanup = await runCli(['cleanup', '--netns', ns.name, '--backend', 'nftables', '--yes']);
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(await ruleset(ns)).toBe(before);
  });

  it('--nft-table-prefix: watch keeps and repairs <prefix>filter only (a flushed chain, the table deleted)', async () => {
    await ns.execOk('nft', ['flush', 'ruleset']);
    const file = join(mkdtempSync(join(tmpdir(), 'ipts-nfcwatch-')), 'rules.yaml');
    writeFileSync(file, DEMO_TEXT);
    const w = new Watch(['--netns', ns.name, '--backend', 'nftables', '--nft-table-prefix', 'w_', '-f', file, '--refresh-interval', '500ms']);
    watch = w;
    await w.waitFor((e) => e.msg.startsWith('in sync'), 'the first apply');
    expect(await ns.execOk('nft', ['list', 'tables'])).toBe('table ip w_filter\n');
    const applied = await listTable(ns, 'ip', 'w_filter');
    const seen = w.logs().length;
    await ns.execOk('nft', ['flush', 'chain', 'ip', 'w_filter', 'ipts-tcp']);
    const repair = await w.waitFor((e) => e.msg.startsWith('repaired drift in filter'), 'the repair', seen, 10_000);
    expect((repair.lines as string[]).every((l) => l.startsWith('add rule ip w_filter ipts-tcp '))).toBe(true);
    await until(async () => shape((await listTable(ns, 'ip', 'w_filter'))?.get('ipts-tcp')).join() === shape(applied?.get('ipts-tcp')).join(), 5_000, 'ipts-tcp to be repaired');
    // Our whole table deleted: re-created as it was.
    const mark = w.logs().length;
    await ns.execOk('nft', ['delete', 'table', 'ip', 'w_filter']);
    await w.waitFor((e) => e.msg.startsWith('repaired drift in filter'), 'the table to be re-created', mark, 10_000);
    await until(async () => {
      const now = await listTable(ns, 'ip', 'w_filter');
      return now !== undefined && [...(applied?.keys() ?? [])].every((name) => shape(now.get(name)).join() === shape(applied?.get(name)).join()) && now.size === applied?.size;
    }, 5_000, 'w_filter to be re-created');
    w.kill('SIGTERM');
    expect(await w.exited).toEqual({ code: 0, signal: null });
    expect(await ns.execOk('nft', ['list', 'tables'])).toBe('table ip w_filter\n');
  });
});
