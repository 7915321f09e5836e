// iptables-sync: keep a host's iptables equal to the state a program wants.
// The package root re-exports the public API; see README.md for the design.
/**
 * Keep a host's iptables equal to the state a program wants: build {@link Rule}s from a
 * {@link Match} and an action, group them in {@link Chain}s, give them to a {@link Table}, and
 * call {@link Table.apply}. The rules-file loader is in `iptables-sync/config`, an in-memory fake
 * iptables for unit tests in `iptables-sync/testing`.
 *
 * @module iptables-sync
 */
export { HASH_LENGTH } from './hash';
export { MAX_CHAIN_NAME_LENGTH, MAX_COMMENT_BYTES, MAX_LOG_PREFIX_LENGTH } from './validate';
export { IptablesSyncError, InvalidRuleError, MatchDependencyError, InvalidOptionError, InvalidCallError, MAX_QUOTED_CHARACTERS } from './errors';
export { Match, MatchCriteria, AddrType } from './match';
export { portsToMultiport, portRangesToMultiport, type PortRange } from './multiport';
export {
  type Action,
  AcceptAction,
  DropAction,
  ReturnAction,
  NoTrackAction,
  JumpAction,
  GotoAction,
  LogAction,
  DNATAction,
  SNATAction,
  MasqAction,
  ClearMarkAction,
  SetMarkAction,
  SetMaskedMarkAction,
  RejectAction,
  SetConnMarkAction,
  SaveConnMarkAction,
  RestoreConnMarkAction,
  NflogAction,
  LimitPacketRateAction,
  LimitNumConnectionsAction,
  DSCPAction,
  REJECT_WITH,
  MAX_NFLOG_PREFIX_BYTES,
  type RejectWith,
} from './actions';
export { NO_FEATURES, detectFeatures, featuresFor, type Features, type FeaturesOption } from './features';
export { Rule, Chain, type RuleSpec, type ChainSpec } from './rule';
export {
  CommandFailedError,
  SaveFailedError,
  SaveTimeoutError,
  RestoreFailedError,
  RestoreTimeoutError,
  LockTimeoutError,
  ChainDeletionError,
  type CommandFailure,
  type CommandFailureReason,
  type LockHolder,
} from './errors';
export { Table, KERNEL_CHAINS, type TableOptions, type TableName, type ApplyReport, type AppliedWrite, type SpeculativeWrite } from './table';
export {
  Reconciler,
  type ReconciledTable,
  type ReconcilerOptions,
  type ReconcilerTimers,
  type PassResult,
  type TableOutcome,
} from './reconciler';
export type { RestorePlan, PlanSummary, InsertMode } from './restore-plan';
export type { Backend, BackendChoice, IpVersion, TableBackendChoice } from './backend';
export type { MetricNames } from './metrics';
export type { Logger } from './logger';
export type { CommandFactory, SpawnedCommand, CommandExit } from './commands';
export {
  grabIptablesLocks,
  tryFlockOnce,
  tryBindAbstractOnce,
  SharedLock,
  NO_OP_LOCK,
  Err14LockTimeout,
  Err16LockTimeout,
  findLockHolder,
  LockUnavailableError,
  LockSystemError,
  DEFAULT_LOCK_FILE_PATH,
  DEFAULT_SOCKET_NAME,
  type Locker,
  type LockHandle,
  type TableLock,
} from './locks';
export {
  readSaveOutput,
  OLD_INSERT_MARKER,
  TruncatedDumpError,
  ReaderConfigError,
  NativeReaderUnavailableError,
  type ReaderConfig,
  type DataplaneChain,
  type DataplaneSnapshot,
  type ReadResult,
} from './reader';
export { nativeInfo } from './native';
export { spawnImplementation, type SpawnImplementation } from './commands';
// The rules-file loader (and its yaml dependency) lives at 'iptables-sync/config'.
export {
  diagnose,
  formatDoctorReport,
  DEFAULT_PROBE_TIMEOUT_MS,
  DOCTOR_BINARIES,
  type DoctorOptions,
  type DoctorReport,
  type DoctorStatus,
  type DoctorCheck,
  type AddonCheck,
  type PrivilegeCheck,
  type NetnsCheck,
  type BinaryCheck,
  type BackendCheck,
  type RestoreWaitCheck,
  type FeaturesCheck,
  type LockFileCheck,
  type NftablesCheck,
} from './doctor';
export type { BackendDetection } from './backend';
export { WatchHealth, serveHealth, DEFAULT_STUCK_AFTER_MS, type HealthState, type HealthVerdict, type WatchHealthOptions } from './health';
