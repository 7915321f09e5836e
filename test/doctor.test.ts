// `iptables-sync doctor` (the real, built CLI) on this host: root, both backends' binaries
// installed. Each case changes one thing the report must notice: a namespace with rules in it,
// a missing namespace, an addon that cannot load, a held lock file, a PATH missing binaries.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DoctorReport } from '../src/doctor';
import { run, useOwnXtablesLockfile, useNamespace } from './helpers/netns';
import { runCli, buildCliIfMissing, type CliOutput, ROOT } from './helpers/run-cli';

const ALL_BINARIES = [
  'iptables-legacy-save', 'iptables-legacy-restore', 'iptables-nft-save', 'iptables-nft-restore',
  'ip6tables-legacy-save', 'ip6tables-legacy-restore', 'ip6tables-nft-save', 'ip6tables-nft-restore',
  'iptables', 'ip', 'nft',
];

function doctor(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliOutput> {
  return runCli(['doctor', ...args], { env });
}

async function doctorJson(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<{ code: number | null; report: DoctorReport }> {
  const res = await doctor(['--json', ...args], env);
  expect(res.stderr).toBe('');
  return { code: res.code, report: JSON.parse(res.stdout) as DoctorReport };
}

/** Where the real `which` finds a binary (independent of the code under test). */
const which = (name: string): string => execFileSync('sh', ['-c', `command -v ${name}`]).toString().trim();

const tmp = mkdtempSync(join(tmpdir(), 'ipts-doctor-'));
const ns = useNamespace('doc');

beforeAll(async () => {
  buildCliIfMissing();
  useOwnXtablesLockfile();
  // Three legacy rules and one nft rule: auto detection must pick legacy by count.
  await ns.iptables('legacy', ['-A', 'INPUT', '-s', '192.0.2.1', '-j', 'DROP']);
  await ns.iptables('legacy', ['-A', 'INPUT', '-s', '192.0.2.2', '-j', 'DROP']);
  await ns.iptables('legacy', ['-A', 'OUTPUT', '-d', '192.0.2.3', '-j', 'DROP']);
  await ns.iptables('nft', ['-A', 'INPUT', '-s', '198.51.100.1', '-j', 'DROP']);
});

describe('iptables-sync doctor on this host', () => {
  it('--json: every binary with its path and version, the addon, root, --wait, features, the lock file; exit 0', async () => {
    const { code, report } = await doctorJson([]);
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.addon).toMatchObject({ status: 'ok', loaded: true, path: join(ROOT, 'prebuilds', `linux-${process.arch}`, 'iptables-sync.node'), spawn: 'native' });
    expect(report.privileges).toMatchObject({ status: 'ok', uid: 0, root: true, netAdmin: true });
    expect(report.netns).toMatchObject({ status: 'ok', name: null });
    expect(report.binaries.map((b) => b.name)).toEqual(ALL_BINARIES);
    for (const b of report.binaries) {
      expect(b.status, b.name).toBe('ok');
      expect(b.path, b.name).toBe(which(b.name));
      const version = execFileSync(which(b.name), [b.name === 'ip' ? '-V' : '--version']).toString().split('\n')[0];
      expect(b.version, b.name).toBe(version);
    }
    expect(report.backend.detection?.legacyRules).toEqual(expect.any(Number));
    expect(report.backend.detection?.nftRules).toEqual(expect.any(Number));
    expect(report.restoreWait).toMatchObject({ status: 'ok', takesWait: true, binary: `iptables-${report.backend.backend ?? ''}-restore` });
    // Debian 12's iptables 1.8.9 on a 6.x kernel: all three.
    expect(report.features).toMatchObject({ status: 'ok', features: { snatFullyRandom: true, masqFullyRandom: true, nfLogSize: true } });
    expect(report.lockFile).toMatchObject({ path: process.env.XTABLES_LOCKFILE, source: 'XTABLES_LOCKFILE' });
  });

  it('text: one line per check with the paths and versions, and the verdict last', async () => {
    const res = await doctor([]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^ok\s+native addon\s+loaded \/\S+; children started by its posix_spawn$/m);
    const viaNode = await doctor([], { IPTABLES_SYNC_SPAWN: 'node' });
    expect(viaNode.stdout).toMatch(/^ok\s+native addon\s+loaded \/\S+; children started by Node's spawn \(IPTABLES_SYNC_SPAWN=node\)$/m);
    expect(res.stdout).toMatch(/^ok\s+privileges\s+running as root/m);
    for (const name of ALL_BINARIES) expect(res.stdout).toMatch(new RegExp(`^ok\\s+${name}\\s+${which(name)}: \\S`, 'm'));
    expect(res.stdout).toMatch(/^ok\s+restore --wait\s+iptables-(nft|legacy)-restore .*takes --wait/m);
    expect(res.stdout).toMatch(/^ok\s+features\s+SNAT --random-fully: yes/m);
    expect(res.stdout).toMatch(/\nusable: 0 errors, \d+ warnings?\n$/);
  });

  it('--netns: backend detection counts the rules in that namespace and picks by them', async () => {
    const { code, report } = await doctorJson(['--netns', ns.name]);
    expect(code).toBe(0);
    expect(report.netns).toMatchObject({ status: 'ok', name: ns.name, exists: true });
    expect(report.backend).toMatchObject({ status: 'ok', choice: 'auto', backend: 'legacy' });
    expect(report.backend.detection).toMatchObject({ backend: 'legacy', decidedBy: 'rule-count', legacyRules: 3, nftRules: 1, legacyHint: false, nftHint: false });
    expect(report.restoreWait).toMatchObject({ binary: 'iptables-legacy-restore', takesWait: true });
    const text = await doctor(['--netns', ns.name]);
    expect(text.stdout).toMatch(/backend \(IPv4\)\s+auto: legacy \(it holds more rules; legacy 3 rules, nft 1 rules\)/);

    // A forced backend the namespace does not use is a warning, not an error.
    const forced = await doctorJson(['--netns', ns.name, '--backend', 'nft']);
    expect(forced.code).toBe(0);
    expect(forced.report.backend).toMatchObject({ status: 'warn', choice: 'nft', backend: 'nft' });
    expect(forced.report.backend.message).toContain('the host uses legacy');

    // KUBE-IPTABLES-HINT outweighs the counts.
    await ns.iptables('nft', ['-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT']);
    try {
      const hinted = await doctorJson(['--netns', ns.name]);
      expect(hinted.report.backend.detection).toMatchObject({ backend: 'nft', decidedBy: 'hint', nftHint: true, legacyHint: false });
    } finally {
      await ns.iptables('nft', ['-t', 'mangle', '-X', 'KUBE-IPTABLES-HINT']);
    }
  });

  it('a namespace that does not exist: an error, exit 1', async () => {
    const missing = `ipts-t-doc-missing-${process.pid}`;
    const { code, report } = await doctorJson(['--netns', missing]);
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.netns).toMatchObject({ status: 'error', name: missing, exists: false });
    expect(report.backend.status).toBe('error');
    const text = await doctor(['--netns', missing]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^ERROR\\s+network namespace\\s+${missing} does not exist`, 'm'));
    expect(text.stdout).toMatch(/\nNOT usable: [1-9]\d* errors?/);
  });

  it('an addon that cannot load: the reason and the file are printed; a warning while restore locks itself, an error (exit 1) when it does not', async () => {
    const broken = join(tmp, 'broken.node');
    writeFileSync(broken, Buffer.alloc(4096, 0x5a));
    const env = { IPTABLES_SYNC_NATIVE_PATH: broken };
    const { code, report } = await doctorJson(['--netns', ns.name], env);
    expect(code).toBe(0);
    expect(report.addon).toMatchObject({ status: 'warn', loaded: false, tried: [broken], spawn: 'node' });
    expect(report.addon.reason).toMatch(/broken\.node: .*invalid ELF header/);
    const text = await doctor(['--netns', ns.name], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^WARN\s+native addon\s+not loaded: .*broken\.node: .*invalid ELF header.*LockUnavailableError/m);
    expect(text.stdout).toContain(`tried: ${broken}`);

    // An iptables-legacy-restore older than 1.6.2 (no --wait) needs our locks, so the addon.
    const oldBin = join(tmp, 'old-iptables');
    mkdirSync(oldBin, { recursive: true });
    const fake = join(oldBin, 'iptables-legacy-restore');
    writeFileSync(fake, '#!/bin/sh\necho "iptables-restore v1.6.1"\n');
    chmodSync(fake, 0o755);
    const oldEnv = { ...env, PATH: `${oldBin}:${process.env.PATH ?? ''}` };
    const old = await doctorJson(['--netns', ns.name, '--backend', 'legacy'], oldEnv);
    expect(old.code).toBe(1);
    expect(old.report.restoreWait).toMatchObject({ binary: 'iptables-legacy-restore', takesWait: false, version: 'iptables-restore v1.6.1' });
    expect(old.report.addon).toMatchObject({ status: 'error', loaded: false });
    const oldText = await doctor(['--netns', ns.name, '--backend', 'legacy'], oldEnv);
    expect(oldText.code).toBe(1);
    expect(oldText.stdout).toMatch(/^ERROR\s+native addon\s+not loaded: .*invalid ELF header.*does not lock itself/m);
    expect(oldText.stdout).toMatch(/restore --wait\s+iptables-legacy-restore v1\.6\.1 \(< 1\.6\.2\) has no --wait/);
  });

  it('a held lock file: the holder pid and command are shown (from --lock-file and from XTABLES_LOCKFILE)', async () => {
    const lockFile = join(tmp, 'held.lock');
    // -o: flock itself holds the lock; sleep does not inherit the fd.
    const holder: ChildProcess = spawn('flock', ['-o', lockFile, 'sleep', '60'], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 5000;
      while (!(await run('flock', ['-n', lockFile, 'true'])).code) {
        if (Date.now() > deadline) throw new Error('flock holder did not take the lock');
        await new Promise((r) => setTimeout(r, 20));
      }
      const { code, report } = await doctorJson(['--lock-file', lockFile]);
      expect(code).toBe(0);
      expect(report.lockFile).toMatchObject({ status: 'warn', path: lockFile, source: 'option', exists: true, holder: { pid: holder.pid } });
      expect(report.lockFile.holder?.command).toMatch(/^flock -o .*held\.lock sleep 60$/);
      const text = await doctor([], { XTABLES_LOCKFILE: lockFile });
      expect(text.stdout).toMatch(new RegExp(`^WARN\\s+lock file\\s+${lockFile} \\(XTABLES_LOCKFILE\\) is held by pid ${holder.pid} \\(flock -o`, 'm'));
    } finally {
      holder.kill('SIGKILL');
    }
    const free = await doctorJson(['--lock-file', lockFile]);
    expect(free.report.lockFile).toMatchObject({ status: 'ok', exists: true, holder: null });
  });

  it('a PATH without some binaries: the missing ones are named; missing ones the backend needs are errors', async () => {
    const bin = join(tmp, 'legacy-only');
    mkdirSync(bin, { recursive: true });
    for (const name of ['iptables-legacy-save', 'iptables-legacy-restore', 'ip', 'cat']) symlinkSync(which(name), join(bin, name));
    const env = { PATH: bin };
    const legacy = await doctorJson(['--netns', ns.name, '--backend', 'legacy'], env);
    expect(legacy.code).toBe(0);
    const byName = new Map(legacy.report.binaries.map((b) => [b.name, b]));
    for (const name of ['iptables-legacy-save', 'iptables-legacy-restore', 'ip']) expect(byName.get(name)).toMatchObject({ status: 'ok', path: join(bin, name) });
    for (const name of ['iptables-nft-save', 'iptables-nft-restore', 'ip6tables-legacy-save', 'nft', 'iptables']) {
      expect(byName.get(name)).toMatchObject({ status: 'warn', path: null, required: false });
    }
    const text = await doctor(['--netns', ns.name, '--backend', 'nft'], env);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^ERROR\s+iptables-nft-save\s+iptables-nft-save: not found on PATH \(needed\)/m);
    expect(text.stdout).toMatch(/^ERROR\s+iptables-nft-restore\s+iptables-nft-restore: not found on PATH \(needed\)/m);
    expect(text.stdout).toMatch(/^WARN\s+nft\s+nft: not found on PATH$/m);
    expect(text.stdout).toMatch(/^ok\s+iptables-legacy-save\s/m);
  });
});

describe('diagnose() bounds every probe', () => {
  it('a version probe that hangs is killed at the probe deadline and reported; the rest of the report still comes', async () => {
    const { diagnose } = await import('../src/doctor');
    const bin = join(tmp, 'hanging');
    mkdirSync(bin, { recursive: true });
    const hang = join(bin, 'nft');
    writeFileSync(hang, '#!/bin/sh\nexec sleep 60\n');
    chmodSync(hang, 0o755);
    const started = Date.now();
    const report = await diagnose({ netns: ns.name, probeTimeoutMs: 500, searchPath: `${bin}:${process.env.PATH ?? ''}` });
    expect(Date.now() - started).toBeLessThan(10_000);
    const nft = report.binaries.find((b) => b.name === 'nft');
    expect(nft).toMatchObject({ status: 'warn', path: hang, required: false });
    expect(nft?.message).toBe(`${hang}: version probe timed out after 500 ms (killed)`);
    expect(report.binaries.find((b) => b.name === 'iptables-nft-save')).toMatchObject({ status: 'ok', path: which('iptables-nft-save') });
    expect(report.ok).toBe(true);
  });

  it('a command runner whose children never end: every probe gives up at its bound and says so', async () => {
    const { diagnose } = await import('../src/doctor');
    const { PassThrough } = await import('node:stream');
    // A fake for the timing path only: the children ignore even SIGKILL and never exit.
    const stuck = (): import('../src/commands').SpawnedCommand => ({
      stdin: new PassThrough(),
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      exited: new Promise(() => undefined),
      kill: () => undefined,
    });
    const started = Date.now();
    const report = await diagnose({ commandFactory: stuck, probeTimeoutMs: 200, backend: 'nft' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(report.ok).toBe(false);
    expect(report.backend).toMatchObject({ status: 'error', message: 'probe gave no answer within 400 ms' });
    const save = report.binaries.find((b) => b.name === 'iptables-nft-save');
    expect(save).toMatchObject({ status: 'error', required: true, message: 'iptables-nft-save: probe gave no answer within 400 ms' });
    expect(report.binaries.find((b) => b.name === 'nft')).toMatchObject({ status: 'warn', required: false });
    expect(report.features).toMatchObject({ status: 'warn', message: 'probe gave no answer within 400 ms' });
    expect(report.privileges.status).toBe('ok'); // probes that need no child are unaffected
  });
});
