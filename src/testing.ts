// iptables-sync/testing: an in-memory iptables for unit tests of programs that use the Table.
//
// `new Table(..., { commandFactory: fake.commandFactory })` makes the Table run the fake's
// iptables-save/-restore instead of real processes. The fake keeps rules as text, prints them
// the way iptables-save does (src/fake-rule-text.ts) and applies restore input the way
// `iptables-restore --noflush` does (src/fake-dataplane.ts); `fake.restore(...)` lets a test play
// another program that edits iptables. test/fake-differential.test.ts runs the same Table
// scenarios against this fake and the real kernel (legacy and nft) and compares them.
/**
 * An in-memory iptables for unit tests of programs that use the Table: pass
 * {@link FakeIptables.commandFactory} as the Table's `commandFactory` option.
 *
 * @module iptables-sync/testing
 */
import { PassThrough } from 'node:stream';
import type { IpVersion } from './backend';
import type { CommandExit, CommandFactory, SpawnedCommand } from './commands';
import { FakeDataplane, type FakeDialect, FakeRestoreError } from './fake-dataplane';
import { splitRuleWords } from './fake-rule-text';
import { KERNEL_CHAINS, type TableName } from './table-names';

export { FakeRestoreError, type FakeDialect } from './fake-dataplane';
export { canonicalRuleBody } from './fake-rule-text';

/** What a command the fake was asked to run is: the restore `--version` probe, an
 *  iptables-save, an iptables-restore, or anything else (backend detection's `cat` and
 *  `iptables --version`, or commands the fake does not know). */
export type FakeCallKind = 'version' | 'save' | 'restore' | 'other';

/** One command run through the fake's commandFactory, for assertions. Filled in as it runs. */
export interface FakeCall {
  /** The binary, e.g. "iptables-legacy-restore" (without an `ip netns exec NAME` wrapper). */
  readonly command: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** What the fake took it for. */
  readonly kind: FakeCallKind;
  /** The namespace of an `ip netns exec NAME …` wrapper (the Table's `netns` option). */
  readonly netns: string | undefined;
  /** 6 for the ip6tables binaries, else 4. */
  readonly ipVersion: IpVersion;
  /** Everything written to its stdin (a restore's input). */
  input: string;
  /** What it printed (a save's dump). */
  stdout: string;
  /** What it printed to stderr (a failed restore's message). */
  stderr: string;
  /** Set once it exited (or was killed). */
  exit: CommandExit | undefined;
  /** Every kill() signal sent to it, also ones after it had exited. */
  readonly kills: string[];
}

/** What a faked process does instead of its default: print, then exit (or hang). */
export interface FakeOutcome {
  /** What to print on stdout (default: nothing). */
  readonly stdout?: string;
  /** What to print on stderr (default: nothing). */
  readonly stderr?: string;
  /** Exit code (default 0); null with `signal` for a process killed by a signal. */
  readonly code?: number | null;
  /** The signal the process dies of (with `code: null`), such as `'SIGSEGV'`. */
  readonly signal?: NodeJS.Signals | null;
  /** Print the output, then never exit on its own (only a kill ends it). */
  readonly hang?: boolean;
  /** Wait for this before doing anything; an outcome with only a gate then does the default
   *  (applies the restore, prints the dump) once the gate opens. */
  readonly gate?: Promise<void>;
}

/** Picks a table of one IP version (defaults: filter, 4). */
export interface FakeTableRef {
  /** The table (default filter). */
  readonly table?: TableName;
  /** The IP version (default 4). */
  readonly ipVersion?: IpVersion;
}

/** Options of `new FakeIptables(options)`. */
export interface FakeIptablesOptions {
  /** What the host's own `iptables --version` and /proc/net/ip_tables_names say, which is what
   *  the Table's `backend: 'auto'` detection looks at. Default 'legacy'. The fake answers the
   *  legacy and the nft binaries alike, from one state, each in its own wording. */
  readonly backend?: FakeDialect;
  /** The version the binaries report, e.g. "v1.6.1". Default "v1.8.9". Can be changed later on
   *  `version`. A Table asks it only of plain `iptables-restore` (the `*-legacy-*` names exist
   *  from 1.8.0 on): found older than v1.6.2 on a PATH without those names, the Table holds the
   *  lock itself and passes no --wait. */
  readonly version?: string;
  /** The clock for iptables-save's "Generated on" lines. Default: the real time. */
  readonly now?: () => Date;
}

/**
 * An in-memory iptables dataplane (both IP versions, all four tables) with a `commandFactory`
 * for `Table`. It answers `iptables[-legacy|-nft]-save [-c] [-t table]`, `-restore [--noflush]`
 * and `--version`, for iptables and ip6tables (plain names as the `backend` option's
 * binaries), also wrapped in `ip netns exec NAME`; every call is recorded in `calls`, and
 * `onSave`/`onRestore` replace what a save or restore does.
 *
 * Restore input is applied as iptables v1.8.9 applies it (compared with the real legacy and nft
 * binaries in the package's tests): each `*table` … `COMMIT` block lands whole or not at all;
 * with --noflush `:CHAIN` creates a user chain or flushes an existing one, and only sets a kernel
 * chain's policy; `-A`, `-I chain [n]`, `-R chain n`, `-D chain n|rule`, `-N`, `-F`, `-X`, `-P`;
 * a missing chain, a rule number out of range, an existing chain for `-N`, a referenced or
 * non-empty chain for `-X` and a jump to a missing chain fail with iptables-restore's exit code,
 * stderr and line number (nft names the COMMIT line for a missing jump target, as nft does).
 *
 * Rule text is kept in iptables-save's spelling (`canonicalRuleBody`): `--jump ACCEPT` reads back
 * as `-j ACCEPT`, `--source 10.0.0.1` as `-s 10.0.0.1/32`, `--set-mark 0x1/0x1` as
 * `--set-xmark 0x1/0x1`, `-p 6` as `-p tcp`. Not modelled: counters (always 0), whether a match or
 * target module exists, options of modules the library does not write (kept as written),
 * IPv4-mapped IPv6 addresses, and nft's crash on `-R` of a rule added in the same transaction.
 *
 * @example
 *   const fake = new FakeIptables();
 *   const table = new Table('filter', 4, 'ipts:', NO_OP_LOCK, { backend: 'legacy', commandFactory: fake.commandFactory });
 */
export class FakeIptables {
  /** Every command run so far, in order. Clear with `clearCalls()`. */
  readonly calls: FakeCall[] = [];
  /** The version the binaries report (see FakeIptablesOptions.version). */
  version: string;
  /** The backend `iptables --version` and /proc report (see FakeIptablesOptions.backend). */
  readonly backend: FakeDialect;
  /** Replaces what the n-th save (0-based, counted from the start) does; return undefined for the
   *  default (print the dump). */
  onSave: ((n: number, call: FakeCall) => FakeOutcome | undefined) | undefined;
  /** Replaces what the n-th restore does (its input is in `call.input`); return undefined for the
   *  default (apply it, or fail as iptables-restore would). */
  onRestore: ((n: number, call: FakeCall) => FakeOutcome | undefined) | undefined;
  /** Called when a command is started, e.g. to count how many overlap. */
  onSpawn: ((call: FakeCall) => void) | undefined;
  /** Called when a command has exited or was killed (`call.exit` is set). */
  onExit: ((call: FakeCall) => void) | undefined;
  readonly #dataplane = new FakeDataplane();
  readonly #now: () => Date;

  /** An empty fake: every table, for IPv4 and IPv6, holds only its kernel chains, with ACCEPT
   *  policies. Options default to the legacy backend, version v1.8.9 and the real clock. */
  constructor(options: FakeIptablesOptions = {}) {
    this.backend = options.backend ?? 'legacy';
    this.version = options.version ?? 'v1.8.9';
    this.#now = options.now ?? ((): Date => new Date());
  }

  /** The save calls so far. */
  get saves(): FakeCall[] {
    return this.calls.filter((c) => c.kind === 'save');
  }

  /** The restore calls so far. */
  get restores(): FakeCall[] {
    return this.calls.filter((c) => c.kind === 'restore');
  }

  /** Forgets the recorded calls (save/restore numbering for onSave/onRestore starts again). */
  clearCalls(): void {
    this.calls.length = 0;
  }

  /**
   * What `iptables-save -t <table>` prints (`ip6tables-save` for ipVersion 6): header comment,
   * `*table`, `:CHAIN POLICY [0:0]` lines (kernel chains first, then user chains by name), the
   * `-A` lines chain by chain, `COMMIT`, trailer comment. `counters` prints `[0:0]` before each
   * rule, like `-c`. `dialect` picks the legacy or nft header. Counters are always zero.
   */
  save(table: TableName = 'filter', options: { readonly ipVersion?: IpVersion; readonly counters?: boolean; readonly dialect?: FakeDialect } = {}): string {
    return this.#render([table], options.ipVersion ?? 4, options.counters ?? false, options.dialect ?? this.backend);
  }

  /**
   * Applies restore input as `iptables-restore --noflush` would (`ip6tables-restore` for
   * ipVersion 6): for a test that plays another program. Each `*table`…`COMMIT` block lands
   * whole or not at all. Throws FakeRestoreError (with the input line, exit code and the stderr
   * the real binary prints; `dialect` picks legacy's or nft's wording) for input it rejects.
   * `noflush: false` replaces each named table instead, like plain iptables-restore.
   */
  restore(input: string, options: { readonly ipVersion?: IpVersion; readonly noflush?: boolean; readonly dialect?: FakeDialect } = {}): void {
    const ipVersion = options.ipVersion ?? 4;
    const dialect = options.dialect ?? this.backend;
    this.#dataplane.restore(input, ipVersion, { noflush: options.noflush ?? true, dialect, binary: binaryName(ipVersion, dialect, 'restore'), version: this.version });
  }

  /** The chain names of a table: kernel chains, then user chains by name. */
  chainNames(where: FakeTableRef = {}): string[] {
    return this.#dataplane.chainNames(where.table ?? 'filter', where.ipVersion ?? 4);
  }

  /** A chain's rule bodies as iptables-save prints them (after "-A <chain> "), or undefined if
   *  there is no such chain. */
  rules(chain: string, where: FakeTableRef = {}): readonly string[] | undefined {
    return this.#dataplane.rules(chain, where.table ?? 'filter', where.ipVersion ?? 4);
  }

  /** A kernel chain's policy ("ACCEPT", "DROP"), undefined for a user or missing chain. */
  policy(chain: string, where: FakeTableRef = {}): string | undefined {
    return this.#dataplane.policy(chain, where.table ?? 'filter', where.ipVersion ?? 4);
  }

  /**
   * Per rule of a chain, the rule ID the Table reads back: the text after `hashPrefix` in the
   * rule's first `--comment`, or "" for a rule without one (a foreign rule). Undefined if there
   * is no such chain. `hashPrefix` is the Table's third constructor argument (e.g. "ipts:").
   */
  ruleIds(chain: string, hashPrefix: string, where: FakeTableRef = {}): string[] | undefined {
    return this.rules(chain, where)?.map((body) => ruleIdOf(body, hashPrefix));
  }

  /** Pass this as the Table's `commandFactory` option. */
  readonly commandFactory: CommandFactory = (command, args) => this.#spawn(command, args);

  #render(tables: readonly TableName[], ipVersion: IpVersion, counters: boolean, dialect: FakeDialect): string {
    const family = ipVersion === 6 ? 'ip6tables' : 'iptables';
    const stamp = ctime(this.#now());
    const tool = dialect === 'nft' ? `${family}-nft-save ${this.version} (nf_tables)` : `${family}-save ${this.version}`;
    const lines: string[] = [];
    for (const t of tables) lines.push(`# Generated by ${tool} on ${stamp}`, ...this.#dataplane.saveTable(t, ipVersion, counters), `# Completed on ${stamp}`);
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }

  #spawn(fullCommand: string, fullArgs: readonly string[]): SpawnedCommand {
    let command = fullCommand;
    let args = [...fullArgs];
    let netns: string | undefined;
    if (command === 'ip' && args[0] === 'netns' && args[1] === 'exec' && args.length >= 4) {
      netns = args[2];
      command = args[3] as string;
      args = args.slice(4);
    }
    const base = command.replace(/^.*\//, '');
    // Plain iptables-save/-restore (the only names before iptables 1.8.0) are the host's default backend.
    const tool = /^(ip6?tables)-(?:(legacy|nft)-)?(save|restore)$/.exec(base);
    const kind: FakeCallKind = tool && args.includes('--version') ? 'version' : tool ? (tool[3] as 'save' | 'restore') : 'other';
    const ipVersion: IpVersion = base.startsWith('ip6tables') ? 6 : 4;
    const call: FakeCall = { command, args, kind, netns, ipVersion, input: '', stdout: '', stderr: '', exit: undefined, kills: [] };
    const nth = kind === 'save' ? this.saves.length : kind === 'restore' ? this.restores.length : 0;
    this.calls.push(call);
    this.onSpawn?.(call);

    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let settle!: (e: CommandExit) => void;
    const exited = new Promise<CommandExit>((resolve) => {
      settle = resolve;
    });
    const finish = (exit: CommandExit): void => {
      if (call.exit) return;
      call.exit = exit;
      this.onExit?.(call);
      stdout.end();
      stderr.end();
      // "exited" resolves once the process is gone and its streams are closed.
      setImmediate(() => settle(exit));
    };
    const dialect: FakeDialect | undefined = tool ? ((tool[2] as FakeDialect | undefined) ?? this.backend) : undefined;
    const defaultOutcome = (): FakeOutcome => {
      if (kind === 'version') {
        const name = dialect === 'nft' ? base : base.replace('-legacy-', '-');
        return { stdout: `${name} ${this.version} (${dialect === 'nft' ? 'nf_tables' : 'legacy'})\n` };
      }
      if (kind === 'save') return this.#saveFor(args, ipVersion, dialect as FakeDialect);
      if (kind === 'restore') {
        try {
          this.#dataplane.restore(call.input, ipVersion, { noflush: args.includes('--noflush') || args.includes('-n'), dialect: dialect as FakeDialect, binary: base, version: this.version });
          return {};
        } catch (e) {
          if (!(e instanceof FakeRestoreError)) throw e;
          return { code: e.exitCode, stderr: e.stderr };
        }
      }
      return this.#otherCommand(base, args);
    };
    stdin.on('data', (chunk: Buffer) => {
      call.input += chunk.toString('utf8');
    });
    stdin.on('finish', () => {
      void (async () => {
        const custom = kind === 'save' ? this.onSave?.(nth, call) : kind === 'restore' ? this.onRestore?.(nth, call) : undefined;
        if (custom?.gate) await custom.gate;
        if (call.exit) return; // killed meanwhile
        const outcome = custom && Object.keys(custom).some((k) => k !== 'gate') ? custom : defaultOutcome();
        if (outcome.stdout) {
          call.stdout = outcome.stdout;
          stdout.write(outcome.stdout);
        }
        if (outcome.stderr) {
          call.stderr = outcome.stderr;
          stderr.write(outcome.stderr);
        }
        if (outcome.hang) return;
        finish({ code: outcome.code === undefined ? 0 : outcome.code, signal: outcome.signal ?? null });
      })();
    });
    return {
      stdin,
      stdout,
      stderr,
      exited,
      kill: (signal) => {
        call.kills.push(signal ?? 'SIGTERM');
        finish({ code: null, signal: signal ?? 'SIGTERM' });
      },
    };
  }

  /** iptables-save's arguments: `-t table` (else every table in use), `-c` for counters. */
  #saveFor(args: readonly string[], ipVersion: IpVersion, dialect: FakeDialect): FakeOutcome {
    const t = args.indexOf('-t') >= 0 ? args.indexOf('-t') : args.indexOf('--table');
    const counters = args.includes('-c') || args.includes('--counters');
    const name = t >= 0 ? (args[t + 1] ?? '') : undefined;
    if (name !== undefined && !Object.prototype.hasOwnProperty.call(KERNEL_CHAINS, name)) {
      return { code: 1, stderr: `iptables-save: Cannot initialize: Table does not exist (do you need to insmod?)\n` };
    }
    const tables = name !== undefined ? [name as TableName] : this.#dataplane.tableNames(ipVersion);
    return { stdout: this.#render(tables, ipVersion, counters, dialect) };
  }

  /** The commands of the Table's backend detection; anything else is "not found". */
  #otherCommand(base: string, args: readonly string[]): FakeOutcome {
    const proc = /^\/proc\/net\/ip(6?)_tables_names$/.exec(args[0] ?? '');
    if (base === 'cat' && proc) {
      if (this.backend !== 'legacy') return { code: 1, stderr: `cat: ${args[0]}: No such file or directory\n` };
      return { stdout: this.#dataplane.tableNames(proc[1] === '6' ? 6 : 4).map((t) => `${t}\n`).join('') };
    }
    if ((base === 'iptables' || base === 'ip6tables') && args.includes('--version')) {
      return { stdout: `${base} ${this.version} (${this.backend === 'nft' ? 'nf_tables' : 'legacy'})\n` };
    }
    return { code: 127, stderr: `${base}: not faked by FakeIptables\n` };
  }
}

function binaryName(ipVersion: IpVersion, dialect: FakeDialect, tool: 'save' | 'restore'): string {
  return `${ipVersion === 6 ? 'ip6tables' : 'iptables'}-${dialect}-${tool}`;
}

function ruleIdOf(body: string, hashPrefix: string): string {
  const words = splitRuleWords(body) ?? [];
  const at = words.indexOf('--comment');
  const comment = at >= 0 ? words[at + 1] : undefined;
  return comment !== undefined && comment.startsWith(hashPrefix) ? comment.slice(hashPrefix.length) : '';
}

/** "Tue Dec  1 18:51:16 2026", as iptables-save prints its time stamps (C's ctime, UTC here). */
function ctime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}
