// The four iptables tables and their kernel (built-in) chains: a leaf module, so that
// validating a rules file needs nothing of the Table, the reader or the native addon.

/** The iptables tables a Table or a rules file can name. */
export type TableName = 'filter' | 'nat' | 'mangle' | 'raw';
/** Every {@link TableName}: filter, nat, mangle, raw. */
export const TABLE_NAMES: readonly TableName[] = Object.freeze(['filter', 'nat', 'mangle', 'raw']);

/** The built-in chains of each table: we may insert into them but never own them. */
export const KERNEL_CHAINS: Readonly<Record<TableName, readonly string[]>> = Object.freeze({
  filter: Object.freeze(['INPUT', 'FORWARD', 'OUTPUT']),
  nat: Object.freeze(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']),
  mangle: Object.freeze(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']),
  raw: Object.freeze(['PREROUTING', 'OUTPUT']),
});

/** Whether a value names one of the four tables. */
export function isTableName(value: unknown): value is TableName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(KERNEL_CHAINS, value);
}
