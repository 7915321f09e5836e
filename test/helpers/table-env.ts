// Shared set-up for Table tests on real iptables: a Table wired to a namespace and a recorder,
// and an independent reading of iptables-save (plain regexes, not the library's reader).
import { Table, type TableName, type TableOptions } from '../../src/table';
import type { Backend, Netns } from './netns';
import { recordingFactory, type Recorder } from './recording';

export const NO_LOCK = { lock: (): void => undefined, unlock: (): void => undefined };

export function makeTable(
  ns: Netns,
  backend: Backend,
  options: TableOptions = {},
  name: TableName = 'filter',
  ipVersion: 4 | 6 = 4,
): { table: Table; rec: Recorder } {
  const rec = recordingFactory();
  const table = new Table(name, ipVersion, 'cali:', NO_LOCK, {
    netns: ns.name,
    backend,
    historicChainPrefixes: ['cali-'],
    commandFactory: rec.factory,
    ...options,
  });
  return { table, rec };
}

/** Per chain, the rule IDs found in `--comment "cali:ID"` (or unquoted), "" for other rules. */
export function idsByChain(dump: string, prefix = 'cali:'): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  for (const line of dump.split('\n')) {
    const decl = /^:(\S+)/.exec(line);
    if (decl) {
      chains.set(decl[1] as string, []);
      continue;
    }
    const rule = /^-A (\S+)/.exec(line);
    if (!rule) continue;
    const id = new RegExp(`--comment "?${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([A-Za-z0-9_-]+)`).exec(line);
    const list = chains.get(rule[1] as string) ?? [];
    list.push(id ? (id[1] as string) : '');
    chains.set(rule[1] as string, list);
  }
  return chains;
}

/** The body lines (between "*table" and "COMMIT") of a restore input. */
export function bodyLines(input: string): string[] {
  return input.split('\n').filter((l) => l !== '' && !l.startsWith('*') && l !== 'COMMIT');
}
