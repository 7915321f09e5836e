// The `iptables-sync doctor` command: options, and the report on stdout (text or --json).
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { IpVersion, TableBackendChoice } from '../backend';
import { checkNftTablePrefix, NFT_TABLE_PREFIX_HELP } from './options';

// The checks themselves are loaded when doctor runs (they pull in the addon's loader, the
// nftables probes and the features detection: ~30 ms every other command need not pay).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const checks = (): typeof import('../doctor') => require('../doctor') as typeof import('../doctor');

/** The options `doctor` takes. */
export interface DoctorCommandOptions {
  readonly netns?: string;
  readonly backend: TableBackendChoice;
  readonly ipVersion: IpVersion;
  readonly nftTablePrefix?: string;
  readonly lockFile?: string;
  readonly json: boolean;
}

function oneOf<T extends string>(flag: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if ((values as readonly string[]).includes(v)) return v as T;
    throw new InvalidArgumentError(`${flag} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  };
}

/** Adds doctor's description and options to `cmd` (the caller attaches the action). */
export function defineDoctorCommand(cmd: Command): Command {
  return cmd
    .description('check what this host gives iptables-sync: addon, privileges, binaries, backend, --wait, features, lock file; exit 1 when something needed is missing')
    .option('--netns <name>', 'check inside this named network namespace (ip netns)')
    .addOption(new Option('--backend <backend>', 'the backend to check: legacy, nft, or auto (what the host already uses); or nftables (native nftables)').default('auto').argParser(oneOf('--backend', ['legacy', 'nft', 'auto', 'nftables'] as const)))
    .addOption(new Option('--ip-version <version>', '4 (iptables) or 6 (ip6tables)').default(4).argParser((v) => Number(oneOf('--ip-version', ['4', '6'] as const)(v)) as IpVersion))
    .option('--nft-table-prefix <prefix>', NFT_TABLE_PREFIX_HELP)
    .option('--lock-file <path>', 'xtables lock file (default: $XTABLES_LOCKFILE, else /run/xtables.lock)')
    .option('--json', 'print the report as JSON', false);
}

/** Prints the report; 0 when everything needed works (warnings allowed), 1 otherwise. */
export async function doctorCommand(opts: DoctorCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  checkNftTablePrefix(opts);
  const { diagnose, formatDoctorReport } = checks();
  const report = await diagnose({
    backend: opts.backend,
    ipVersion: opts.ipVersion,
    ...(opts.nftTablePrefix !== undefined ? { nftTablePrefix: opts.nftTablePrefix } : {}),
    ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
    ...(opts.lockFile !== undefined ? { lockFile: opts.lockFile } : {}),
  });
  // In JSON every field is present: what could not be learned is null.
  out.write(opts.json ? `${JSON.stringify(report, (_key, value: unknown) => (value === undefined ? null : value), 2)}\n` : formatDoctorReport(report));
  return report.ok ? 0 : 1;
}
