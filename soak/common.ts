// Shared by the soak's processes: who owns what, a seeded PRNG, running a command in the
// namespace, and the independent check of a table dump against a desired state.
import { spawn } from 'node:child_process';

export type Backend = 'legacy' | 'nft';
export type TableName = 'filter' | 'nat' | 'mangle' | 'raw';

/** One Table instance of the soak: its own hash prefix, chain prefix and hook chain. */
export interface TableSpec {
  readonly id: string; // also the chain prefix ("a1" -> chains "a1-…", IDs "a1:…")
  readonly table: TableName;
  readonly ipVersion: 4 | 6;
  readonly insertChain: string;
  readonly insertMode: 'insert' | 'append';
}

export const WORKERS: Readonly<Record<'A' | 'B', readonly TableSpec[]>> = {
  A: [
    { id: 'a1', table: 'filter', ipVersion: 4, insertChain: 'INPUT', insertMode: 'insert' },
    { id: 'a2', table: 'nat', ipVersion: 4, insertChain: 'PREROUTING', insertMode: 'insert' },
    { id: 'a3', table: 'filter', ipVersion: 6, insertChain: 'FORWARD', insertMode: 'insert' },
  ],
  B: [
    { id: 'b1', table: 'filter', ipVersion: 4, insertChain: 'FORWARD', insertMode: 'insert' },
    { id: 'b2', table: 'mangle', ipVersion: 4, insertChain: 'PREROUTING', insertMode: 'append' },
    // Shares INPUT with a1: a1 keeps the top, b3 a contiguous block below.
    { id: 'b3', table: 'filter', ipVersion: 4, insertChain: 'INPUT', insertMode: 'append' },
  ],
};
export const ALL_TABLES: readonly TableSpec[] = [...WORKERS.A, ...WORKERS.B];

/** mulberry32: small, seeded, good enough to pick actions. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function exec(cmd: string, args: readonly string[], input = ''): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export const bin = (backend: Backend, ipVersion: 4 | 6, tool: '' | '-save' | '-restore'): string =>
  `${ipVersion === 6 ? 'ip6tables' : 'iptables'}-${backend}${tool}`;

export function saveTable(netns: string, backend: Backend, spec: { table: TableName; ipVersion: 4 | 6 }): Promise<ExecResult> {
  return exec('ip', ['netns', 'exec', netns, bin(backend, spec.ipVersion, '-save'), '-t', spec.table]);
}

/** The ID of a saved rule line: from its first --comment only, if it has our prefix. */
export function idOf(line: string, hashPrefix: string): string | undefined {
  const m = /--comment ("?)([^"\s]*)/.exec(line);
  const text = m?.[2] ?? '';
  if (!text.startsWith(hashPrefix)) return undefined;
  const id = /^[A-Za-z0-9_-]+/.exec(text.slice(hashPrefix.length));
  return id?.[0];
}

export interface Desired {
  readonly chains: Readonly<Record<string, readonly string[]>>; // name -> rule IDs
  readonly inserts: readonly string[]; // IDs in the hook chain, top first
}

/** Differences between a table dump and what one Table wants; [] when they agree. */
export function verify(dump: string, spec: TableSpec, desired: Desired): string[] {
  const problems: string[] = [];
  const prefix = `${spec.id}:`;
  const rules = new Map<string, string[]>();
  for (const line of dump.split('\n')) {
    const decl = /^:(\S+)/.exec(line);
    if (decl) rules.set(decl[1] as string, rules.get(decl[1] as string) ?? []);
    const rule = /^-A (\S+) /.exec(line);
    if (rule) rules.set(rule[1] as string, [...(rules.get(rule[1] as string) ?? []), line]);
  }
  for (const [name, ids] of Object.entries(desired.chains)) {
    const lines = rules.get(name);
    if (!lines) {
      problems.push(`${spec.id}: chain ${name} missing`);
      continue;
    }
    const got = lines.map((l) => idOf(l, prefix) ?? `<foreign: ${l}>`);
    if (JSON.stringify(got) !== JSON.stringify(ids)) problems.push(`${spec.id}: chain ${name} holds ${JSON.stringify(got)}, wants ${JSON.stringify(ids)}`);
  }
  for (const name of rules.keys()) {
    if (name.startsWith(`${spec.id}-`) && !(name in desired.chains)) problems.push(`${spec.id}: stale chain ${name} left`);
  }
  for (const [name, lines] of rules) {
    if (name.startsWith(`${spec.id}-`)) continue;
    const ours = lines.map((l, i) => [i, idOf(l, prefix)] as const).filter(([, id]) => id !== undefined);
    const wanted = name === spec.insertChain ? desired.inserts : [];
    const ids = ours.map(([, id]) => id);
    if (JSON.stringify(ids) !== JSON.stringify(wanted)) problems.push(`${spec.id}: ${name} holds our inserts ${JSON.stringify(ids)}, wants ${JSON.stringify(wanted)}`);
    else if (ours.length > 0 && spec.insertMode === 'insert' && ours[0]?.[0] !== 0) problems.push(`${spec.id}: inserts in ${name} not at the top`);
    else if (ours.length > 1 && ours.some(([i], k) => i !== (ours[0]?.[0] ?? 0) + k)) problems.push(`${spec.id}: inserts in ${name} not contiguous`);
  }
  return problems;
}

export interface TableReport {
  readonly id: string;
  applies: number;
  writes: number;
  repairs: number;
  restoreRetries: number;
  saveRetries: number;
  mutations: number;
  errors: { name: string; message: string; typed: boolean }[];
  /** Why iptables-restore failed where the Table re-read and retried (first 20). */
  retryReasons: string[];
  latenciesMs: number[];
  maxLatencyMs: number;
  finalProblems: string[];
  finalError?: string;
}

export interface Sample {
  readonly t: number;
  readonly rss: number;
  readonly heap: number;
  readonly fds: number;
}

export interface WorkerReport {
  readonly role: string;
  readonly tables: TableReport[];
  readonly samples: Sample[];
}

export interface ClobberReport {
  readonly actions: Record<string, number>;
  failures: number;
}
