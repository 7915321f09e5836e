// The report's number formats and its tables (markdown or aligned console text), shared by
// bench/report.ts and bench/profile-report.ts; and the `--name value` options of the scripts.

/** The value after `--name` on the command line, if given. */
export function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** 1000 → "1k", 100000 → "100k". */
export const k = (rules: number): string => (rules >= 1000 ? `${rules / 1000}k` : String(rules));

/** Milliseconds: no decimals from 100 up, one below; "-" for nothing. */
export const ms = (x: number | null): string => (x === null || !Number.isFinite(x) ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** A section heading. */
export const heading = (title: string, md: boolean): string => (md ? `\n### ${title}\n` : `\n== ${title} ==`);

/** A markdown table, or for the console one whose first three columns are left-aligned and the others right-aligned. */
export function table(header: string[], body: string[][], md: boolean): string {
  if (md) {
    const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
    return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}
