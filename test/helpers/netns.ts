// Throwaway network namespaces for tests that touch the real dataplane.
//
// Every namespace gets a unique name (prefix, test tag, pid, random suffix) and is deleted in
// afterAll and, as a last resort, when the process exits. Each test process also gets its own
// XTABLES_LOCKFILE: the legacy binaries flock one lock file shared by every namespace, so without
// this, test files running in parallel would queue behind each other.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Backend = 'legacy' | 'nft';
export const BACKENDS: readonly Backend[] = ['legacy', 'nft'];
export const NETNS_PREFIX = 'ipts-t-';

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const liveNamespaces = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const name of liveNamespaces) {
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  });
}

/** Gives this test process its own xtables lock file (idempotent); returns its path. */
export function useOwnXtablesLockfile(): string {
  const existing = process.env.XTABLES_LOCKFILE;
  if (existing && existing.includes('ipts-lock-')) return existing;
  const dir = mkdtempSync(join(tmpdir(), 'ipts-lock-'));
  const path = join(dir, 'xtables.lock');
  process.env.XTABLES_LOCKFILE = path;
  return path;
}

/** Runs a command and collects its output; never throws for a non-zero exit. */
export function run(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

export class Netns {
  private constructor(readonly name: string) {}

  static async create(tag: string): Promise<Netns> {
    installExitHook();
    useOwnXtablesLockfile();
    const safeTag = tag.replace(/[^a-z0-9]/gi, '').slice(0, 12);
    const name = `${NETNS_PREFIX}${safeTag}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const res = await run('ip', ['netns', 'add', name]);
    if (res.code !== 0) throw new Error(`ip netns add ${name} failed: ${res.stderr}`);
    liveNamespaces.add(name);
    await runOk('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    return new Netns(name);
  }

  /** Runs a command inside the namespace. */
  exec(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  /** Like exec, but throws with stderr on a non-zero exit. */
  async execOk(cmd: string, args: readonly string[], input?: string): Promise<string> {
    const res = await this.exec(cmd, args, input);
    if (res.code !== 0) {
      throw new Error(`${cmd} ${args.join(' ')} failed (${res.code ?? res.signal}): ${res.stderr}`);
    }
    return res.stdout;
  }

  /** iptables-save of one table, independent of the library under test. */
  save(backend: Backend, table: string, ipVersion: 4 | 6 = 4, withCounters = false): Promise<string> {
    const bin = `${ipVersion === 6 ? 'ip6tables' : 'iptables'}-${backend}-save`;
    return this.execOk(bin, withCounters ? ['-c', '-t', table] : ['-t', table]);
  }

  restore(backend: Backend, input: string, ipVersion: 4 | 6 = 4, flush = false): Promise<string> {
    const bin = `${ipVersion === 6 ? 'ip6tables' : 'iptables'}-${backend}-restore`;
    return this.execOk(bin, flush ? [] : ['--noflush'], input);
  }

  iptables(backend: Backend, args: readonly string[], ipVersion: 4 | 6 = 4): Promise<string> {
    const bin = `${ipVersion === 6 ? 'ip6tables' : 'iptables'}-${backend}`;
    return this.execOk(bin, ['-w', ...args]);
  }

  async destroy(): Promise<void> {
    if (!liveNamespaces.has(this.name)) return;
    await run('ip', ['netns', 'del', this.name]);
    liveNamespaces.delete(this.name);
  }
}

async function runOk(cmd: string, args: readonly string[]): Promise<void> {
  const res = await run(cmd, args);
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${res.stderr}`);
}

/** The rule lines (-A …) of one chain in an iptables-save dump, in order. */
export function chainRules(dump: string, chain: string): string[] {
  return dump.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
}

/** Whether a chain is declared in an iptables-save dump. */
export function hasChain(dump: string, chain: string): boolean {
  return dump.split('\n').some((l) => l.startsWith(`:${chain} `));
}
