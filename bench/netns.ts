// Throwaway network namespaces for the benchmark (the few bits of test/helpers/netns.ts it needs).
//
// Names are "ipts-bn-<run pid>-<worker>-<n>", unique per run, so cleanup only ever touches ours.
// Every namespace is deleted when its measurement ends, on failure, on SIGINT/SIGTERM/SIGHUP and,
// as a last resort, at process exit; the parent process also sweeps its run's prefix.
// Each namespace gets its own XTABLES_LOCKFILE (set in process.env, which every child inherits),
// so nothing here ever queues behind another namespace's xtables lock.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NETNS_PREFIX = 'ipts-bn-';

const live = new Set<string>();
let lockDir: string | undefined;
let counter = 0;
let hooksInstalled = false;

function deleteAllSync(): void {
  for (const name of live) {
    // Processes still running inside one of our namespaces (a child we started, e.g. the naive
    // wrapper) are ended by pid, so none outlives its namespace's name.
    try {
      const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter((p) => /^\d+$/.test(p));
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch {
      // no such namespace
    }
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    live.delete(name);
  }
  if (lockDir) rmSync(lockDir, { recursive: true, force: true });
  lockDir = undefined;
}

export function installCleanupHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', deleteAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      deleteAllSync();
      process.exit(130);
    });
  }
}

/** A private temporary directory of this process (lock files, scratch files), deleted at exit
 *  and on signals. */
export function scratchDir(): string {
  installCleanupHooks();
  lockDir ??= mkdtempSync(join(tmpdir(), 'ipts-b-lock-'));
  return lockDir;
}

export interface Exec {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(cmd: string, args: readonly string[], input = '', env: NodeJS.ProcessEnv = process.env): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export async function runOk(cmd: string, args: readonly string[], input = '', env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const res = await run(cmd, args, input, env);
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
  return res.stdout;
}

export class Netns {
  private constructor(
    readonly name: string,
    readonly lockFile: string,
  ) {}

  /** A fresh, empty namespace with loopback up, and its own xtables lock file. */
  static async create(runTag: string): Promise<Netns> {
    const dir = scratchDir();
    const name = `${NETNS_PREFIX}${runTag}-${counter++}`;
    const res = await run('ip', ['netns', 'add', name]);
    if (res.code !== 0) throw new Error(`ip netns add ${name} failed: ${res.stderr.trim()}`);
    live.add(name);
    const ns = new Netns(name, join(dir, `${name}.lock`));
    ns.useLockFile();
    await runOk('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Points every child process started from now on at this namespace's lock file. */
  useLockFile(): void {
    process.env.XTABLES_LOCKFILE = this.lockFile;
  }

  /** Runs a command in the namespace, with this namespace's lock file whatever process.env says. */
  execOk(cmd: string, args: readonly string[], input = ''): Promise<string> {
    return runOk('ip', ['netns', 'exec', this.name, cmd, ...args], input, { ...process.env, XTABLES_LOCKFILE: this.lockFile });
  }

  async destroy(): Promise<void> {
    if (!live.has(this.name)) return;
    await run('ip', ['netns', 'del', this.name]);
    live.delete(this.name);
  }
}

/** Runs fn with a fresh namespace that is always deleted afterwards. */
export async function withNetns<T>(runTag: string, fn: (ns: Netns) => Promise<T>): Promise<T> {
  const ns = await Netns.create(runTag);
  try {
    return await fn(ns);
  } finally {
    await ns.destroy();
  }
}

/** Deletes every namespace whose name starts with `prefix` (the parent's sweep of its own run). */
export function sweepNamespacesSync(prefix: string): string[] {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const doomed = list
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
  for (const name of doomed) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  return doomed;
}
