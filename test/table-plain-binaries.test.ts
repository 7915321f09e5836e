// Hosts with iptables < 1.8 have only plain iptables-save/iptables-restore: the Table uses them
// and learns their backend from --version, as latest Felix's binary search falls back to them.
// On real iptables: a PATH whose only iptables binaries are plain names for one backend's binary.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendOfVersionText, resolveBinaries } from '../src/backend';
import type { CommandFactory } from '../src/commands';
import { AcceptAction, Chain, JumpAction, Match } from '../src/index';
import { FakeIptables } from '../src/testing';
import { BACKENDS, type Backend, hasChain, useNamespace } from './helpers/netns';
import { plainIptablesDir, withPath } from './helpers/plain-path';
import { idsByChain, makeTable } from './helpers/table-env';

describe('binary search', () => {
  it('reads the backend from --version: "(nf_tables)" is nft, "(legacy)" and no marker (before 1.8) are legacy', () => {
    expect(backendOfVersionText('iptables-restore v1.8.9 (nf_tables)')).toBe('nft');
    expect(backendOfVersionText('iptables-restore v1.8.9 (legacy)')).toBe('legacy');
    expect(backendOfVersionText('iptables-restore v1.6.1')).toBe('legacy');
  });

  it("prefers the backend's own binaries, falls back to plain ones only when both of them exist, else keeps the backend's names", async () => {
    const fake = new FakeIptables({ version: 'v1.6.1' });
    const run: CommandFactory = fake.commandFactory;
    const on = (names: string[]) => (n: string): boolean => names.includes(n);
    expect(await resolveBinaries('nft', 4, run, 1000, on(['iptables-nft-save', 'iptables-nft-restore', 'iptables-save', 'iptables-restore']))).toEqual({
      backend: 'nft', save: 'iptables-nft-save', restore: 'iptables-nft-restore', iptables: 'iptables-nft',
    });
    expect(await resolveBinaries('nft', 6, run, 1000, on(['ip6tables-save', 'ip6tables-restore']))).toEqual({
      backend: 'legacy', save: 'ip6tables-save', restore: 'ip6tables-restore', iptables: 'ip6tables',
    });
    expect(fake.calls.map((c) => [c.command, ...c.args])).toEqual([['ip6tables-restore', '--version']]);
    expect(await resolveBinaries('legacy', 4, run, 1000, on(['iptables-save']))).toEqual({
      backend: 'legacy', save: 'iptables-legacy-save', restore: 'iptables-legacy-restore', iptables: 'iptables-legacy',
    });
  });
});

describe.each(BACKENDS)('a PATH with only plain iptables-save/iptables-restore (%s binaries)', (backend) => {
  const ns = useNamespace(`tfp${backend}`, { resetBeforeEach: backend });
  let bin: string;
  beforeAll(() => {
    bin = plainIptablesDir(backend);
  });
  afterAll(() => {
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  /** Runs the Table's work with only the temp directory on PATH. */
  const withPlainPath = <T>(work: () => Promise<T>): Promise<T> => withPath(bin, work);

  it('applies, re-reads and repairs through them, on the backend --version names', async () => {
    const other: Backend = backend === 'legacy' ? 'nft' : 'legacy';
    // Asked for the other backend: only these binaries exist, so they are used (with a warning).
    const { table, rec } = makeTable(ns, backend, { backend: other });
    const fw = new Chain({ name: 'cali-fw', rules: [{ match: Match().protocol('tcp').destPorts(22), action: new AcceptAction() }] });
    table.updateChain(fw);
    table.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'cali-fw' }) }]);
    await withPlainPath(() => table.apply());
    const binaries = new Set(rec.calls.flatMap((c) => [c.command, ...c.args]).filter((w) => /tables/.test(w)));
    expect([...binaries].sort()).toEqual(['iptables-restore', 'iptables-save']);
    // One --version names the backend and, for legacy, whether the restore locks itself.
    expect(rec.calls.filter((c) => c.args.includes('--version')).map((c) => [c.command, ...c.args].filter((w) => /tables|version/.test(w)))).toEqual([['iptables-restore', '--version']]);
    let dump = await ns.save(backend, 'filter');
    expect(idsByChain(dump).get('cali-fw')).toEqual(fw.ruleHashes());
    expect(hasChain(await ns.save(other, 'filter').catch(() => ''), 'cali-fw')).toBe(false);

    await ns.iptables(backend, ['-F', 'cali-fw']);
    table.invalidateDataplaneCache('test');
    await withPlainPath(() => table.apply());
    dump = await ns.save(backend, 'filter');
    expect(idsByChain(dump).get('cali-fw')).toEqual(fw.ruleHashes());
    expect(idsByChain(dump).get('INPUT')).toHaveLength(1);
  });
});
