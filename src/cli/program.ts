// The command line: commander set-up of every command, and main(), which runs one and turns
// its outcome into an exit code.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { TABLE_NAMES } from '../table-names';
import { defineDoctorCommand, doctorCommand, type DoctorCommandOptions } from './doctor-command';
import { parseListenAddress } from './listen-address';
import { EXIT_ERROR, EXIT_OK, addCommonOptions, choice, parseDuration, type CommonOptions } from './options';
import { reportError } from './output';
import type { WatchOptions } from './watch';

// What a command runs is loaded when it runs: the whole CLI took ~150 ms to load (the Table,
// the rules-file reader, the doctor's checks (see doctor-command.ts), the watch loop), which
// `--version`, `--help`, a usage error or a small `check` paid before doing anything.
/* eslint-disable @typescript-eslint/no-require-imports */
const oneShot = (): typeof import('./one-shot') => require('./one-shot') as typeof import('./one-shot');
const watchLoop = (): typeof import('./watch') => require('./watch') as typeof import('./watch');
const schema = (): typeof import('../rules-file/schema') => require('../rules-file/schema') as typeof import('../rules-file/schema');
/* eslint-enable @typescript-eslint/no-require-imports */

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
  ).action(wrap((o: CommonOptions & { file: string }) => oneShot().planCommand(o.file, o)));

  addCommonOptions(
    program
      .command('apply')
      .description('bring the dataplane in line with the rules file once')
      .requiredOption('-f, --file <path>', 'rules file (YAML or JSON)')
      .option('--show-input', 'also print the iptables-restore input that was written', false),
  ).action(wrap((o: CommonOptions & { file: string; showInput: boolean }) => oneShot().applyCommand(o.file, o)));

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
      .addOption(new Option('--debounce <duration>', 'wait this long after a file change before reloading').default(200, '200ms').argParser(parseDuration))
      .addOption(new Option('--canary-interval <duration>', 'check a canary chain of ours this often and repair at once when it is gone (a flush, a firewalld reload); 0 = off').default(0, '0 (off)').argParser(parseDuration))
      .addOption(new Option('--metric-names <naming>', "metric names on /metrics: iptables-sync, or felix (latest Felix's felix_iptables_* names, for existing dashboards)").default('iptables-sync').argParser(choice('--metric-names', ['iptables-sync', 'felix'] as const))),
    'info',
  ).action(
    wrap((o: WatchOptions & { file: string }) => watchLoop().watchCommand(o.file, o)),
  );

  addCommonOptions(
    program
      .command('show')
      .description('list our chains and inserts in the dataplane with rule IDs and packet/byte counters')
      .option('-f, --file <path>', 'only the tables this rules file names')
      .addOption(new Option('--table <name...>', 'only these tables (default: all)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), choice('--table', TABLE_NAMES)(v)])),
  ).action(wrap((o: CommonOptions & { file?: string; table?: string[] }) => oneShot().showCommand(o)));

  addCommonOptions(
    program
      .command('cleanup')
      .description('remove every chain with the chain prefix and every rule with our ID prefix (needs --yes; without it, shows what would go)')
      .option('--yes', 'really remove them', false)
      .addOption(new Option('--table <name...>', 'only these tables (default: all)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), choice('--table', TABLE_NAMES)(v)])),
  ).action(wrap((o: CommonOptions & { yes: boolean; table?: string[] }) => oneShot().cleanupCommand(o)));

  addCommonOptions(
    program
      .command('check')
      .description('validate a rules file without touching the dataplane')
      .requiredOption('-f, --file <path>', 'rules file (YAML or JSON; - for stdin)')
      .option('--kernel', "also load the rules with the backend's iptables-restore into a throwaway network namespace (root only)", false),
  ).action(wrap((o: CommonOptions & { file: string; kernel: boolean }) => oneShot().checkCommand(o.file, o)));

  defineDoctorCommand(program.command('doctor')).action(wrap((o: DoctorCommandOptions) => doctorCommand(o)));

  program
    .command('schema')
    .description('print the JSON Schema of the rules file (for editors)')
    .action(
      wrap(() => {
        process.stdout.write(`${JSON.stringify(schema().rulesJsonSchema(), null, 2)}\n`);
        return EXIT_OK;
      }),
    );

  return program;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Runs the command line (argv as process.argv) and resolves to its exit code. */
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

/** The process entry: main() on process.argv, then exit once the output is flushed. */
export function runAsProcess(): void {
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
