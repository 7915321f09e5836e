// The one-shot commands: plan, apply, cleanup, show, check. Each builds Tables from the options
// and the rules file, runs them once, and prints what they report.
import type { BackendChoice } from '../backend';
import type { KernelCheckResult } from '../kernel-check';
import type { RulesFile } from '../rules-file/types';
import { TABLE_NAMES, type TableName } from '../table-names';
import type { PlanSummary, RestorePlan } from '../restore-plan';
import type { ShownTable } from '../show';
import type { ManagedTable } from './managed-table';
import { EXIT_DRIFT, EXIT_ERROR, EXIT_OK, UsageError, checkPrefixes, loadFile, loadFileForApply, session, type CommonOptions, type Session } from './options';
import { addSummaries, describeError, describeSummary, errorJson, isEmptySummary, plural } from './output';
import { Progress, progressWanted } from './progress';

// Each command loads what it uses when it runs (the Table, the listings, the kernel checks):
// `check` of a small file need not load the Table, nor `show` the rules-file reader.
/* eslint-disable @typescript-eslint/no-require-imports */
const managed = (): typeof import('./managed-table') => require('./managed-table') as typeof import('./managed-table');
const listing = (): typeof import('../show') => require('../show') as typeof import('../show');
const nftListing = (): typeof import('../nftables/show') => require('../nftables/show') as typeof import('../nftables/show');
const iptablesKernelCheck = (): typeof import('../kernel-check') => require('../kernel-check') as typeof import('../kernel-check');
const nftKernelCheck = (): typeof import('../nftables/kernel-check') => require('../nftables/kernel-check') as typeof import('../nftables/kernel-check');
const backends = (): typeof import('../backend') => require('../backend') as typeof import('../backend');
const commands = (): typeof import('../commands') => require('../commands') as typeof import('../commands');
const deferredRulesError = (): typeof import('../rules-file/issues').DeferredRulesError => (require('../rules-file/issues') as typeof import('../rules-file/issues')).DeferredRulesError;
/* eslint-enable @typescript-eslint/no-require-imports */

function tablesFor(rules: RulesFile, s: Session): ManagedTable[] {
  return [...rules.tables.values()].map((t) => {
    const mt = new (managed().ManagedTable)(t.name, s.opts, s.lock, s.logger);
    mt.load(t);
    // One run: no work for a next one (a closed Table prepares no next read after its apply).
    mt.table.close();
    return mt;
  });
}

export async function planCommand(file: string, opts: CommonOptions): Promise<number> {
  const s = session(opts);
  const progress = new Progress(progressWanted(opts));
  const rules = loadFile(file, opts, progress);
  const tables = tablesFor(rules, s);
  const plans: RestorePlan[] = [];
  for (const mt of tables) {
    const stop = progress.during(`planning ${mt.name}`);
    try {
      plans.push(await mt.table.plan());
    } finally {
      stop();
      progress.end();
    }
  }
  const total = addSummaries(plans.map((p) => p.summary));
  const inSync = plans.every((p) => p.input === '' && p.deletionInput === '');
  if (opts.json) {
    const out = {
      file,
      inSync,
      summary: total,
      tables: plans.map((p) => ({ table: p.table, input: p.input, deletionInput: p.deletionInput, chainsToDelete: p.chainsToDelete, summary: p.summary })),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    // stdout is exactly the restore input (valid iptables-restore text); the summary goes to stderr.
    process.stdout.write(plans.map((p) => p.input + p.deletionInput).join(''));
    const names = plans.map((p) => p.table).join(', ') || 'no tables';
    process.stderr.write(inSync ? `In sync (${names}): nothing to do.\n` : `Plan (${names}): ${describeSummary(total, 'plan')}.\n`);
  }
  return inSync ? EXIT_OK : EXIT_DRIFT;
}

interface TableResult {
  readonly table: string;
  /** Each successful iptables-restore input, as the Table reports it. */
  readonly written: readonly string[];
  readonly summary: PlanSummary;
}

async function applyTables(tables: readonly ManagedTable[], progress: Progress): Promise<{ results: TableResult[]; errors: { table: string; error: Error }[] }> {
  const results: TableResult[] = [];
  const errors: { table: string; error: Error }[] = [];
  for (const mt of tables) {
    const stop = progress.during(`applying ${mt.name}`);
    try {
      await mt.table.applyWithReport();
    } catch (error) {
      // A problem in the rules of the deferred table (applied first): its restore stopped
      // before COMMIT and no table was written, so this is an invalid file, reported as one.
      if (error instanceof (deferredRulesError())) throw error.problems();
      errors.push({ table: mt.name, error: error as Error });
    } finally {
      stop();
      progress.end();
    }
    // Also after a failure: what landed before it. The inputs are joined only when printed
    // (--json, --show-input): at 100k rules that is 14 MB.
    const writes = mt.table.lastApplyReport?.writes ?? [];
    results.push({
      table: mt.name,
      get written() {
        return writes.map((w) => w.input);
      },
      summary: addSummaries(writes.map((w) => w.summary)),
    });
  }
  return { results, errors };
}

export async function applyCommand(file: string, opts: CommonOptions & { showInput?: boolean }): Promise<number> {
  const s = session(opts);
  const progress = new Progress(progressWanted(opts));
  // On iptables, the largest table's rules are made while its restore already runs; the
  // nftables backend and onlyReferencedChains need every rule before they write.
  const deferrable = opts.backend !== 'nftables' && !opts.onlyReferencedChains;
  const rules = deferrable ? loadFileForApply(file, opts, progress) : loadFile(file, opts, progress);
  const tables = tablesFor(rules, s);
  const started = Date.now();
  // The deferred table goes first (see applyTables); results are reported in file order.
  const deferred = 'deferredTable' in rules ? rules.deferredTable : undefined;
  const order = [...tables.filter((t) => t.name === deferred), ...tables.filter((t) => t.name !== deferred)];
  const applied = await applyTables(order, progress);
  const inFileOrder = <T extends { table: string }>(list: readonly T[]): T[] => [...list].sort((a, b) => tables.findIndex((t) => t.name === a.table) - tables.findIndex((t) => t.name === b.table));
  const results = inFileOrder(applied.results);
  const errors = inFileOrder(applied.errors);
  const total = addSummaries(results.map((r) => r.summary));
  const durationMs = Date.now() - started;
  const ok = errors.length === 0;
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ file, ok, changed: !isEmptySummary(total), durationMs, summary: total, tables: results, errors: errors.map((e) => ({ table: e.table, ...errorJson(e.error) })) }, null, 2)}\n`,
    );
  } else {
    if (opts.showInput) process.stdout.write(results.flatMap((r) => r.written).join(''));
    const names = results.map((r) => r.table).join(', ') || 'no tables';
    const what = isEmptySummary(total) ? 'already in sync, nothing written' : describeSummary(total, 'done');
    // A success line only after a success: a failed apply says what failed, and what did land.
    if (ok) process.stdout.write(`Applied ${file} (${names}): ${what} in ${durationMs} ms.\n`);
    else reportPartial(results, errors);
  }
  return ok ? EXIT_OK : EXIT_ERROR;
}

/** After a failed apply: one error line per failed table, and what the other tables wrote. */
function reportPartial(results: readonly TableResult[], errors: readonly { table: string; error: Error }[]): void {
  const failed = new Set(errors.map((e) => e.table));
  for (const e of errors) process.stderr.write(`iptables-sync: error: table ${e.table}: ${describeError(e.error)}\n`);
  for (const r of results) {
    if (!failed.has(r.table) && r.written.length > 0) process.stderr.write(`iptables-sync: table ${r.table} was written before the failure: ${describeSummary(r.summary, 'done')}\n`);
  }
}

export async function cleanupCommand(opts: CommonOptions & { yes?: boolean; table?: string[] }): Promise<number> {
  const s = session(opts);
  const names = (opts.table?.length ? opts.table : TABLE_NAMES) as TableName[];
  // On legacy, a table whose module is not loaded holds nothing of ours: do not load it to look.
  const present = await tablesPresent(names, opts);
  const tables = present.map((name) => new (managed().ManagedTable)(name, opts, s.lock, s.logger));
  if (!opts.yes) {
    const plans: RestorePlan[] = [];
    for (const mt of tables) plans.push(await mt.table.plan());
    const total = addSummaries(plans.map((p) => p.summary));
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ removed: false, wouldRemove: total, tables: plans.map((p) => ({ table: p.table, input: p.input, deletionInput: p.deletionInput })) }, null, 2)}\n`);
    } else {
      process.stdout.write(plans.map((p) => p.input + p.deletionInput).join(''));
      process.stderr.write(`cleanup would remove: ${describeSummary(total, 'plan')}. Run again with --yes to remove.\n`);
    }
    return isEmptySummary(total) ? EXIT_OK : EXIT_ERROR;
  }
  const { results, errors } = await applyTables(tables, new Progress(progressWanted(opts)));
  const total = addSummaries(results.map((r) => r.summary));
  const ok = errors.length === 0;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok, removed: ok, summary: total, tables: results, errors: errors.map((e) => ({ table: e.table, ...errorJson(e.error) })) }, null, 2)}\n`);
  } else if (ok) {
    process.stdout.write(`Cleanup (${present.join(', ') || 'no tables'}): ${isEmptySummary(total) ? 'nothing of ours found' : describeSummary(total, 'done')}.\n`);
  } else {
    reportPartial(results, errors);
  }
  return ok ? EXIT_OK : EXIT_ERROR;
}

/** The iptables backend of a command that reads iptables itself (show, check --kernel). */
function iptablesBackend(opts: CommonOptions, what: string): BackendChoice {
  if (opts.backend === 'nftables') throw new UsageError(`${what} reads iptables, not nftables: not available with --backend nftables (list our table with nft list table)`);
  return opts.backend;
}

function showOptions(opts: CommonOptions): { ipVersion: CommonOptions['ipVersion']; backend: BackendChoice; hashPrefix: string; chainPrefix: string; netns?: string } {
  return {
    ipVersion: opts.ipVersion,
    backend: iptablesBackend(opts, 'show'),
    hashPrefix: opts.prefix,
    chainPrefix: opts.chainPrefix,
    ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
  };
}

async function tablesPresent(names: readonly TableName[], opts: CommonOptions): Promise<TableName[]> {
  if (opts.backend === 'nftables') return [...names]; // each Table deletes its own nftables table, if there
  const shown = await listing().showTables({ tables: names, ...showOptions(opts) });
  return names.filter((n) => shown.some((t) => t.table === n));
}

export async function showCommand(opts: CommonOptions & { file?: string; table?: string[] }): Promise<number> {
  checkPrefixes(opts);
  let tables: readonly string[] = opts.table?.length ? opts.table : TABLE_NAMES;
  if (opts.file) tables = [...loadFile(opts.file, opts).tables.keys()];
  const shown: ShownTable[] =
    opts.backend === 'nftables'
      ? await nftListing().showNftTables({ tables: tables as TableName[], ipVersion: opts.ipVersion, hashPrefix: opts.prefix, nftTablePrefix: opts.nftTablePrefix, ...(opts.netns !== undefined ? { netns: opts.netns } : {}) })
      : await listing().showTables({ tables, ...showOptions(opts) });
  if (opts.json) process.stdout.write(`${JSON.stringify({ tables: shown }, null, 2)}\n`);
  else process.stdout.write(listing().formatShown(shown, { hashPrefix: opts.prefix, chainPrefix: opts.chainPrefix }));
  return EXIT_OK;
}

export async function checkCommand(file: string, opts: CommonOptions & { kernel?: boolean }): Promise<number> {
  checkPrefixes(opts);
  const rules = loadFile(file, opts, new Progress(progressWanted(opts)), { positions: opts.kernel === true });
  const tables = [...rules.tables.values()].map((t) => ({
    table: t.name,
    chains: t.chains.length,
    rules: t.chains.reduce((n, c) => n + c.rules.length, 0),
    inserts: [...t.inserts.values()].reduce((n, l) => n + l.length, 0),
  }));
  const kernel = opts.kernel ? await kernelCheck(rules, opts) : undefined;
  const refusal = kernel?.refusal;
  const position = refusal?.rule ? rules.positions?.get(refusal.rule) : undefined;
  if (opts.json) {
    const kernelJson = kernel && { binary: kernel.binary, accepted: refusal === undefined, ...(refusal ? { refusal: { ...refusal, rule: position } } : {}) };
    process.stdout.write(`${JSON.stringify({ file, valid: refusal === undefined, tables, ...(kernelJson ? { kernel: kernelJson } : {}) }, null, 2)}\n`);
  } else if (kernel && refusal) {
    const where = position ? `${file}:${position.line}:${position.column}: ${position.path}` : file;
    const what = refusal.line !== undefined && position ? 'refused this rule' : `refused table ${refusal.table}`;
    process.stderr.write(`${where}: ${kernel.binary} ${what} (loaded into a throwaway network namespace, exit ${refusal.exitCode}):\n`);
    if (refusal.line !== undefined) process.stderr.write(`    ${refusal.line}\n`);
    if (refusal.bisected) process.stderr.write(`  (${kernel.binary} named no rule line; this is the first rule whose input prefix it refuses, with its message:)\n`);
    process.stderr.write(`${refusal.stderr.split('\n').map((l) => `    ${l}`).join('\n')}\n`);
  } else {
    const parts = tables.map((t) => `${t.table}: ${plural(t.chains, 'chain')}, ${plural(t.rules, 'rule')}, ${plural(t.inserts, 'insert')}`);
    const loaded = kernel ? `; ${kernel.binary} loads it into a throwaway network namespace` : '';
    process.stdout.write(`${file} is valid (${parts.join('; ') || 'no tables'})${loaded}.\n`);
  }
  return refusal ? EXIT_ERROR : EXIT_OK;
}

/** check --kernel: the backend as apply would pick it, then the rules loaded in a throwaway
 *  namespace (nftables: our tables' nft transactions). */
async function kernelCheck(rules: RulesFile, opts: CommonOptions): Promise<KernelCheckResult> {
  if (opts.backend === 'nftables') return nftKernelCheck().checkNftWithKernel(rules, { ipVersion: opts.ipVersion, hashPrefix: opts.prefix, nftTablePrefix: opts.nftTablePrefix });
  const choice = iptablesBackend(opts, 'check --kernel');
  const backend = choice === 'auto' ? await backends().detectBackend(opts.netns !== undefined ? commands().inNetns(opts.netns) : commands().spawnCommand, opts.ipVersion) : choice;
  return iptablesKernelCheck().checkWithKernel(rules, { backend, ipVersion: opts.ipVersion, hashPrefix: opts.prefix, insertMode: opts.insertMode });
}
