// Fast flush detection (kube's iptables monitor): one of our chains, holding one rule, checked
// with one cheap `iptables -S <chain>` per interval. When it is gone, or there but empty, someone
// deleted or flushed our table (firewalld reload, `iptables -F`/`-X`, a restore without
// --noflush), and the Table re-reads and repairs at once instead of at its next refresh.
import { runCommand, type CommandFactory, type CommandResult } from './commands';

export interface CanaryOptions {
  readonly run: CommandFactory;
  /** iptables, iptables-legacy, ip6tables-nft … (the backend the Table writes with). */
  readonly command: string;
  readonly table: string;
  readonly chain: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** The legacy binary's --wait for the xtables lock. */
  readonly waitSeconds: number;
  /** Called once the canary is found gone; the next check waits until this settles. */
  readonly onGone: () => Promise<void>;
}

export type CanaryState = 'present' | 'gone' | 'unknown';

/** What one `iptables -S <chain>` says of the canary: 'unknown' when the command failed for
 *  another reason (the lock, a timeout): only a clear answer triggers a repair. iptables-nft
 *  1.8.9 reports a missing chain as "chain `X' in table `T' is incompatible, use 'nft' tool"
 *  (it says the same of a chain really rewritten with nft: then the re-read fails, is logged,
 *  and is tried again once per interval). */
export function canaryStateOf(result: Pick<CommandResult, 'code' | 'stdout' | 'stderr' | 'timedOut' | 'spawnError'>): CanaryState {
  if (result.timedOut || result.spawnError !== undefined) return 'unknown';
  if (result.code === 0) return /^-A /m.test(result.stdout) ? 'present' : 'gone';
  return /No chain\/target\/match by that name|does not exist|chain `[^']*' in table `[^']*' is incompatible/i.test(result.stderr) ? 'gone' : 'unknown';
}

export class CanaryWatch {
  private readonly timer: NodeJS.Timeout;
  private busy = false;
  private stopped = false;

  constructor(private readonly options: CanaryOptions) {
    this.timer = setInterval(() => void this.check(), options.intervalMs);
    this.timer.unref(); // the canary alone never keeps a process alive
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      const { run, command, table, chain, timeoutMs, waitSeconds } = this.options;
      const result = await runCommand(run, command, ['-w', String(waitSeconds), '-t', table, '-S', chain], '', timeoutMs);
      if (!this.stopped && canaryStateOf(result) === 'gone') await this.options.onGone();
    } finally {
      this.busy = false;
    }
  }
}
