// The real, built CLI (node dist/cli.js) as a child process: run it, collect its output, kill it
// at a deadline. Shared by every test file that runs the CLI once per call (watch, which keeps
// running, is test/helpers/watch-cli.ts).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli.js');

/** What a run printed, and its exit code: the shape tests compare with toEqual. */
export interface CliOutput {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How a run ended and what it printed, with its signal and wall time. */
export interface CliResult extends CliOutput {
  readonly signal: NodeJS.Signals | null;
  /** Wall time from spawn to close. */
  readonly ms: number;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed (default: closed at once). */
  readonly stdin?: string;
  /** SIGKILL after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** Added to (or overriding) this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Runs any command line from the repository root; never throws for a non-zero exit. */
export function runCommandLine(command: string, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const env = options.env === undefined ? process.env : { ...process.env, ...options.env };
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - started });
    });
  });
}

/** Runs `node dist/cli.js ARGS`, with its signal and wall time. */
export function runCliTimed(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runCommandLine(process.execPath, [CLI, ...args], options);
}

/** Runs `node dist/cli.js ARGS`: its exit code and output only. */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliOutput> {
  const { code, stdout, stderr } = await runCliTimed(args, options);
  return { code, stdout, stderr };
}

/** Builds dist/ when a lone `vitest run` of a CLI test finds it missing (`npm test` builds first). */
export function buildCliIfMissing(): void {
  if (!existsSync(CLI)) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}
