// The real, built CLI's `watch --json` as a child process, with its JSON log lines to wait on.
// Shared by the watch tests (cli-watch, watch-health, cli-table-switches).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');

export type LogEntry = { msg: string; level: string; [key: string]: unknown };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 50 ms until it holds; resolves to how long that took, throws after
 *  `timeoutMs` naming `what`. */
export async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!(await cond())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
  return Date.now() - started;
}

export class Watch {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `defaultTimeoutMs`: how long waitFor waits when not told. */
  constructor(
    args: readonly string[],
    private readonly defaultTimeoutMs = 15_000,
  ) {
    this.child = spawn(process.execPath, [CLI, 'watch', '--json', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const add = (b: Buffer): void => {
      this.output += b.toString('utf8');
    };
    this.child.stdout?.on('data', add);
    this.child.stderr?.on('data', add);
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
  }

  logs(): LogEntry[] {
    return this.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEntry);
  }

  /** The first log entry after the `after`-th that satisfies `pred`; throws when watch exits or time runs out. */
  async waitFor(pred: (e: LogEntry) => boolean, what: string, after = 0, timeoutMs = this.defaultTimeoutMs): Promise<LogEntry> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs().slice(after).find(pred);
      if (hit) return hit;
      if (this.child.exitCode !== null) throw new Error(`watch exited (${this.child.exitCode}) before ${what}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${this.output}`);
      await sleep(50);
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}
