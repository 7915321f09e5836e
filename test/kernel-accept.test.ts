// Rendered rules are accepted by the real kernel. For each backend (iptables-legacy and
// iptables-nft) a throwaway network namespace gets chains holding every match and action of
// SPEC section 2, loaded with `iptables-<backend>-restore --noflush`, each rule rendered with
// Rule.renderAppend(chain, `-m comment --comment "cali:<id>"`) and the IDs from
// Chain.ruleHashes(). Then every ID is found back, in order, in iptables-save's output.
//
// What this kernel does not take (asserted, not skipped):
//  - the ipvs match (`-m ipvs`): "Extension ipvs revision 0 not supported, missing kernel
//    module?" here, so ipvsConnection/notIpvsConnection are checked by rendering only
//    (test/match.test.ts) unless the kernel has it, in which case the IDs are checked too;
//  - rpfilter outside raw/mangle: the kernel refuses it in the filter table, so those rules
//    live in a raw chain.
// A few raw lines (not rendered by the library, which refuses them) pin down the iptables
// behaviour behind the library's limits.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AcceptAction, DropAction } from '../src/actions';
import { AddrType } from '../src/match';
import { Chain } from '../src/rule';
import { ADDR_TYPES_V6, buildChainSpec, kernelChainArb } from './helpers/arbitraries';
import { BACKENDS, type Backend, chainRules, hasChain, useNamespace } from './helpers/netns';
import { ALL_FEATURES, COMMENT_255, LOADS, LOG_PREFIX_27, M, NEW_LOADS, r, restoreInput, SETS, TARGET } from './helpers/rule-corpus';

/** The ID in the first --comment of each rule line of a chain (Felix's regex). */
function savedIds(dump: string, chain: string): string[] {
  return chainRules(dump, chain).map((line) => {
    const m = /--comment "?cali:([a-zA-Z0-9_-]+)"?/.exec(line);
    return m ? m[1]! : `<no ID in: ${line}>`;
  });
}

const restoreBin = (backend: Backend, family: 4 | 6): string => `${family === 6 ? 'ip6tables' : 'iptables'}-${backend}-restore`;

describe.each(BACKENDS)('iptables-%s', (backend) => {
  const ns = useNamespace(`ka-${backend}`);

  beforeAll(async () => {
    await ns.execOk('ipset', ['create', SETS.v4, 'hash:net']);
    await ns.execOk('ipset', ['create', SETS.v4port, 'hash:ip,port']);
    await ns.execOk('ipset', ['create', SETS.v6, 'hash:net', 'family', 'inet6']);
    await ns.execOk('ipset', ['create', SETS.v6port, 'hash:ip,port', 'family', 'inet6']);
  });

  it.each(LOADS.map((l) => [l.label, l] as const))('%s: loads and every rule ID is found back', async (_label, load) => {
    const input = restoreInput(load.table, [load.chain], load.extraChains);
    await ns.restore(backend, input, load.family);
    const dump = await ns.save(backend, load.table, load.family);
    const ids = load.chain.ruleHashes();
    expect(ids.length).toBe(load.chain.rules.length);
    expect(new Set(ids).size).toBe(ids.length);
    const found = savedIds(dump, load.chain.name);
    expect(found).toHaveLength(ids.length);
    expect(found).toEqual(ids);
    for (const name of load.extraChains ?? []) expect(hasChain(dump, name)).toBe(true);
  });

  it('comments come back byte for byte (255-byte and non-ASCII ones)', async () => {
    const dump = await ns.save(backend, 'filter', 4);
    const lines = chainRules(dump, 'kt-filter');
    expect(lines.some((l) => l.includes(`--comment "${COMMENT_255}"`))).toBe(true);
    expect(lines.some((l) => l.includes(`--log-prefix "${LOG_PREFIX_27}: "`))).toBe(true);
    // iptables-save escapes the apostrophe; the text is otherwise intact.
    expect(lines.some((l) => l.includes("Grüße, it\\'s 日本 #1 ✓ 😀"))).toBe(true);
  });

  it('random kernel-safe chains (v4 and v6) load and their IDs are found back', async () => {
    for (const family of [4, 6] as const) {
      const name = `kt-rand${family}`;
      await fc.assert(
        fc.asyncProperty(
          kernelChainArb(name, {
            family,
            ipSets: [family === 4 ? SETS.v4 : SETS.v6],
            ipPortSets: [family === 4 ? SETS.v4port : SETS.v6port],
            targets: [TARGET],
            maxRules: 25,
          }),
          async (c) => {
            const chain = new Chain(buildChainSpec(c));
            // `:name - -` flushes the chain again on each run (--noflush keeps everything else).
            await ns.restore(backend, restoreInput('filter', [chain], [TARGET]), family);
            const dump = await ns.save(backend, 'filter', family);
            expect(savedIds(dump, name)).toEqual(chain.ruleHashes());
          },
        ),
        { numRuns: Number(process.env.KERNEL_ACCEPT_RUNS ?? 6) },
      );
    }
  });

  it('ipvs: loaded if the kernel has it, else refused for the missing extension (render-only)', async () => {
    const chain = new Chain({
      name: 'kt-ipvs',
      rules: [r(M().ipvsConnection(), new AcceptAction()), r(M().notIpvsConnection(), new DropAction())],
    });
    const res = await ns.exec(restoreBin(backend, 4), ['--noflush'], restoreInput('filter', [chain]));
    if (res.code === 0) {
      expect(savedIds(await ns.save(backend, 'filter', 4), 'kt-ipvs')).toEqual(chain.ruleHashes());
    } else {
      // This kernel has no xt_ipvs: the ipvs matches are tested by rendering only
      // (test/match.test.ts: "-m ipvs --ipvs" / "-m ipvs ! --ipvs").
      expect(res.stderr).toMatch(/Extension ipvs revision 0 not supported/);
      expect(hasChain(await ns.save(backend, 'filter', 4), 'kt-ipvs')).toBe(false);
    }
  });

  it('rpfilter is refused in the filter table (so it is tested in raw and mangle above)', async () => {
    const chain = new Chain({ name: 'kt-rpf-filter', rules: [r(M().rpfCheckPassed(), new AcceptAction())] });
    const res = await ns.exec(restoreBin(backend, 4), ['--noflush'], restoreInput('filter', [chain]));
    expect(res.code).not.toBe(0);
    expect(hasChain(await ns.save(backend, 'filter', 4), 'kt-rpf-filter')).toBe(false);
  });

  // Raw lines the library refuses to render, showing what iptables would do with them.
  it.each([
    ['a 29-byte chain name is refused', `:kt-${'a'.repeat(26)} - -`, /chain name|28 chars|too long/i],
    ['a 30-byte chain name of 15 x "ä" is refused', `:${'ä'.repeat(15)} - -`, /chain name|28 chars|too long/i],
    ['a 16-byte interface name (8 x "ä") is refused', `:kt-lim1 - -\n-A kt-lim1 --in-interface ${'ä'.repeat(8)} --jump ACCEPT`, /IFNAMSIZ/],
    ['`! -p 0` is refused', ':kt-lim2 - -\n-A kt-lim2 ! -p 0 --jump ACCEPT', /never match protocol/],
    ['`! -p all` is refused', ':kt-lim3 - -\n-A kt-lim3 ! -p all --jump ACCEPT', /never match protocol/],
    ['16 multiport ports are refused', `:kt-lim4 - -\n-A kt-lim4 -p tcp -m multiport --destination-ports ${Array.from({ length: 16 }, (_, i) => i + 1).join(',')} --jump ACCEPT`, /too many ports/],
    ['8 multiport ranges are refused', `:kt-lim5 - -\n-A kt-lim5 -p tcp -m multiport --destination-ports ${Array.from({ length: 8 }, (_, i) => `${2 * i + 1}:${2 * i + 2}`).join(',')} --jump ACCEPT`, /too many ports/],
    ['--dport after a multiport match is read as its --dports (so destPort() refuses that order)', ':kt-lim9 - -\n-A kt-lim9 -p tcp -m multiport --destination-ports 80 -m mark --mark 0x1/0x1 --dport 81 --jump ACCEPT', /multiport: option "--destination-ports" can only be used once|cannot be used together/],
    ['--dport after a multiport --source-ports is refused too', ':kt-lim10 - -\n-A kt-lim10 -p tcp -m multiport --source-ports 80 --dport 81 --jump ACCEPT', /multiport/],
  ] as const)('iptables limit: %s', async (_label, body, message) => {
    const res = await ns.exec(restoreBin(backend, 4), ['--noflush'], `*filter\n${body}\nCOMMIT\n`);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(message);
  });

  it('iptables limit: a negated /0 net is refused by nft (accepted but never matching in legacy)', async () => {
    for (const [family, net] of [[4, '0.0.0.0/0'], [6, '::/0']] as const) {
      const res = await ns.exec(restoreBin(backend, family), ['--noflush'], `*filter\n:kt-lim8 - -\n-A kt-lim8 ! --source ${net} --jump ACCEPT\nCOMMIT\n`);
      if (backend === 'nft') {
        expect(res.code).not.toBe(0);
        expect(res.stderr).toMatch(/RULE_APPEND failed \(Invalid argument\)/);
      } else {
        expect(res.code).toBe(0);
      }
    }
  });

  it('ip6tables refuses addrtype BROADCAST, BLACKHOLE, PROHIBIT, THROW, NAT and XRESOLVE (the library has no family to check)', async () => {
    const refused = Object.values(AddrType).filter((t) => !ADDR_TYPES_V6.includes(t));
    expect(refused.sort()).toEqual(['BLACKHOLE', 'BROADCAST', 'NAT', 'PROHIBIT', 'THROW', 'XRESOLVE']);
    for (const t of refused) {
      const chain = new Chain({ name: 'kt-at6', rules: [r(M().srcAddrType(t, false), new AcceptAction())] });
      const res = await ns.exec(restoreBin(backend, 6), ['--noflush'], restoreInput('filter', [chain]));
      expect(res.code, `ip6tables-${backend} took addrtype ${t}`).not.toBe(0);
      // The same rule is fine for IPv4.
      await ns.restore(backend, restoreInput('filter', [new Chain({ name: 'kt-at4', rules: chain.rules })]), 4);
    }
  });

  it('iptables limit: a 256-byte comment is silently cut to 255 bytes (so the library refuses it)', async () => {
    const c256 = 'y'.repeat(256);
    await ns.restore(backend, `*filter\n:kt-lim6 - -\n-A kt-lim6 -m comment --comment "${c256}" --jump ACCEPT\nCOMMIT\n`);
    const [line] = chainRules(await ns.save(backend, 'filter', 4), 'kt-lim6');
    expect(line).toContain(`--comment ${'y'.repeat(255)} `);
    expect(line).not.toContain(c256);
  });

  it('iptables limit: a 28-byte log prefix + ": " is cut to 29 bytes (so the library allows 27)', async () => {
    await ns.restore(backend, `*filter\n:kt-lim7 - -\n-A kt-lim7 --jump LOG --log-prefix "${'p'.repeat(28)}: " --log-level 5\nCOMMIT\n`);
    const [line] = chainRules(await ns.save(backend, 'filter', 4), 'kt-lim7');
    expect(line).toContain(`--log-prefix "${'p'.repeat(28)}:"`);
  });
});

// --- latest Felix's actions and matches (issue 14) ------------------------------------------
// Same method: chains of every new action and match, rendered with no features and with every
// feature (--random-fully, --nflog-size), loaded with iptables-<backend>-restore, IDs read back
// (the chains are NEW_LOADS of test/helpers/rule-corpus.ts).

describe.each(BACKENDS)('latest Felix actions and matches on iptables-%s', (backend) => {
  const ns = useNamespace(`par-ka-${backend}`);

  it.each(NEW_LOADS.flatMap((l) => [[`${l.label}, no features`, l, false] as const, [`${l.label}, every feature`, l, true] as const]))(
    '%s: loads and every rule ID is found back',
    async (_label, load, withFeatures) => {
      const chain = withFeatures ? load.chain.withFeatures(ALL_FEATURES) : load.chain;
      await ns.restore(backend, restoreInput(load.table, [chain]), load.family);
      const dump = await ns.save(backend, load.table, load.family);
      const ids = chain.ruleHashes();
      expect(new Set(ids).size).toBe(ids.length);
      expect(savedIds(dump, chain.name)).toEqual(ids);
      if (withFeatures && load.table === 'nat') {
        // iptables-save shows the option back: the kernel took it, not just the parser.
        for (const line of chainRules(dump, chain.name)) expect(line).toMatch(/ --random-fully$/);
      }
    },
  );

  it('what the library refuses, iptables and the kernel refuse too', async () => {
    const refused = async (family: 4 | 6, table: string, body: string): Promise<string> => {
      const res = await ns.exec(restoreBin(backend, family), ['--noflush'], `*${table}\n:kt-par-no - -\n-A kt-par-no ${body}\nCOMMIT\n`);
      expect(res.code, body).not.toBe(0);
      return res.stderr;
    };
    // An IPv6 reject type in iptables and an IPv4 one in ip6tables (RejectAction's IP version).
    expect(await refused(4, 'filter', '--jump REJECT --reject-with icmp6-no-route')).toMatch(/unknown reject type/);
    expect(await refused(6, 'filter', '--jump REJECT --reject-with icmp-port-unreachable')).toMatch(/unknown reject type/);
    expect(await refused(6, 'filter', '-p tcp --jump REJECT --reject-with tcp-rst')).toMatch(/unknown reject type/);
    // tcp-reset without a tcp match: the kernel says EINVAL (so Rule refuses it).
    await refused(4, 'filter', '--jump REJECT --reject-with tcp-reset');
    // A second -p before LimitNumConnections' own (so Rule refuses it).
    expect(await refused(4, 'filter', '-p tcp -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 1 --connlimit-mask 0 -j REJECT --reject-with tcp-reset')).toMatch(/multiple -p flags/);
    // A port match before LimitNumConnections' -p tcp (so Rule refuses it).
    expect(await refused(4, 'filter', '-m multiport --destination-ports 80 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 1 --connlimit-mask 0 -j REJECT --reject-with tcp-reset')).toMatch(/multiport needs/);
    // limit: rate 0, a rate above 10000/s, a burst above 10000.
    expect(await refused(4, 'filter', '-m limit --limit 0/sec --limit-burst 1 --jump MARK --set-mark 0x1/0x1')).toMatch(/bad rate/);
    expect(await refused(4, 'filter', '-m limit --limit 10001/sec --jump ACCEPT')).toMatch(/Rate too fast/);
    expect(await refused(4, 'filter', '-m limit --limit 1/sec --limit-burst 10001 --jump ACCEPT')).toMatch(/limit-burst/);
    // A slow rate times a big burst overflows xt_limit's 32 bits (legacy only; nft takes it).
    for (const body of ['-m limit --limit 1/day --jump ACCEPT', '-m limit --limit 1/day --limit-burst 4 --jump ACCEPT']) {
      const res = await ns.exec(restoreBin(backend, 4), ['--noflush'], `*filter\n:kt-par-no - -\n-A kt-par-no ${body}\nCOMMIT\n`);
      expect(res.code, body).toBe(backend === 'legacy' ? 1 : 0);
    }
    // NFLOG group above 16 bits; DSCP above 63.
    expect(await refused(4, 'filter', '--jump NFLOG --nflog-group 65536 --nflog-prefix p')).toMatch(/nflog-group/);
    expect(await refused(4, 'mangle', '--jump DSCP --set-dscp 64')).toMatch(/set-dscp/);
  });

  it('a 64-byte NFLOG prefix is cut to 63 by iptables-legacy (so the library allows 63)', async () => {
    await ns.restore(backend, `*filter\n:kt-par-nflog - -\n-A kt-par-nflog --jump NFLOG --nflog-group 1 --nflog-prefix ${'z'.repeat(64)}\nCOMMIT\n`);
    const [line] = chainRules(await ns.save(backend, 'filter', 4), 'kt-par-nflog');
    if (backend === 'legacy') expect(line).toContain(`--nflog-prefix ${'z'.repeat(63)} `);
    else expect(line).toContain(`--nflog-prefix ${'z'.repeat(64)} `);
  });
});
