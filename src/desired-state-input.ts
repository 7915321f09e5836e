// The checks the Table's desired-state methods run on what they are given, all of it before any
// is accepted, so a bad chain or rule never loses state already accepted.
import type { IpVersion } from './backend';
import { InvalidRuleError } from './errors';
import { Chain, Rule, type ChainSpec, type RuleSpec } from './rule';
import { KERNEL_CHAINS, type TableName } from './table-names';
import { chainName } from './validate';

/** What the checks need to know of their Table. */
export interface InputScope {
  readonly table: TableName;
  readonly ipVersion: IpVersion;
  /** Set when the canary is on: the Table keeps that chain itself. */
  readonly canaryChain: string | undefined;
}

/** updateChains' argument as chains of ours, each rendered by `forHost`. */
export function acceptChains(s: InputScope, chains: readonly (Chain | ChainSpec)[], forHost: (chain: Chain) => Chain): Chain[] {
  if (!Array.isArray(chains)) throw new InvalidRuleError('updateChains', chains, 'expected an array of chains');
  // (Array.from: a hole in a sparse array is a missing chain, not something to skip.)
  return Array.from(chains, (c: Chain | ChainSpec) => {
    const chain = Chain.from(c);
    if (KERNEL_CHAINS[s.table].includes(chain.name)) {
      throw new InvalidRuleError('updateChain', chain.name, `is a kernel chain of table ${s.table}; use setRuleInsertions`);
    }
    if (chain.name === s.canaryChain) throw new InvalidRuleError('updateChain', chain.name, 'is the canary chain (canaryChain): the Table keeps it itself');
    const where = `updateChain(${chain.name})`;
    // A deferred chain's rules are checked as they are made (Chain.deferred: in the plan).
    if (chain.isDeferred) return forHost(chain.mapRules((rule) => (rule.checkIpVersion(s.ipVersion, where), rule)));
    for (const rule of chain.rules) rule.checkIpVersion(s.ipVersion, where);
    return forHost(chain);
  });
}

/** removeChains' argument as the names of chains that may be removed. */
export function removableNames(s: InputScope, chains: readonly (Chain | ChainSpec)[]): string[] {
  if (!Array.isArray(chains)) throw new InvalidRuleError('removeChains', chains, 'expected an array of chains');
  return Array.from(chains, (c: Chain | ChainSpec) => removableName(s, 'removeChains', (c as ChainSpec | undefined)?.name));
}

/** A valid chain name that is neither a kernel chain nor the canary's. */
export function removableName(s: InputScope, where: string, name: unknown): string {
  const valid = chainName(where, name);
  if (valid === s.canaryChain) throw new InvalidRuleError(where, valid, 'is the canary chain (canaryChain): it goes when the canary is turned off');
  if (KERNEL_CHAINS[s.table].includes(valid)) {
    throw new InvalidRuleError(where, valid, `is a kernel chain of table ${s.table}: it cannot be removed; setRuleInsertions(${JSON.stringify(valid)}, []) removes our inserts`);
  }
  return valid;
}

/** The chain name of setRuleInsertions, appendRules or checkRulesPresent, once its rules are an array. */
export function ruleTarget(where: string, chainName: string, rules: readonly (Rule | RuleSpec)[]): string {
  const name = new Chain({ name: chainName, rules: [] }).name; // validates the name
  if (!Array.isArray(rules)) throw new InvalidRuleError(where, rules, 'expected an array of rules');
  return name;
}

/** Rules for `where(name)`, each for this IP version and rendered by `forHost`. */
export function acceptRules(s: InputScope, where: string, name: string, rules: readonly (Rule | RuleSpec)[], forHost: (rule: Rule) => Rule): Rule[] {
  return Array.from(rules, (r: Rule | RuleSpec) => {
    const rule = Rule.from(r);
    rule.checkIpVersion(s.ipVersion, `${where}(${name})`);
    return forHost(rule);
  });
}
