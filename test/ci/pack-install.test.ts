// What a new user gets: a clean clone of HEAD is packed (`npm ci`, `npm pack`, which builds dist
// in prepack), the tarball is installed into a fresh project on a PATH without compilers, make
// or python, and the installed package is used the ways users use it: require, import,
// strict TypeScript under each module resolution, and the CLI. Commit first: it packs HEAD.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/native';
import { pathWithoutCompilers } from '../helpers/no-compilers';

const root = packageRoot();
const work = mkdtempSync(join(tmpdir(), 'ipts-ship-pack-'));
const clone = join(work, 'clone');
const app = join(work, 'app');
const tsc = join(clone, 'node_modules', 'typescript', 'bin', 'tsc');
let tarball = '';
let tarList: string[] = [];
let noCompilerPath = '';

function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  const head = run('git', ['-C', root, 'rev-parse', 'HEAD'], root).trim();
  run('git', ['clone', '--quiet', '--no-checkout', root, clone], work);
  run('git', ['-C', clone, 'checkout', '--quiet', head], work);
  const npmEnv = { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr' };
  run('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], clone, npmEnv);
  // stdout holds the prepack scripts' output, then npm's JSON.
  const packOut = run('npm', ['pack', '--json', '--pack-destination', work], clone, npmEnv);
  const packed = JSON.parse(packOut.slice(packOut.search(/^\[/m))) as { filename: string }[];
  tarball = join(work, (packed[0] as { filename: string }).filename);
  tarList = run('tar', ['-tzf', tarball], work).split('\n').filter(Boolean);

  noCompilerPath = pathWithoutCompilers(join(work, 'bin'));
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'ipts-pack-app', version: '1.0.0', private: true }));
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: noCompilerPath };
  delete env.npm_config_nodedir; // as for a user: no Node headers configured either
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, '@types/node@20'], app, env);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds dist, the native sources, both prebuilds, examples, schema, LICENSE, README and CHANGELOG', () => {
    for (const file of [
      'package/LICENSE', 'package/README.md', 'package/CHANGELOG.md', 'package/package.json', 'package/binding.gyp',
      'package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/config.js', 'package/dist/config.d.ts', 'package/dist/cli.js',
      'package/native/addon.cc', 'package/native/sha224.cc', 'package/native/source-digest.js', 'package/native/install.js',
      'package/prebuilds/linux-x64/iptables-sync.node', 'package/prebuilds/linux-arm64/iptables-sync.node',
      'package/examples/host-firewall.yaml', 'package/schema/rules.schema.json',
    ]) {
      expect(tarList, file).toContain(file);
    }
  });

  it('holds nothing else: no tests, benchmarks, fuzzers, sources, demo or source maps', () => {
    const junk = tarList.filter((f) => /^package\/(test|bench|fuzz|soak|src|scripts|\.ci)\//.test(f) || /\.map$|\/demo\.(js|d\.ts)$|\.tgz$/.test(f));
    expect(junk).toEqual([]);
  });

  it('LICENSE is the Apache License 2.0', () => {
    const text = run('tar', ['-xzOf', tarball, 'package/LICENSE'], work);
    expect(text).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(text).toContain('END OF TERMS AND CONDITIONS');
  });

  it('its .d.ts files declare no private members and cite nothing the package does not ship', () => {
    const dts = tarList.filter((f) => f.endsWith('.d.ts'));
    expect(dts.length).toBeGreaterThan(10);
    for (const file of dts) {
      const text = run('tar', ['-xzOf', tarball, file], work);
      expect(text, file).not.toMatch(/^\s+private\s/m);
      expect(text, file).not.toMatch(/\bSPEC\b/);
    }
  });
});

describe('installed with compilers hidden', () => {
  const env = () => ({ ...process.env, PATH: noCompilerPath });

  it('really has no compiler, make or python on that PATH', () => {
    for (const tool of ['cc', 'gcc', 'g++', 'make', 'python3']) {
      expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env: env() }).status, tool).not.toBe(0);
    }
  });

  it('the prebuilt addon loads (require)', () => {
    const out = run('node', ['-e', "const m = require('iptables-sync'); process.stdout.write(JSON.stringify(m.nativeInfo()))"], app, env());
    const info = JSON.parse(out) as { loaded: boolean; path: string };
    expect(info.loaded).toBe(true);
    expect(info.path).toBe(join(app, 'node_modules', 'iptables-sync', 'prebuilds', 'linux-x64', 'iptables-sync.node'));
    expect(existsSync(join(app, 'node_modules', 'iptables-sync', 'build'))).toBe(false); // nothing was compiled
  });

  it('require and import work for the root, iptables-sync/config and iptables-sync/testing', () => {
    const cjs = run('node', ['-e', "const { Table, Match } = require('iptables-sync'); const { parseRules } = require('iptables-sync/config'); const { FakeIptables } = require('iptables-sync/testing'); process.stdout.write([typeof Table, typeof Match, typeof parseRules, typeof FakeIptables].join())"], app, env());
    expect(cjs).toBe('function,function,function,function');
    const esm = run('node', ['--input-type=module', '-e', "import { Table, Match } from 'iptables-sync'; import { parseRules } from 'iptables-sync/config'; import { FakeIptables } from 'iptables-sync/testing'; process.stdout.write([typeof Table, typeof Match, typeof parseRules, typeof FakeIptables].join())"], app, env());
    expect(esm).toBe('function,function,function,function');
  });

  const consumer = [
    "import { AcceptAction, Match, Rule, Table, nativeInfo, type ReadResult } from 'iptables-sync';",
    "import { parseRules, type RulesFile } from 'iptables-sync/config';",
    "import { FakeIptables } from 'iptables-sync/testing';",
    "const rule: Rule = new Rule({ match: Match().protocol('tcp').destPorts(22), action: new AcceptAction() });",
    'const loaded: boolean = nativeInfo().loaded;',
    "const file: RulesFile = parseRules('{}', 'inline.json');",
    'const read: ReadResult | undefined = undefined;',
    'const fake: FakeIptables = new FakeIptables();',
    'export const used: readonly unknown[] = [rule, loaded, file, read, Table, fake.commandFactory];',
    '',
  ].join('\n');

  it.each([
    ['node16', 'node16', 'index.ts'],
    ['node16', 'node16', 'index.mts'],
    ['nodenext', 'nodenext', 'index.mts'],
    ['esnext', 'bundler', 'index.ts'],
    ['commonjs', 'node10', 'index.ts'],
  ])('a strict TypeScript file compiles with module %s, moduleResolution %s (%s)', (module, resolution, name) => {
    const dir = join(app, `ts-${module}-${resolution}-${name.replace('.', '-')}`);
    mkdirSync(dir);
    writeFileSync(join(dir, name), consumer);
    const r = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '--module', module, '--moduleResolution', resolution, '--target', 'es2022', '--types', 'node', '--skipLibCheck', 'false', join(dir, name)], { cwd: app, encoding: 'utf8', env: env() });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('npx iptables-sync doctor runs from the installed package and finds its prebuilt addon', () => {
    const report = JSON.parse(run('npx', ['--no-install', 'iptables-sync', 'doctor', '--json'], app, env())) as { ok: boolean; addon: { loaded: boolean; path: string } };
    expect(report.addon).toMatchObject({ loaded: true, path: join(app, 'node_modules', 'iptables-sync', 'prebuilds', 'linux-x64', 'iptables-sync.node') });
    expect(report.ok).toBe(true); // root, both backends' binaries and ip are on this host
  });

  it('npx iptables-sync --version prints the package version', () => {
    expect(run('npx', ['--no-install', 'iptables-sync', '--version'], app, env()).trim()).toBe(JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], work)).version);
  });
});
