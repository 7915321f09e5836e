// onlyReferencedChains: which desired chains get written. A chain is written while an insert or
// an append jumps or goes to it, while a written chain does, or while it is force-programmed
// (as latest Felix does, though Felix counts references where we walk from the roots: a cycle no
// root reaches is not written, and iptables would refuse a loop anyway).
import { GotoAction, JumpAction } from './actions';
import type { Chain, Rule } from './rule';

/** The chain a rule jumps or goes to, if any. */
export function referencedChain(rule: Rule): string | undefined {
  const action = rule.action;
  return action instanceof JumpAction || action instanceof GotoAction ? action.target : undefined;
}

/** The desired chains reachable from the roots (insert and append rules) or force-programmed. */
export function referencedChains(
  desired: ReadonlyMap<string, Chain>,
  rootRules: Iterable<readonly Rule[]>,
): Map<string, Chain> {
  const written = new Map<string, Chain>();
  const pending: string[] = [];
  const visit = (rules: readonly Rule[]): void => {
    for (const rule of rules) {
      const target = referencedChain(rule);
      if (target !== undefined && !written.has(target) && desired.has(target)) {
        written.set(target, desired.get(target) as Chain);
        pending.push(target);
      }
    }
  };
  for (const rules of rootRules) visit(rules);
  for (const [name, chain] of desired) {
    if (chain.forceProgramming && !written.has(name)) {
      written.set(name, chain);
      pending.push(name);
    }
  }
  while (pending.length > 0) visit((written.get(pending.pop() as string) as Chain).rules);
  return written;
}
