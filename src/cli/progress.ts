// Progress on stderr while a command is slow: reading a large rules file (rules built so far)
// and each table's apply or plan (seconds so far). Only on a terminal, or with --progress; never
// with --json; never on stdout. Nothing shows during the first second, and the line is
// rewritten at most four times a second (a new line each time when stderr is not a terminal).
import type { LoadProgress } from '../config';

/** Nothing shows before this (a fast command prints no progress at all). The environment's
 *  IPTABLES_SYNC_PROGRESS_AFTER_MS changes it (tests show progress of small files with 0). */
const QUIET_MS = quietMs(process.env.IPTABLES_SYNC_PROGRESS_AFTER_MS);

function quietMs(setting: string | undefined): number {
  const ms = setting === undefined || setting === '' ? NaN : Number(setting);
  return Number.isFinite(ms) && ms >= 0 ? ms : 1000;
}
/** At most one update per this. */
const EVERY_MS = 250;

/** Whether a command shows progress: on a terminal or when asked, and never with --json. */
export function progressWanted(opts: { json: boolean; progress?: boolean }, stderr: { isTTY?: boolean } = process.stderr): boolean {
  return !opts.json && (opts.progress === true || stderr.isTTY === true);
}

/** One command's progress line. */
export class Progress {
  private readonly started = Date.now();
  private lastShown = 0;
  private shown = false;
  private readonly tty: boolean;

  constructor(
    private readonly enabled: boolean,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = stderr.isTTY === true;
  }

  /** Shows `text` unless it is too early or too soon after the last update (`force`: unless
   *  too early only). */
  show(text: string | (() => string), force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.started < QUIET_MS || (!force && now - this.lastShown < EVERY_MS)) return;
    this.lastShown = now;
    this.shown = true;
    const line = typeof text === 'string' ? text : text();
    this.stderr.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  /** The rules file loader's callback (ConfigOptions.onProgress) for `file`. The text is made
   *  only when it shows: formatting two numbers per call cost ~25 ms of a 100k-rule `check`. */
  loading(file: string): (p: LoadProgress) => void {
    return (p) => {
      if (p.rereading) this.show(`reading ${file} again to place its errors…`, true);
      else this.show(() => `reading ${file}: ${p.rulesBuilt.toLocaleString('en-US')} of ${p.rulesTotal.toLocaleString('en-US')} rules…`);
    };
  }

  /** While an async step runs (an apply, a plan): its label and the seconds so far, a few times
   *  a second. Returns the function that ends it. */
  during(label: string): () => void {
    if (!this.enabled) return () => undefined;
    const from = Date.now();
    const tick = (): void => this.show(`${label}… ${((Date.now() - from) / 1000).toFixed(1)}s`);
    const timer = setInterval(tick, EVERY_MS);
    return () => clearInterval(timer);
  }

  /** Clears the line on a terminal (the command's own output follows). */
  end(): void {
    if (this.shown && this.tty) this.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}
