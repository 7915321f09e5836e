// A pino-compatible logger interface: pino, bunyan-style or console wrappers all fit.

export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  /** pino's level check; when present, costly debug fields are only built if it says yes. */
  isLevelEnabled?(level: string): boolean;
}

const noop = (): void => undefined;
export const SILENT_LOGGER: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop, isLevelEnabled: () => false });
