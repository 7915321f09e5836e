// What a loaded rules file is, and the options of loading one.
import type { Chain, Rule } from '../rule';
import type { TableName } from '../table-names';

/** The rule ID prefix the command line uses unless told otherwise. */
export const DEFAULT_HASH_PREFIX = 'ipts:';
/** The prefix our chains' names must start with unless {@link ConfigOptions.chainPrefix} says
 *  otherwise. */
export const DEFAULT_CHAIN_PREFIX = 'ipts-';

/** One table of a rules file, validated and built. */
export interface TableRules {
  /** The table. */
  readonly name: TableName;
  /** The chains we own, in file order. */
  readonly chains: readonly Chain[];
  /** Per chain we do not own (usually a kernel chain): our rules, top first. */
  readonly inserts: ReadonlyMap<string, readonly Rule[]>;
  /** Per chain we do not own: our rules kept at its end (Table.appendRules); absent = none. */
  readonly appends?: ReadonlyMap<string, readonly Rule[]>;
}

/** A validated rules file: what {@link loadRulesFile} and {@link parseRules} return. */
export interface RulesFile {
  /** The file name as given ("-" for stdin). */
  readonly file: string;
  /** Only the tables the file names, in file order. */
  readonly tables: ReadonlyMap<TableName, TableRules>;
  /** Where each rule was written; only with the `positions` option. */
  readonly positions?: ReadonlyMap<Rule, RulePosition>;
}

/** Where a rule starts in the file, and its path (tables.filter.chains.ipts-web[0]). */
export interface RulePosition {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** Where in the document, such as `tables.filter.chains.ipts-web[0]`. */
  readonly path: string;
}

/** Options of {@link loadRulesFile} and {@link parseRules}; all optional. */
export interface ConfigOptions {
  /** Names of our chains must start with this (the Table's historic chain prefix). Default
   *  {@link DEFAULT_CHAIN_PREFIX}. */
  readonly chainPrefix?: string;
  /** Addresses and ICMP matches must be of this family. Default 4. */
  readonly ipVersion?: 4 | 6;
  /** loadRulesFile only: refuse files larger than this many bytes. Default
   *  {@link DEFAULT_MAX_FILE_SIZE} (256 MiB). */
  readonly maxFileSize?: number;
  /** Record where each rule was written (RulesFile.positions), to report on built rules.
   *  Default false. */
  readonly positions?: boolean;
  /** Called while the rules are built (every 1,024 rules, and once at the end): for progress
   *  on large files. Default none. */
  readonly onProgress?: (progress: LoadProgress) => void;
}

/** How far building a file's rules has come (see {@link ConfigOptions.onProgress}). */
export interface LoadProgress {
  /** Rules built (or found invalid) so far. */
  readonly rulesBuilt: number;
  /** Rules in the file's chains, insert and append lists. */
  readonly rulesTotal: number;
  /** True once, when the file has a problem and is read again with positions to place it
   *  (the counts then start again). */
  readonly rereading?: boolean;
}

/** How deep mappings and lists may nest. A rules file needs about 8 levels; the parsers and
 *  toJSON recurse, so 100,000 levels would overflow the stack. */
export const MAX_NESTING = 64;
/** How many nodes YAML aliases may add to the document, counted expanded. Each alias costs its
 *  target's size, so nested aliases (an "alias bomb") reach this after a few levels, and so
 *  do thousands of uses of one anchor; a handful of shared port lists are far below it. */
export const MAX_ALIAS_EXPANSION = 100_000;
