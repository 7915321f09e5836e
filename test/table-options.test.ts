// Options beyond Felix on real iptables: backend auto-detection, prom-client metrics, logging.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AcceptAction, Chain, JumpAction, Match, RestoreFailedError } from '../src/index';
import type { Logger } from '../src/logger';
import { BACKENDS, useNamespace, resetTables } from './helpers/netns';
import { makeTable } from './helpers/table-env';

const web = new Chain({ name: 'cali-web', rules: [{ match: Match().protocol('tcp').destPorts(80), action: new AcceptAction() }] });

describe('backend auto-detection', () => {
  const ns = useNamespace('tauto', { resetBeforeEach: BACKENDS });

  const usedBackend = async (): Promise<string> => {
    const { table, rec } = makeTable(ns, 'legacy', { backend: 'auto' });
    table.updateChain(web);
    await table.apply();
    const saves = rec.saveCalls().flatMap((c) => [c.command, ...c.args]).filter((w) => /-save$/.test(w));
    const restores = rec.calls.flatMap((c) => [c.command, ...c.args]).filter((w) => /-restore$/.test(w));
    const backends = new Set([...saves.slice(-1), ...restores.slice(-1)].map((w) => (w.includes('-nft-') ? 'nft' : 'legacy')));
    expect(backends.size).toBe(1);
    return [...backends][0] as string;
  };

  it('follows KUBE-IPTABLES-HINT in mangle when one backend has it', async () => {
    await ns.restore('legacy', '*mangle\n:KUBE-IPTABLES-HINT - -\nCOMMIT\n');
    await ns.restore('nft', '*filter\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n');
    expect(await usedBackend()).toBe('legacy');
    await resetTables(ns, 'legacy');
    await ns.restore('nft', '*mangle\n:KUBE-IPTABLES-HINT - -\nCOMMIT\n');
    await ns.restore('legacy', '*filter\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n');
    expect(await usedBackend()).toBe('nft');
  });

  it('else picks the backend whose tables hold more rules', async () => {
    await ns.restore('legacy', '*filter\n-A INPUT -j ACCEPT\n-A OUTPUT -j ACCEPT\nCOMMIT\n');
    expect(await usedBackend()).toBe('legacy');
    await resetTables(ns, 'legacy');
    await ns.restore('nft', '*filter\n-A INPUT -j ACCEPT\nCOMMIT\n');
    expect(await usedBackend()).toBe('nft');
  });

  it('else the system default (what plain `iptables --version` reports)', async () => {
    const version = await ns.execOk('iptables', ['--version']);
    expect(await usedBackend()).toBe(version.includes('legacy') ? 'legacy' : 'nft');
  });
});

describe.each(BACKENDS)('metrics and logging (%s)', (backend) => {
  const ns = useNamespace(`tm${backend}`, { resetBeforeEach: backend });

  it('counts restore and save calls, lines, chains and rules, and errors, in the given registry', async () => {
    const registry = new Registry();
    const { table } = makeTable(ns, backend, { registry, sleep: async () => undefined });
    const other = makeTable(ns, backend, { registry }, 'nat'); // a second Table shares the registry
    table.updateChains([web, new Chain({ name: 'cali-two', rules: [{ action: new AcceptAction() }, { action: new AcceptAction() }] })]);
    table.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'cali-web' }) }]);
    await table.apply();
    await other.table.apply();
    const value = async (name: string, labels: Record<string, string> = { table: 'filter', ip_version: '4' }): Promise<number> => {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
      const sample = (metric?.values ?? []).find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
      return sample?.value ?? 0;
    };
    expect(await value('iptables_sync_restore_calls_total')).toBe(1);
    expect(await value('iptables_sync_save_calls_total')).toBe(1);
    // 2 chain creations + 3 rules + 1 insert.
    expect(await value('iptables_sync_lines_executed_total')).toBe(6);
    expect(await value('iptables_sync_chains')).toBe(2);
    expect(await value('iptables_sync_rules')).toBe(3);
    expect(await value('iptables_sync_save_calls_total', { table: 'nat', ip_version: '4' })).toBe(1);

    table.updateChain(new Chain({ name: 'cali-bad', rules: [{ action: new JumpAction({ target: 'cali-nowhere' }) }] }));
    await expect(table.apply()).rejects.toBeInstanceOf(RestoreFailedError);
    expect(await value('iptables_sync_restore_errors_total')).toBe(11);
    expect(await value('iptables_sync_restore_retries_total')).toBe(10);
  });

  it('logs the restore input at debug level and warns on retries', async () => {
    const lines: { level: string; fields: Record<string, unknown>; message?: string }[] = [];
    const at = (level: string) => (fields: object, message?: string): void => void lines.push({ level, fields: fields as Record<string, unknown>, message });
    const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    const { table } = makeTable(ns, backend, { logger });
    table.updateChain(web);
    await table.apply();
    const debug = lines.find((l) => l.level === 'debug' && typeof l.fields.input === 'string');
    expect(debug?.fields.input).toContain(':cali-web - -');
    expect(debug?.fields.input).toContain('--destination-ports 80');
  });
});
