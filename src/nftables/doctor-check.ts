// `doctor --backend nftables`: what the nftables backend needs of this host, beyond the nft
// binary (which doctor looks up with the others): nf_tables usable in the namespace, our table
// names valid (and which of them exist now), and the listing worker that scans nft's output.
import { PassThrough } from 'node:stream';
import type { IpVersion } from '../backend';
import { describeOutcome, runCommand, succeeded, type CommandFactory } from '../commands';
import type { DoctorCheck } from '../doctor-verdict';
import { RULE_ID_LENGTH } from '../save-line';
import { TABLE_NAMES } from '../table-names';
import { readListing } from './listing-worker';
import { familyOf, nftTableNameFor, nftTableNameProblem } from './table-spec';

/** The nftables backend's own needs (doctor --backend nftables). */
export interface NftablesCheck extends DoctorCheck {
  /** Whether `nft list tables` ran in the namespace (nf_tables is there and we may use it). */
  readonly usable: boolean;
  /** Our tables' names (`<family> <name>`), one per iptables table. */
  readonly tables: readonly string[];
  /** Which of them exist now. */
  readonly present: readonly string[];
  /** Whether the listing worker thread started and scanned a sample listing. */
  readonly reader: boolean;
}

/** nft's listing of one table of ours, for the reader's self-test. */
const SAMPLE = 'table ip ipts-doctor {\n\tchain c {\n\t\tcounter packets 0 bytes 0 accept comment "ipts:AAAAAAAAAAAAAAAA" # handle 2\n\t}\n}\n';

/** Starts the listing worker and scans a sample through it; resolves to the problem, if any. */
async function readerProblem(timeoutMs: number): Promise<string | undefined> {
  const stream = new PassThrough();
  const read = readListing(stream, 'ipts:', RULE_ID_LENGTH);
  stream.end(SAMPLE);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      read.cancel();
      resolve(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
  });
  try {
    const scanned = read.result.then((l) => (l.chains[0]?.ids[0] === 'AAAAAAAAAAAAAAAA' ? undefined : `scanned the sample wrong: ${JSON.stringify(l)}`));
    return await Promise.race([scanned, late]);
  } catch (error) {
    return (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

/** Which names our tables have: one `nftTableName` for all of them, or `<nftTablePrefix><table>`
 *  (default `ipts-<table>`). */
export interface NftTableNaming {
  readonly nftTableName?: string;
  readonly nftTablePrefix?: string;
}

/**
 * Probes the nftables backend: `nft list tables` where the Table would run it (`run` is already
 * in the namespace), the names of our tables (see {@link NftTableNaming}), and the listing
 * worker. An error when nft cannot list tables, a name is invalid or the worker fails.
 */
export async function checkNftables(run: CommandFactory, ipVersion: IpVersion, timeoutMs: number, naming: NftTableNaming = {}): Promise<NftablesCheck> {
  const family = familyOf(ipVersion);
  const names = naming.nftTableName !== undefined ? [naming.nftTableName] : TABLE_NAMES.map((t) => nftTableNameFor(t, naming.nftTablePrefix));
  const tables = names.map((n) => `${family} ${n}`);
  const conflict = naming.nftTableName !== undefined && naming.nftTablePrefix !== undefined ? 'give nftTableName or nftTablePrefix, not both' : undefined;
  const bad = names.map((n) => [n, nftTableNameProblem(n)] as const).find(([, problem]) => problem !== undefined);
  const listed = await runCommand(run, 'nft', ['list', 'tables'], '', timeoutMs);
  const usable = succeeded(listed);
  const present = usable ? tables.filter((t) => listed.stdout.split('\n').includes(`table ${t}`)) : [];
  const problem = await readerProblem(timeoutMs);
  const reader = problem === undefined;
  const base = { usable, tables, present, reader };
  const problems: string[] = conflict !== undefined ? [conflict] : [];
  if (!usable) problems.push(`nft list tables ${describeOutcome(listed, timeoutMs)}${listed.stderr.trim() ? `: ${listed.stderr.trim()}` : ''} (nf_tables missing, or no CAP_NET_ADMIN here)`);
  if (bad) problems.push(`table name ${JSON.stringify(bad[0])}: ${bad[1] as string}`);
  if (!reader) problems.push(`the listing worker failed: ${problem as string}`);
  if (problems.length > 0) return { ...base, status: 'error', message: problems.join('; ') };
  const where = present.length > 0 ? `ours present: ${present.join(', ')}` : 'none of ours present yet';
  return { ...base, status: 'ok', message: `nf_tables usable (nft list tables); our tables ${tables.join(', ')} (${where}); reads scanned by the listing worker thread` };
}
