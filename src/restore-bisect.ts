// When iptables-restore only blames COMMIT (legacy: "line N failed", the kernel refused the new
// table and said no more), find the rule at fault: replay ever shorter prefixes of the
// transaction, on a copy of the table as it is now, in a throwaway network namespace (same
// kernel, so the same verdict; nothing is written to the real one), and bisect for the first
// prefix the kernel refuses. A failure the copy does not reproduce is left to the retries.
import { randomBytes } from 'node:crypto';
import { inNetns, runCommand, succeeded } from './commands';
import type { ReplaySite } from './replay-site';

export interface BisectTarget extends ReplaySite {
  /** The whole failed input, `*table` … `COMMIT`. */
  readonly input: string;
  readonly timeoutMs: number;
}

export interface RefusedRule {
  /** 1-based line of the failed input. */
  readonly number: number;
  readonly text: string;
  /** Whether the copy refuses the line also without the rule lines before it. When it does not,
   *  no single rule is at fault: the kernel refuses what the lines make together (a jump loop,
   *  a table too big), from this line on. */
  readonly refusedAlone: boolean;
}

/** The first rule line of the input whose prefix the kernel refuses, or undefined when the copy
 *  takes the whole transaction (then the failure depended on something else) or no throwaway
 *  namespace can be made. */
export async function findRefusedRule(target: BisectTarget): Promise<RefusedRule | undefined> {
  const lines = target.input.split('\n');
  const bodyStart = 1; // line 0 is "*table"
  const bodyEnd = lines.lastIndexOf('COMMIT');
  if (lines[0] !== `*${target.table}` || bodyEnd <= bodyStart) return undefined;
  const body = lines.slice(bodyStart, bodyEnd);

  const dump = await runCommand(target.run, target.save, ['-t', target.table], '', target.timeoutMs);
  if (!succeeded(dump)) return undefined;
  const current = tableSection(dump.stdout, target.table);
  if (current === undefined) return undefined;
  const declared = new Set(current.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0] as string));
  // ipsets the rules may name: their definitions (not their members) go into the copy too.
  const sets = await runCommand(target.run, 'ipset', ['save'], '', target.timeoutMs);
  const setDefinitions = succeeded(sets) ? sets.stdout.split('\n').filter((l) => l.startsWith('create ')) : [];

  const name = `ipts-bisect-${process.pid}-${randomBytes(3).toString('hex')}`;
  const made = await runCommand(target.runOnHost, 'ip', ['netns', 'add', name], '', target.timeoutMs);
  if (!succeeded(made)) return undefined;
  try {
    const scratch = inNetns(name, target.runOnHost);
    if (setDefinitions.length > 0) await runCommand(scratch, 'ipset', ['restore'], `${setDefinitions.join('\n')}\n`, target.timeoutMs);
    // One flushing run per try: the copy, then the first k lines of ours. A chain the copy
    // declares already is flushed (-F) where ours declares it, as --noflush would.
    const refusesLines = async (lines: readonly string[]): Promise<boolean> => {
      const ours = lines.map((l) => {
        const chain = /^:(\S+) /.exec(l)?.[1];
        return chain !== undefined && declared.has(chain) ? `-F ${chain}` : l;
      });
      const text = [`*${target.table}`, ...current, ...ours, 'COMMIT', ''].join('\n');
      const res = await runCommand(scratch, target.restore, target.restoreArgs, text, target.timeoutMs);
      return !succeeded(res);
    };
    const refuses = (k: number): Promise<boolean> => refusesLines(body.slice(0, k));
    if (await refuses(0)) return undefined; // the copy itself does not load here: no verdict
    if (!(await refuses(body.length))) return undefined;
    let lo = 0; // refuses(lo) is false
    let hi = body.length; // refuses(hi) is true
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (await refuses(mid)) hi = mid;
      else lo = mid;
    }
    const text = body[hi - 1] as string;
    // The line with only the chain declarations before it: refused too, or only with the rest?
    const refusedAlone = text.startsWith(':') || (await refusesLines([...body.slice(0, hi - 1).filter((l) => l.startsWith(':')), text]));
    return { number: hi + bodyStart, text, refusedAlone };
  } finally {
    await runCommand(target.runOnHost, 'ip', ['netns', 'del', name], '', target.timeoutMs);
  }
}

/** The lines of one table in an iptables-save dump, between `*table` and `COMMIT`. */
function tableSection(dump: string, table: string): string[] | undefined {
  const lines = dump.split('\n');
  const start = lines.indexOf(`*${table}`);
  if (start < 0) return undefined;
  const end = lines.indexOf('COMMIT', start);
  if (end < 0) return undefined;
  return lines.slice(start + 1, end).filter((l) => !l.startsWith('#'));
}
