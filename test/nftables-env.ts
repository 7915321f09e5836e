// Shared set-up of the nftables backend tests: an engine wired to a namespace, a stand-in rule
// renderer for the few matches and actions these tests use, and an independent reading of
// `nft -a list table` (plain regexes, not the library's scanner).
import { AcceptAction, DropAction, GotoAction, JumpAction, ReturnAction } from '../src/actions';
import { inNetns } from '../src/commands';
import { SILENT_LOGGER } from '../src/logger';
import { NftablesDataplane, type NftEngineOptions, type NftRuleRenderer } from '../src/nftables/dataplane';
import { familyOf } from '../src/nftables/table-spec';
import type { Rule } from '../src/rule';
import type { TableName } from '../src/table-names';
import type { Netns } from './helpers/netns';

/** Renders the handful of rules the engine tests use (the real renderer has its own tests). */
export const stubRender: NftRuleRenderer = (rule: Rule): string => {
  const match = rule.match.render();
  let nftMatch = '';
  const port = /^-p (tcp|udp) (?:--dport|-m multiport --destination-ports) (\d+)$/.exec(match);
  const source = /^(?:-s|--source) (\S+)$/.exec(match);
  if (port) nftMatch = `${port[1]} dport ${port[2]} `;
  else if (source) nftMatch = `${(source[1] as string).includes(':') ? 'ip6' : 'ip'} saddr ${source[1]} `;
  else if (match !== '') throw new Error(`stub renderer: no nft text for ${match}`);
  const a = rule.action;
  const action =
    a instanceof AcceptAction ? 'accept'
    : a instanceof DropAction ? 'drop'
    : a instanceof ReturnAction ? 'return'
    : a instanceof JumpAction ? `jump ${a.target}`
    : a instanceof GotoAction ? `goto ${a.target}`
    : undefined;
  if (action === undefined) throw new Error(`stub renderer: no nft text for ${a.toFragment()}`);
  return `${nftMatch}counter ${action}`;
};

export function makeEngine(ns: Netns, o: Partial<NftEngineOptions> & { tableName?: TableName; ipVersion?: 4 | 6 } = {}): NftablesDataplane {
  const tableName = o.tableName ?? 'filter';
  return new NftablesDataplane({
    tableName,
    family: familyOf(o.ipVersion ?? 4),
    nftTable: `ipts-${tableName}`,
    hashPrefix: 'ipts:',
    render: stubRender,
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
