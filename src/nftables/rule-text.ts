// A rule's text as the nftables backend writes it: the renderer's matches, then `counter` (so it
// counts the packets the rule matches, as iptables' counters do), then the final statement.
import type { Rule } from '../rule';
import type { TableName } from '../table-names';
import type { NftRuleRenderer } from './dataplane';
import { renderNftRuleParts, type NftFamily, type NftRenderContext } from './render';

/** The renderer of a Table's rules: chain names stay as given (our nft chains are named as the
 *  Table's chains; the renderer refuses a name nft cannot take).
 *  @throws {@link InvalidRuleError} (from the returned function) as renderNftRule does. */
export function nftRuleRenderer(family: NftFamily, table: TableName): NftRuleRenderer {
  const ctx: NftRenderContext = { family, table, chainName: (name) => name };
  return (rule: Rule): string => {
    const { matches, statement } = renderNftRuleParts(rule, ctx);
    return matches === '' ? `counter ${statement}` : `${matches} counter ${statement}`;
  };
}
