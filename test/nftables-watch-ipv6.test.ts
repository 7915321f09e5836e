// `iptables-sync watch --backend nftables --ip-version 6` (the real, built CLI) on real nft: it
// programs `table ip6 ipts-filter` only (the IPv4 `ip` family is never touched), re-reads at once
// on SIGHUP and repairs what another program deleted, and stops on SIGTERM leaving the table.
// Another program's ip6 table and ip6tables-nft's rules stay byte for byte (`nft list ruleset`).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useNamespace } from './helpers/netns';
import { buildCliIfMissing } from './helpers/run-cli';
import { sleep, until, Watch } from './helpers/watch-cli';
import { listTable, ruleset, tableText, type SeenChain } from './nftables-env';

const RULES = `tables:
  filter:
    chains:
      ipts-input6:
        - match: { protocol: ipv6-icmp }
          action: accept
          comment: icmpv6
        - match: { protocol: tcp, sourceNet: "2001:db8:1::/48", destPorts: [22] }
          action: accept
          comment: ssh
        - match: { protocol: tcp, destPorts: [80, 443] }
          action: accept
          comment: web
    insert:
      INPUT:
        - action: { jump: ipts-input6 }
`;

const ns = useNamespace('nfcw6');
let watch: Watch | undefined;
beforeAll(buildCliIfMissing);
afterEach(() => watch?.kill('SIGKILL'));

const shape = (chain: SeenChain | undefined): string[] => (chain?.rules ?? []).map((r) => `${r.text} comment "${r.comment ?? ''}"`);
const ours = async (): Promise<Map<string, SeenChain>> => (await listTable(ns, 'ip6', 'ipts-filter')) ?? new Map();

describe('watch --backend nftables --ip-version 6', () => {
  it('programs ip6 ipts-filter only, repairs on SIGHUP, and leaves the other tables byte for byte', async () => {
    await ns.execOk('nft', ['-f', '-'], 'add table ip6 other6\nadd chain ip6 other6 c { type filter hook input priority 0; policy accept; }\nadd rule ip6 other6 c tcp dport 22 counter accept\n');
    await ns.execOk('ip6tables-nft', ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '23', '-j', 'ACCEPT']);
    const before = await ruleset(ns);
    const theirs = (text: string): string[] => [tableText(text, 'ip6', 'other6'), tableText(text, 'ip6', 'filter')];
    expect(theirs(before).every((t) => t !== '')).toBe(true);

    const file = join(mkdtempSync(join(tmpdir(), 'ipts-nfcw6-')), 'rules.yaml');
    writeFileSync(file, RULES);
    // A long refresh, so a repair right after SIGHUP comes from the signal, not the timer.
    const w = new Watch(['--netns', ns.name, '--backend', 'nftables', '--ip-version', '6', '-f', file, '--refresh-interval', '1h']);
    watch = w;
    await w.waitFor((e) => e.msg.startsWith('in sync'), 'the first apply');
    const applied = await ours();
    expect([...applied.keys()].sort()).toEqual(['INPUT', 'ipts-input6']);
    const id = String.raw`ipts:[A-Za-z0-9_-]{16}`;
    expect(shape(applied.get('ipts-input6'))).toEqual([
      expect.stringMatching(new RegExp(`^(meta l4proto ipv6-icmp|ip6 nexthdr ipv6-icmp) counter accept comment "${id} icmpv6"$`)),
      expect.stringMatching(new RegExp(`^ip6 saddr 2001:db8:1::/48 tcp dport 22 counter accept comment "${id} ssh"$`)),
      expect.stringMatching(new RegExp(`^tcp dport \\{ 80, 443 \\} counter accept comment "${id} web"$`)),
    ]);
    // No IPv4 table of ours, and the others as they were.
    expect(await listTable(ns, 'ip', 'ipts-filter')).toBeUndefined();
    expect(theirs(await ruleset(ns))).toEqual(theirs(before));

    // SIGHUP re-reads at once. The post-write re-reads (50 ms doubling after the first write) may
    // still repair first ("SIGHUP re-read: in sync"): then the damage is done again, up to three times.
    await sleep(1_700);
    let repairedBySighup = false;
    for (let attempt = 0; attempt < 3 && !repairedBySighup; attempt++) {
      const web = (await ours()).get('ipts-input6')?.rules[2];
      await ns.execOk('nft', ['delete', 'rule', 'ip6', 'ipts-filter', 'ipts-input6', 'handle', String(web?.handle)]);
      const seen = w.logs().length;
      w.kill('SIGHUP');
      const outcome = await w.waitFor((e) => (e.msg.startsWith('repaired drift in filter') && e.reason === 'SIGHUP') || e.msg === 'SIGHUP re-read: in sync', 'the SIGHUP repair', seen);
      repairedBySighup = outcome.msg.startsWith('repaired drift');
      if (repairedBySighup) {
        expect(outcome.lines).toEqual([expect.stringMatching(/^(add|insert) rule ip6 ipts-filter ipts-input6 .*tcp dport \{ 80, 443 \} counter accept comment "ipts:\S{16} web"$/)]);
      }
    }
    expect(repairedBySighup).toBe(true);
    await until(async () => shape((await ours()).get('ipts-input6')).join('\n') === shape(applied.get('ipts-input6')).join('\n'), 5_000, 'ipts-input6 to read back as the file');
    expect(theirs(await ruleset(ns))).toEqual(theirs(before));

    // SIGTERM: exit 0, our table stays, theirs too.
    const kept = tableText(await ruleset(ns), 'ip6', 'ipts-filter');
    w.kill('SIGTERM');
    expect(await Promise.race([w.exited, sleep(10_000).then(() => 'timeout' as const)])).toEqual({ code: 0, signal: null });
    const stopped = await ruleset(ns);
    expect(tableText(stopped, 'ip6', 'ipts-filter')).toBe(kept);
    expect(theirs(stopped)).toEqual(theirs(before));
  });
});
