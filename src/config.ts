// The rules file: YAML or JSON in the library's own vocabulary, validated before anything runs.
//
//   tables:
//     filter:                     # filter | nat | mangle | raw
//       chains:                   # chains we own; names start with the chain prefix
//         ipts-web:
//           - match: { protocol: tcp, destPorts: [80, 443] }
//             action: accept
//             comment: web
//       insert:                   # our rules at the top of chains we do not own
//         INPUT:
//           - action: { jump: ipts-web }
//       append:                   # our rules at the end of chains we do not own
//         FORWARD:
//           - action: drop
//
// Match keys are Match() method names, applied in the order written (the order is part of the
// rule, and so of its ID). Every problem is reported as file:line:column with what was expected;
// all problems of a file are collected, so one run shows them all.
//
// The parts live in src/rules-file/: read.ts (bytes within limits), load.ts (the two paths),
// plain.ts (the fast parsers: JSON.parse, js-yaml), json.ts (positioned JSON), nodes.ts,
// doc-reader.ts and walk.ts (the walker), vocabulary.ts (matches and actions), schema.ts,
// issues.ts.
// This module is the `iptables-sync/config` entry point.
/**
 * The rules-file loader: reads a YAML or JSON rules file, validates it against the library's
 * vocabulary, and builds the Chains and Rules a Table takes ({@link loadRulesFile}). Every problem
 * is reported with its file, line and column ({@link ConfigError}).
 *
 * @module iptables-sync/config
 */
export { TABLE_NAMES, type TableName } from './table-names';
export { DEFAULT_MAX_FILE_SIZE } from './rules-file/read';
export {
  DEFAULT_CHAIN_PREFIX,
  DEFAULT_HASH_PREFIX,
  MAX_ALIAS_EXPANSION,
  MAX_NESTING,
  type ConfigOptions,
  type LoadProgress,
  type RulePosition,
  type RulesFile,
  type TableRules,
} from './rules-file/types';
export { ConfigError, UnreadableRulesFileError, type ConfigIssue } from './rules-file/issues';
export { loadRulesFile, parseRules, readRulesFile } from './rules-file/load';
export { MATCH_METHODS } from './rules-file/vocabulary';
export { parseJsonNodes, type JsonParse } from './rules-file/json';
export { rulesJsonSchema } from './rules-file/schema';
