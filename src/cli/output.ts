// What the CLI prints: its logger, summaries in words, errors (human and JSON).
import { ConfigError } from '../rules-file/issues';
import { CommandFailedError, formatCommandLine, IptablesSyncError, LockTimeoutError } from '../errors';
import type { Logger } from '../logger';
import type { PlanSummary } from '../restore-plan';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A pino-compatible logger: JSON lines, or "time LEVEL message key=value" for people. A `lines`
 *  field (string[]) is printed indented below the message. */
export class CliLogger implements Logger {
  private readonly min: number;
  constructor(
    private readonly out: NodeJS.WritableStream,
    level: LogLevel,
    private readonly json: boolean,
  ) {
    this.min = LOG_LEVELS.indexOf(level);
  }
  /** Whether a line of this level is written: the library skips building debug fields (such
   *  as a restore's whole input) nobody would see. */
  isLevelEnabled(level: string): boolean {
    const at = LOG_LEVELS.indexOf(level as LogLevel);
    return at >= 0 && at >= this.min;
  }
  debug(fields: object, message?: string): void {
    this.write('debug', fields, message);
  }
  info(fields: object, message?: string): void {
    this.write('info', fields, message);
  }
  warn(fields: object, message?: string): void {
    this.write('warn', fields, message);
  }
  error(fields: object, message?: string): void {
    this.write('error', fields, message);
  }
  private write(level: LogLevel, fields: object, message = ''): void {
    if (LOG_LEVELS.indexOf(level) < this.min) return;
    const now = new Date();
    if (this.json) {
      this.out.write(`${JSON.stringify({ time: now.toISOString(), level, msg: message, ...fields })}\n`);
      return;
    }
    const { lines, ...rest } = fields as { lines?: unknown };
    const kv = Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`)
      .join(' ');
    const time = now.toTimeString().slice(0, 8) + '.' + String(now.getMilliseconds()).padStart(3, '0');
    let text = `${time} ${level.toUpperCase().padEnd(5)} ${message}${kv ? `  ${kv}` : ''}\n`;
    if (Array.isArray(lines)) text += lines.map((l) => `    ${String(l)}\n`).join('');
    this.out.write(text);
  }
}

// --- summaries ---------------------------------------------------------------------------------

const EMPTY_SUMMARY: PlanSummary = Object.freeze({
  chainsToCreate: 0,
  rulesToReplace: 0,
  rulesToAppend: 0,
  rulesToDelete: 0,
  insertsToDelete: 0,
  insertsToAdd: 0,
  chainsToDelete: 0,
});

export function addSummaries(list: readonly PlanSummary[]): PlanSummary {
  const total = { ...EMPTY_SUMMARY } as Record<keyof PlanSummary, number>;
  for (const s of list) for (const k of Object.keys(total) as (keyof PlanSummary)[]) total[k] += s[k];
  return total;
}

export function isEmptySummary(s: PlanSummary): boolean {
  return Object.values(s).every((v) => v === 0);
}

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** "2 chains to create, 5 rules to append, 1 insert to add" (only the non-zero parts). */
export function describeSummary(s: PlanSummary, tense: 'plan' | 'done'): string {
  const parts: [number, string, string, string][] = [
    [s.chainsToCreate, 'chain', 'to create', 'created'],
    [s.rulesToReplace, 'rule', 'to replace', 'replaced'],
    [s.rulesToAppend, 'rule', 'to append', 'appended'],
    [s.rulesToDelete, 'rule', 'to delete', 'deleted'],
    [s.insertsToDelete, 'insert', 'to delete', 'deleted'],
    [s.insertsToAdd, 'insert', 'to add', 'added'],
    [s.chainsToDelete, 'chain', 'to delete', 'deleted'],
  ];
  const text = parts
    .filter(([n]) => n > 0)
    .map(([n, what, future, past]) => `${plural(n, what)} ${tense === 'plan' ? future : past}`)
    .join(', ');
  return text === '' ? 'no changes' : text;
}

// --- errors ------------------------------------------------------------------------------------

export function errorJson(error: Error): object {
  if (error instanceof ConfigError) return { error: error.name, message: error.message, issues: error.issues.map(({ snippet: _s, ...i }) => i), omitted: error.omitted };
  const failure = error instanceof CommandFailedError ? error : error instanceof LockTimeoutError ? error.failure : undefined;
  return {
    error: error.name,
    message: describeError(error),
    ...(failure ? { command: 'commandLine' in failure ? failure.commandLine : formatCommandLine(failure.argv), exitCode: failure.exitCode, signal: failure.signal, stderr: failure.stderr } : {}),
    ...(error instanceof LockTimeoutError ? { lockFile: error.lockName, timeoutMs: error.timeoutMs, holder: error.holder ?? null } : {}),
  };
}

/** The message, with a hint for errors people meet often. */
export function describeError(error: Error): string {
  if (error instanceof LockTimeoutError && !error.holder) return `${error.message} (the holder could not be found in /proc/locks)`;
  return error.message;
}

/** Prints an error the way the CLI reports failures; returns the exit code for it (1). */
export function reportError(error: unknown, json: boolean): number {
  const e = error instanceof Error ? error : new Error(String(error));
  if (json) process.stderr.write(`${JSON.stringify(errorJson(e))}\n`);
  else if (e instanceof ConfigError) process.stderr.write(`${e.detailed()}\n`);
  else if (e instanceof IptablesSyncError) process.stderr.write(`iptables-sync: error: ${describeError(e)}\n`);
  else process.stderr.write(`iptables-sync: error: ${e.stack ?? e.message}\n`);
  return 1;
}
