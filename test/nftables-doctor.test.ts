// `iptables-sync doctor --backend nftables` (the built CLI, and diagnose()) on real nft in a
// throwaway namespace: nft found with its version, nf_tables usable there, which of our tables
// exist, the listing worker; a PATH without nft and an invalid table name are errors.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { diagnose, type DoctorReport } from '../src/doctor';
import { useNamespace } from './helpers/netns';
import { buildCliIfMissing, ROOT, runCli } from './helpers/run-cli';

const which = (name: string): string => execFileSync('sh', ['-c', `command -v ${name}`]).toString().trim();
const ALL_OURS = ['ip ipts-filter', 'ip ipts-nat', 'ip ipts-mangle', 'ip ipts-raw'];

const ns = useNamespace('nftdoc');
beforeAll(async () => {
  buildCliIfMissing();
});

async function doctorJson(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<{ code: number | null; report: DoctorReport }> {
  const res = await runCli(['doctor', '--json', '--netns', ns.name, '--backend', 'nftables', ...args], { env });
  expect(res.stderr).toBe('');
  return { code: res.code, report: JSON.parse(res.stdout) as DoctorReport };
}

describe('doctor --backend nftables', () => {
  it('nft (required) with its version, nf_tables usable in the namespace, our tables present or not, the listing worker; exit 0', async () => {
    const empty = await doctorJson([]);
    expect(empty.code).toBe(0);
    expect(empty.report.ok).toBe(true);
    const nft = empty.report.binaries.find((b) => b.name === 'nft');
    expect(nft).toMatchObject({ status: 'ok', required: true, path: which('nft'), version: execFileSync('nft', ['--version']).toString().trim() });
    expect(empty.report.backend).toMatchObject({ status: 'ok', choice: 'nftables', backend: null });
    expect(empty.report.nftables).toMatchObject({ status: 'ok', usable: true, reader: true, tables: ALL_OURS, present: [] });
    expect(empty.report.restoreWait.status).toBe('ok');
    expect(empty.report.features.status).toBe('ok');

    const apply = await runCli(['apply', '--netns', ns.name, '--backend', 'nftables', '-f', join(ROOT, 'examples', 'demo.yaml')]);
    expect(apply.code, apply.stderr).toBe(0);
    const applied = await doctorJson([]);
    expect(applied.report.nftables).toMatchObject({ status: 'ok', present: ['ip ipts-filter'] });
    const text = await runCli(['doctor', '--netns', ns.name, '--backend', 'nftables']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ok\s+nftables\s+nf_tables usable \(nft list tables\); our tables ip ipts-filter, .*\(ours present: ip ipts-filter\); reads scanned by the listing worker thread$/m);
    expect(text.stdout).toMatch(/\nusable: 0 errors/);
  });

  it('a PATH without nft: nft is a needed binary not found, nf_tables not usable; exit 1', async () => {
    const bin = join(mkdtempSync(join(tmpdir(), 'ipts-nftdoc-')), 'bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(which('ip'), join(bin, 'ip'));
    const { code, report } = await doctorJson([], { PATH: bin });
    expect(code).toBe(1);
    expect(report.binaries.find((b) => b.name === 'nft')).toMatchObject({ status: 'error', required: true, path: null });
    expect(report.nftables).toMatchObject({ status: 'error', usable: false, reader: true });
    expect(report.nftables?.message).toMatch(/^nft list tables /);
  });

  it('diagnose(): an nftTableName nft cannot take is an error naming it', async () => {
    const report = await diagnose({ backend: 'nftables', netns: ns.name, nftTableName: 'bad name' });
    expect(report.ok).toBe(false);
    expect(report.nftables).toMatchObject({ status: 'error', usable: true, tables: ['ip bad name'] });
    expect(report.nftables?.message).toMatch(/^table name "bad name": /);
    const fine = await diagnose({ backend: 'nftables', netns: ns.name, nftTableName: 'mytable', ipVersion: 6 });
    expect(fine.nftables).toMatchObject({ status: 'ok', tables: ['ip6 mytable'], present: [] });
    const prefixed = await diagnose({ backend: 'nftables', netns: ns.name, nftTablePrefix: 'my_' });
    expect(prefixed.nftables).toMatchObject({ status: 'ok', tables: ['ip my_filter', 'ip my_nat', 'ip my_mangle', 'ip my_raw'], present: [] });
    const badPrefix = await diagnose({ backend: 'nftables', netns: ns.name, nftTablePrefix: '' });
    expect(badPrefix.ok).toBe(false);
    expect(badPrefix.nftables?.message).toMatch(/^table name "filter": "filter" is a table of iptables-nft's own/);
    const both = await diagnose({ backend: 'nftables', netns: ns.name, nftTableName: 'mytable', nftTablePrefix: 'my_' });
    expect(both.nftables).toMatchObject({ status: 'error', message: 'give nftTableName or nftTablePrefix, not both' });
  });
});
