// Failure paths on real iptables: a rejected restore, and a chain another program still uses.
import { describe, expect, it } from 'vitest';
import { AcceptAction, Chain, ChainDeletionError, JumpAction, Match, RestoreFailedError } from '../src/index';
import { BACKENDS, chainRules, hasChain, useNamespace } from './helpers/netns';
import { idsByChain, makeTable } from './helpers/table-env';

const good = new Chain({ name: 'cali-good', rules: [{ match: Match().protocol('udp').destPorts(53), action: new AcceptAction() }] });

describe.each(BACKENDS)('Table failures (%s)', (backend) => {
  const ns = useNamespace(`tf${backend}`, { resetBeforeEach: backend });

  it('retries a rejected restore, rejects with the typed error, keeps the dataplane, then converges', async () => {
    const sleeps: number[] = [];
    const { table } = makeTable(ns, backend, { sleep: async (ms) => void sleeps.push(ms) });
    table.updateChain(good);
    await table.apply();

    const broken = new Chain({ name: 'cali-broken', rules: [{ action: new JumpAction({ target: 'cali-missing' }) }] });
    table.updateChain(broken);
    const error = await table.apply().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RestoreFailedError);
    const failure = error as RestoreFailedError;
    expect(failure.args).toContain('--noflush');
    expect(failure.input).toContain('--jump cali-missing');
    // legacy blames the rule's line; nft validates at COMMIT and blames that line, naming the chain.
    expect(failure.input.split('\n')).toContain(failure.failedLine);
    expect(`${failure.failedLine} ${failure.stderr}`).toContain('cali-missing');
    expect(failure.exitCode).not.toBe(0);
    expect(sleeps).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
    // Nothing already in the dataplane was lost, nothing of the failed transaction landed.
    const dump = await ns.save(backend, 'filter');
    expect(idsByChain(dump).get('cali-good')).toEqual(good.ruleHashes());
    expect(hasChain(dump, 'cali-broken')).toBe(false);

    // The cause goes away: the next apply converges with the desired state kept.
    table.updateChain(new Chain({ name: 'cali-missing', rules: [{ action: new AcceptAction() }] }));
    await table.apply();
    const fixed = idsByChain(await ns.save(backend, 'filter'));
    expect(fixed.get('cali-broken')).toEqual(broken.ruleHashes());
    expect(fixed.get('cali-good')).toEqual(good.ruleHashes());
  });

  it('removes a foreign goto to our stale chain like a jump, so the chain can go', async () => {
    const { table } = makeTable(ns, backend);
    const stale = new Chain({ name: 'cali-stale', rules: [{ action: new AcceptAction() }] });
    table.updateChain(stale);
    await table.apply();
    await ns.iptables(backend, ['-N', 'foreign']);
    await ns.iptables(backend, ['-A', 'foreign', '-g', 'cali-stale']);
    await ns.iptables(backend, ['-A', 'foreign', '-j', 'ACCEPT']);
    table.removeChainByName('cali-stale');
    await table.apply();
    const dump = await ns.save(backend, 'filter');
    expect(hasChain(dump, 'cali-stale')).toBe(false);
    expect(chainRules(dump, 'foreign')).toEqual(['-A foreign -j ACCEPT']);
  });

  it('names the chain and the referrer when a foreign rule blocks a deletion, and lands the rest', async () => {
    const { table } = makeTable(ns, backend);
    // Managed chains outside the historic prefixes are ours too, but a foreign jump to one is
    // not an old insert of ours: it blocks the deletion.
    const pinned = new Chain({ name: 'mine-pinned', rules: [{ action: new AcceptAction() }] });
    const free = new Chain({ name: 'cali-free', rules: [{ action: new AcceptAction() }] });
    table.updateChains([pinned, free, good]);
    await table.apply();
    await ns.iptables(backend, ['-N', 'foreign']);
    await ns.iptables(backend, ['-A', 'foreign', '-g', 'mine-pinned']);

    table.removeChainByName('mine-pinned');
    table.removeChainByName('cali-free');
    table.updateChain(new Chain({ name: 'cali-good', rules: [{ match: Match().protocol('udp').destPorts(5353), action: new AcceptAction() }] }));
    const error = await table.apply().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ChainDeletionError);
    expect((error as ChainDeletionError).failures).toEqual([{ chain: 'mine-pinned', referrers: ['foreign'] }]);
    expect((error as Error).message).toContain('"mine-pinned"');
    expect((error as Error).message).toContain('"foreign"');
    const dump = await ns.save(backend, 'filter');
    expect(hasChain(dump, 'cali-free')).toBe(false);
    expect(hasChain(dump, 'mine-pinned')).toBe(true);
    expect(chainRules(dump, 'cali-good')[0]).toContain('5353');
    expect(chainRules(dump, 'foreign')).toEqual(['-A foreign -g mine-pinned']);
  });
});
