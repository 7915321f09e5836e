// The npm install hook (native/install.js) on a host where the prebuild cannot load and nothing
// can be compiled: the install succeeds, and the warning names the file, the loader's error and
// what it means for the locks.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { packageRoot } from '../src/native';
import { pathWithoutCompilers } from './helpers/no-compilers';

const root = packageRoot();
const work = mkdtempSync(join(tmpdir(), 'ipts-ship-install-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function fakePackage(prebuild: string): string {
  const dir = join(work, `pkg-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(dir, 'prebuilds', 'linux-x64'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'iptables-sync', version: '0.0.0' }));
  cpSync(join(root, 'native'), join(dir, 'native'), { recursive: true });
  copyFileSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
  copyFileSync(prebuild, join(dir, 'prebuilds', 'linux-x64', 'iptables-sync.node'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true }); // npm test builds it first
  return dir;
}

it('without a loadable prebuild or a compiler: exits 0 and warns with the file, the error and the consequence', () => {
  expect(process.arch).toBe('x64');
  const foreign = join(root, 'prebuilds', 'linux-arm64', 'iptables-sync.node'); // loads on no x64 host
  const dir = fakePackage(foreign);
  const env = { ...process.env, PATH: pathWithoutCompilers(join(work, 'bin')), npm_config_nodedir: '/usr' };
  const r = spawnSync(process.execPath, [join(dir, 'native', 'install.js')], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
  expect(r.status).toBe(0);
  expect(r.stderr).toContain('iptables-sync: WARNING: the native addon is not available on this host.');
  expect(r.stderr).toContain(`prebuild: ${join(dir, 'prebuilds', 'linux-x64', 'iptables-sync.node')}: `);
  expect(r.stderr).toContain('(the file is an AArch64 binary, this Node is x64)');
  expect(r.stderr).toMatch(/throw LockUnavailableError/);
  expect(r.stderr).toMatch(/glibc >= 2\.28/);
  expect(existsSync(join(dir, 'build', 'Release', 'iptables_sync.node'))).toBe(false);
});

it('with a loadable prebuild: exits 0 silently and builds nothing', () => {
  const dir = fakePackage(join(root, 'prebuilds', 'linux-x64', 'iptables-sync.node'));
  const r = spawnSync(process.execPath, [join(dir, 'native', 'install.js')], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  expect(r.status).toBe(0);
  expect(r.stderr).toBe('');
  expect(existsSync(join(dir, 'build'))).toBe(false);
});
