// The canary's wiring into a Table: the one-rule chain it keeps, and the watch that marks that
// chain dirty and re-applies when someone flushes or deletes it.
import type { IpVersion } from './backend';
import { CanaryWatch } from './canary';
import type { CommandFactory } from './commands';
import type { Logger } from './logger';
import { ReturnAction } from './actions';
import { Chain } from './rule';

/** The canary is one of our chains: one RETURN rule (harmless, and nothing jumps to it), so a
 *  flush that keeps the chain shows as well as a deletion. */
export function canaryChainOf(name: string): Chain {
  return new Chain({ name, rules: [{ action: new ReturnAction() }], forceProgramming: true });
}

/** What the watch needs of its Table. */
export interface TableCanary {
  readonly run: CommandFactory;
  /** The plain iptables binary of the Table's backend. */
  readonly command: string;
  readonly table: string;
  readonly ipVersion: IpVersion;
  readonly chain: string;
  readonly canaryIntervalMs: number;
  readonly commandTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly logger: Logger;
  /** Marks the chain dirty and the cache invalid. */
  readonly markGone: () => void;
  readonly apply: () => Promise<unknown>;
}

/** Starts checking the canary chain every canaryIntervalMs; a repair that fails is logged. */
export function watchCanary(c: TableCanary): CanaryWatch {
  return new CanaryWatch({
    run: c.run,
    command: c.command,
    table: c.table,
    chain: c.chain,
    intervalMs: c.canaryIntervalMs,
    timeoutMs: c.commandTimeoutMs,
    waitSeconds: Math.max(1, Math.ceil(c.lockTimeoutMs / 1000)),
    onGone: () => {
      c.logger.warn({ table: c.table, ipVersion: c.ipVersion, chain: c.chain }, 'canary chain gone or flushed: re-reading and repairing now');
      c.markGone();
      return c.apply().then(
        () => undefined,
        (error: unknown) => c.logger.error({ table: c.table, err: (error as Error).message }, 'repair after the canary went failed'),
      );
    },
  });
}
