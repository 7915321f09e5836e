// Prometheus metrics in a caller-supplied prom-client registry. Metrics are created once per
// registry (and naming) and labelled by table, so several Tables can share one registry.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

type Labels = { readonly table: string; readonly ip_version: string };

/** The part of a counter a Table uses: labelled or not, the Table always passes its labels. */
export interface TableCounter {
  inc(labels: Labels, value?: number): void;
}

/** A Table's Prometheus metrics, each labelled by `table` and `ip_version`. */
export interface TableMetrics {
  readonly restoreCalls: TableCounter;
  readonly restoreErrors: TableCounter;
  readonly saveCalls: TableCounter;
  readonly saveErrors: TableCounter;
  readonly linesExecuted: TableCounter;
  readonly chains: Gauge<'table' | 'ip_version'>;
  readonly rules: Gauge<'table' | 'ip_version'>;
  readonly lockAcquireSeconds: Histogram<'table' | 'ip_version'>;
  readonly restoreRetries: TableCounter;
  /** Wall time of each apply() call, including no-op ones (seconds). */
  readonly applyDurationSeconds: Histogram<'table' | 'ip_version'>;
  /** When apply() last succeeded (unix seconds): the dataplane was in sync then. */
  readonly lastSuccessfulSync: Gauge<'table' | 'ip_version'>;
}

/** 'iptables-sync': our names, every metric labelled by table and ip_version. 'felix': latest
 *  Felix's names and labels (its save/restore counters have no labels), for existing dashboards. */
export type MetricNames = 'iptables-sync' | 'felix';

const perRegistry = new WeakMap<Registry, Map<MetricNames, TableMetrics>>();
const labelNames = ['table', 'ip_version'] as const;

/** The metrics in `registry`, created on the first call for it and shared after. */
export function metricsFor(registry: Registry, names: MetricNames = 'iptables-sync'): TableMetrics {
  const existing = perRegistry.get(registry)?.get(names);
  if (existing) return existing;
  // Loaded on first use: prom-client costs ~12 MB and ~100 ms to import, and most Tables run
  // without a registry.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Counter, Gauge, Histogram } = require('prom-client') as typeof import('prom-client');
  const registers = [registry];
  const counter = (name: string, help: string): Counter<'table' | 'ip_version'> =>
    new Counter({ name, help, labelNames, registers });
  const unlabelled = (name: string, help: string): TableCounter => {
    const c = new Counter({ name, help, registers });
    return { inc: (_labels, value) => c.inc(value) };
  };
  const gauge = (name: string, help: string): Gauge<'table' | 'ip_version'> =>
    new Gauge({ name, help, labelNames, registers });
  const felix = names === 'felix';
  const metrics: TableMetrics = {
    restoreCalls: felix ? unlabelled('felix_iptables_restore_calls', 'Number of iptables-restore calls.') : counter('iptables_sync_restore_calls_total', 'iptables-restore runs'),
    restoreErrors: felix ? unlabelled('felix_iptables_restore_errors', 'Number of iptables-restore errors.') : counter('iptables_sync_restore_errors_total', 'iptables-restore runs that failed'),
    saveCalls: felix ? unlabelled('felix_iptables_save_calls', 'Number of iptables-save calls.') : counter('iptables_sync_save_calls_total', 'iptables-save runs'),
    saveErrors: felix ? unlabelled('felix_iptables_save_errors', 'Number of iptables-save errors.') : counter('iptables_sync_save_errors_total', 'iptables-save runs that failed'),
    linesExecuted: felix ? counter('felix_iptables_lines_executed', 'Number of iptables rule updates executed.') : counter('iptables_sync_lines_executed_total', 'restore lines sent to iptables-restore'),
    chains: felix ? gauge('felix_iptables_chains', 'Number of active iptables chains.') : gauge('iptables_sync_chains', 'chains the Table manages'),
    rules: felix ? gauge('felix_iptables_rules', 'Number of active iptables rules.') : gauge('iptables_sync_rules', 'rules in the chains the Table manages'),
    // Felix has no equivalent of the rest: our names either way.
    lockAcquireSeconds: new Histogram({
      name: 'iptables_sync_lock_acquire_seconds',
      help: 'time to acquire the iptables lock around a write',
      labelNames,
      registers,
      buckets: [0.001, 0.01, 0.1, 1, 10],
    }),
    restoreRetries: counter('iptables_sync_restore_retries_total', 'restore attempts retried after a failure'),
    applyDurationSeconds: new Histogram({
      name: 'iptables_sync_apply_duration_seconds',
      help: 'time one apply() took, successful or not',
      labelNames,
      registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    }),
    lastSuccessfulSync: gauge('iptables_sync_last_successful_sync_timestamp_seconds', 'unix time of the last apply() that succeeded'),
  };
  const byNames = perRegistry.get(registry) ?? new Map<MetricNames, TableMetrics>();
  byNames.set(names, metrics);
  perRegistry.set(registry, byNames);
  return metrics;
}
