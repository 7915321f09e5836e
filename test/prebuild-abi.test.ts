// Each committed prebuild is for the CPU its directory names and asks the host for nothing newer
// than glibc 2.28 / GCC 8's libstdc++ (RHEL 8, Ubuntu 20.04, Debian 10), so it loads there.
// Read with binutils (objdump, readelf), not by loading: the arm64 one cannot load here (see
// test/ci/prebuild-arm64.test.ts for that). The x64 one then runs the smoke test under this Node.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/native';
import { expectedSmoke, parseSmoke } from './helpers/native-smoke-expect';

const root = packageRoot();
const targets = [
  { dir: 'linux-x64', elfMachine: 62, readelfMachine: 'Advanced Micro Devices X86-64' },
  { dir: 'linux-arm64', elfMachine: 183, readelfMachine: 'AArch64' },
] as const;

// The oldest supported host's versions: glibc 2.28, and GCC 8.x's libstdc++ (GLIBCXX_3.4.25, CXXABI_1.3.11).
const LIMITS = { GLIBC: '2.28', GLIBCXX: '3.4.25', CXXABI: '1.3.11' } as const;
// Libraries every Linux host with that glibc has; nothing else (no libstdc++, libcrypto, …).
const ALLOWED_NEEDED = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$/;

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

interface DynamicSymbol {
  readonly name: string;
  readonly undefined: boolean;
  /** Weak: an undefined weak symbol may stay unresolved at load time. */
  readonly weak: boolean;
  /** e.g. "GLIBC_2.17"; "" for an unversioned symbol. */
  readonly version: string;
}

// objdump -T lines: "<addr> <flags> <section>\t<size> <version or (version)> <name>".
function dynamicSymbols(file: string): DynamicSymbol[] {
  const text = execFileSync('objdump', ['-T', file], { encoding: 'utf8' });
  const symbols: DynamicSymbol[] = [];
  for (const line of text.split('\n')) {
    const m = /^[0-9a-f]{8,16} (.{7}) (\S+)\s+[0-9a-f]+\s+(?:\(([^)]+)\)|(\S+))\s+(\S+)$/.exec(line);
    if (!m) continue;
    const version = m[3] ?? m[4] ?? '';
    symbols.push({ name: m[5] as string, undefined: m[2] === '*UND*', weak: (m[1] as string)[1] === 'w', version: version === 'Base' ? '' : version });
  }
  return symbols;
}

function highest(symbols: readonly DynamicSymbol[], prefix: keyof typeof LIMITS): string | undefined {
  return symbols
    .map((s) => new RegExp(`^${prefix}_([\\d.]+)$`).exec(s.version)?.[1])
    .filter((v): v is string => v !== undefined)
    .sort(compareVersions)
    .at(-1);
}

describe.each(targets)('prebuilds/$dir', ({ dir, elfMachine, readelfMachine }) => {
  const file = join(root, 'prebuilds', dir, 'iptables-sync.node');

  it(`is a 64-bit little-endian ELF shared object for ${readelfMachine}`, () => {
    const header = readFileSync(file).subarray(0, 20);
    expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect([header[4], header[5]]).toEqual([2, 1]); // ELFCLASS64, little-endian
    expect(header.readUInt16LE(16)).toBe(3); // ET_DYN
    expect(header.readUInt16LE(18)).toBe(elfMachine);
    expect(execFileSync('readelf', ['-h', file], { encoding: 'utf8' })).toMatch(new RegExp(`Machine:\\s+${readelfMachine}`));
  });

  it(`needs at most GLIBC_${LIMITS.GLIBC}, GLIBCXX_${LIMITS.GLIBCXX} and CXXABI_${LIMITS.CXXABI}`, () => {
    const symbols = dynamicSymbols(file);
    expect(symbols.length, 'objdump -T listed no symbols').toBeGreaterThan(50);
    const needed = symbols.filter((s) => s.undefined);
    for (const prefix of Object.keys(LIMITS) as (keyof typeof LIMITS)[]) {
      const top = highest(needed, prefix);
      if (top === undefined) continue; // e.g. no GLIBCXX at all: libstdc++ is linked in statically
      const over = needed.filter((s) => s.version.startsWith(`${prefix}_`) && compareVersions(s.version.slice(prefix.length + 1), LIMITS[prefix]) > 0);
      expect(over.map((s) => `${s.name}@${s.version}`), `${prefix} symbols newer than ${LIMITS[prefix]}`).toEqual([]);
    }
    expect(compareVersions(highest(needed, 'GLIBC') ?? '0', LIMITS.GLIBC)).toBeLessThanOrEqual(0);
  });

  it('binds only versioned libc symbols and Node-API functions (no OpenSSL or other Node internals)', () => {
    const symbols = dynamicSymbols(file);
    // Weak references (C runtime start files, transactional-memory hooks) may stay unresolved.
    const unversioned = symbols.filter((s) => s.undefined && !s.weak && s.version === '' && !s.name.startsWith('napi_'));
    expect(unversioned.map((s) => s.name)).toEqual([]);
    // The static libstdc++ stays private (--exclude-libs): only the module entry points are exported.
    expect(symbols.filter((s) => !s.undefined).map((s) => s.name).sort()).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
    const needed = execFileSync('readelf', ['-d', file], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
    expect(needed).toContain('libc.so.6');
    expect(needed.filter((n) => !ALLOWED_NEEDED.test(n))).toEqual([]);
  });
});

it('the x64 prebuild loads and passes the smoke test under this Node', () => {
  expect(process.arch, 'this test runs on x64 hosts').toBe('x64');
  const scratch = mkdtempSync(join(tmpdir(), 'ipts-ship-smoke-'));
  const out = execFileSync(process.execPath, [join(__dirname, 'helpers', 'native-smoke.js'), root, scratch], { encoding: 'utf8', env: { ...process.env, IPTABLES_SYNC_NATIVE_PATH: '' } });
  const digest = execFileSync(process.execPath, [join(root, 'native', 'source-digest.js')], { encoding: 'utf8' });
  expect(parseSmoke(out)).toEqual(expectedSmoke({ arch: 'x64', path: join(root, 'prebuilds', 'linux-x64', 'iptables-sync.node'), digest, sha224: (b) => createHash('sha224').update(b).digest() }));
});
