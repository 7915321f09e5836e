// Which addon file is loaded (what users get: the prebuild), that it is built from the current
// sources, and the fallbacks when it cannot or may not load.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

  it.each(['linux-x64', 'linux-arm64'])('prebuilds/%s embeds the current source digest (read from the file, not loaded)', (target) => {
    const digest = execFileSync(process.execPath, [join(root, 'native', 'source-digest.js')], { encoding: 'utf8' });
    const embedded = readFileSync(join(root, 'prebuilds', target, 'iptables-sync.node')).toString('latin1').match(/\bd[0-9a-f]{64}\b/g);
    expect(embedded, `prebuilds/${target} is stale: run \`npm run prebuildify\` and commit it`).toEqual([digest]);
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
    expect(native.nativeInfo()).toEqual({ loaded: false, reason: 'disabled by IPTABLES_SYNC_NO_NATIVE=1', tried: [] });
    expect(native.chainRuleHashes('FORWARD', '-A FORWARD HASH --jump DROP', 1)).toBeUndefined();
    const result = await reader.readSaveOutput(dump(), config);
    expect(result.implementation).toBe('js');
    expect(result.snapshot.get('INPUT')?.ids).toEqual(['abcdefghijklmnop']);
    await expect(reader.readSaveOutput(dump(), config, { implementation: 'native' })).rejects.toThrow(reader.NativeReaderUnavailableError);
    expect(() => locks.tryFlockOnce('/tmp/never')).toThrow(locks.LockUnavailableError);
    expect(() => locks.tryFlockOnce('/tmp/never')).toThrow(/need the native addon.*IPTABLES_SYNC_NO_NATIVE=1.*Fix: unset IPTABLES_SYNC_NO_NATIVE/);
    await expect(locks.grabIptablesLocks('/tmp/never', '@x', 10, 10)).rejects.toThrow(locks.LockUnavailableError);
  });

  it('a foreign-arch or broken addon file: nativeInfo names the file and the loader error, the lock error names it and the fix', async () => {
    const foreign = join(root, 'prebuilds', process.arch === 'arm64' ? 'linux-x64' : 'linux-arm64', 'iptables-sync.node');
    let m = await freshModules({ IPTABLES_SYNC_NATIVE_PATH: foreign });
    const info = m.native.nativeInfo();
    expect(info).toMatchObject({ loaded: false, tried: [foreign] });
    // dlopen's own words for a foreign ELF machine are "No such file or directory": say what it is.
    expect(info.reason).toContain(`${foreign}: `);
    expect(info.reason).toMatch(process.arch === 'arm64' ? /an x86-64 binary, this Node is arm64/ : /an AArch64 binary, this Node is x64/);
    let lockError: unknown;
    try {
      m.locks.tryFlockOnce('/tmp/never');
    } catch (err) {
      lockError = err;
    }
    expect(lockError).toBeInstanceOf(m.locks.LockUnavailableError);
    expect(String(lockError)).toContain(foreign);
    expect(String(lockError)).toMatch(/Fix: .*glibc >= 2\.28.*npm rebuild iptables-sync/);

    const dir = mkdtempSync(join(tmpdir(), 'ipts-native-'));
    const broken = join(dir, 'broken.node');
    writeFileSync(broken, Buffer.alloc(4096, 0x5a));
    m = await freshModules({ IPTABLES_SYNC_NATIVE_PATH: broken });
    expect(m.native.nativeInfo()).toMatchObject({ loaded: false, tried: [broken], reason: expect.stringContaining(`${broken}: `) });
    expect(m.native.nativeInfo().reason).toMatch(/invalid ELF header/);
    await expect(m.locks.grabIptablesLocks('/tmp/never', '@x', 10, 10)).rejects.toThrow(/broken\.node.*invalid ELF header.*Fix: /);
  });

  it('a glibc or libstdc++ too old for the file is named as such', async () => {
    const m = await freshModules({});
    const message = "/usr/lib/node_modules/iptables-sync/prebuilds/linux-x64/iptables-sync.node: /lib64/libc.so.6: version `GLIBC_2.33' not found (required by …)";
    expect(m.native.loadErrorText('/x.node', new Error(message))).toBe(`/x.node: ${message} (this host's C/C++ runtime is older than GLIBC_2.33)`);
    expect(m.native.loadErrorText('/x.node', new Error("version `GLIBCXX_3.4.29' not found"))).toMatch(/older than GLIBCXX_3\.4\.29\)$/);
  });

  it('with no addon for this platform, nativeInfo says which prebuild directory was looked in', async () => {
    const m = await freshModules({});
    const dir = mkdtempSync(join(tmpdir(), 'ipts-root-'));
    expect(m.native.describeNoCandidates(dir)).toContain(join(dir, 'prebuilds', `${process.platform}-${process.arch}`));
    expect(m.native.describeNoCandidates(dir)).toContain('build/Release');
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
