// Loads rendered nft rule bodies into a throwaway table of a real namespace, each in its own
// regular chain that a base chain of the iptables table's kind jumps to (so nft checks the
// statements against a real hook and chain type), and finds each rule back in `nft -a list
// table`. Used by the nftables renderer's tests.
import type { TableName } from '../../src/table-names';
import type { Netns } from './netns';

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

const TABLE_HOOKS: Readonly<Record<TableName, readonly Hook[]>> = {
  filter: ['forward', 'input', 'output'],
  nat: ['prerouting', 'postrouting', 'output', 'input'],
  mangle: ['forward', 'prerouting', 'postrouting', 'input', 'output'],
  raw: ['prerouting', 'output'],
};

// The hooks nft (the kernel's validate callbacks) allows some statements in.
const STATEMENT_HOOKS: readonly (readonly [RegExp, readonly Hook[]])[] = [
  [/\bdnat to\b/, ['prerouting', 'output']],
  [/\bsnat to\b/, ['postrouting', 'input']],
  [/\bmasquerade\b/, ['postrouting']],
  [/\. oif type\b/, ['output', 'postrouting', 'forward']],
  [/\biif oif\b/, ['prerouting', 'input', 'forward']],
  [/\breject\b/, ['input', 'forward', 'output']],
  [/\bnotrack\b/, ['prerouting', 'output']],
];

/** The first hook of the iptables table whose base chain may hold the statements, if any. */
export function hookFor(table: TableName, body: string): Hook | undefined {
  return TABLE_HOOKS[table].find((hook) => STATEMENT_HOOKS.every(([pattern, hooks]) => !pattern.test(body) || hooks.includes(hook)));
}

// The iptables tables' priorities (NF_IP_PRI_*); nft takes the names only on some hooks.
const PRIORITY: Readonly<Record<TableName, (hook: Hook) => number>> = {
  filter: () => 0,
  nat: (hook) => (hook === 'prerouting' || hook === 'output' ? -100 : 100),
  mangle: () => -150,
  raw: () => -300,
};

function baseChain(table: TableName, hook: Hook, jumps: readonly string[]): string {
  const type = table === 'nat' ? 'nat' : table === 'mangle' && hook === 'output' ? 'route' : 'filter';
  return [`  chain base/${hook} {`, `    type ${type} hook ${hook} priority ${PRIORITY[table](hook)}; policy accept;`, ...jumps.map((j) => `    jump ${j}`), '  }'].join('\n');
}

export interface LoadedRule {
  /** The rule body as rendered. */
  readonly body: string;
  /** The hook whose base chain jumps to the rule's chain (undefined: not attached). */
  readonly hook: Hook | undefined;
}

/** The nft input: a fresh table `name` with the empty `extraChains`, one chain `r/<i>` per body
 *  holding `counter <body> comment "id<i>"` (as the nftables backend writes rules), and base
 *  chains jumping to each rule's chain where a hook allows its statements. */
export function nftInput(family: 'ip' | 'ip6', table: TableName, name: string, bodies: readonly string[], extraChains: readonly string[] = []): { input: string; rules: LoadedRule[] } {
  const rules = bodies.map((body) => ({ body, hook: hookFor(table, body) }));
  const lines = [`add table ${family} ${name}`, `delete table ${family} ${name}`, `table ${family} ${name} {`];
  for (const chain of new Set(extraChains)) lines.push(`  chain ${chain} {`, '  }');
  rules.forEach((r, i) => lines.push(`  chain r/${i} {`, `    counter ${r.body} comment "id${i}"`, '  }'));
  for (const hook of TABLE_HOOKS[table]) {
    const jumps = rules.flatMap((r, i) => (r.hook === hook ? [`r/${i}`] : []));
    if (jumps.length > 0) lines.push(baseChain(table, hook, jumps));
  }
  lines.push('}', '');
  return { input: lines.join('\n'), rules };
}

/** The rule lines of each chain in `nft -a list table` output, by chain name. */
export function listedRules(listing: string): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const chain = /^chain (\S+) \{/.exec(line);
    if (chain) {
      current = [];
      chains.set(chain[1] as string, current);
    } else if (line === '}') current = undefined;
    else if (current && line !== '' && !/^type .* hook /.test(line)) current.push(line);
  }
  return chains;
}

/** Loads the bodies with `nft -f -` and returns the listed rule of each one's chain (throws
 *  with nft's stderr and the input when nft refuses). */
export async function loadAndList(ns: Netns, family: 'ip' | 'ip6', table: TableName, bodies: readonly string[], extraChains: readonly string[] = []): Promise<{ listed: (string | undefined)[][]; rules: LoadedRule[]; listing: string }> {
  const name = 'ipts-render-t';
  const { input, rules } = nftInput(family, table, name, bodies, extraChains);
  const res = await ns.exec('nft', ['-f', '-'], input);
  if (res.code !== 0) throw new Error(`nft -f refused the input:\n${res.stderr}\n--- input ---\n${input}`);
  const listing = await ns.execOk('nft', ['-a', 'list', 'table', family, name]);
  const chains = listedRules(listing);
  return { listed: rules.map((_r, i) => chains.get(`r/${i}`) ?? [undefined]), rules, listing };
}
