// `iptables-sync watch`: the library's Reconciler over the rules file's tables, plus what only a
// long-running process needs: file reloads, SIGHUP/SIGINT/SIGTERM, metrics and log lines.
import { WatchHealth } from '../health';
import type { MetricNames } from '../metrics';
import { ConfigError } from '../rules-file/issues';
import { parseRules, readRulesFile } from '../rules-file/load';
import type { RulesFile } from '../rules-file/types';
import type { TableName } from '../table-names';
import { Reconciler, type PassResult } from '../reconciler';
import { restoreBodyLines } from '../restore-plan';
import { watchFile } from './file-watch';
import { ManagedTable } from './managed-table';
import { closeMetricsServer, serveMetrics } from './metrics-server';
import { EXIT_ERROR, EXIT_OK, session, type CommonOptions } from './options';
import { addSummaries, describeError, describeSummary } from './output';

export interface WatchOptions extends CommonOptions {
  metrics?: string;
  refreshInterval: number;
  debounce: number;
  /** 0: no canary. */
  canaryInterval: number;
  metricNames: MetricNames;
}

function readFileText(file: string, maxFileSize: number): string {
  return readRulesFile(file, { maxFileSize });
}

export async function watchCommand(file: string, opts: WatchOptions): Promise<number> {
  const s = session(opts, process.stdout);
  const log = s.logger;
  let text = readFileText(file, opts.maxFileSize);
  const rules = parseRules(text, file, { chainPrefix: opts.chainPrefix, ipVersion: opts.ipVersion });

  // Loaded here: only watch serves metrics, and every other command starts faster without it.
  const { Counter, Gauge, Registry, collectDefaultMetrics } = await import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const applies = new Counter({ name: 'iptables_sync_watch_applies_total', help: 'reconcile passes, by result', labelNames: ['result'], registers: [registry] });
  const repairs = new Counter({ name: 'iptables_sync_watch_repairs_total', help: 'writes that repaired drift made by other programs', labelNames: ['table'], registers: [registry] });
  const reloads = new Counter({ name: 'iptables_sync_watch_config_reloads_total', help: 'rules file reloads, by result', labelNames: ['result'], registers: [registry] });
  const inSyncGauge = new Gauge({ name: 'iptables_sync_watch_in_sync', help: '1 when the last reconcile pass succeeded', registers: [registry] });
  const health = new WatchHealth();

  const extra = {
    registry,
    metricNames: opts.metricNames,
    ...(opts.refreshInterval > 0 ? { refreshIntervalMs: opts.refreshInterval } : {}),
    ...(opts.canaryInterval > 0 ? { canaryIntervalMs: opts.canaryInterval } : {}),
  };
  const tables = new Map<TableName, ManagedTable>();
  /** Makes the managed tables those of the file; returns their Tables. */
  const adopt = (next: RulesFile): ManagedTable['table'][] => {
    for (const t of next.tables.values()) {
      let mt = tables.get(t.name);
      if (!mt) {
        mt = new ManagedTable(t.name, opts, s.lock, log, extra);
        tables.set(t.name, mt);
      }
      mt.load(t);
    }
    for (const name of [...tables.keys()]) {
      if (!next.tables.has(name)) {
        tables.delete(name);
        log.warn({ table: name }, `table ${name} is no longer in the file: leaving its rules in place (declare "${name}: {}" or run cleanup to remove them)`);
      }
    }
    return [...tables.values()].map((mt) => mt.table);
  };

  const server = opts.metrics !== undefined ? await serveMetrics(registry, health, opts.metrics, log) : undefined;

  const onPass = (pass: PassResult): void => {
    let wrote = false;
    let lastError: string | undefined;
    for (const outcome of pass.tables) {
      const name = outcome.table.name;
      if ('error' in outcome) {
        const error = outcome.error as Error;
        lastError = `${lastError === undefined ? '' : `${lastError}; `}${name}: ${error.message}`;
        log.error({ table: name, err: describeError(error), errorType: error.name }, 'apply failed; the desired state is kept and retried');
      }
      const writes = outcome.report?.writes ?? [];
      if (writes.length === 0) continue;
      wrote = true;
      const summary = describeSummary(addSummaries(writes.map((w) => w.summary)), 'done');
      const lines = writes.flatMap((w) => restoreBodyLines(w.input));
      // Writes not caused by the file (nor by the first pass) undo what another program did.
      const drift = !pass.first && !pass.desiredStateChanged;
      if (drift) repairs.inc({ table: name });
      log.info({ table: name, reason: pass.reason, lines }, `${drift ? 'repaired drift' : 'applied'} in ${name}: ${summary}`);
    }
    if (!wrote && pass.ok && pass.trigger === 'SIGHUP') log.info({}, 'SIGHUP re-read: in sync');
    applies.inc({ result: pass.ok ? 'ok' : 'error' });
    inSyncGauge.set(pass.ok ? 1 : 0);
    health.passFinished(pass.ok, lastError);
    if (pass.first && pass.ok) log.info({ file, tables: [...tables.keys()].join(',') || 'none' }, 'in sync; watching for drift and file changes');
  };
  const reconciler = new Reconciler({ tables: adopt(rules), onPassStart: () => health.passStarted(), onPass });

  /** Reads the file again; a valid new version waits for the next pass. Says whether it changed. */
  const reload = (reason: string): boolean => {
    let nextText: string;
    try {
      nextText = readFileText(file, opts.maxFileSize);
    } catch (error) {
      reloads.inc({ result: 'error' });
      log.error({ file, err: (error as Error).message }, 'cannot read the rules file; keeping the current rules');
      return false;
    }
    if (nextText === text) return false;
    let next: RulesFile;
    try {
      next = parseRules(nextText, file, { chainPrefix: opts.chainPrefix, ipVersion: opts.ipVersion });
    } catch (error) {
      reloads.inc({ result: 'error' });
      if (error instanceof ConfigError) log.error({ file, issues: error.issues.map((i) => `${i.line ?? 0}:${i.column ?? 0}: ${i.path}: ${i.message}`), omitted: error.omitted }, `invalid rules file; keeping the current rules: ${error.message.split('\n')[0]}`);
      else log.error({ file, err: (error as Error).message }, 'invalid rules file; keeping the current rules');
      return false;
    }
    reloads.inc({ result: 'ok' });
    log.info({ file }, 'rules file changed; applying');
    text = nextText;
    reconciler.reload(reason, () => adopt(next));
    return true;
  };

  let stopping = false;
  const fileWatch = watchFile(
    file,
    opts.debounce,
    () => {
      if (!stopping && reload('file change')) reconciler.trigger('file change');
    },
    log,
  );

  const onHup = (): void => {
    log.info({}, 'SIGHUP: reloading the rules file and re-reading the dataplane');
    reload('SIGHUP');
    reconciler.invalidate('SIGHUP');
    reconciler.trigger('SIGHUP');
  };

  let resolveStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((r) => (resolveStopped = r));
  const onStop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(EXIT_ERROR);
    }
    stopping = true;
    log.info({ signal }, 'stopping; the rules stay in place');
    fileWatch.close();
    void (async () => {
      await reconciler.stop(); // never cut a write short
      for (const mt of tables.values()) mt.table.close(); // stops the canary checks
      await closeMetricsServer(server);
      process.off('SIGHUP', onHup);
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
      log.info({}, 'stopped');
      resolveStopped(EXIT_OK);
    })();
  };
  process.on('SIGHUP', onHup);
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);

  log.info({ file, tables: [...tables.keys()].join(',') || 'none', netns: opts.netns, backend: opts.backend }, 'watching');
  reconciler.trigger('start');
  return stopped;
}
