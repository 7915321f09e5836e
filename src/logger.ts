// A pino-compatible logger interface: pino, bunyan-style or console wrappers all fit.

/** What the library logs to: pino's calling convention (fields first, then the message), so a
 *  pino logger fits as it is. */
export interface Logger {
  /** Detail: each restore input, cache invalidations. */
  debug(fields: object, message?: string): void;
  /** Events: the backend and features chosen, cleanup of leftovers. */
  info(fields: object, message?: string): void;
  /** Problems handled: retries, chains found out of sync. */
  warn(fields: object, message?: string): void;
  /** Failures; the Table itself reports them by throwing, not here. */
  error(fields: object, message?: string): void;
  /** pino's level check; when present, costly debug fields are only built if it says yes. */
  isLevelEnabled?(level: string): boolean;
}

const noop = (): void => undefined;
export const SILENT_LOGGER: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop, isLevelEnabled: () => false });
