// Rule IDs (SPEC section 3): h = SHA-224(chain name); per rule h = SHA-224(h ‖ rule rendered
// with the "HASH" prefix); ID = first 16 characters of unpadded base64url(h). Chaining makes an
// ID depend on every rule before it, so any change shows up as differing IDs from there on.
//
// Two twins compute it: a batched native one (one N-API call for many chains, from the rule
// bodies, with the addon's own SHA-224 in C++) and this TypeScript one. They must agree;
// test/hash.test.ts and test/native-hash-batch.test.ts prove it.
import * as crypto from 'node:crypto';
import { hashChainBodies } from './native';

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

/** What the batch hashes: a chain's name and its rules, in order. */
export interface HashableChain {
  readonly name: string;
  readonly rules: readonly HashableRule[];
}

/** IDs computed by primeRuleIds and not yet taken, by the rules array they are for. */
const primed = new WeakMap<readonly HashableRule[], { readonly name: string; readonly ids: string[] }>();

/** Rule IDs of a chain, through the native batch when the addon is loaded (or as primed). */
export function ruleHashesFor(chainName: string, rules: readonly HashableRule[]): string[] {
  if (rules.length === 0) return [];
  const ready = primed.get(rules);
  if (ready !== undefined && ready.name === chainName) {
    primed.delete(rules); // the caller (Chain.ruleIds) keeps them from here on
    return ready.ids;
  }
  return ruleIdsOfChains([{ name: chainName, rules }])[0] as string[];
}

/**
 * Computes the IDs of many chains in one native call and holds them until ruleHashesFor is
 * next asked for the same rules array (Chain.ruleIds caches them then): the plan hashes a whole
 * batch of dirty chains at once instead of one call per chain.
 */
export function primeRuleIds(chains: readonly HashableChain[]): void {
  const all = ruleIdsOfChains(chains);
  chains.forEach((chain, c) => {
    if (chain.rules.length > 0) primed.set(chain.rules, { name: chain.name, ids: all[c] as string[] });
  });
}

/** Rule IDs of many chains, each seeded by its own name: one native call for all (rules never
 *  contain a newline, validated, so joined strings carry the batch), else the TypeScript twin. */
export function ruleIdsOfChains(chains: readonly HashableChain[]): string[][] {
  let total = 0;
  for (const chain of chains) total += chain.rules.length;
  if (total === 0) return chains.map(() => []);
  const counts = new Uint32Array(chains.length);
  const bodies = new Array<string>(total);
  let k = 0;
  chains.forEach((chain, c) => {
    counts[c] = chain.rules.length;
    for (const rule of chain.rules) bodies[k++] = rule.body;
  });
  const joined = hashChainBodies(chains.map((c) => c.name).join('\n'), counts, bodies.join('\n'));
  if (joined === undefined) return ruleIdsOfChainsTs(chains);
  let at = 0;
  return chains.map((chain) => {
    const ids = new Array<string>(chain.rules.length);
    for (let i = 0; i < ids.length; i++, at += HASH_LENGTH) ids[i] = joined.substring(at, at + HASH_LENGTH);
    return ids;
  });
}

/** The TypeScript twin of ruleIdsOfChains. */
export function ruleIdsOfChainsTs(chains: readonly HashableChain[]): string[][] {
  return chains.map((chain) => ruleHashesTs(chain.name, chain.rules.map((r) => hashInput(chain.name, r))));
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
