// `check --kernel --backend nftables`: each table's nft transaction, as apply writes it into an
// empty namespace, loaded by `nft -f -` into a throwaway `unshare --net` namespace (the loader of
// ../kernel-check.ts), so what the kernel refuses (a missing expression module, a statement in a
// hook that cannot take it) shows before anything is applied. nft names the input line it
// refuses; the line's rule comes back with it.
import type { IpVersion } from '../backend';
import { spawnCommand } from '../commands';
import { KernelCheckError, loadInThrowawayNamespace, trim, type KernelCheckResult } from '../kernel-check';
import { SILENT_LOGGER } from '../logger';
import type { Rule } from '../rule';
import type { RulesFile, TableRules } from '../rules-file/types';
import type { TableName } from '../table-names';
import { NftablesDataplane } from './dataplane';
import { blamedNftLine } from './nft-run';
import { NO_TABLE, opLine, planNft } from './plan';
import { nftRuleRenderer } from './rule-text';
import { familyOf, nftTableNameFor } from './table-spec';

/** What check --kernel needs on this backend. */
export interface NftKernelCheckOptions {
  readonly ipVersion: IpVersion;
  readonly hashPrefix: string;
  /** Our tables are `<nftTablePrefix><table>`; default `ipts-`. */
  readonly nftTablePrefix?: string;
  /** Per nft run (default 60 s); the child is killed after it. */
  readonly timeoutMs?: number;
}

/** The `nft -f` input apply would write for one table into an empty namespace, and the rule
 *  behind each input line (by line number, 1-based).
 *  @throws {@link InvalidRuleError} for a rule nft cannot express. */
export function emptyNftTableInput(table: TableRules, o: Pick<NftKernelCheckOptions, 'ipVersion' | 'hashPrefix' | 'nftTablePrefix'>): { input: string; rules: ReadonlyMap<number, Rule> } {
  const family = familyOf(o.ipVersion);
  const nftTable = nftTableNameFor(table.name, o.nftTablePrefix);
  const engine = new NftablesDataplane({
    tableName: table.name,
    family,
    nftTable,
    hashPrefix: o.hashPrefix,
    render: nftRuleRenderer(family, table.name),
    run: spawnCommand, // never run: only the desired state is rendered here
    commandTimeoutMs: 0,
    lockTimeoutMs: 0,
    sleep: async () => undefined,
    now: Date.now,
    logger: SILENT_LOGGER,
  });
  const desired = engine.desiredChains({
    chains: new Map(table.chains.map((c) => [c.name, c])),
    inserts: table.inserts,
    appends: table.appends ?? new Map(),
  });
  const plan = planNft({ family, table: nftTable, desired, state: NO_TABLE });
  const lines: string[] = [];
  const rules = new Map<number, Rule>();
  for (const op of plan.ops) {
    lines.push(opLine(op, { family, table: nftTable, desired }));
    if ('rule' in op) rules.set(lines.length, desired.get(op.chain)?.rules[op.rule] as Rule);
  }
  return { input: lines.length === 0 ? '' : `${lines.join('\n')}\n`, rules };
}

/** Loads each table's transaction into its own throwaway namespace; stops at the first refusal.
 *  Root only.
 *  @throws {@link KernelCheckError} when it cannot run; {@link InvalidRuleError} for a rule nft
 *   cannot express. */
export async function checkNftWithKernel(rules: RulesFile, options: NftKernelCheckOptions): Promise<KernelCheckResult> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new KernelCheckError('check --kernel needs root: it loads the rules with nft -f into a throwaway network namespace (unshare --net)');
  }
  const tables: TableName[] = [];
  for (const table of rules.tables.values()) {
    tables.push(table.name);
    const { input, rules: ruleAt } = emptyNftTableInput(table, options);
    if (input === '') continue;
    const result = await loadInThrowawayNamespace(['nft', '-f', '-'], input, options.timeoutMs ?? 60_000);
    if (result.code === 0) continue;
    const n = blamedNftLine(result.stderr);
    const line = n === undefined ? undefined : input.split('\n')[n - 1];
    const rule = n === undefined ? undefined : ruleAt.get(n);
    return {
      binary: 'nft',
      tables,
      refusal: { table: table.name, exitCode: result.code, stderr: trim(result.stderr), ...(line !== undefined ? { line } : {}), ...(rule ? { rule } : {}), bisected: false },
    };
  }
  return { binary: 'nft', tables };
}
