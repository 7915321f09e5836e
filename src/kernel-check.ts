// `check --kernel`: the file's restore input, as plan builds it for an empty table, loaded by the
// backend's iptables-restore into a throwaway network namespace, so a missing module or target,
// or a combination the model cannot see, shows before anything is applied.
//
// The input is committed for real there, not run with --test: --test stops before the kernel
// and passes what the kernel then refuses (measured on both backends: -m icmp without -p icmp,
// rpfilter in filter). The namespace is `unshare --net`'s: it has no name and ends with the
// process, so nothing can be left behind, whatever happens to us.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binariesFor, type Backend, type IpVersion } from './backend';
import { spawnCommand, startCommand } from './commands';
import type { RulesFile, TableName, TableRules } from './config';
import { IptablesSyncError } from './errors';
import { appendIds, computePlan, insertIds, type InsertMode } from './restore-plan';
import type { Rule } from './rule';

export interface KernelCheckOptions {
  readonly backend: Backend;
  readonly ipVersion: IpVersion;
  readonly hashPrefix: string;
  readonly insertMode: InsertMode;
  /** Per iptables-restore run (default 60 s); the child is killed after it. */
  readonly timeoutMs?: number;
}

/** What iptables said about the first table it refused. */
export interface KernelRefusal {
  readonly table: TableName;
  readonly exitCode: number | null;
  /** iptables-restore's stderr for the smallest failing input (trimmed to a few KB). */
  readonly stderr: string;
  /** The refused restore line and the rule it renders, when found. */
  readonly line?: string;
  readonly rule?: Rule;
  /** iptables named no rule line (legacy names COMMIT): the line was found by loading ever
   *  shorter prefixes, and `stderr` is that of the shortest one that failed. */
  readonly bisected: boolean;
}

export interface KernelCheckResult {
  readonly binary: string;
  readonly tables: readonly TableName[];
  readonly refusal?: KernelRefusal;
}

/** check --kernel could not run at all (not root, no unshare, a timeout). */
export class KernelCheckError extends IptablesSyncError {}

const MAX_STDERR = 4096;

/** The restore input plan() would build for one table with nothing in the dataplane, and the
 *  rule behind each rule line. */
export function emptyTableInput(table: TableRules, hashPrefix: string, insertMode: InsertMode): { input: string; rules: ReadonlyMap<string, Rule> } {
  const desiredChains = new Map(table.chains.map((c) => [c.name, c]));
  const plan = computePlan({
    table: table.name,
    hashPrefix,
    insertMode,
    desiredChains,
    insertRules: table.inserts,
    ...(table.appends ? { appendRules: table.appends } : {}),
    dirtyChains: new Set(desiredChains.keys()),
    dirtyInserts: new Set([...table.inserts.keys(), ...(table.appends?.keys() ?? [])]),
    dataplane: new Map(),
  });
  const comment = (id: string): string => `-m comment --comment "${hashPrefix}${id}"`;
  const rules = new Map<string, Rule>();
  for (const chain of table.chains) {
    const ids = chain.ruleIds();
    chain.rules.forEach((rule, i) => rules.set(rule.renderAppend(chain.name, comment(ids[i] as string)), rule));
  }
  for (const [chain, list] of table.inserts) {
    const ids = insertIds(chain, list);
    list.forEach((rule, i) => {
      const prefix = comment(ids[i] as string);
      rules.set(insertMode === 'insert' ? rule.renderInsert(chain, prefix) : rule.renderAppend(chain, prefix), rule);
    });
  }
  for (const [chain, list] of table.appends ?? []) {
    const ids = appendIds(chain, list);
    list.forEach((rule, i) => rules.set(rule.renderAppend(chain, comment(ids[i] as string)), rule));
  }
  return { input: plan.input, rules };
}

/** Loads each table of the file into its own throwaway namespace; stops at the first refusal,
 *  then finds the refused rule by loading ever shorter prefixes of it. Root only. */
export async function checkWithKernel(rules: RulesFile, options: KernelCheckOptions): Promise<KernelCheckResult> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new KernelCheckError('check --kernel needs root: it loads the rules with iptables-restore into a throwaway network namespace (unshare --net)');
  }
  const binary = binariesFor(options.backend, options.ipVersion).restore;
  // A lock of our own: the throwaway namespace shares nothing with the host's tables, so it
  // must not wait for (or block) whoever holds the host's xtables lock.
  const lockDir = mkdtempSync(join(tmpdir(), 'iptables-sync-check-'));
  const load = (input: string): Promise<{ code: number | null; stderr: string }> =>
    loadInThrowawayNamespace([binary, '--noflush'], input, options.timeoutMs ?? 60_000, { XTABLES_LOCKFILE: join(lockDir, 'xtables.lock') });
  try {
    const tables: TableName[] = [];
    for (const table of rules.tables.values()) {
      tables.push(table.name);
      const { input, rules: ruleOf } = emptyTableInput(table, options.hashPrefix, options.insertMode);
      if (input === '') continue;
      const whole = await load(input);
      if (whole.code === 0) continue;
      return { binary, tables, refusal: { table: table.name, ...(await findRefusedLine(input, whole, ruleOf, load)) } };
    }
    return { binary, tables };
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** The refused line: the one iptables names, else (it named COMMIT, as legacy always does) the
 *  shortest failing prefix of the rule lines, found by bisection. */
async function findRefusedLine(
  input: string,
  whole: { code: number | null; stderr: string },
  ruleOf: ReadonlyMap<string, Rule>,
  load: (input: string) => Promise<{ code: number | null; stderr: string }>,
): Promise<Omit<KernelRefusal, 'table'>> {
  const lines = input.replace(/\n$/, '').split('\n');
  const named = /line:? (\d+)/.exec(whole.stderr);
  const namedLine = named ? lines[Number(named[1]) - 1] : undefined;
  const found = (line: string, result: { code: number | null; stderr: string }, bisected: boolean): Omit<KernelRefusal, 'table'> => {
    const rule = ruleOf.get(line);
    return { exitCode: result.code, stderr: trim(result.stderr), line, ...(rule ? { rule } : {}), bisected };
  };
  if (namedLine !== undefined && ruleOf.has(namedLine)) return found(namedLine, whole, false);
  // Header and chain creations stay; rule lines are cut. prefix(k): the first k rule lines.
  const body = lines.slice(1, -1);
  const firstRule = body.findIndex((l) => !l.startsWith(':'));
  if (firstRule < 0) return { exitCode: whole.code, stderr: trim(whole.stderr), bisected: false };
  const head = [lines[0] as string, ...body.slice(0, firstRule)];
  const ruleLines = body.slice(firstRule);
  const prefix = (k: number): string => `${[...head, ...ruleLines.slice(0, k), 'COMMIT'].join('\n')}\n`;
  let good = 0;
  let bad = ruleLines.length;
  let badResult = whole;
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2);
    const result = await load(prefix(mid));
    if (result.code === 0) good = mid;
    else [bad, badResult] = [mid, result];
  }
  return found(ruleLines[bad - 1] as string, badResult, true);
}

/** stderr trimmed to a few KB. */
export function trim(stderr: string): string {
  const text = stderr.trim();
  return text.length <= MAX_STDERR ? text : `${text.slice(0, MAX_STDERR)}…`;
}

/** `unshare --net -- COMMAND…` with the input on stdin (e.g. `iptables-restore --noflush`, or
 *  `nft -f -`); the namespace dies with it.
 *  @throws {@link KernelCheckError} when the namespace cannot be made or the command is killed. */
export async function loadInThrowawayNamespace(
  command: readonly [string, ...string[]],
  input: string,
  timeoutMs: number,
  env: Readonly<Record<string, string>> = {},
): Promise<{ code: number | null; stderr: string }> {
  const binary = command[0];
  const child = startCommand(spawnCommand, 'unshare', ['--net', '--', ...command], { timeoutMs, env });
  child.stdout.resume();
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  const outcome = await child.done;
  if (outcome.spawnError) throw new KernelCheckError(`check --kernel: cannot run unshare --net -- ${binary}: ${outcome.spawnError.message}`);
  if (outcome.signal !== null) throw new KernelCheckError(`check --kernel: ${binary} in a throwaway namespace was killed (${outcome.signal}) after ${timeoutMs} ms`);
  // unshare itself failing (no permission) is not iptables refusing the rules.
  if (/^unshare: /m.test(outcome.stderr)) throw new KernelCheckError(`check --kernel: cannot create a throwaway network namespace: ${trim(outcome.stderr)}`);
  return { code: outcome.code, stderr: outcome.stderr };
}
