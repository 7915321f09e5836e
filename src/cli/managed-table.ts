// One Table kept equal to one table of a rules file, across reloads of the file.
import type { Registry } from 'prom-client';
import type { TableName, TableRules } from '../config';
import type { SharedLock } from '../locks';
import type { Logger } from '../logger';
import type { MetricNames } from '../metrics';
import { nftTableNameFor } from '../nftables/table-spec';
import { Table } from '../table';
import type { CommonOptions } from './options';

export class ManagedTable {
  readonly table: Table;
  private chainNames = new Set<string>();
  private insertChains = new Set<string>();
  private appendChains = new Set<string>();

  constructor(
    readonly name: TableName,
    opts: CommonOptions,
    lock: SharedLock,
    logger: Logger,
    extra: { registry?: Registry; refreshIntervalMs?: number; canaryIntervalMs?: number; metricNames?: MetricNames } = {},
  ) {
    this.table = new Table(name, opts.ipVersion, opts.prefix, lock, {
      historicChainPrefixes: [opts.chainPrefix],
      insertMode: opts.insertMode,
      backend: opts.backend,
      ...(opts.nftTablePrefix !== undefined ? { nftTableName: nftTableNameFor(name, opts.nftTablePrefix) } : {}),
      features: opts.features,
      onlyReferencedChains: opts.onlyReferencedChains,
      lockTimeoutMs: opts.lockTimeout,
      lockFile: opts.lockFile,
      logger,
      ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
      ...(extra.registry ? { registry: extra.registry } : {}),
      ...(extra.refreshIntervalMs !== undefined ? { refreshIntervalMs: extra.refreshIntervalMs } : {}),
      ...(extra.canaryIntervalMs !== undefined ? { canaryIntervalMs: extra.canaryIntervalMs } : {}),
      ...(extra.metricNames !== undefined ? { metricNames: extra.metricNames } : {}),
    });
  }

  /** Makes the desired state equal to the file's rules for this table. */
  load(rules: TableRules): void {
    const next = new Set(rules.chains.map((c) => c.name));
    this.table.updateChains(rules.chains);
    for (const old of this.chainNames) if (!next.has(old)) this.table.removeChainByName(old);
    for (const [chain, list] of rules.inserts) this.table.setRuleInsertions(chain, list);
    for (const old of this.insertChains) if (!rules.inserts.has(old)) this.table.setRuleInsertions(old, []);
    const appends: NonNullable<TableRules['appends']> = rules.appends ?? new Map();
    for (const [chain, list] of appends) this.table.appendRules(chain, list);
    for (const old of this.appendChains) if (!appends.has(old)) this.table.appendRules(old, []);
    this.appendChains = new Set(appends.keys());
    this.chainNames = next;
    this.insertChains = new Set(rules.inserts.keys());
  }
}
