// A rule's text as the nftables backend writes it: the renderer's match statements, then
// `counter` (so it counts the packets the rule matches, before any verdict), then the action's.
import type { Rule } from '../rule';
import { saveLineTokens } from '../save-line';
import type { TableName } from '../table-names';
import type { NftRuleRenderer } from './dataplane';
import type { NftFamily, NftRenderContext } from './render';
import { renderNftAction } from './render-action';
import { renderNftMatch } from './render-match';

/** The renderer of a Table's rules: chain names stay as given (our nft chains are named as the
 *  Table's chains; the renderer refuses a name nft cannot take).
 *  @throws {@link InvalidRuleError} (from the returned function) as renderNftRule does. */
export function nftRuleRenderer(family: NftFamily, table: TableName): NftRuleRenderer {
  const ctx: NftRenderContext = { family, table, chainName: (name) => name };
  return (rule: Rule): string => {
    // renderNftRule's two halves, with the counter between them.
    const { statements, protocol } = renderNftMatch(saveLineTokens(rule.match.render()), ctx);
    const fragment = rule.features === undefined ? rule.action.toFragment() : rule.action.toFragment(rule.features);
    statements.push('counter', ...renderNftAction(fragment, protocol, ctx));
    return statements.join(' ');
  };
}
