// The options every command shares, their parsers, and the per-command set-up they lead to.
import { Command, InvalidArgumentError, Option } from 'commander';
import type { IpVersion, TableBackendChoice } from '../backend';
import { DEFAULT_CHAIN_PREFIX, DEFAULT_HASH_PREFIX, type ConfigOptions, type RulesFile } from '../rules-file/types';
import type { RulesFileForApply } from '../rules-file/load';
import { IptablesSyncError } from '../errors';
import { DEFAULT_MAX_FILE_SIZE, formatBytes, parseByteSize } from '../rules-file/read';
import { DEFAULT_LOCK_FILE_PATH, SharedLock } from '../locks';
import type { InsertMode } from '../restore-plan';
import { DEFAULT_NFT_TABLE_PREFIX, nftTablePrefixProblem } from '../nftables/table-spec';
import { CliLogger, LOG_LEVELS, type LogLevel } from './output';
import type { Progress } from './progress';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_DRIFT = 2;

export interface CommonOptions {
  netns?: string;
  backend: TableBackendChoice;
  ipVersion: IpVersion;
  prefix: string;
  chainPrefix: string;
  /** Our nftables table for iptables table T is `<nftTablePrefix>T` (backend nftables only;
   *  undefined: `ipts-`). */
  nftTablePrefix?: string;
  lockFile: string;
  lockTimeout: number;
  insertMode: InsertMode;
  features: 'none' | 'auto';
  onlyReferencedChains: boolean;
  json: boolean;
  logLevel: LogLevel;
  maxFileSize: number;
  /** Progress on stderr even when it is not a terminal (never with --json). */
  progress: boolean;
}

/** "10s", "500ms", "2m", "1h"; a bare number is seconds (as iptables --wait). */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration such as 10s, 500ms or 2m, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

export function choice<T extends string>(name: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if ((values as readonly string[]).includes(v)) return v as T;
    throw new InvalidArgumentError(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  };
}

/** The help of `--nft-table-prefix` (every command's, doctor's too). */
export const NFT_TABLE_PREFIX_HELP = `with --backend nftables: our nftables table for iptables table T is <prefix>T (default "${DEFAULT_NFT_TABLE_PREFIX}", so ${DEFAULT_NFT_TABLE_PREFIX}filter); cleanup deletes only those`;

export function addCommonOptions(cmd: Command, defaultLogLevel: LogLevel = 'warn'): Command {
  return cmd
    .option('--netns <name>', 'run inside this named network namespace (ip netns)')
    .addOption(new Option('--backend <backend>', "iptables backend: legacy, nft, or auto (what the host already uses); or nftables (native nftables, in a table of iptables-sync's own)").default('auto').argParser(choice('--backend', ['legacy', 'nft', 'auto', 'nftables'] as const)))
    .addOption(new Option('--ip-version <version>', 'IP version: 4 (iptables) or 6 (ip6tables)').default(4).argParser((v) => Number(choice('--ip-version', ['4', '6'] as const)(v)) as IpVersion))
    .option('--prefix <hashPrefix>', 'rule ID prefix, written in each rule\'s first comment (at most 239 bytes); a second instance beside this one needs its own', DEFAULT_HASH_PREFIX)
    .option('--chain-prefix <prefix>', 'our chains start with this; chains in the file must, and unwanted ones are deleted. Two instances side by side need chain prefixes of which neither is a prefix of the other, or each deletes the other\'s chains', DEFAULT_CHAIN_PREFIX)
    .option('--nft-table-prefix <prefix>', NFT_TABLE_PREFIX_HELP)
    .option('--lock-file <path>', 'xtables lock file (held around writes by iptables-restore older than 1.6.2)', process.env.XTABLES_LOCKFILE || DEFAULT_LOCK_FILE_PATH)
    .addOption(new Option('--lock-timeout <duration>', 'how long to wait for the xtables lock (e.g. 10s, 500ms)').default(10_000, '10s').argParser(parseDuration))
    .addOption(new Option('--insert-mode <mode>', 'put our rules in chains we do not own at the top (insert) or bottom (append)').default('insert').argParser(choice('--insert-mode', ['insert', 'append'] as const)))
    .addOption(new Option('--features <mode>', "host features such as --random-fully: auto (detect, as latest Felix) or none (Felix v3.2.2's rules and IDs)").default('auto').argParser(choice('--features', ['none', 'auto'] as const)))
    .addOption(
      new Option('--max-file-size <size>', 'refuse rules files larger than this (e.g. 64MiB, 1G)')
        .default(DEFAULT_MAX_FILE_SIZE, formatBytes(DEFAULT_MAX_FILE_SIZE).replace(' ', ''))
        .argParser((v: string) => parseByteSize(v) ?? usage(`--max-file-size: expected a size such as 64MiB, 1G or 500000 (bytes), got ${JSON.stringify(v)}`)),
    )
    .option('--only-referenced-chains', 'write a chain only while an insert, an append or another written chain jumps to it (latest Felix); unreferenced chains of ours are removed', false)
    .option('--json', 'machine-readable output (JSON; logs as JSON lines)', false)
    .option('--progress', 'show progress on stderr for slow steps even when stderr is not a terminal (never with --json)', false)
    .addOption(new Option('--log-level <level>', 'debug, info, warn or error').default(defaultLogLevel).argParser(choice('--log-level', LOG_LEVELS)));
}

export class UsageError extends IptablesSyncError {}

function usage(message: string): never {
  throw new InvalidArgumentError(message);
}

export function checkPrefixes(opts: CommonOptions): void {
  for (const [flag, value] of [['--prefix', opts.prefix], ['--chain-prefix', opts.chainPrefix]] as const) {
    if (value === '' || /[\s"'\\]/.test(value)) throw new UsageError(`${flag} must be a non-empty word without spaces or quotes, got ${JSON.stringify(value)}`);
  }
  checkNftTablePrefix(opts);
}

/** `--nft-table-prefix` only with `--backend nftables`, and only a prefix that makes every one
 *  of our table names one the library takes (its own rule, nftTablePrefixProblem).
 *  @throws {@link UsageError} naming the option and the value. */
export function checkNftTablePrefix(opts: Pick<CommonOptions, 'backend' | 'nftTablePrefix'>): void {
  const prefix = opts.nftTablePrefix;
  if (prefix === undefined) return;
  const flag = `--nft-table-prefix ${JSON.stringify(prefix)}`;
  if (opts.backend !== 'nftables') throw new UsageError(`${flag}: only with --backend nftables (the backend is ${opts.backend})`);
  const problem = nftTablePrefixProblem(prefix);
  if (problem !== undefined) throw new UsageError(`${flag}: ${problem}`);
}

/** What a command that touches the dataplane sets up first. */
export interface Session {
  readonly opts: CommonOptions;
  readonly lock: SharedLock;
  readonly logger: CliLogger;
}

export function session(opts: CommonOptions, logStream: NodeJS.WritableStream = process.stderr): Session {
  checkPrefixes(opts);
  const lock = new SharedLock(opts.lockFile, opts.lockTimeout, 50);
  return { opts, lock, logger: new CliLogger(logStream, opts.logLevel, opts.json) };
}

/** The rules file with the command's options, its progress shown on `progress`. */
export function loadFile(file: string, opts: CommonOptions, progress?: Progress, extra: Pick<ConfigOptions, 'positions'> = {}): RulesFile {
  return withLoader(progress, (load) => load.loadRulesFile(file, loadOptions(file, opts, progress, extra)));
}

/** The rules file for apply: the largest table's rules are made (and checked) while its
 *  iptables-restore runs (loadRulesFileForApply; apply that table first). */
export function loadFileForApply(file: string, opts: CommonOptions, progress?: Progress): RulesFileForApply {
  return withLoader(progress, (load) => load.loadRulesFileForApply(file, loadOptions(file, opts, progress)));
}

function loadOptions(file: string, opts: CommonOptions, progress: Progress | undefined, extra: Pick<ConfigOptions, 'positions'> = {}): ConfigOptions {
  return { chainPrefix: opts.chainPrefix, ipVersion: opts.ipVersion, maxFileSize: opts.maxFileSize, ...extra, ...(progress ? { onProgress: progress.loading(file) } : {}) };
}

function withLoader<T>(progress: Progress | undefined, load: (loader: typeof import('../rules-file/load')) => T): T {
  try {
    // The reader is loaded with the first file (see program.ts: commands load what they use).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return load(require('../rules-file/load') as typeof import('../rules-file/load'));
  } finally {
    progress?.end();
  }
}
