#!/usr/bin/env node
// iptables-sync: keep iptables equal to a rules file.
//
//   iptables-sync plan  -f rules.yaml     print the exact iptables-restore input apply would run
//   iptables-sync apply -f rules.yaml     apply once
//   iptables-sync watch -f rules.yaml     reconcile loop: repairs what other programs break
//   iptables-sync show                    our chains and inserts, with rule IDs and counters
//   iptables-sync cleanup --yes           remove every chain and insert of ours
//
// Exit codes: 0 ok (plan: in sync), 1 error, 2 plan found drift.
import { watch as fsWatch, readFileSync, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Registry } from 'prom-client';
import { detectBackend, type BackendChoice, type IpVersion } from './backend';
import { inNetns, spawnCommand, type CommandFactory, type CommandOptions, type SpawnedCommand } from './commands';
import {
  ConfigError,
  DEFAULT_CHAIN_PREFIX,
  DEFAULT_HASH_PREFIX,
  TABLE_NAMES,
  loadRulesFile,
  parseRules,
  readRulesFile,
  rulesJsonSchema,
  type RulesFile,
  type TableName,
  type TableRules,
} from './config';
import { CommandFailedError, formatCommandLine, IptablesSyncError, LockTimeoutError } from './errors';
import { DEFAULT_MAX_FILE_SIZE, formatBytes, parseByteSize } from './rules-file-reader';
import { checkWithKernel, type KernelCheckResult } from './kernel-check';
import { serveHealth, WatchHealth } from './health';
import { defineDoctorCommand, doctorCommand, type DoctorCommandOptions } from './doctor-command';
import { DEFAULT_LOCK_FILE_PATH, SharedLock } from './locks';
import type { Logger } from './logger';
import type { InsertMode, PlanSummary, RestorePlan } from './restore-plan';
import { formatShown, showTables } from './show';
import { Table } from './table';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_DRIFT = 2;

// --- options -----------------------------------------------------------------------------------

interface CommonOptions {
  netns?: string;
  backend: BackendChoice;
  ipVersion: IpVersion;
  prefix: string;
  chainPrefix: string;
  lockFile: string;
  lockTimeout: number;
  insertMode: InsertMode;
  features: 'none' | 'auto';
  json: boolean;
  logLevel: LogLevel;
  maxFileSize: number;
}

/** "10s", "500ms", "2m", "1h"; a bare number is seconds (as iptables --wait). */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration such as 10s, 500ms or 2m, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

function choice<T extends string>(name: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if ((values as readonly string[]).includes(v)) return v as T;
    throw new InvalidArgumentError(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  };
}

function addCommonOptions(cmd: Command, defaultLogLevel: LogLevel = 'warn'): Command {
  return cmd
    .option('--netns <name>', 'run inside this named network namespace (ip netns)')
    .addOption(new Option('--backend <backend>', 'iptables backend: legacy, nft, or auto (what the host already uses)').default('auto').argParser(choice('--backend', ['legacy', 'nft', 'auto'] as const)))
    .addOption(new Option('--ip-version <version>', 'IP version: 4 (iptables) or 6 (ip6tables)').default(4).argParser((v) => Number(choice('--ip-version', ['4', '6'] as const)(v)) as IpVersion))
    .option('--prefix <hashPrefix>', 'rule ID prefix, written in each rule\'s first comment (at most 239 bytes); a second instance beside this one needs its own', DEFAULT_HASH_PREFIX)
    .option('--chain-prefix <prefix>', 'our chains start with this; chains in the file must, and unwanted ones are deleted. Two instances side by side need chain prefixes of which neither is a prefix of the other, or each deletes the other\'s chains', DEFAULT_CHAIN_PREFIX)
    .option('--lock-file <path>', 'xtables lock file (held around writes by iptables-restore older than 1.6.2)', process.env.XTABLES_LOCKFILE || DEFAULT_LOCK_FILE_PATH)
    .addOption(new Option('--lock-timeout <duration>', 'how long to wait for the xtables lock (e.g. 10s, 500ms)').default(10_000, '10s').argParser(parseDuration))
    .addOption(new Option('--insert-mode <mode>', 'put our rules in chains we do not own at the top (insert) or bottom (append)').default('insert').argParser(choice('--insert-mode', ['insert', 'append'] as const)))
    .addOption(new Option('--features <mode>', "host features such as --random-fully: auto (detect, as latest Felix) or none (Felix v3.2.2's rules and IDs)").default('auto').argParser(choice('--features', ['none', 'auto'] as const)))
    .addOption(
      new Option('--max-file-size <size>', 'refuse rules files larger than this (e.g. 64MiB, 1G)')
        .default(DEFAULT_MAX_FILE_SIZE, formatBytes(DEFAULT_MAX_FILE_SIZE).replace(' ', ''))
        .argParser((v: string) => parseByteSize(v) ?? usage(`--max-file-size: expected a size such as 64MiB, 1G or 500000 (bytes), got ${JSON.stringify(v)}`)),
    )
    .option('--json', 'machine-readable output (JSON; logs as JSON lines)', false)
    .addOption(new Option('--log-level <level>', 'debug, info, warn or error').default(defaultLogLevel).argParser(choice('--log-level', LOG_LEVELS)));
}

function checkPrefixes(opts: CommonOptions): void {
  for (const [flag, value] of [['--prefix', opts.prefix], ['--chain-prefix', opts.chainPrefix]] as const) {
    if (value === '' || /[\s"'\\]/.test(value)) throw new UsageError(`${flag} must be a non-empty word without spaces or quotes, got ${JSON.stringify(value)}`);
  }
}

class UsageError extends IptablesSyncError {}

function usage(message: string): never {
  throw new InvalidArgumentError(message);
}

// --- logging -----------------------------------------------------------------------------------

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

/** A pino-compatible logger: JSON lines, or "time LEVEL message key=value" for people. A `lines`
 *  field (string[]) is printed indented below the message. */
export class CliLogger implements Logger {
  private readonly min: number;
  constructor(
    private readonly out: NodeJS.WritableStream,
    level: LogLevel,
    private readonly json: boolean,
  ) {
    this.min = LOG_LEVELS.indexOf(level);
  }
  debug(fields: object, message?: string): void {
    this.write('debug', fields, message);
  }
  info(fields: object, message?: string): void {
    this.write('info', fields, message);
  }
  warn(fields: object, message?: string): void {
    this.write('warn', fields, message);
  }
  error(fields: object, message?: string): void {
    this.write('error', fields, message);
  }
  private write(level: LogLevel, fields: object, message = ''): void {
    if (LOG_LEVELS.indexOf(level) < this.min) return;
    const now = new Date();
    if (this.json) {
      this.out.write(`${JSON.stringify({ time: now.toISOString(), level, msg: message, ...fields })}\n`);
      return;
    }
    const { lines, ...rest } = fields as { lines?: unknown };
    const kv = Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`)
      .join(' ');
    const time = now.toTimeString().slice(0, 8) + '.' + String(now.getMilliseconds()).padStart(3, '0');
    let text = `${time} ${level.toUpperCase().padEnd(5)} ${message}${kv ? `  ${kv}` : ''}\n`;
    if (Array.isArray(lines)) text += lines.map((l) => `    ${String(l)}\n`).join('');
    this.out.write(text);
  }
}

// --- tables and what they wrote ----------------------------------------------------------------

interface Write {
  readonly input: string;
  readonly ok: boolean;
}

/** Spawns real commands and reports every iptables-restore run with its exact stdin. */
function recordingFactory(onWrite: (w: Write) => void, inner: CommandFactory = spawnCommand): CommandFactory {
  // Options (the save pipe's fd, XTABLES_LOCKFILE) pass through, so recorded Tables run as users' do.
  const record = (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand => {
    const child = inner(command, args, options);
    const isRestore = [command, ...args].some((w) => /tables-(legacy|nft)-restore$/.test(w)) && !args.includes('--version');
    if (!isRestore) return child;
    const tee = new PassThrough();
    const chunks: Buffer[] = [];
    tee.on('data', (c: Buffer) => chunks.push(c));
    tee.pipe(child.stdin);
    // A child that died (or never started) destroys its stdin: the tee must go with it, or a
    // writer waits for a 'drain' that never comes.
    if (child.stdin.destroyed) tee.destroy();
    else child.stdin.once('close', () => tee.destroy());
    child.exited.then(
      (exit) => onWrite({ input: Buffer.concat(chunks).toString('utf8'), ok: exit.code === 0 }),
      () => onWrite({ input: Buffer.concat(chunks).toString('utf8'), ok: false }),
    );
    return { ...child, stdin: tee };
  };
  return Object.assign(record, { acceptsStdoutFd: inner.acceptsStdoutFd === true });
}

class ManagedTable {
  readonly table: Table;
  private writes: Write[] = [];
  private chainNames = new Set<string>();
  private insertChains = new Set<string>();
  private appendChains = new Set<string>();

  constructor(
    readonly name: TableName,
    opts: CommonOptions,
    lock: SharedLock,
    logger: Logger,
    extra: { registry?: Registry; refreshIntervalMs?: number } = {},
  ) {
    this.table = new Table(name, opts.ipVersion, opts.prefix, lock, {
      historicChainPrefixes: [opts.chainPrefix],
      insertMode: opts.insertMode,
      backend: opts.backend,
      features: opts.features,
      lockTimeoutMs: opts.lockTimeout,
      lockFile: opts.lockFile,
      logger,
      ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
      ...(extra.registry ? { registry: extra.registry } : {}),
      ...(extra.refreshIntervalMs !== undefined ? { refreshIntervalMs: extra.refreshIntervalMs } : {}),
      commandFactory: recordingFactory((w) => this.writes.push(w)),
    });
  }

  /** Makes the desired state equal to the file's rules for this table. */
  load(rules: TableRules): void {
    const next = new Set(rules.chains.map((c) => c.name));
    this.table.updateChains(rules.chains);
    for (const old of this.chainNames) if (!next.has(old)) this.table.removeChainByName(old);
    for (const [chain, list] of rules.inserts) this.table.setRuleInsertions(chain, list);
    for (const old of this.insertChains) if (!rules.inserts.has(old)) this.table.setRuleInsertions(old, []);
    this.chainNames = next;
    this.insertChains = new Set(rules.inserts.keys());
    const appends: NonNullable<TableRules['appends']> = rules.appends ?? new Map();
    for (const [chain, list] of appends) this.table.appendRules(chain, list);
    for (const old of this.appendChains) if (!appends.has(old)) this.table.appendRules(old, []);
    this.appendChains = new Set(appends.keys());
  }

  /** Successful restore inputs since the last call. */
  takeWrites(): string[] {
    const done = this.writes.filter((w) => w.ok).map((w) => w.input);
    this.writes = [];
    return done;
  }

  isOurChain(chain: string, chainPrefix: string): boolean {
    return this.chainNames.has(chain) || chain.startsWith(chainPrefix);
  }
}

const EMPTY_SUMMARY: PlanSummary = Object.freeze({
  chainsToCreate: 0,
  rulesToReplace: 0,
  rulesToAppend: 0,
  rulesToDelete: 0,
  insertsToDelete: 0,
  insertsToAdd: 0,
  chainsToDelete: 0,
});

/** What restore inputs did, counted the way a plan's summary counts (chains we own vs. inserts). */
export function summarizeInputs(inputs: readonly string[], isOurChain: (chain: string) => boolean): PlanSummary {
  const s = { ...EMPTY_SUMMARY } as { -readonly [K in keyof PlanSummary]: number };
  for (const input of inputs) {
    const deletion = /^--delete-chain /m.test(input);
    for (const line of input.split('\n')) {
      const op = /^(-[ARDI]|--delete-chain|:)(\S*)\s*(\S*)/.exec(line);
      if (!op) continue;
      const chain = op[1] === ':' ? (op[2] as string) : (op[3] as string);
      switch (op[1]) {
        case ':':
          if (!deletion) s.chainsToCreate++;
          break;
        case '-R':
          s.rulesToReplace++;
          break;
        case '-A':
          if (isOurChain(chain)) s.rulesToAppend++;
          else s.insertsToAdd++;
          break;
        case '-I':
          s.insertsToAdd++;
          break;
        case '-D':
          if (isOurChain(chain)) s.rulesToDelete++;
          else s.insertsToDelete++;
          break;
        case '--delete-chain':
          s.chainsToDelete++;
          break;
      }
    }
  }
  return s;
}

function addSummaries(list: readonly PlanSummary[]): PlanSummary {
  const total = { ...EMPTY_SUMMARY } as Record<keyof PlanSummary, number>;
  for (const s of list) for (const k of Object.keys(total) as (keyof PlanSummary)[]) total[k] += s[k];
  return total;
}

function isEmptySummary(s: PlanSummary): boolean {
  return Object.values(s).every((v) => v === 0);
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** "2 chains to create, 5 rules to append, 1 insert to add" (only the non-zero parts). */
export function describeSummary(s: PlanSummary, tense: 'plan' | 'done'): string {
  const parts: [number, string, string, string][] = [
    [s.chainsToCreate, 'chain', 'to create', 'created'],
    [s.rulesToReplace, 'rule', 'to replace', 'replaced'],
    [s.rulesToAppend, 'rule', 'to append', 'appended'],
    [s.rulesToDelete, 'rule', 'to delete', 'deleted'],
    [s.insertsToDelete, 'insert', 'to delete', 'deleted'],
    [s.insertsToAdd, 'insert', 'to add', 'added'],
    [s.chainsToDelete, 'chain', 'to delete', 'deleted'],
  ];
  const text = parts
    .filter(([n]) => n > 0)
    .map(([n, what, future, past]) => `${plural(n, what)} ${tense === 'plan' ? future : past}`)
    .join(', ');
  return text === '' ? 'no changes' : text;
}

// --- shared set-up -----------------------------------------------------------------------------

interface Session {
  readonly opts: CommonOptions;
  readonly lock: SharedLock;
  readonly logger: CliLogger;
}

function session(opts: CommonOptions, logStream: NodeJS.WritableStream = process.stderr): Session {
  checkPrefixes(opts);
  const lock = new SharedLock(opts.lockFile, opts.lockTimeout, 50);
  return { opts, lock, logger: new CliLogger(logStream, opts.logLevel, opts.json) };
}

function loadFile(file: string, opts: CommonOptions): RulesFile {
  return loadRulesFile(file, { chainPrefix: opts.chainPrefix, ipVersion: opts.ipVersion, maxFileSize: opts.maxFileSize });
}

function tablesFor(rules: RulesFile, s: Session): ManagedTable[] {
  return [...rules.tables.values()].map((t) => {
    const mt = new ManagedTable(t.name, s.opts, s.lock, s.logger);
    mt.load(t);
    return mt;
  });
}

/** While a slow apply runs: on a terminal, a line counting the seconds (after the first one);
 *  elsewhere, one line every 5 s. */
function progress(label: string, enabled: boolean): () => void {
  if (!enabled) return () => undefined;
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  let shown = false;
  let interval: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (tty) {
      process.stderr.write(`\r${label}… ${secs}s `);
      shown = true;
    } else {
      process.stderr.write(`${label}… still running after ${secs}s\n`);
    }
  };
  const delay = setTimeout(
    () => {
      tick();
      interval = setInterval(tick, tty ? 250 : 5000);
    },
    tty ? 1000 : 5000,
  );
  return () => {
    clearTimeout(delay);
    if (interval) clearInterval(interval);
    if (shown) process.stderr.write('\r\x1b[K');
  };
}

// --- commands ----------------------------------------------------------------------------------

async function planCommand(file: string, opts: CommonOptions): Promise<number> {
  const s = session(opts);
  const rules = loadFile(file, opts);
  const tables = tablesFor(rules, s);
  const plans: RestorePlan[] = [];
  for (const mt of tables) plans.push(await mt.table.plan());
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

async function applyTables(tables: readonly ManagedTable[], s: Session, showProgress: boolean): Promise<{ results: { table: string; written: string[]; summary: PlanSummary }[]; errors: { table: string; error: Error }[] }> {
  const results: { table: string; written: string[]; summary: PlanSummary }[] = [];
  const errors: { table: string; error: Error }[] = [];
  for (const mt of tables) {
    const stop = progress(`applying ${mt.name}`, showProgress);
    try {
      await mt.table.apply();
    } catch (error) {
      errors.push({ table: mt.name, error: error as Error });
    } finally {
      stop();
    }
    const written = mt.takeWrites();
    results.push({ table: mt.name, written, summary: summarizeInputs(written, (c) => mt.isOurChain(c, s.opts.chainPrefix)) });
  }
  return { results, errors };
}

async function applyCommand(file: string, opts: CommonOptions & { showInput?: boolean }): Promise<number> {
  const s = session(opts);
  const rules = loadFile(file, opts);
  const tables = tablesFor(rules, s);
  const started = Date.now();
  const { results, errors } = await applyTables(tables, s, !opts.json);
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
function reportPartial(results: readonly { table: string; written: string[]; summary: PlanSummary }[], errors: readonly { table: string; error: Error }[]): void {
  const failed = new Set(errors.map((e) => e.table));
  for (const e of errors) process.stderr.write(`iptables-sync: error: table ${e.table}: ${describeError(e.error)}\n`);
  for (const r of results) {
    if (!failed.has(r.table) && r.written.length > 0) process.stderr.write(`iptables-sync: table ${r.table} was written before the failure: ${describeSummary(r.summary, 'done')}\n`);
  }
}

async function cleanupCommand(opts: CommonOptions & { yes?: boolean; table?: string[] }): Promise<number> {
  const s = session(opts);
  const names = (opts.table?.length ? opts.table : TABLE_NAMES) as TableName[];
  // On legacy, a table whose module is not loaded holds nothing of ours: do not load it to look.
  const present = await tablesPresent(names, opts);
  const tables = present.map((name) => new ManagedTable(name, opts, s.lock, s.logger));
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
  const { results, errors } = await applyTables(tables, s, !opts.json);
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

async function tablesPresent(names: readonly TableName[], opts: CommonOptions): Promise<TableName[]> {
  const shown = await showTables({
    tables: names,
    ipVersion: opts.ipVersion,
    backend: opts.backend,
    hashPrefix: opts.prefix,
    chainPrefix: opts.chainPrefix,
    ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
  });
  return names.filter((n) => shown.some((t) => t.table === n));
}

async function showCommand(opts: CommonOptions & { file?: string; table?: string[] }): Promise<number> {
  checkPrefixes(opts);
  let tables: readonly string[] = opts.table?.length ? opts.table : TABLE_NAMES;
  if (opts.file) tables = [...loadFile(opts.file, opts).tables.keys()];
  const shown = await showTables({
    tables,
    ipVersion: opts.ipVersion,
    backend: opts.backend,
    hashPrefix: opts.prefix,
    chainPrefix: opts.chainPrefix,
    ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
  });
  if (opts.json) process.stdout.write(`${JSON.stringify({ tables: shown }, null, 2)}\n`);
  else process.stdout.write(formatShown(shown, { hashPrefix: opts.prefix, chainPrefix: opts.chainPrefix }));
  return EXIT_OK;
}

async function checkCommand(file: string, opts: CommonOptions & { kernel?: boolean }): Promise<number> {
  checkPrefixes(opts);
  const rules = loadRulesFile(file, { chainPrefix: opts.chainPrefix, ipVersion: opts.ipVersion, maxFileSize: opts.maxFileSize, positions: opts.kernel === true });
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

/** check --kernel: the backend as apply would pick it, then the rules loaded in a throwaway namespace. */
async function kernelCheck(rules: RulesFile, opts: CommonOptions): Promise<KernelCheckResult> {
  const backend = opts.backend === 'auto' ? await detectBackend(opts.netns !== undefined ? inNetns(opts.netns) : spawnCommand, opts.ipVersion) : opts.backend;
  return checkWithKernel(rules, { backend, ipVersion: opts.ipVersion, hashPrefix: opts.prefix, insertMode: opts.insertMode });
}

// --- watch -------------------------------------------------------------------------------------

interface WatchOptions extends CommonOptions {
  metrics?: string;
  refreshInterval: number;
  debounce: number;
}

/** "9090", ":9090", "127.0.0.1:9090", "[::1]:9090" → host and port; loopback unless a host is given. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*))?:?(\d+)$/.exec(text.trim());
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535 || (host !== '' && host !== 'localhost' && isIP(host) === 0)) {
    throw new InvalidArgumentError(`expected [HOST:]PORT such as 127.0.0.1:9464 or 9464, got ${JSON.stringify(text)}`);
  }
  return { host: host === '' ? '127.0.0.1' : host, port };
}

// A scrape is one short request: a few connections and seconds are plenty. Without limits, idle
// connections pile up until the agent runs out of fds and cannot start iptables any more.
const METRICS_MAX_CONNECTIONS = 16;
const METRICS_SERVER_OPTIONS = {
  headersTimeout: 5_000,
  requestTimeout: 10_000,
  keepAliveTimeout: 5_000,
  // How often the server looks for connections past headersTimeout/requestTimeout (default 30 s).
  connectionsCheckingInterval: 1_000,
} as const;

function capMetricsServer(server: Server): void {
  server.maxConnections = METRICS_MAX_CONNECTIONS;
  server.maxHeadersCount = 50;
  server.maxRequestsPerSocket = 100;
  // A connection that sends nothing at all is closed after this long.
  server.setTimeout(10_000, (socket) => socket.destroy());
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

async function watchCommand(file: string, opts: WatchOptions): Promise<number> {
  const s = session(opts, process.stdout);
  const log = s.logger;
  const path = resolve(file);
  let text = readFileText(file, opts.maxFileSize);
  const rules = parseRules(text, file, { chainPrefix: opts.chainPrefix, ipVersion: opts.ipVersion });

  // Loaded here: only watch serves metrics, and every other command starts faster without it.
  const { Counter, Gauge, Registry, collectDefaultMetrics } = await import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const applies = new Counter({ name: 'iptables_sync_watch_applies_total', help: 'reconcile passes, by result', labelNames: ['result'], registers: [registry] });
  const repairs = new Counter({ name: 'iptables_sync_watch_repairs_total', help: 'writes that repaired drift made by other programs', labelNames: ['table'], registers: [registry] });
  const reloads = new Counter({ name: 'iptables_sync_watch_config_reloads_total', help: 'rules file reloads, by result', labelNames: ['result'], registers: [registry] });
  const inSyncGauge = new Gauge({ name: 'iptables_sync_watch_in_sync', help: '1 when the last reconcile pass succeeded', registers: [registry] });
  const health = new WatchHealth();

  const extra = { registry, ...(opts.refreshInterval > 0 ? { refreshIntervalMs: opts.refreshInterval } : {}) };
  const tables = new Map<TableName, ManagedTable>();
  for (const t of rules.tables.values()) {
    const mt = new ManagedTable(t.name, opts, s.lock, log, extra);
    mt.load(t);
    tables.set(t.name, mt);
  }

  let server: Server | undefined;
  if (opts.metrics !== undefined) {
    const { host, port } = parseListenAddress(opts.metrics);
    if (!isLoopback(host)) log.warn({ host }, 'serving metrics on a non-loopback address');
    server = createServer(METRICS_SERVER_OPTIONS, (req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        registry.metrics().then(
          (body) => {
            res.writeHead(200, { 'Content-Type': registry.contentType });
            res.end(body);
          },
          (err: Error) => {
            res.writeHead(500, { 'Content-Type': 'text/plain' });
            res.end(err.message);
          },
        );
        return;
      }
      if (serveHealth(health, req, res)) return;
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found: try /metrics, /healthz or /readyz\n');
    });
    capMetricsServer(server);
    await new Promise<void>((ok, fail) => {
      server?.once('error', fail);
      server?.listen(port, host, () => ok());
    });
    const addr = server.address();
    const actualPort = typeof addr === 'object' && addr ? addr.port : port;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    log.info({ url: `http://${shownHost}:${actualPort}/metrics` }, 'serving metrics');
  }

  // One reconcile pass at a time; triggers that arrive meanwhile run one more pass after it.
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let queued: string | undefined;
  let stopping = false;
  let errorBackoffMs = 0;
  let first = true;

  const schedule = (reason: string, delayMs: number): void => {
    if (stopping) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      trigger(reason);
    }, delayMs);
  };

  const trigger = (reason: string): void => {
    if (stopping) return;
    if (running) {
      queued = queued ?? reason;
      return;
    }
    running = pass(reason).finally(() => {
      running = undefined;
      if (queued !== undefined && !stopping) {
        const next = queued;
        queued = undefined;
        trigger(next);
      }
    });
  };

  // A valid new version of the file waits here until the next pass takes it, so a pass never
  // sees the desired state change under it and each write is logged for what caused it.
  let pendingRules: { rules: RulesFile; reason: string } | undefined;

  const takePendingRules = (): string | undefined => {
    if (!pendingRules) return undefined;
    const { rules: next, reason } = pendingRules;
    pendingRules = undefined;
    for (const t of next.tables.values()) {
      let mt = tables.get(t.name);
      if (!mt) {
        mt = new ManagedTable(t.name, opts, s.lock, log, extra);
        tables.set(t.name, mt);
      }
      mt.load(t);
    }
    for (const name of [...tables.keys()]) {
      if (!next.tables.has(name)) {
        tables.delete(name);
        log.warn({ table: name }, `table ${name} is no longer in the file: leaving its rules in place (declare "${name}: {}" or run cleanup to remove them)`);
      }
    }
    return reason;
  };

  const pass = async (trigger: string): Promise<void> => {
    let nextMs = Infinity;
    let failed = false;
    let lastError: string | undefined;
    health.passStarted();
    const fileChange = takePendingRules();
    const reason = fileChange ?? trigger;
    let wrote = false;
    for (const mt of tables.values()) {
      let delay = 0;
      try {
        delay = await mt.table.apply();
      } catch (error) {
        failed = true;
        lastError = `${lastError === undefined ? '' : `${lastError}; `}${mt.name}: ${(error as Error).message}`;
        log.error({ table: mt.name, err: describeError(error as Error), errorType: (error as Error).name }, 'apply failed; the desired state is kept and retried');
      }
      const written = mt.takeWrites();
      if (written.length > 0) {
        wrote = true;
        const summary = describeSummary(summarizeInputs(written, (c) => mt.isOurChain(c, opts.chainPrefix)), 'done');
        const lines = written.flatMap((w) => w.split('\n').filter((l) => l !== '' && !l.startsWith('*') && l !== 'COMMIT'));
        // Writes not caused by the file (nor by the first pass) undo what another program did.
        const drift = !first && fileChange === undefined;
        if (drift) repairs.inc({ table: mt.name });
        log.info({ table: mt.name, reason, lines }, `${drift ? 'repaired drift' : 'applied'} in ${mt.name}: ${summary}`);
      }
      if (delay > 0) nextMs = Math.min(nextMs, delay);
    }
    if (!wrote && !failed && trigger === 'SIGHUP') log.info({}, 'SIGHUP re-read: in sync');
    applies.inc({ result: failed ? 'error' : 'ok' });
    inSyncGauge.set(failed ? 0 : 1);
    health.passFinished(!failed, lastError);
    if (first && !failed) log.info({ file, tables: [...tables.keys()].join(',') || 'none' }, 'in sync; watching for drift and file changes');
    if (!failed) first = false;
    if (failed) {
      errorBackoffMs = Math.min(60_000, errorBackoffMs === 0 ? 1000 : errorBackoffMs * 2);
      schedule('retry', Math.min(nextMs, errorBackoffMs));
    } else {
      errorBackoffMs = 0;
      if (Number.isFinite(nextMs)) schedule('re-read', nextMs);
    }
  };

  const reload = (reason: string): void => {
    let nextText: string;
    try {
      nextText = readFileText(file, opts.maxFileSize);
    } catch (error) {
      reloads.inc({ result: 'error' });
      log.error({ file, err: (error as Error).message }, 'cannot read the rules file; keeping the current rules');
      return;
    }
    if (nextText === text) return;
    let next: RulesFile;
    try {
      next = parseRules(nextText, file, { chainPrefix: opts.chainPrefix, ipVersion: opts.ipVersion });
    } catch (error) {
      reloads.inc({ result: 'error' });
      if (error instanceof ConfigError) log.error({ file, issues: error.issues.map((i) => `${i.line ?? 0}:${i.column ?? 0}: ${i.path}: ${i.message}`) }, `invalid rules file; keeping the current rules: ${error.message.split('\n')[0]}`);
      else log.error({ file, err: (error as Error).message }, 'invalid rules file; keeping the current rules');
      return;
    }
    reloads.inc({ result: 'ok' });
    log.info({ file }, 'rules file changed; applying');
    text = nextText;
    pendingRules = { rules: next, reason };
  };

  // File changes: watch the directory, since editors replace files by renaming.
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = fsWatch(dirname(path), (_event, name) => {
      if (name !== null && name !== basename(path)) return;
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = undefined;
        if (stopping) return;
        const before = text;
        reload('file change');
        if (text !== before) trigger('file change');
      }, opts.debounce);
    });
    watcher.on('error', (error: Error) => {
      log.warn({ err: error.message }, 'stopped watching the rules file for changes; use SIGHUP to reload');
      watcher?.close();
    });
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'cannot watch the rules file for changes; use SIGHUP to reload');
  }

  const onHup = (): void => {
    log.info({}, 'SIGHUP: reloading the rules file and re-reading the dataplane');
    reload('SIGHUP');
    for (const mt of tables.values()) mt.table.invalidateDataplaneCache('SIGHUP');
    trigger('SIGHUP');
  };

  let resolveStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((r) => (resolveStopped = r));
  const onStop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(EXIT_ERROR);
    }
    stopping = true;
    log.info({ signal }, 'stopping; the rules stay in place');
    if (timer) clearTimeout(timer);
    if (debounce) clearTimeout(debounce);
    watcher?.close();
    void (async () => {
      await running; // never cut a write short
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server?.closeAllConnections?.();
      process.off('SIGHUP', onHup);
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
      log.info({}, 'stopped');
      resolveStopped(EXIT_OK);
    })();
  };
  process.on('SIGHUP', onHup);
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);

  log.info({ file, tables: [...tables.keys()].join(',') || 'none', netns: opts.netns, backend: opts.backend }, 'watching');
  trigger('start');
  return stopped;
}

function readFileText(file: string, maxFileSize: number): string {
  return readRulesFile(file, { maxFileSize });
}

// --- entry point -------------------------------------------------------------------------------

function errorJson(error: Error): object {
  if (error instanceof ConfigError) return { error: error.name, message: error.message, issues: error.issues.map(({ snippet: _s, ...i }) => i) };
  const failure = error instanceof CommandFailedError ? error : error instanceof LockTimeoutError ? error.failure : undefined;
  return {
    error: error.name,
    message: describeError(error),
    ...(failure ? { command: 'commandLine' in failure ? failure.commandLine : formatCommandLine(failure.argv), exitCode: failure.exitCode, signal: failure.signal, stderr: failure.stderr } : {}),
    ...(error instanceof LockTimeoutError ? { lockFile: error.lockName, timeoutMs: error.timeoutMs, holder: error.holder ?? null } : {}),
  };
}

/** The message, with a hint for errors people meet often. */
function describeError(error: Error): string {
  if (error instanceof LockTimeoutError && !error.holder) return `${error.message} (the holder could not be found in /proc/locks)`;
  return error.message;
}

function reportError(error: unknown, json: boolean): number {
  const e = error instanceof Error ? error : new Error(String(error));
  if (json) process.stderr.write(`${JSON.stringify(errorJson(e))}\n`);
  else if (e instanceof ConfigError) process.stderr.write(`${e.detailed()}\n`);
  else if (e instanceof IptablesSyncError) process.stderr.write(`iptables-sync: error: ${describeError(e)}\n`);
  else process.stderr.write(`iptables-sync: error: ${e.stack ?? e.message}\n`);
  return EXIT_ERROR;
}

export function buildProgram(run: (code: Promise<number> | number, json: boolean) => void): Command {
  const program = new Command();
  program
    .name('iptables-sync')
    .description('Keep iptables equal to a rules file (YAML or JSON): plan, apply, watch and repair.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 ok (plan: in sync), 1 error, 2 plan found drift.

Examples:
  iptables-sync check -f examples/host-firewall.yaml
  iptables-sync plan  -f examples/host-firewall.yaml
  iptables-sync apply -f examples/host-firewall.yaml
  iptables-sync watch -f examples/host-firewall.yaml --metrics 127.0.0.1:9464
  iptables-sync show
  iptables-sync cleanup --yes`,
    );

  const wrap =
    <A extends unknown[]>(fn: (...args: A) => Promise<number> | number) =>
    (...args: A): void => {
      const cmd = args[args.length - 1] as Command;
      const opts = cmd.opts() as { json?: boolean };
      let result: Promise<number> | number;
      try {
        result = fn(...args);
      } catch (error) {
        result = Promise.reject(error);
      }
      run(result, opts.json === true);
    };

  addCommonOptions(
    program
      .command('plan')
      .description('print the exact iptables-restore input that apply would run (stdout) and a summary (stderr); exit 2 on drift')
      .requiredOption('-f, --file <path>', 'rules file (YAML or JSON)'),
  ).action(wrap((o: CommonOptions & { file: string }) => planCommand(o.file, o)));

  addCommonOptions(
    program
      .command('apply')
      .description('bring the dataplane in line with the rules file once')
      .requiredOption('-f, --file <path>', 'rules file (YAML or JSON)')
      .option('--show-input', 'also print the iptables-restore input that was written', false),
  ).action(wrap((o: CommonOptions & { file: string; showInput: boolean }) => applyCommand(o.file, o)));

  addCommonOptions(
    program
      .command('watch')
      .description('keep the dataplane equal to the rules file: re-apply on drift, file change and SIGHUP; SIGINT/SIGTERM stop and leave the rules')
      .requiredOption('-f, --file <path>', 'rules file (YAML or JSON)')
      .addOption(
        new Option('--metrics <[host:]port>', 'serve Prometheus metrics at http://host:port/metrics (host defaults to 127.0.0.1; port 0 picks a free one)').argParser((v: string) => {
          parseListenAddress(v);
          return v;
        }),
      )
      .addOption(new Option('--refresh-interval <duration>', 're-read the dataplane at least this often (0 = only after writes)').default(90_000, '90s').argParser(parseDuration))
      .addOption(new Option('--debounce <duration>', 'wait this long after a file change before reloading').default(200, '200ms').argParser(parseDuration)),
    'info',
  ).action(
    wrap((o: WatchOptions & { file: string }) => watchCommand(o.file, o)),
  );

  addCommonOptions(
    program
      .command('show')
      .description('list our chains and inserts in the dataplane with rule IDs and packet/byte counters')
      .option('-f, --file <path>', 'only the tables this rules file names')
      .addOption(new Option('--table <name...>', 'only these tables (default: all)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), choice('--table', TABLE_NAMES)(v)])),
  ).action(wrap((o: CommonOptions & { file?: string; table?: string[] }) => showCommand(o)));

  addCommonOptions(
    program
      .command('cleanup')
      .description('remove every chain with the chain prefix and every rule with our ID prefix (needs --yes; without it, shows what would go)')
      .option('--yes', 'really remove them', false)
      .addOption(new Option('--table <name...>', 'only these tables (default: all)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), choice('--table', TABLE_NAMES)(v)])),
  ).action(wrap((o: CommonOptions & { yes: boolean; table?: string[] }) => cleanupCommand(o)));

  addCommonOptions(
    program
      .command('check')
      .description('validate a rules file without touching the dataplane')
      .requiredOption('-f, --file <path>', 'rules file (YAML or JSON; - for stdin)')
      .option('--kernel', "also load the rules with the backend's iptables-restore into a throwaway network namespace (root only)", false),
  ).action(wrap((o: CommonOptions & { file: string; kernel: boolean }) => checkCommand(o.file, o)));

  defineDoctorCommand(program.command('doctor')).action(wrap((o: DoctorCommandOptions) => doctorCommand(o)));

  program
    .command('schema')
    .description('print the JSON Schema of the rules file (for editors)')
    .action(
      wrap(() => {
        process.stdout.write(`${JSON.stringify(rulesJsonSchema(), null, 2)}\n`);
        return EXIT_OK;
      }),
    );

  return program;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(resolve(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/**
 * Exits once everything written to stdout and stderr has reached the kernel. A pipe takes 64 KiB
 * at a time: exiting right after a big write would cut the output (`plan | iptables-restore`
 * applying half a transaction). Whatever else is still open (a child's pipes, the native
 * reader's worker) must not keep us, hence the exit rather than waiting for the loop to empty.
 */
function exitAfterFlush(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const flushed = (): void => {
    if (--pending === 0) process.exit(code);
  };
  // A write's callback runs after every earlier write on the stream has been handed over (or the
  // reader went away: EPIPE, reported to the callback).
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.destroyed || stream.writableEnded) flushed();
    else stream.write('', () => flushed());
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let outcome: Promise<number> = Promise.resolve(EXIT_OK);
  let json = false;
  const program = buildProgram((code, j) => {
    json = j;
    outcome = Promise.resolve(code);
  });
  program.exitOverride();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    const code = (error as { exitCode?: number; code?: string }).exitCode;
    if (typeof code === 'number') return code === 0 ? EXIT_OK : EXIT_ERROR; // commander printed it
    return reportError(error, json);
  }
  try {
    return await outcome;
  } catch (error) {
    return reportError(error, json);
  }
}

if (require.main === module) {
  // A reader that went away (watch | head) must not crash a running reconcile loop.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
  main(process.argv).then(
    (code) => exitAfterFlush(code),
    (error: unknown) => {
      process.stderr.write(`iptables-sync: internal error: ${(error as Error).stack ?? String(error)}\n`);
      exitAfterFlush(EXIT_ERROR);
    },
  );
}
