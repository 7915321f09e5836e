// Every export of the package's three entry points (iptables-sync, iptables-sync/config,
// iptables-sync/testing) and every public member of Table carries a doc comment, counted with
// the TypeScript compiler API; and `npm run docs` renders the API reference without a warning.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docCoverage } from './helpers/doc-coverage';

const root = join(__dirname, '..');

describe('doc comments', () => {
  it('every root export and every public member of Table has one', () => {
    const { exports, undocumented } = docCoverage(join(root, 'src', 'index.ts'), ['Table']);
    expect(exports.length).toBeGreaterThanOrEqual(71); // what issue #13 counted: 31 of 71 documented
    expect(exports).toContain('Table');
    expect(undocumented).toEqual([]);
  });

  it('every export of iptables-sync/config has one', () => {
    const { exports, undocumented } = docCoverage(join(root, 'src', 'config.ts'));
    expect(exports).toContain('loadRulesFile');
    expect(undocumented).toEqual([]);
  });

  it('every export of iptables-sync/testing has one', () => {
    const { exports, undocumented } = docCoverage(join(root, 'src', 'testing.ts'), ['FakeIptables']);
    expect(exports).toContain('FakeIptables');
    expect(undocumented).toEqual([]);
  });

  it('npm run docs renders the API reference with no warning', () => {
    const out = mkdtempSync(join(tmpdir(), 'typedoc-'));
    try {
      // The docs script's command, writing elsewhere; a warning makes it exit non-zero.
      const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.docs;
      expect(script).toBe('typedoc --treatWarningsAsErrors');
      const run = spawnSync(process.execPath, [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--treatWarningsAsErrors', '--out', out], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
      expect(`${run.stdout}${run.stderr}`).not.toMatch(/warning|error/i);
      expect(run.status).toBe(0);
      for (const page of ['index.html', 'classes/iptables-sync.Table.html', 'modules/iptables-sync_config.html', 'classes/iptables-sync_testing.FakeIptables.html']) {
        expect(existsSync(join(out, page)), page).toBe(true);
      }
      // The Table page carries its method docs, with links to the errors they throw.
      const table = readFileSync(join(out, 'classes', 'iptables-sync.Table.html'), 'utf8');
      expect(table).toContain('Brings the dataplane in line with the desired state');
      expect(table).toContain('href="iptables-sync.LockTimeoutError.html"');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('finds a missing doc comment (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'doc-coverage-'));
    try {
      const file = join(dir, 'probe.ts');
      writeFileSync(
        file,
        '/** Documented. */\nexport const a = 1;\nexport const b = 2;\n/** A class. */\nexport class C {\n  /** Documented. */\n  x = 1;\n  y = 2;\n  private z = 3;\n  /** Made. */\n  constructor() {}\n}\n',
      );
      expect(docCoverage(file, ['C'])).toEqual({ exports: ['C', 'a', 'b'], undocumented: ['b', 'C.y'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
