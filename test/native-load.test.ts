// Which addon file is loaded (what users get: the prebuild), that it is built from the current
// sources, and the fallbacks when it cannot or may not load.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NATIVE_ABI_VERSION, loadNative, nativeInfo, packageRoot, prebuildPath } from '../src/native';

const root = packageRoot();

describe('the loaded addon', () => {
  it('is the committed prebuild, which node-gyp-build also resolves when there is no local build', () => {
    const expected = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'iptables-sync.node');
    expect(prebuildPath()).toBe(expected);
    if (process.env.IPTABLES_SYNC_NATIVE_PATH) return; // deliberately overridden
    expect(nativeInfo()).toMatchObject({ loaded: true, path: expected });
  });

  it('was built from the current native sources (else: npm run prebuildify)', () => {
    const digest = execFileSync(process.execPath, [join(root, 'native', 'source-digest.js')], { encoding: 'utf8' });
    expect(loadNative()?.sourceDigest, 'prebuild is stale: run `npm run prebuildify` and commit it').toBe(digest);
  });
});

describe('fallbacks', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    vi.resetModules();
  });

  async function freshModules(env: Record<string, string>) {
    vi.resetModules();
    Object.assign(process.env, env);
    return {
      native: await import('../src/native'),
      locks: await import('../src/locks'),
      reader: await import('../src/reader'),
    };
  }

  async function* dump(): AsyncGenerator<Buffer> {
    yield Buffer.from('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "cali:abcdefghijklmnop" -j ACCEPT\nCOMMIT\n');
  }
  const config = { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'] };

  it('IPTABLES_SYNC_NO_NATIVE=1: TypeScript reader, no native hashing, locks say they need the addon', async () => {
    const { native, locks, reader } = await freshModules({ IPTABLES_SYNC_NO_NATIVE: '1' });
    expect(native.nativeInfo()).toEqual({ loaded: false, reason: 'disabled by IPTABLES_SYNC_NO_NATIVE=1' });
    expect(native.chainRuleHashes('FORWARD', '-A FORWARD HASH --jump DROP', 1)).toBeUndefined();
    const result = await reader.readSaveOutput(dump(), config);
    expect(result.implementation).toBe('js');
    expect(result.snapshot.get('INPUT')?.ids).toEqual(['abcdefghijklmnop']);
    await expect(reader.readSaveOutput(dump(), config, { implementation: 'native' })).rejects.toThrow(reader.NativeReaderUnavailableError);
    expect(() => locks.tryFlockOnce('/tmp/never')).toThrow(locks.LockUnavailableError);
    expect(() => locks.tryFlockOnce('/tmp/never')).toThrow(/need the native addon.*IPTABLES_SYNC_NO_NATIVE=1/);
    await expect(locks.grabIptablesLocks('/tmp/never', '@x', 10, 10)).rejects.toThrow(locks.LockUnavailableError);
  });

  it('a missing or stale addon file is skipped with a reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipts-native-'));
    const stale = join(dir, 'stale.js');
    writeFileSync(stale, 'module.exports = { abiVersion: 1 };');
    let m = await freshModules({ IPTABLES_SYNC_NATIVE_PATH: stale });
    expect(m.native.nativeInfo()).toMatchObject({ loaded: false, reason: expect.stringContaining(`interface version 1, expected ${NATIVE_ABI_VERSION}`) });
    m = await freshModules({ IPTABLES_SYNC_NATIVE_PATH: join(dir, 'missing.node') });
    expect(m.native.nativeInfo()).toMatchObject({ loaded: false, reason: expect.stringContaining('missing.node') });
    expect((await m.reader.readSaveOutput(dump(), config)).implementation).toBe('js');
  });
});
