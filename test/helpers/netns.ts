// Throwaway network namespaces for tests that touch the real dataplane.
//
// Every namespace gets a unique name (prefix, test tag, pid, random suffix) and is deleted in
// afterAll (useNamespace() wires the hooks) and, as a last resort, when the process exits. Each
// test process also gets its own XTABLES_LOCKFILE: the legacy binaries flock one lock file
// shared by every namespace, so without this, test files running in parallel would queue
// behind each other.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';

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

/** The PATH this test process started with: the helpers find the host's binaries on it even
 *  while a test narrows PATH for the library under test (test/helpers/plain-path.ts). */
const HOST_PATH = process.env.PATH;

/** Runs a command and collects its output; never throws for a non-zero exit. */
export function run(cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PATH: HOST_PATH } });
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

  /** A unique name for a namespace tagged `tag`; nothing is created until {@link add}. */
  static named(tag: string): Netns {
    const safeTag = tag.replace(/[^a-z0-9]/gi, '').slice(0, 12);
    return new Netns(`${NETNS_PREFIX}${safeTag}-${process.pid}-${randomBytes(3).toString('hex')}`);
  }

  /** Creates the namespace (with lo up); it is deleted by destroy() or when the process exits. */
  async add(): Promise<void> {
    installExitHook();
    useOwnXtablesLockfile();
    const res = await run('ip', ['netns', 'add', this.name]);
    if (res.code !== 0) throw new Error(`ip netns add ${this.name} failed: ${res.stderr}`);
    liveNamespaces.add(this.name);
    await runOk('ip', ['netns', 'exec', this.name, 'ip', 'link', 'set', 'lo', 'up']);
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

export interface UseNamespaceOptions {
  /** Before each test, empty every table of these backends (both IP versions). */
  readonly resetBeforeEach?: Backend | readonly Backend[];
}

/**
 * A throwaway namespace for the tests of the enclosing describe (or file): created in beforeAll,
 * deleted in afterAll (also when a test failed; registered first, so it runs after the file's
 * own afterAll hooks), and with `resetBeforeEach` emptied before each test. The returned Netns
 * has its name at once and exists from beforeAll on.
 */
export function useNamespace(tag: string, options: UseNamespaceOptions = {}): Netns {
  const ns = Netns.named(tag);
  beforeAll(() => ns.add());
  afterAll(() => ns.destroy());
  const reset = options.resetBeforeEach === undefined ? [] : typeof options.resetBeforeEach === 'string' ? [options.resetBeforeEach] : options.resetBeforeEach;
  if (reset.length > 0) {
    beforeEach(async () => {
      for (const backend of reset) await resetTables(ns, backend);
    });
  }
  return ns;
}

/** Empties every table of both IP versions on one backend. */
export async function resetTables(ns: Netns, backend: Backend): Promise<void> {
  for (const v of [4, 6] as const) {
    const input = ['filter', 'nat', 'mangle', 'raw'].map((t) => `*${t}\nCOMMIT\n`).join('');
    await ns.restore(backend, input, v, true);
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
