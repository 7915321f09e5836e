// Shared set-up of the nftables backend tests: an engine wired to a namespace, and an independent
// reading of `nft -a list table` (plain regexes, not the library's scanner).
import { inNetns } from '../src/commands';
import { SILENT_LOGGER } from '../src/logger';
import { NftablesDataplane, type NftEngineOptions } from '../src/nftables/dataplane';
import { nftRuleRenderer } from '../src/nftables/rule-text';
import { familyOf } from '../src/nftables/table-spec';
import type { TableName } from '../src/table-names';
import type { Netns } from './helpers/netns';

export function makeEngine(ns: Netns, o: Partial<NftEngineOptions> & { tableName?: TableName; ipVersion?: 4 | 6 } = {}): NftablesDataplane {
  const tableName = o.tableName ?? 'filter';
  const family = familyOf(o.ipVersion ?? 4);
  return new NftablesDataplane({
    tableName,
    family,
    nftTable: `ipts-${tableName}`,
    hashPrefix: 'ipts:',
    render: nftRuleRenderer(family, tableName),
    run: inNetns(ns.name),
    commandTimeoutMs: 30_000,
    lockTimeoutMs: 1_000,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: Date.now,
    logger: SILENT_LOGGER,
    ...o,
  });
}

/** One listed rule: its text (without counter values and handle), comment, handle, packets. */
export interface SeenRule {
  readonly text: string;
  readonly comment: string | undefined;
  readonly handle: number;
  readonly packets: number;
}

/** One listed chain. */
export interface SeenChain {
  declaration: string | undefined;
  readonly rules: SeenRule[];
}

/** `nft -a list table` read with plain regexes: per chain, its declaration and rules. */
export async function listTable(ns: Netns, family: string, table: string): Promise<Map<string, SeenChain> | undefined> {
  const res = await ns.exec('nft', ['-a', 'list', 'table', family, table]);
  if (res.code !== 0) {
    if (/No such file or directory/.test(res.stderr)) return undefined;
    throw new Error(`nft list failed: ${res.stderr}`);
  }
  return parseListing(res.stdout);
}

export function parseListing(text: string): Map<string, SeenChain> {
  const chains = new Map<string, SeenChain>();
  let current: SeenChain | undefined;
  for (const line of text.split('\n')) {
    const head = /^\tchain (\S+) \{/.exec(line);
    if (head) {
      current = { declaration: undefined, rules: [] };
      chains.set(head[1] as string, current);
      continue;
    }
    if (line === '\t}') {
      current = undefined;
      continue;
    }
    if (!current || !line.startsWith('\t\t')) continue;
    const body = line.trim();
    if (body.startsWith('type ')) {
      current.declaration = body;
      continue;
    }
    const m = /^(.*?)(?: comment "([^"]*)")? # handle (\d+)$/.exec(body);
    if (!m) continue;
    const packets = Number(/counter packets (\d+)/.exec(m[1] as string)?.[1] ?? -1);
    current.rules.push({ text: (m[1] as string).replace(/counter packets \d+ bytes \d+/, 'counter'), comment: m[2], handle: Number(m[3]), packets });
  }
  return chains;
}

/** The whole ruleset, as text (for "unchanged" checks of other tables). */
export async function ruleset(ns: Netns): Promise<string> {
  return ns.execOk('nft', ['list', 'ruleset']);
}

/** The text of one table out of `nft list ruleset`, or "" when absent. */
export function tableText(rulesetText: string, family: string, name: string): string {
  const start = rulesetText.indexOf(`table ${family} ${name} {`);
  if (start < 0) return '';
  const end = rulesetText.indexOf('\n}\n', start);
  return rulesetText.slice(start, end < 0 ? undefined : end + 3);
}
