// The reference workload of /work/shared/bench-workload.md, exactly: N chains of 10 rules
// ("cali-bench-" + 5-digit index) forming a binary tree of jumps rooted at chain 0, one insert in
// FORWARD (insert mode), and the phase (b) change of rule 3 in chain floor(N/2).
import type { Chain, Rule, RuleSpec } from '../src/rule';
import { lib } from './lib';

const { Match, Rule: RuleClass, Chain: ChainClass } = lib;
const MARK = 0x10;

export const chainName = (i: number): string => `cali-bench-${String(i).padStart(5, '0')}`;

/** The match/action objects of chain i of N (the caller's side of building a rule); `changed`
 *  applies the phase (b) change to rule 3. */
export function ruleSpecs(i: number, n: number, changed = false): RuleSpec[] {
  const a = Math.floor(i / 256) % 256;
  const b = i % 256;
  const accept = new lib.AcceptAction();
  const left = 2 * i + 1;
  const right = 2 * i + 2;
  return [
    { match: Match().conntrackState('RELATED,ESTABLISHED'), action: accept },
    { match: Match().conntrackState('INVALID'), action: new lib.DropAction() },
    { action: new lib.ClearMarkAction({ mark: MARK }) },
    {
      match: Match()
        .protocol('tcp')
        .sourceNet(`10.${a}.${b}.0/24`)
        .destPorts(80, 443, changed ? 9999 : 8000 + (i % 1000)),
      action: new lib.SetMarkAction({ mark: MARK }),
    },
    {
      match: Match().protocol('udp').destNet(`10.${a}.${b}.1/32`).destPorts(53),
      action: new lib.SetMarkAction({ mark: MARK }),
    },
    { match: Match().markSingleBitSet(MARK), action: new lib.ReturnAction(), comment: 'Return if policy accepted' },
    {
      match: Match().inInterface('cali+').notSourceNet('192.168.0.0/16'),
      action: left < n ? new lib.JumpAction({ target: chainName(left) }) : accept,
    },
    {
      match: Match()
        .outInterface('cali+')
        .protocol('tcp')
        .destPortRanges([
          { first: 1000, last: 2000 },
          { first: 3000, last: 3000 },
        ]),
      action: right < n ? new lib.JumpAction({ target: chainName(right) }) : accept,
    },
    {
      match: Match().markClear(MARK).destNet(`10.${a}.0.0/16`),
      action: new lib.DropAction(),
      comment: 'Drop if no policies passed packet',
    },
    { action: new lib.ReturnAction() },
  ];
}

/** Rules of chain i of N: new Rule(spec) renders each rule's text once. */
export function chainRules(i: number, n: number, changed = false): Rule[] {
  return ruleSpecs(i, n, changed).map((spec) => new RuleClass(spec));
}

export function buildChain(i: number, n: number, changed = false): Chain {
  return new ChainClass({ name: chainName(i), rules: chainRules(i, n, changed) });
}

/** All N chains, i ascending (the order of the UpdateChain calls). */
export function buildChains(n: number): Chain[] {
  const chains = new Array<Chain>(n);
  for (let i = 0; i < n; i++) chains[i] = buildChain(i, n);
  return chains;
}

/** The kernel-chain hook: FORWARD gets one insert jumping to the root of the tree. */
export const INSERT_CHAIN = 'FORWARD';
export function forwardInserts(): Rule[] {
  return [new RuleClass({ match: Match().inInterface('cali+'), action: new lib.JumpAction({ target: chainName(0) }) })];
}

/** The chain phase (b) re-sends, and the chain the repair phase's "other process" edits. */
export const changedChainIndex = (n: number): number => Math.floor(n / 2);
export const externallyEditedChainIndex = (n: number): number => Math.floor(n / 4);
/** The 1-based rule number `iptables -D` removes in the repair phase: the clear-mark rule
 *  (index 2), so 7 `-R` and 1 `-A` re-write positions 3–10 of that chain (chained IDs). */
export const EXTERNALLY_DELETED_RULE_NUM = 3;

/** Table options of the reference run (Felix's configuration in bench-workload.md). */
export const HASH_PREFIX = 'cali:';
export const HISTORIC_PREFIXES = ['cali-'];
