// Rule IDs (SPEC section 3): h = SHA-224(chain name); per rule h = SHA-224(h ‖ rule rendered
// with the "HASH" prefix); ID = first 16 characters of unpadded base64url(h). Chaining makes an
// ID depend on every rule before it, so any change shows up as differing IDs from there on.
//
// Two twins compute it: a batched native one (one N-API call per chain, the addon's own SHA-224 in C++)
// and this TypeScript one. They must agree; test/hash.test.ts proves it.
import * as crypto from 'node:crypto';
import { chainRuleHashes as nativeChainRuleHashes } from './native';

/** The length of a rule ID in characters (a prefix of the unpadded base64url SHA-224). */
export const HASH_LENGTH = 16;
const SHA224_BYTES = 28;

/** What hashing needs of a rule: the text after "-A <chain> HASH ". */
export interface HashableRule {
  readonly body: string;
}

/** The line that is hashed for a rule: renderAppend(chain, "HASH"). */
export function hashInput(chainName: string, rule: HashableRule): string {
  return rule.body === '' ? `-A ${chainName} HASH` : `-A ${chainName} HASH ${rule.body}`;
}

/** Rule IDs of a chain, through the native batch when the addon is loaded. */
export function ruleHashesFor(chainName: string, rules: readonly HashableRule[]): string[] {
  if (rules.length === 0) return [];
  const lines = rules.map((r) => hashInput(chainName, r));
  // Rules never contain a newline (validated), so one joined string carries the batch.
  return nativeChainRuleHashes(chainName, lines.join('\n'), lines.length) ?? ruleHashesTs(chainName, lines);
}

type OneShotHash = (algorithm: string, data: Buffer, outputEncoding: 'buffer') => Buffer;
// crypto.hash (Node ≥ 20.12) skips the Hash object per rule; fall back to createHash before it.
const oneShot: OneShotHash | undefined = (crypto as unknown as { hash?: OneShotHash }).hash;

/** The pure TypeScript twin: same result as the native batch, from the hash input lines. */
export function ruleHashesTs(chainName: string, lines: readonly string[]): string[] {
  const ids = new Array<string>(lines.length);
  let scratch = Buffer.allocUnsafe(1024);
  let h: Buffer = crypto.createHash('sha224').update(chainName, 'utf8').digest();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const need = SHA224_BYTES + Buffer.byteLength(line, 'utf8');
    if (need > scratch.length) scratch = Buffer.allocUnsafe(need * 2);
    h.copy(scratch, 0);
    scratch.write(line, SHA224_BYTES, 'utf8');
    const input = scratch.subarray(0, need);
    h = oneShot ? oneShot('sha224', input, 'buffer') : crypto.createHash('sha224').update(input).digest();
    ids[i] = h.toString('base64url').slice(0, HASH_LENGTH);
  }
  return ids;
}
