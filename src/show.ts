// `iptables-sync show`: our chains and inserts as the dataplane holds them, with rule IDs and
// packet/byte counters. A display command, so it simply parses `iptables-save -c` text.
import { binariesFor, detectBackend, loadedLegacyTables, type Backend, type BackendChoice, type IpVersion } from './backend';
import { describeOutcome, inNetns, runCommand, spawnCommand, succeeded, type CommandFactory } from './commands';
import { CommandFailedError, formatCommandLine } from './errors';
import { escapeRegExp } from './reader-js';
import { RULE_ID_LENGTH, ruleOwnership } from './save-line';

export interface ShownRule {
  /** 1-based position in its chain (for inserts: where it sits among all the chain's rules). */
  readonly num: number;
  /** Our rule ID (without the hash prefix), or null for a rule that is not ours. */
  readonly id: string | null;
  readonly packets: number;
  readonly bytes: number;
  /** The rule as iptables-save prints it, after "-A <chain> ". */
  readonly rule: string;
}

export interface ShownChain {
  readonly name: string;
  readonly rules: readonly ShownRule[];
}

export interface ShownTable {
  readonly table: string;
  readonly ipVersion: IpVersion;
  /** The iptables backend read, or 'nftables' (our own nftables table). */
  readonly backend: Backend | 'nftables';
  /** With backend 'nftables': our nftables table, as `<family> <name>` (e.g. `ip ipts-filter`). */
  readonly nftTable?: string;
  /** Chains whose names start with the chain prefix (nftables: every chain of our table): every
   *  rule in them. */
  readonly chains: readonly ShownChain[];
  /** Other chains that hold rules with our IDs: only those rules. */
  readonly inserts: readonly ShownChain[];
}

export interface ShowPrefixes {
  readonly hashPrefix: string;
  readonly chainPrefix: string;
}


/** Parses one table of `iptables-save -c` output. */
export function parseSaveWithCounters(dump: string, prefixes: ShowPrefixes): { chains: ShownChain[]; inserts: ShownChain[] } {
  const declared: string[] = [];
  const rulesByChain = new Map<string, ShownRule[]>();
  for (const line of dump.split('\n')) {
    const decl = /^:(\S+) /.exec(line);
    if (decl) {
      declared.push(decl[1] as string);
      rulesByChain.set(decl[1] as string, []);
      continue;
    }
    const m = /^(?:\[(\d+):(\d+)\] )?-A (\S+)(?: (.*))?$/.exec(line);
    if (!m) continue;
    const chain = m[3] as string;
    const rule = m[4] ?? '';
    const list = rulesByChain.get(chain) ?? [];
    rulesByChain.set(chain, list);
    // The Table's own definition of ours (save-line.ts), on the rule's tokens.
    const id = ruleOwnership(`-A ${chain} ${rule}`, prefixes.hashPrefix, []).id;
    list.push({
      num: list.length + 1,
      id: id ?? null,
      packets: Number(m[1] ?? 0),
      bytes: Number(m[2] ?? 0),
      rule,
    });
  }
  const chains: ShownChain[] = [];
  const inserts: ShownChain[] = [];
  for (const name of declared) {
    const rules = rulesByChain.get(name) ?? [];
    if (name.startsWith(prefixes.chainPrefix)) chains.push({ name, rules });
    else {
      const ours = rules.filter((r) => r.id !== null);
      if (ours.length > 0) inserts.push({ name, rules: ours });
    }
  }
  chains.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { chains, inserts };
}

export interface ShowOptions extends ShowPrefixes {
  readonly tables: readonly string[];
  readonly ipVersion: IpVersion;
  readonly backend: BackendChoice;
  readonly netns?: string;
  readonly commandFactory?: CommandFactory;
}

/** Reads the dataplane. On the legacy backend only tables the kernel already has are read, so a
 *  look never loads a table's module. */
export async function showTables(options: ShowOptions): Promise<ShownTable[]> {
  const base = options.commandFactory ?? spawnCommand;
  const run = options.netns !== undefined ? inNetns(options.netns, base) : base;
  const backend = options.backend === 'auto' ? await detectBackend(run, options.ipVersion) : options.backend;
  const binaries = binariesFor(backend, options.ipVersion);
  let tables = options.tables;
  if (backend === 'legacy') {
    const loaded = await loadedLegacyTables(run, options.ipVersion);
    tables = tables.filter((t) => loaded.includes(t));
  }
  const out: ShownTable[] = [];
  for (const table of tables) {
    const args = ['-c', '-t', table];
    const res = await runCommand(run, binaries.save, args);
    if (!succeeded(res)) {
      const err = res.stderr.trim();
      throw new CommandFailedError(`${formatCommandLine(res.argv)}: ${describeOutcome(res, 120_000)}${err ? `: ${err}` : ''}`, {
        argv: res.argv,
        exitCode: res.code,
        signal: res.signal,
        stderr: res.stderr,
        reason: res.spawnError ? 'spawn' : res.timedOut ? 'timeout' : res.signal ? 'signal' : 'exit',
        retryable: false,
        ...(res.spawnError ? { cause: res.spawnError } : {}),
      });
    }
    out.push({ table, ipVersion: options.ipVersion, backend, ...parseSaveWithCounters(res.stdout, options) });
  }
  return out;
}

/** A human-readable listing. The ID comment is left out of the rule text (it is in its own column). */
export function formatShown(tables: readonly ShownTable[], prefixes: ShowPrefixes): string {
  const id = `${escapeRegExp(prefixes.hashPrefix)}[a-zA-Z0-9_-]{${RULE_ID_LENGTH}}`;
  const idComment = new RegExp(`-m comment --comment "?${id}"? ?`);
  // nftables: one comment, ours first, then the rule's own (if any).
  const nftIdComment = new RegExp(` comment "${id}(?:"| )`);
  const withoutId = (t: ShownTable, rule: string): string =>
    t.backend === 'nftables' ? rule.replace(nftIdComment, (m) => (m.endsWith(' ') ? ' comment "' : '')) : rule.replace(idComment, '');
  const lines: string[] = [];
  for (const t of tables) {
    lines.push(`${t.table} (IPv${t.ipVersion}, ${t.backend}${t.nftTable !== undefined ? `: table ${t.nftTable}` : ''})`);
    if (t.chains.length === 0 && t.inserts.length === 0) {
      lines.push('  nothing of ours');
      continue;
    }
    const all = [...t.chains, ...t.inserts].flatMap((c) => c.rules);
    const pw = Math.max(4, ...all.map((r) => String(r.packets).length));
    const bw = Math.max(5, ...all.map((r) => String(r.bytes).length));
    const idw = prefixes.hashPrefix.length + 16;
    const row = (r: ShownRule): string =>
      `    ${String(r.num).padStart(3)}  ${(r.id === null ? '(not ours)' : prefixes.hashPrefix + r.id).padEnd(idw)}  ${String(r.packets).padStart(pw)}  ${String(r.bytes).padStart(bw)}  ${withoutId(t, r.rule)}`;
    const header = `    ${'#'.padStart(3)}  ${'rule id'.padEnd(idw)}  ${'pkts'.padStart(pw)}  ${'bytes'.padStart(bw)}  rule`;
    for (const c of t.chains) {
      lines.push(`  chain ${c.name} (${c.rules.length} rule${c.rules.length === 1 ? '' : 's'})`);
      if (c.rules.length > 0) lines.push(header, ...c.rules.map(row));
    }
    for (const c of t.inserts) {
      lines.push(`  inserts in ${c.name} (${c.rules.length})`);
      lines.push(header, ...c.rules.map(row));
    }
  }
  return lines.join('\n') + '\n';
}
