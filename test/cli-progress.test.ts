// Progress of the real CLI (node dist/cli.js) while it reads a large rules file: on a terminal
// (a pseudo-terminal from util-linux `script`) or with --progress, on stderr only; never when
// stderr is a pipe without --progress, and never with --json. No dataplane: `check` only.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
/** Progress from the start (the default waits a second, which a small file never takes). */
const ENV = { ...process.env, IPTABLES_SYNC_PROGRESS_AFTER_MS: '0' };
const RULES = 5000;
const LINE = new RegExp(`reading [^\\n\\r]*rules\\.yaml: [\\d,]+ of ${RULES.toLocaleString('en-US')} rules…`);

const scratch = mkdtempSync(join(tmpdir(), 'ipts-progress-'));
const file = join(scratch, 'rules.yaml');

function run(cmd: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

beforeAll(() => {
  if (!existsSync(CLI)) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  const lines = ['tables:', '  filter:', '    chains:'];
  for (let c = 0; c < RULES / 10; c++) {
    lines.push(`      ipts-c${c}:`);
    for (let r = 0; r < 10; r++) lines.push(`        - match: { protocol: tcp, destPorts: [${1000 + r}] }`, '          action: accept');
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
});

describe('CLI progress while reading a large rules file', () => {
  it('with --progress it is on stderr, one line per update, and stdout holds only the result', async () => {
    const r = await run(process.execPath, [CLI, 'check', '-f', file, '--progress']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${file} is valid (filter: ${RULES / 10} chains, ${RULES} rules, 0 inserts).\n`);
    expect(r.stderr).toMatch(LINE);
    expect(r.stderr).not.toContain('\r'); // not a terminal: whole lines
  });

  it('on a terminal it rewrites one line and clears it before the result', async () => {
    // script(1) runs the CLI on a pseudo-terminal and copies what it wrote (stdout and stderr).
    const r = await run('script', ['-qfec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} check -f ${JSON.stringify(file)}`, '/dev/null']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\r${LINE.source}\\x1b\\[K`));
    expect(r.stdout).toMatch(/\r\x1b\[K[^\r]*is valid \(filter/);
  });

  it('is absent when stderr is a pipe without --progress, and with --json', async () => {
    const [piped, json, jsonTty] = await Promise.all([
      run(process.execPath, [CLI, 'check', '-f', file]),
      run(process.execPath, [CLI, 'check', '-f', file, '--json', '--progress']),
      run('script', ['-qfec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} check -f ${JSON.stringify(file)} --json`, '/dev/null']),
    ]);
    expect(piped).toEqual({ code: 0, stdout: `${file} is valid (filter: ${RULES / 10} chains, ${RULES} rules, 0 inserts).\n`, stderr: '' });
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: true, tables: [{ table: 'filter', rules: RULES }] });
    expect(jsonTty.code).toBe(0);
    expect(jsonTty.stdout).not.toMatch(/reading|\r(?!\n)/);
  });
});
