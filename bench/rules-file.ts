// The reference workload (bench/workload.ts) as a rules file for the CLI, in JSON and in YAML
// (block style, as a person writes one), built as text line by line so that generating 100k
// rules costs the benchmark little memory.
import { chainName, INSERT_CHAIN } from './workload';

/** Options the CLI needs to treat the file as the library bench's Table does. */
export const CLI_PREFIX_ARGS = ['--prefix', 'cali:', '--chain-prefix', 'cali-', '--insert-mode', 'insert'] as const;

/** One rule of the rules file (the schema's match/action/comment object). */
export type FileRule = { readonly match?: Record<string, unknown>; readonly action: unknown; readonly comment?: string };

/** Chain i of n as rules-file rules (bench-workload.md, rules 0–9). */
export function fileRules(i: number, n: number): FileRule[] {
  const a = Math.floor(i / 256) % 256;
  const b = i % 256;
  const left = 2 * i + 1;
  const right = 2 * i + 2;
  return [
    { match: { conntrackState: 'RELATED,ESTABLISHED' }, action: 'accept' },
    { match: { conntrackState: 'INVALID' }, action: 'drop' },
    { action: { clearMark: 16 } },
    { match: { protocol: 'tcp', sourceNet: `10.${a}.${b}.0/24`, destPorts: [80, 443, 8000 + (i % 1000)] }, action: { setMark: 16 } },
    { match: { protocol: 'udp', destNet: `10.${a}.${b}.1/32`, destPorts: [53] }, action: { setMark: 16 } },
    { match: { markSingleBitSet: 16 }, action: 'return', comment: 'Return if policy accepted' },
    { match: { inInterface: 'cali+', notSourceNet: '192.168.0.0/16' }, action: left < n ? { jump: chainName(left) } : 'accept' },
    {
      match: { outInterface: 'cali+', protocol: 'tcp', destPortRanges: [{ first: 1000, last: 2000 }, { first: 3000, last: 3000 }] },
      action: right < n ? { jump: chainName(right) } : 'accept',
    },
    { match: { markClear: 16, destNet: `10.${a}.0.0/16` }, action: 'drop', comment: 'Drop if no policies passed packet' },
    { action: 'return' },
  ];
}

const INSERT: FileRule = { match: { inInterface: 'cali+' }, action: { jump: chainName(0) } };

/** The whole workload of `rules` rules (rules/10 chains) as JSON text. */
export function workloadJson(rules: number): string {
  const n = rules / 10;
  const parts: string[] = ['{"tables":{"filter":{"chains":{'];
  for (let i = 0; i < n; i++) parts.push(`${i ? ',' : ''}\n${JSON.stringify(chainName(i))}:${JSON.stringify(fileRules(i, n))}`);
  parts.push(`\n},"insert":{${JSON.stringify(INSERT_CHAIN)}:[${JSON.stringify(INSERT)}]}}}}\n`);
  return parts.join('');
}

/** A YAML flow value for a plain JSON value (JSON is valid YAML flow syntax; keys unquoted). */
function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${flow(x)}`).join(', ')} }`;
  return typeof v === 'string' && /^[A-Za-z][\w-]*$/.test(v) ? v : JSON.stringify(v);
}

function yamlRule(r: FileRule, indent: string): string {
  const lines: string[] = [];
  const keys = (['match', 'action', 'comment'] as const).filter((k) => r[k] !== undefined);
  keys.forEach((k, j) => lines.push(`${indent}${j === 0 ? '- ' : '  '}${k}: ${flow(r[k])}`));
  return lines.join('\n');
}

/** The same workload as block-style YAML (chains and rule lists in block style, each match and
 *  action as a flow mapping, as in examples/). */
export function workloadYaml(rules: number): string {
  const n = rules / 10;
  const parts: string[] = ['tables:\n  filter:\n    chains:\n'];
  for (let i = 0; i < n; i++) {
    parts.push(`      ${chainName(i)}:\n`);
    for (const r of fileRules(i, n)) parts.push(`${yamlRule(r, '        ')}\n`);
  }
  parts.push(`    insert:\n      ${INSERT_CHAIN}:\n${yamlRule(INSERT, '        ')}\n`);
  return parts.join('');
}
