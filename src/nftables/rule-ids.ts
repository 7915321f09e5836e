// Rule identity on the nftables backend: one ID per rule, from the rule's own nft text and how
// many identical rules come before it in its chain. Unlike Felix's chained IDs (each hashed
// over every rule before it), a change to one rule changes that rule's ID only, and nftables
// handles let the write touch that rule only: a one-rule change is one `replace rule`.
import * as crypto from 'node:crypto';
import { InvalidRuleError } from '../errors';
import { RULE_ID_LENGTH } from '../save-line';
import { NFT_MAX_COMMENT_BYTES } from './nft-names';

type OneShotHash = (algorithm: string, data: string, outputEncoding: 'base64url') => string;
// crypto.hash (Node >= 20.12) skips the Hash object per rule; createHash before it.
const oneShot: OneShotHash | undefined = (crypto as unknown as { hash?: OneShotHash }).hash;

function idOf(input: string): string {
  const digest = oneShot ? oneShot('sha224', input, 'base64url') : crypto.createHash('sha224').update(input, 'utf8').digest('base64url');
  return digest.slice(0, RULE_ID_LENGTH);
}

/** The IDs of a chain's rules, given their nft texts (statements with the counter, without the
 *  comment): SHA-224 of the text and its occurrence number among equal texts before it, the
 *  first 16 characters of its unpadded base64url. */
export function nftRuleIds(texts: readonly string[]): string[] {
  const seen = new Map<string, number>();
  const ids = new Array<string>(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i] as string;
    const n = seen.get(text) ?? 0;
    seen.set(text, n + 1);
    // A newline never occurs in a rule's text (one command per line), so it separates safely.
    ids[i] = idOf(`${text}\n${n}`);
  }
  return ids;
}

/** The comment a rule of ours carries: the hash prefix and the ID, then the rule's own comment
 *  (nft keeps one comment per rule, where iptables had two comment matches).
 *  @throws {@link InvalidRuleError} when the whole does not fit nft's 128 bytes. */
export function nftComment(hashPrefix: string, id: string, ownComment: string, chain: string): string {
  const comment = ownComment === '' ? `${hashPrefix}${id}` : `${hashPrefix}${id} ${ownComment}`;
  const bytes = Buffer.byteLength(comment, 'utf8');
  if (bytes > NFT_MAX_COMMENT_BYTES) {
    throw new InvalidRuleError(
      `nftables chain ${chain}`,
      ownComment,
      `the rule ID comment (hash prefix + ${RULE_ID_LENGTH} characters) and the rule's comment must fit nft's ${NFT_MAX_COMMENT_BYTES}-byte comment; this one has ${bytes} bytes on backend nftables`,
    );
  }
  return comment;
}
