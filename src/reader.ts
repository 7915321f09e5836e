// Reads `iptables-save -t <table>` output into what the Table needs to know about the dataplane
// (SPEC sections 4 "Reading" and 5a): per chain, one entry per "-A" line.
//
// Two ways in:
//  - readSaveOutput(stream): any byte stream, e.g. a child's stdout. With the addon loaded the
//    chunks are copied to a native scanner that runs on libuv's thread pool and only a compact
//    result crosses back; else the TypeScript twin in reader-js.ts scans them.
//  - openSavePipe(): the addon reads the child's stdout pipe itself, so the dump never passes
//    through Node streams or the main thread at all (the fastest; needs the addon).
// Set IPTABLES_SYNC_NO_NATIVE=1, or pass { implementation: 'js' }, to force TypeScript.
import { loadNative, nativeInfo, SCAN_LAYOUT, type NativeAddon, type NativeExpectedIds, type NativePipeScanner, type NativeScanResult } from './native';
import {
  CODE_OLD_INSERT,
  CODE_UNMATCHED,
  JsSaveScanner,
  type ChunkScanner,
  type ScannedChain,
  type ScanOutput,
  type ScanSettings,
} from './reader-js';
import { InvalidOptionError, IptablesSyncError } from './errors';
import { withoutQuotedText } from './save-line';
import { isWellFormed } from './validate';
import { TimeSlicer } from './time-slice';

/** Marks a rule inserted by an older run (it jumps to one of our chains); never a rule ID. */
export const OLD_INSERT_MARKER = 'OLD INSERT RULE';

/** What tells our rules and chains apart from others' in a dump. */
export interface ReaderConfig {
  /** Prefix of our rule IDs in the first comment, e.g. "cali:". */
  readonly hashPrefix: string;
  /** A chain whose name starts with one of these is ours, e.g. ["cali-"]. */
  readonly historicChainPrefixes: readonly string[];
  /** JavaScript RegExp source; tested only on lines without our ID that are not old inserts,
   *  with every quoted value blanked to `""` (text inside a comment or LOG prefix never counts). */
  readonly extraCleanupPattern?: string;
}

/** What a dump says about one chain: whose each rule is. */
export interface DataplaneChain {
  /** One per "-A <chain>" line, in order: our rule ID, OLD_INSERT_MARKER, or "" (foreign). */
  readonly ids: readonly string[];
  /**
   * Index -> the saved line ("-A …", no newline) of every non-"" entry, in chains that are not
   * ours by prefix: our inserts are deleted by rule text ("-D" + line.slice(2)).
   */
  readonly savedRules: ReadonlyMap<number, string>;
}

/** Every chain of one table in a dump, by name. */
export type DataplaneSnapshot = ReadonlyMap<string, DataplaneChain>;

/** What {@link readSaveOutput} read. */
export interface ReadResult {
  /** The chains of the dump. */
  readonly snapshot: DataplaneSnapshot;
  /** Bytes of the dump read. */
  readonly bytesRead: number;
  /** Which scanner read it: the addon's or its TypeScript twin. */
  readonly implementation: 'native' | 'js';
}

/** A ReadResult whose snapshot is a new Map, the reader's caller's to keep and edit. */
export interface OwnedReadResult extends ReadResult {
  readonly snapshot: Map<string, DataplaneChain>;
}

/** Options of {@link readSaveOutput}. */
export interface ReadOptions {
  /** `'native'` (the addon), `'js'` (its TypeScript twin) or `'auto'` (default: the addon when it
   *  loaded, else the twin). */
  readonly implementation?: 'auto' | 'native' | 'js';
  /** Native only: bytes to queue before a scan worker starts (tests use 0 or 1). */
  readonly nativeBatchBytes?: number;
  /** What the caller believes some chains hold. Native only: a chain with a historic prefix
   *  whose rules are all ours and hold exactly these IDs is compared in the scanner, and its
   *  entry here is returned as is (no string per rule is made for it). The snapshot is equal
   *  either way. */
  readonly expected?: DataplaneSnapshot;
}

/** The dump is incomplete (no COMMIT after the last "*table") or structurally broken. */
export class TruncatedDumpError extends IptablesSyncError {
  /** Always `'TruncatedDumpError'`. */
  override readonly name = 'TruncatedDumpError';
}

/** A ReaderConfig value, or an option or the source of {@link readSaveOutput}, is unusable.
 *  `option` names the field (such as `'hashPrefix'`), `badValue` holds the value given. */
export class ReaderConfigError extends InvalidOptionError {
  /** Always `'ReaderConfigError'`. */
  override readonly name = 'ReaderConfigError';
}

/** SavePipe.cancel() was called before the child finished writing. */
export class ReadCancelledError extends IptablesSyncError {
  /** Always `'ReadCancelledError'`. */
  override readonly name = 'ReadCancelledError';
}

/** implementation 'native' was asked for and the addon is not loaded. */
export class NativeReaderUnavailableError extends IptablesSyncError {
  /** Always `'NativeReaderUnavailableError'`. */
  override readonly name = 'NativeReaderUnavailableError';
}

// Large enough that few worker completions reach the main thread (one per batch), small enough
// that the scan left after EOF takes about a millisecond.
const DEFAULT_NATIVE_BATCH_BYTES = 512 * 1024;

interface Settings extends ScanSettings {
  readonly extra: RegExp | undefined;
}

/** Settings of frozen configs (a Table's, one per Table): every read of a Table uses the same
 *  object, which then is validated and encoded once, not per read. */
const settingsOfFrozen = new WeakMap<ReaderConfig, Settings>();

function settingsFrom(config: ReaderConfig): Settings {
  const known = typeof config === 'object' && config !== null ? settingsOfFrozen.get(config) : undefined;
  if (known !== undefined) return known;
  const settings = checkedSettings(config);
  if (Object.isFrozen(config) && Object.isFrozen(config.historicChainPrefixes)) settingsOfFrozen.set(config, settings);
  return settings;
}

function checkedSettings(config: ReaderConfig): Settings {
  if (typeof config !== 'object' || config === null) {
    throw new ReaderConfigError('config', config, 'the reader config must be an object');
  }
  const { hashPrefix, historicChainPrefixes, extraCleanupPattern } = config;
  if (typeof hashPrefix !== 'string' || hashPrefix === '' || /[\n\0]/.test(hashPrefix) || !isWellFormed(hashPrefix)) {
    throw new ReaderConfigError('hashPrefix', hashPrefix, 'must be a non-empty, well-formed string without newline or NUL');
  }
  if (!Array.isArray(historicChainPrefixes)) {
    throw new ReaderConfigError('historicChainPrefixes', historicChainPrefixes, 'must be an array');
  }
  for (let i = 0; i < historicChainPrefixes.length; i++) {
    const p: unknown = historicChainPrefixes[i]; // a hole of a sparse array reads as undefined
    // An empty prefix would make every chain ours, and the Table would delete them all.
    if (typeof p !== 'string' || p === '' || /[\n\0]/.test(p) || !isWellFormed(p)) {
      throw new ReaderConfigError(`historicChainPrefixes[${i}]`, p, 'a historic chain prefix must be a non-empty, well-formed string without newline or NUL');
    }
  }
  let extra: RegExp | undefined;
  if (extraCleanupPattern !== undefined && extraCleanupPattern !== '') {
    if (typeof extraCleanupPattern !== 'string') {
      throw new ReaderConfigError('extraCleanupPattern', extraCleanupPattern, 'must be a string');
    }
    try {
      extra = new RegExp(extraCleanupPattern);
    } catch (err) {
      throw new ReaderConfigError('extraCleanupPattern', extraCleanupPattern, `is not a valid RegExp: ${(err as Error).message}`);
    }
  }
  return Object.freeze({
    hashPrefix: Buffer.from(hashPrefix, 'utf8'),
    historicPrefixes: Object.freeze(historicChainPrefixes.map((p) => Buffer.from(p, 'utf8'))),
    reportUnmatched: extra !== undefined,
    extra,
  });
}

/** The native scan result's `chains` array: per chain these fields (checked against the addon's). */
const CHAIN = SCAN_LAYOUT.chain;
/** Its `texts` array: per kept rule line, the chain-global rule index and the text's range. */
const TEXT = SCAN_LAYOUT.text;

/** One field of a flat result array; a short array is a broken result, not a zero. */
function field(array: Uint32Array, at: number): number {
  const value = array[at];
  if (value === undefined) throw new Error(`native scan result: index ${at} out of range (${array.length})`);
  return value;
}

/** A decoded chain: with `unchanged`, it holds exactly the IDs of that believed entry (and its
 *  codes, `ids` and `texts` are left out). */
interface DecodedChain extends ScannedChain {
  readonly unchanged?: DataplaneChain;
}

/** The chains a read sent the addon to compare, in the order sent: the addon names one it found
 *  unchanged by its index here, so decoding it makes no string. */
interface SentChains {
  readonly names: readonly string[];
  readonly chains: readonly DataplaneChain[];
}

const NO_CODES = new Int32Array(0);

/** A scan whose chains may be ones the addon found unchanged. */
interface DecodedScan extends Omit<ScanOutput, 'chains'> {
  readonly chains: Iterable<DecodedChain>;
}

/**
 * Turns the native compact result into ScanOutput; the strings per rule are made later, in
 * buildSnapshot, as cheap slices of the one IDs string. The chains are decoded as they are
 * iterated, so a sliced consumer decodes them in its slices too (10k chains take ~10 ms).
 */
export function decodeNative(r: NativeScanResult, sent?: SentChains): DecodedScan {
  if (r.fault) return { chains: [], bytes: r.bytes, fault: r.fault.toString('utf8') };
  return { chains: decodedChains(r, sent), bytes: r.bytes };
}

function* decodedChains(r: NativeScanResult, sent: SentChains | undefined): Generator<DecodedChain, void, undefined> {
  let base = 0; // global index of the chain's first rule (of the chains with codes)
  let t = 0;
  for (let c = 0; c + CHAIN.stride <= r.chains.length; c += CHAIN.stride) {
    const unchanged = field(r.chains, c + CHAIN.unchanged);
    if (unchanged !== 0) {
      const index = unchanged - 1;
      const name = sent?.names[index];
      const known = sent?.chains[index];
      if (name === undefined || known === undefined) throw new Error(`native scan result: unchanged chain ${index} was not sent (${sent?.names.length ?? 0} were)`);
      yield { name, historic: true, codes: NO_CODES, ids: '', idsStart: 0, texts: NO_TEXTS, unchanged: known };
      continue;
    }
    const count = field(r.chains, c + CHAIN.ruleCount);
    let texts: Map<number, string> | undefined;
    while (t + TEXT.stride <= r.texts.length && field(r.texts, t + TEXT.rule) < base + count) {
      texts ??= new Map();
      texts.set(field(r.texts, t + TEXT.rule) - base, r.text.toString('utf8', field(r.texts, t + TEXT.start), field(r.texts, t + TEXT.end)));
      t += TEXT.stride;
    }
    yield {
      name: r.text.toString('utf8', field(r.chains, c + CHAIN.nameStart), field(r.chains, c + CHAIN.nameEnd)),
      historic: field(r.chains, c + CHAIN.historic) === 1,
      codes: r.codes.subarray(base, base + count),
      ids: r.ids,
      idsStart: field(r.chains, c + CHAIN.idsStart),
      texts: texts ?? NO_TEXTS,
    };
    base += count;
  }
}

/** Each believed chain's IDs joined ('' when not every rule is one of our IDs), kept while the
 *  chain object lives: most survive from read to read. */
const joinedIds = new WeakMap<DataplaneChain, string>();
const ID_LENGTH = 16;

function joinedIdsOf(chain: DataplaneChain): string {
  let joined = joinedIds.get(chain);
  if (joined === undefined) {
    joined = chain.ids.every((id) => id.length === ID_LENGTH && id !== OLD_INSERT_MARKER) ? chain.ids.join('') : '';
    joinedIds.set(chain, joined);
  }
  return joined;
}

/**
 * What a read expects, made ready once before the read (every retry of it reuses this): the
 * believed chains, and those of them the addon can compare, in its form. Made by
 * {@link prepareExpectation} (time-sliced) or from a plain snapshot at once.
 */
export class PreparedExpectation {
  constructor(
    /** The believed chains sent to the scanner, in order: one it finds unchanged comes back as
     *  its entry here. */
    readonly sent: SentChains,
    /** The same chains in the addon's form (undefined: none). */
    readonly native: NativeExpectedIds | undefined,
  ) {}
}

/** Collects an expectation chain by chain. Only chains with a historic prefix (whose snapshot
 *  entry keeps no saved lines, so the caller's entry is what a read would give) and with only
 *  our IDs are sent to the addon. */
class ExpectationBuilder {
  private readonly names: string[] = [];
  private readonly chains: DataplaneChain[] = [];
  /** Per chain sent: its joined IDs (collected in the caller's slices). */
  private readonly joined: string[] = [];

  constructor(
    private readonly config: ReaderConfig,
    private readonly encode: boolean,
  ) {}

  add(name: string, chain: DataplaneChain): void {
    if (!this.encode || chain.ids.length === 0 || chain.savedRules.size > 0 || !this.config.historicChainPrefixes.some((p) => name.startsWith(p))) return;
    const joined = joinedIdsOf(chain);
    if (joined === '') return;
    this.names.push(name);
    this.chains.push(chain);
    this.joined.push(joined);
  }

  finish(): PreparedExpectation {
    if (this.names.length === 0) return new PreparedExpectation(NOTHING_SENT, undefined);
    return new PreparedExpectation({ names: this.names, chains: this.chains }, encodeInBlocks(this.names, this.chains, this.joined));
  }
}

/** A run of sent chains encoded together, kept while its first chain object lives. */
interface EncodedBlock {
  readonly chains: readonly DataplaneChain[];
  readonly names: readonly string[];
  readonly namesJoined: string;
  readonly idsJoined: string;
}

const encodedBlocks = new WeakMap<DataplaneChain, EncodedBlock>();
const MAX_BLOCK_CHAINS = 256;

/** Whether a block ends after this chain: decided by the chain's own IDs (uniform hash text), so
 *  a chain added or removed moves the boundaries near it only, and every other block of an
 *  earlier read's encoding is reused as it is (3 of the 64 ID characters end a block: a re-read
 *  of 100k rules after a one-rule change joins ~20 chains' IDs, not 1.6 MB). */
function endsBlock(joined: string): boolean {
  return (joined.charCodeAt(joined.length - 1) & 15) === 0;
}

/** The chains to send in the addon's form, reusing the blocks of earlier encodings (exported for its tests). */
export function encodeInBlocks(names: readonly string[], chains: readonly DataplaneChain[], joined: readonly string[]): NativeExpectedIds {
  const namesParts: string[] = [];
  const idsParts: string[] = [];
  let i = 0;
  while (i < chains.length) {
    const first = chains[i] as DataplaneChain;
    const cached = encodedBlocks.get(first);
    if (cached !== undefined && sameRun(cached, names, chains, i)) {
      namesParts.push(cached.namesJoined);
      idsParts.push(cached.idsJoined);
      i += cached.chains.length;
      continue;
    }
    let end = i + 1; // the block ends after the first chain that ends one, or at MAX_BLOCK_CHAINS
    while (end < chains.length && end - i < MAX_BLOCK_CHAINS && !endsBlock(joined[end - 1] as string)) end++;
    const block: EncodedBlock = {
      chains: chains.slice(i, end),
      names: names.slice(i, end),
      namesJoined: names.slice(i, end).join('\n'),
      idsJoined: joined.slice(i, end).join(''),
    };
    encodedBlocks.set(first, block);
    namesParts.push(block.namesJoined);
    idsParts.push(block.idsJoined);
    i = end;
  }
  const counts = new Uint32Array(chains.length);
  for (let c = 0; c < chains.length; c++) counts[c] = (chains[c] as DataplaneChain).ids.length;
  return { names: namesParts.join('\n'), counts, ids: idsParts.join('') };
}

/** Whether the chains (and names) from `at` on are the block's, and the block ends where it
 *  would end now (its last chain is the end of the input or a boundary). */
function sameRun(block: EncodedBlock, names: readonly string[], chains: readonly DataplaneChain[], at: number): boolean {
  const n = block.chains.length;
  if (at + n > chains.length) return false;
  for (let k = 0; k < n; k++) if (chains[at + k] !== block.chains[k] || names[at + k] !== block.names[k]) return false;
  return true;
}

/**
 * Prepares the expectation of a read from the chains of `believed` (those with a historic
 * prefix: always ours), yielding to the event loop every few milliseconds (10k chains would take
 * 10–30 ms in one go), so the read itself starts with no such stretch.
 */
export async function prepareExpectation(config: ReaderConfig, believed: DataplaneSnapshot): Promise<PreparedExpectation> {
  if (believed.size === 0) return NOTHING_EXPECTED; // a first read: no turns to give up
  const builder = new ExpectationBuilder(config, loadNative() !== undefined);
  const slicer = new TimeSlicer();
  for (const [name, chain] of believed) {
    if (slicer.due()) await slicer.yield();
    builder.add(name, chain);
  }
  // The joins of the encoding get a turn of their own, apart from the read's start.
  await slicer.yield();
  const prepared = builder.finish();
  await slicer.yield();
  return prepared;
}

/** An expectation given as a plain snapshot, prepared at once (unsliced). */
function preparedNow(config: ReaderConfig, expected: DataplaneSnapshot | PreparedExpectation | undefined): PreparedExpectation | undefined {
  if (expected === undefined || expected instanceof PreparedExpectation) return expected;
  const builder = new ExpectationBuilder(config, true);
  for (const [name, chain] of expected) builder.add(name, chain);
  return builder.finish();
}

class NativeChunkScanner {
  private readonly scanner;
  constructor(
    addon: NativeAddon,
    settings: Settings,
    batchBytes: number,
    private readonly expected: PreparedExpectation | undefined,
  ) {
    this.scanner = new addon.Scanner(settings.hashPrefix, [...settings.historicPrefixes], settings.reportUnmatched, batchBytes, expected?.native);
  }
  push(chunk: Uint8Array): void {
    this.scanner.push(chunk);
  }
  async finish(): Promise<DecodedScan> {
    return decodeNative(await this.scanner.finish(), this.expected?.sent);
  }
}

const NO_TEXTS: ReadonlyMap<number, string> = new Map();
const NOTHING_SENT: SentChains = { names: [], chains: [] };
const NOTHING_EXPECTED = new PreparedExpectation(NOTHING_SENT, undefined);
const NO_SAVED_RULES: ReadonlyMap<number, string> = new Map();

/** Builds the snapshot from either scanner's output (the extra pattern is applied here), yielding
 *  to the event loop every few milliseconds (100k rules); with native output the chains are
 *  decoded in the same slices. The Map is new: the caller's to keep and edit. */
async function buildSnapshotSliced(scan: DecodedScan, extra: RegExp | undefined): Promise<Map<string, DataplaneChain>> {
  const builder = new SnapshotBuilder(extra);
  const slicer = new TimeSlicer();
  for (const chain of scan.chains) {
    builder.add(chain);
    if (slicer.due(chain.unchanged?.ids.length ?? chain.codes.length)) await slicer.yield();
  }
  return builder.snapshot;
}

class SnapshotBuilder {
  readonly snapshot = new Map<string, DataplaneChain>();

  constructor(private readonly extra: RegExp | undefined) {}

  add(chain: DecodedChain): void {
    const known = chain.unchanged;
    const entry = this.snapshot.get(chain.name);
    if (known !== undefined && entry === undefined) {
      this.snapshot.set(chain.name, known); // the believed entry itself: no string per rule
      return;
    }
    // Two byte-different names can decode to one string (invalid UTF-8): keep both rule lists,
    // in a new entry (the first may be a believed one, which is not ours to edit).
    const count = known?.ids.length ?? chain.codes.length;
    const base = entry?.ids.length ?? 0; // index of this chain's first rule in the entry
    const ids: string[] = entry === undefined ? new Array<string>(count) : [...entry.ids];
    let saved = entry !== undefined && entry.savedRules.size > 0 ? new Map(entry.savedRules) : undefined;
    let at = chain.idsStart;
    for (let i = 0; i < count; i++) {
      let id: string;
      if (known !== undefined) {
        id = known.ids[i] as string; // an unchanged chain after a same-named one
      } else {
        const code = chain.codes[i] as number; // i < codes.length
        if (code > 0) {
          id = chain.ids.substring(at, at + code);
          at += code;
        } else if (code === CODE_OLD_INSERT) {
          id = OLD_INSERT_MARKER;
        } else if (code === CODE_UNMATCHED && this.extra !== undefined && this.extra.test(withoutQuotedText(chain.texts.get(i) ?? ''))) {
          id = OLD_INSERT_MARKER;
        } else {
          id = '';
        }
      }
      ids[base + i] = id;
      if (id !== '' && !chain.historic) {
        // Maps for saved rules are only made for the few chains that have some.
        saved ??= new Map();
        saved.set(base + i, (known !== undefined ? known.savedRules.get(i) : chain.texts.get(i)) ?? '');
      }
    }
    this.snapshot.set(chain.name, { ids, savedRules: saved ?? NO_SAVED_RULES });
  }
}

function isIterable(source: unknown): boolean {
  if (source === null || source === undefined) return false;
  const s = source as { [Symbol.asyncIterator]?: unknown; [Symbol.iterator]?: unknown };
  return typeof s[Symbol.asyncIterator] === 'function' || typeof s[Symbol.iterator] === 'function';
}

/**
 * Reads one `iptables-save` dump from `source` (e.g. a child's stdout). Rejects with
 * TruncatedDumpError when the dump ends inside a table, and with the source's own error when the
 * stream fails: a partial dump is never returned. Checking the exit code is the caller's job.
 *
 * @throws {@link TruncatedDumpError} (as a rejection) for a dump cut short or broken.
 * @throws {@link ReaderConfigError} (an {@link InvalidOptionError}) for an unusable `config`,
 *   `options` or `source`, naming the field: a source that is not iterable or yields strings
 *   (read bytes: no `setEncoding()`); {@link NativeReaderUnavailableError} when `'native'` is
 *   asked for and the addon is not loaded.
 */
export function readSaveOutput(
  source: AsyncIterable<Buffer | Uint8Array>,
  config: ReaderConfig,
  options: ReadOptions = {},
): Promise<ReadResult> {
  return readPreparedSaveOutput(source, config, options, undefined);
}

/** {@link readSaveOutput} with an expectation prepared beforehand, which takes the place of
 *  `options.expected` (a read's retries share one). */
export async function readPreparedSaveOutput(
  source: AsyncIterable<Buffer | Uint8Array>,
  config: ReaderConfig,
  options: ReadOptions,
  prepared: PreparedExpectation | undefined,
): Promise<OwnedReadResult> {
  const settings = settingsFrom(config);
  if (typeof options !== 'object' || options === null) throw new ReaderConfigError('options', options, 'must be an object');
  const wanted = options.implementation ?? 'auto';
  if (wanted !== 'auto' && wanted !== 'native' && wanted !== 'js') {
    throw new ReaderConfigError('implementation', wanted, "must be 'auto', 'native' or 'js'");
  }
  const batchBytes = options.nativeBatchBytes ?? DEFAULT_NATIVE_BATCH_BYTES;
  if (!Number.isSafeInteger(batchBytes) || batchBytes < 0) {
    throw new ReaderConfigError('nativeBatchBytes', batchBytes, 'must be a non-negative integer');
  }
  if (options.expected !== undefined && !(options.expected instanceof Map)) {
    throw new ReaderConfigError('expected', options.expected, 'must be a snapshot (a Map of chain name to DataplaneChain) or undefined');
  }
  if (!isIterable(source)) throw new ReaderConfigError('source', source, 'must be an (async) iterable of byte chunks, such as a child\'s stdout');
  const addon = wanted === 'js' ? undefined : loadNative();
  if (wanted === 'native' && !addon) {
    throw new NativeReaderUnavailableError(`native reader requested but the addon is not loaded: ${nativeInfo().reason ?? 'unknown reason'}`);
  }
  const expectation = addon ? (prepared ?? preparedNow(config, options.expected)) : undefined;
  const scanner: NativeChunkScanner | ChunkScanner = addon ? new NativeChunkScanner(addon, settings, batchBytes, expectation) : new JsSaveScanner(settings);

  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) {
      // A stream with setEncoding() yields strings: bytes would be lost to decoding.
      throw new ReaderConfigError('source', chunk, `must yield bytes (Buffer/Uint8Array), not ${typeof chunk} chunks`);
    }
    scanner.push(chunk);
  }
  const scan = await scanner.finish();
  if (scan.fault !== undefined) throw new TruncatedDumpError(scan.fault);
  return {
    snapshot: await buildSnapshotSliced(scan, settings.extra),
    bytesRead: scan.bytes,
    implementation: addon ? 'native' : 'js',
  };
}

/**
 * The fastest read: the addon reads the child's stdout pipe itself on a worker thread, so not a
 * byte of the dump passes through Node streams or the main thread. Undefined when the addon is
 * not loaded (then spawn with a piped stdout and use readSaveOutput).
 *
 *   const pipe = openSavePipe(config);
 *   const child = spawn('iptables-save', ['-t', 'filter'], { stdio: ['ignore', pipe.fd, 'pipe'] });
 *   pipe.closeWriteEnd();          // at once, also if spawn threw: else EOF never comes
 *   const result = await pipe.result;
 *
 * The exit status is still the caller's to check: a child that failed to start (or wrote
 * nothing) closes the pipe at once and reads as an empty snapshot. The read occupies one libuv
 * thread-pool thread until EOF. cancel() stops it (result rejects with ReadCancelledError); use
 * it when giving up on a hung child.
 */
export interface SavePipe {
  /** The pipe's write end, to become the child's stdout; -1 once closed. */
  readonly fd: number;
  readonly result: Promise<OwnedReadResult>;
  closeWriteEnd(): void;
  cancel(): void;
}

export function openSavePipe(config: ReaderConfig, expected?: DataplaneSnapshot | PreparedExpectation): SavePipe | undefined {
  const settings = settingsFrom(config);
  const addon = loadNative();
  if (!addon) return undefined;
  const expectation = preparedNow(config, expected);
  const native: NativePipeScanner = new addon.PipeScanner(settings.hashPrefix, [...settings.historicPrefixes], settings.reportUnmatched, expectation?.native);
  // The reaction closes over `native`, which keeps it alive until the read ends (its collection
  // would cancel the read).
  const result = native.result.then(async (r): Promise<OwnedReadResult> => {
    native.closeWriteEnd();
    if ('cancelled' in r) throw new ReadCancelledError('iptables-save read cancelled before the end of its output');
    const scan = decodeNative(r, expectation?.sent);
    if (scan.fault !== undefined) throw new TruncatedDumpError(scan.fault);
    return { snapshot: await buildSnapshotSliced(scan, settings.extra), bytesRead: scan.bytes, implementation: 'native' };
  });
  result.catch(() => undefined); // a caller that cancels and walks away gets no unhandled rejection
  return {
    get fd(): number {
      return native.fd;
    },
    result,
    closeWriteEnd: () => native.closeWriteEnd(),
    cancel: () => native.cancel(),
  };
}
