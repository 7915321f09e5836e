// How rules-file problems are reported: file:line:column, the path in the document, a message
// with long quoted values cut, and the source line with a caret.
import { IptablesSyncError, MAX_QUOTED_CHARACTERS } from '../errors';
import type { ReadProblem } from './read';

/** Quoted values in messages are cut to this many characters, as the library's are. */
export const MAX_QUOTED = MAX_QUOTED_CHARACTERS;
/** A file with more problems than this reports the first ones only. */
export const MAX_ISSUES = 50;

/** One problem found in a rules file. */
export interface ConfigIssue {
  /** The file name as given. */
  readonly file: string;
  /** 1-based; absent when the file could not be read at all. */
  readonly line?: number;
  /** 1-based; absent when the file could not be read at all. */
  readonly column?: number;
  /** Where in the document, e.g. tables.filter.chains.ipts-web[0].match.destPorts */
  readonly path: string;
  /** What is wrong, naming the bad value. */
  readonly message: string;
  /** The offending source line and a caret under the column. */
  readonly snippet?: string;
}


/** The rules file is unreadable or invalid. `issues` lists every problem found, in file order. */
export class ConfigError extends IptablesSyncError {
  /** The file of the first issue. */
  readonly file: string;
  /** The line of the first issue, when known. */
  readonly line: number | undefined;
  /** The column of the first issue, when known. */
  readonly column: number | undefined;
  constructor(
    /** Every problem found (up to 50), in file order. */
    readonly issues: readonly ConfigIssue[],
    /** How many more problems the file has than `issues` reports (0: all are reported). */
    readonly omitted = 0,
  ) {
    super([...issues.map(formatIssue), ...omittedLine(issues, omitted)].join('\n'));
    const first = issues[0];
    this.file = first?.file ?? '';
    this.line = first?.line;
    this.column = first?.column;
  }

  /** The message with each issue's source line and caret, for a terminal. */
  detailed(): string {
    return [...this.issues.map((i) => (i.snippet ? `${formatIssue(i)}\n${i.snippet}` : formatIssue(i))), ...omittedLine(this.issues, this.omitted)].join('\n');
  }
}

/**
 * A rule of a chain whose rules were deferred (the CLI's apply: see WalkOptions.deferLargestTable)
 * has a problem, found when a Table first used them: in its plan, before its COMMIT, so that
 * apply wrote nothing. {@link DeferredRulesError.problems} says where, reading the file's text
 * again with positions.
 */
export class DeferredRulesError extends IptablesSyncError {
  constructor(
    /** The chain whose rules have the problem. */
    readonly chain: string,
    private readonly reread: () => ConfigError,
  ) {
    super(`chain ${chain} of the rules file has a problem in its rules (found as they were made, before anything was committed)`);
  }

  /** Every problem of the file, each where it was written. */
  problems(): ConfigError {
    return this.reread();
  }
}

/** The closing line of a report that was cut: a file with the wrong prefix has a problem per
 *  chain, and "50 problems" must not read as the whole story. */
function omittedLine(issues: readonly ConfigIssue[], omitted: number): string[] {
  if (omitted <= 0) return [];
  const file = issues[0]?.file ?? 'the rules file';
  return [`${file}: ${omitted.toLocaleString('en-US')} more problem${omitted === 1 ? '' : 's'} not shown (only the first ${issues.length} are reported)`];
}

function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}:${issue.column ?? 1}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** The rules file was not read: not a regular file (nor "-"), over the size limit, not UTF-8,
 *  or unreadable. Thrown before anything is parsed. */
export class UnreadableRulesFileError extends ConfigError {
  /** Why: `'not-a-file'`, `'too-large'`, `'io'` or `'invalid-utf8'`. */
  readonly reason: ReadProblem['reason'];
  constructor(file: string, problem: ReadProblem) {
    super([{ file, path: '', message: problem.message, ...(problem.reason === 'invalid-utf8' ? { line: problem.line, column: problem.column } : {}) }]);
    this.reason = problem.reason;
  }
}

/** The source line with a caret under the column; a long line is shown as a window around it. */
export function snippetOf(line: number, source: string, col: number): string {
  const WIDTH = 120;
  let start = 0;
  let shown = source;
  if (source.length > WIDTH) {
    start = Math.max(0, Math.min(col - 1 - WIDTH / 2, source.length - WIDTH));
    shown = `${start > 0 ? '…' : ''}${source.slice(start, start + WIDTH)}${start + WIDTH < source.length ? '…' : ''}`;
  }
  const caret = col - 1 - start + (start > 0 ? 1 : 0);
  return `${String(line).padStart(5)} | ${shown}\n${' '.repeat(5)} | ${' '.repeat(Math.max(0, caret))}^`;
}

/** Text cut to `max` characters, saying how long it was. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** Every "quoted" value in a message cut to MAX_QUOTED characters, as describe() cuts the
 *  library's: a 10 MB key or comment must not come back in full. (A loop, not a regex: V8's
 *  backtracking overflows its stack on a 10 MB quoted run.) */
export function clipQuoted(message: string): string {
  if (message.length <= MAX_QUOTED * 2) return message;
  let out = '';
  let i = 0;
  for (;;) {
    const open = message.indexOf('"', i);
    let close = open + 1;
    while (open >= 0 && close < message.length && message[close] !== '"') close += message[close] === '\\' ? 2 : 1;
    if (open < 0 || close >= message.length) return out + message.slice(i);
    const content = message.slice(open + 1, close);
    let head = content;
    if (content.length > MAX_QUOTED) {
      head = content.slice(0, MAX_QUOTED);
      // Cut before a half escape, so the closing quote stays a quote.
      if ((/\\*$/.exec(head)?.[0].length ?? 0) % 2 === 1) head = head.slice(0, -1);
    }
    out += `${message.slice(i, open)}"${head}"${content.length > MAX_QUOTED ? `… (${content.length} characters)` : ''}`;
    i = close + 1;
  }
}
