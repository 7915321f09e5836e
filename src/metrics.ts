// Prometheus metrics in a caller-supplied prom-client registry. Metrics are created once per
// registry and labelled by table, so several Tables can share one registry.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** A Table's Prometheus metrics, each labelled by `table` and `ip_version`. */
export interface TableMetrics {
  readonly restoreCalls: Counter<'table' | 'ip_version'>;
  readonly restoreErrors: Counter<'table' | 'ip_version'>;
  readonly saveCalls: Counter<'table' | 'ip_version'>;
  readonly saveErrors: Counter<'table' | 'ip_version'>;
  readonly linesExecuted: Counter<'table' | 'ip_version'>;
  readonly chains: Gauge<'table' | 'ip_version'>;
  readonly rules: Gauge<'table' | 'ip_version'>;
  readonly lockAcquireSeconds: Histogram<'table' | 'ip_version'>;
  readonly restoreRetries: Counter<'table' | 'ip_version'>;
  /** Wall time of each apply() call, including no-op ones (seconds). */
  readonly applyDurationSeconds: Histogram<'table' | 'ip_version'>;
  /** When apply() last succeeded (unix seconds): the dataplane was in sync then. */
  readonly lastSuccessfulSync: Gauge<'table' | 'ip_version'>;
}

const perRegistry = new WeakMap<Registry, TableMetrics>();
const labelNames = ['table', 'ip_version'] as const;

/** The metrics in `registry`, created on the first call for it and shared after. */
export function metricsFor(registry: Registry): TableMetrics {
  const existing = perRegistry.get(registry);
  if (existing) return existing;
  // Loaded on first use: prom-client costs ~12 MB and ~100 ms to import, and most Tables run
  // without a registry.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Counter, Gauge, Histogram } = require('prom-client') as typeof import('prom-client');
  const registers = [registry];
  const counter = (name: string, help: string): Counter<'table' | 'ip_version'> =>
    new Counter({ name, help, labelNames, registers });
  const gauge = (name: string, help: string): Gauge<'table' | 'ip_version'> =>
    new Gauge({ name, help, labelNames, registers });
  const metrics: TableMetrics = {
    restoreCalls: counter('iptables_sync_restore_calls_total', 'iptables-restore runs'),
    restoreErrors: counter('iptables_sync_restore_errors_total', 'iptables-restore runs that failed'),
    saveCalls: counter('iptables_sync_save_calls_total', 'iptables-save runs'),
    saveErrors: counter('iptables_sync_save_errors_total', 'iptables-save runs that failed'),
    linesExecuted: counter('iptables_sync_lines_executed_total', 'restore lines sent to iptables-restore'),
    chains: gauge('iptables_sync_chains', 'chains the Table manages'),
    rules: gauge('iptables_sync_rules', 'rules in the chains the Table manages'),
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
  perRegistry.set(registry, metrics);
  return metrics;
}
