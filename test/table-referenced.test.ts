// onlyReferencedChains on real iptables, both backends: a chain is written only while an insert,
// an append or a written chain refers to it, or it is force-programmed; removed when that ends.
import { describe, expect, it } from 'vitest';
import { AcceptAction, Chain, GotoAction, JumpAction, Match } from '../src/index';
import { referencedChains } from '../src/chain-references';
import { BACKENDS, hasChain, useNamespace } from './helpers/netns';
import { makeTable } from './helpers/table-env';

const leaf = new Chain({ name: 'cali-leaf', rules: [{ match: Match().protocol('tcp').destPorts(22), action: new AcceptAction() }] });
const mid = new Chain({ name: 'cali-mid', rules: [{ action: new GotoAction({ target: 'cali-leaf' }) }] });
const lonely = new Chain({ name: 'cali-lonely', rules: [{ action: new AcceptAction() }] });
const forced = new Chain({ name: 'cali-forced', rules: [{ action: new AcceptAction() }], forceProgramming: true });
const toMid = [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-mid' }) }];

describe('referencedChains', () => {
  it('walks from the root rules through jumps and gotos, adds force-programmed chains, skips unknown targets and unreached cycles', () => {
    const a = new Chain({ name: 'a', rules: [{ action: new JumpAction({ target: 'b' }) }] });
    const b = new Chain({ name: 'b', rules: [{ action: new JumpAction({ target: 'a' }) }, { action: new JumpAction({ target: 'missing' }) }] });
    const c = new Chain({ name: 'c', rules: [{ action: new JumpAction({ target: 'd' }) }] });
    const d = new Chain({ name: 'd', rules: [{ action: new JumpAction({ target: 'c' }) }] });
    const f = new Chain({ name: 'f', rules: [{ action: new GotoAction({ target: 'g' }) }], forceProgramming: true });
    const g = new Chain({ name: 'g', rules: [] });
    const desired = new Map([a, b, c, d, f, g].map((x) => [x.name, x]));
    const roots = [[...new Chain({ name: 'INPUT', rules: [{ action: new JumpAction({ target: 'a' }) }] }).rules]];
    expect([...referencedChains(desired, roots).keys()].sort()).toEqual(['a', 'b', 'f', 'g']);
    expect([...referencedChains(desired, []).keys()].sort()).toEqual(['f', 'g']);
  });
});

describe.each(BACKENDS)('Table onlyReferencedChains (%s)', (backend) => {
  const ns = useNamespace(`tfr${backend}`, { resetBeforeEach: backend });

  const present = async (): Promise<string[]> => {
    const dump = await ns.save(backend, 'filter');
    return [leaf, mid, lonely, forced].map((c) => c.name).filter((n) => hasChain(dump, n)).sort();
  };

  it('writes chains as references come and removes them as they go', async () => {
    const { table } = makeTable(ns, backend, { onlyReferencedChains: true });
    table.updateChains([leaf, mid, lonely, forced]);
    await table.apply();
    expect(await present()).toEqual(['cali-forced']);

    table.setRuleInsertions('FORWARD', toMid);
    await table.apply();
    expect(await present()).toEqual(['cali-forced', 'cali-leaf', 'cali-mid']);

    // An append refers to the lonely chain; the insert goes: mid and leaf go with it.
    table.appendRules('INPUT', [{ action: new JumpAction({ target: 'cali-lonely' }) }]);
    table.setRuleInsertions('FORWARD', []);
    await table.apply();
    expect(await present()).toEqual(['cali-forced', 'cali-lonely']);

    // The lonely chain starts referring to mid: mid and leaf come back through it.
    table.updateChain(new Chain({ name: 'cali-lonely', rules: [{ action: new JumpAction({ target: 'cali-mid' }) }] }));
    await table.apply();
    expect(await present()).toEqual(['cali-forced', 'cali-leaf', 'cali-lonely', 'cali-mid']);

    // Nothing refers to anything any more; the forced chain stays until it is removed.
    table.appendRules('INPUT', []);
    await table.apply();
    expect(await present()).toEqual(['cali-forced']);
    table.removeChainByName('cali-forced');
    await table.apply();
    expect(await present()).toEqual([]);
  });

  it('off (the default), every desired chain is written', async () => {
    const { table } = makeTable(ns, backend);
    table.updateChains([leaf, mid, lonely]);
    await table.apply();
    expect(await present()).toEqual(['cali-leaf', 'cali-lonely', 'cali-mid']);
  });
});
