// metricNames: 'felix' publishes latest Felix's metric names and labels (its save/restore
// counters unlabelled; chains, rules and lines executed by ip_version and table), on real iptables.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, RestoreFailedError } from '../src/errors';
import { AcceptAction, Chain, JumpAction } from '../src/index';
import { Table } from '../src/table';
import { BACKENDS, useNamespace } from './helpers/netns';
import { makeTable, NO_LOCK } from './helpers/table-env';

const web = new Chain({ name: 'cali-web', rules: [{ action: new AcceptAction() }] });

describe.each(BACKENDS)("metricNames: 'felix' (%s)", (backend) => {
  const ns = useNamespace(`tfm${backend}`, { resetBeforeEach: backend });

  it("counts under Felix's names and labels, and none under ours", async () => {
    const registry = new Registry();
    const { table } = makeTable(ns, backend, { registry, metricNames: 'felix', sleep: async () => undefined });
    const v6 = makeTable(ns, backend, { registry, metricNames: 'felix' }, 'filter', 6); // shares the registry
    table.updateChain(web);
    table.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'cali-web' }) }]);
    await table.apply();
    await v6.table.apply();
    const metrics = await registry.getMetricsAsJSON();
    const samples = (name: string): { labels: Record<string, string | number | undefined>; value: number }[] =>
      (metrics.find((m) => m.name === name)?.values ?? []).map((s) => ({ labels: { ...s.labels }, value: s.value }));
    const mine = { ip_version: '4', table: 'filter' };
    expect(samples('felix_iptables_save_calls')).toEqual([{ labels: {}, value: 2 }]); // both Tables, no labels
    expect(samples('felix_iptables_restore_calls')).toEqual([{ labels: {}, value: 1 }]);
    expect(samples('felix_iptables_save_errors')).toEqual([{ labels: {}, value: 0 }]);
    expect(samples('felix_iptables_restore_errors')).toEqual([{ labels: {}, value: 0 }]);
    // 1 chain creation + 1 rule + 1 insert.
    expect(samples('felix_iptables_lines_executed')).toContainEqual({ labels: mine, value: 3 });
    expect(samples('felix_iptables_chains')).toContainEqual({ labels: mine, value: 1 });
    expect(samples('felix_iptables_rules')).toContainEqual({ labels: mine, value: 1 });
    // Only the metrics Felix has no equivalent of keep our names.
    expect(metrics.filter((m) => m.name.startsWith('iptables_sync_')).map((m) => m.name).sort()).toEqual([
      'iptables_sync_apply_duration_seconds',
      'iptables_sync_last_successful_sync_timestamp_seconds',
      'iptables_sync_lock_acquire_seconds',
      'iptables_sync_restore_retries_total',
    ]);

    table.updateChain(new Chain({ name: 'cali-bad', rules: [{ action: new JumpAction({ target: 'cali-nowhere' }) }] }));
    await expect(table.apply()).rejects.toBeInstanceOf(RestoreFailedError);
    const after = await registry.getMetricsAsJSON();
    expect(after.find((m) => m.name === 'felix_iptables_restore_errors')?.values).toEqual([expect.objectContaining({ value: 11 })]);
  });

  it('rejects an unknown naming', () => {
    expect(() => new Table('filter', 4, 'cali:', NO_LOCK, { metricNames: 'calico' as 'felix' })).toThrow(InvalidOptionError);
  });
});
