// Loads the C++ addon (locks, save scanner, rule hashing, spawning) and gives it a typed face.
//
// Which file: the prebuild in prebuilds/<platform>-<arch>/ first, because that is what users
// of the published package run (`npm install` keeps it when it loads). node-gyp-build on its own
// prefers build/Release, so a stale local build could otherwise shadow the prebuild in tests.
// A local build is the fallback (it is what `npm install` makes when no prebuild loads).
// IPTABLES_SYNC_NATIVE_PATH=<file.node> forces one file, IPTABLES_SYNC_NO_NATIVE=1 forces the
// pure TypeScript reader (locks then throw LockUnavailableError).
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The interface version this TypeScript expects (native/addon.cc kAbiVersion). */
export const NATIVE_ABI_VERSION = 7;

export interface NativeLockHandle {
  release(): void;
  readonly released: boolean;
}

/** A try-once lock call that did not get the lock: errno EWOULDBLOCK/EADDRINUSE mean busy. */
export interface NativeLockFailure {
  readonly errno: number;
  readonly syscall: string;
}

/** Compact scan result; see native/scanner_binding.cc for the layout. */
export interface NativeScanResult {
  readonly fault?: Buffer;
  readonly bytes: number;
  readonly chains: Uint32Array;
  readonly codes: Int32Array;
  readonly ids: string;
  readonly text: Buffer;
  readonly texts: Uint32Array;
}

/**
 * The layout of a scan result's flat arrays (native/scan_result.h): per chain in `chains`,
 * per kept line in `texts`, these field offsets within a stride. The addon exports its own copy
 * (`scanLayout`); one that differs is not loaded.
 */
export const SCAN_LAYOUT = {
  chain: { nameStart: 0, nameEnd: 1, ruleCount: 2, historic: 3, idsStart: 4, unchanged: 5, stride: 6 },
  text: { rule: 0, start: 1, end: 2, stride: 3 },
} as const;

type ScanLayout = { readonly [Part in keyof typeof SCAN_LAYOUT]: { readonly [Field in keyof (typeof SCAN_LAYOUT)[Part]]: number } };

/** What a read expects some chains to hold (every rule one of ours): a chain found to hold
 *  exactly these IDs comes back marked unchanged, without its IDs (native/scan_result.h). */
export interface NativeExpectedIds {
  /** The chain names, joined by newlines. */
  readonly names: string;
  /** Rules per chain. */
  readonly counts: Uint32Array;
  /** All their IDs concatenated, 16 characters each. */
  readonly ids: string;
}

export interface NativeScanner {
  push(chunk: Uint8Array): void;
  finish(): Promise<NativeScanResult>;
}

/** Reads a pipe whose write end becomes a child's stdout; see native/pipe_binding.cc. */
export interface NativePipeScanner {
  /** The write end, for spawn's stdio; -1 once closed. */
  readonly fd: number;
  readonly result: Promise<NativeScanResult | { readonly cancelled: true }>;
  closeWriteEnd(): void;
  cancel(): void;
}

/** Events of a native child (native/spawn_binding.cc): 1 could not start (errno), 2 exited and
 *  reaped (code, or -1 and the signal number; its stderr with a stderr limit), 3 the input queue
 *  emptied after write() said full, 4 input written and closed (0) or failed (errno). */
export type NativeChildEvent = 1 | 2 | 3 | 4;

/** Child flag: the addon's thread writes the child's stdin from a queue (write()/end()). */
export const CHILD_INPUT_ON_THREAD = 1;
/** write() returns more than this: the queue is full, wait for event 3. */
export const CHILD_INPUT_HIGH_WATER = 1 << 20;

/** A child the addon started on a thread of its own; see native/spawn_binding.cc. */
export interface NativeChild {
  /** Non-zero when nothing started (pipe2, dup or the thread failed): no event comes. */
  readonly errno: number;
  /** Our ends of its pipes (O_CLOEXEC), ours to close; -1 for those the addon serves itself
   *  (stdin with CHILD_INPUT_ON_THREAD, stderr with a stderr limit) and stdout with `stdoutFd`. */
  readonly stdin: number;
  readonly stdout: number;
  readonly stderr: number;
  /** CHILD_INPUT_ON_THREAD: queues input; the bytes queued now, or -1 once input is closed. */
  write(chunk: string | Uint8Array): number;
  /** CHILD_INPUT_ON_THREAD: closes its stdin once the queue is written (discard: drop it first). */
  end(discard?: boolean): void;
  /** Signals its process group; false once it exited (its pid may be reused). */
  kill(signal: number): boolean;
}

export interface NativeAddon {
  readonly abiVersion: number;
  readonly sourceDigest: string;
  tryFlock(lockFilePath: string): NativeLockHandle | NativeLockFailure;
  tryBindAbstract(name: string): NativeLockHandle | NativeLockFailure;
  readonly Scanner: new (
    hashPrefix: Uint8Array,
    historicPrefixes: Uint8Array[],
    reportUnmatched: boolean,
    batchBytes: number,
    expected?: NativeExpectedIds,
  ) => NativeScanner;
  readonly PipeScanner: new (
    hashPrefix: Uint8Array,
    historicPrefixes: Uint8Array[],
    reportUnmatched: boolean,
    expected?: NativeExpectedIds,
  ) => NativePipeScanner;
  chainRuleHashes(chainName: string, lines: string, count: number): string;
  /** Rule IDs of many chains at once, from their rule bodies (native/hash.h HashChains). */
  hashChains(names: string, counts: Uint32Array, bodies: string): string;
  readonly scanLayout: ScanLayout;
  readonly Child: new (
    file: string,
    argv: readonly string[],
    env: readonly string[] | null,
    stdoutFd: number,
    onEvent: (kind: NativeChildEvent, a: number, b: number, stderr?: string) => void,
    flags?: number,
    stderrLimit?: number,
  ) => NativeChild;
  /** CPU time of the calling thread, ms (for benchmarks). */
  threadCpuMs(): number;
}

/** What {@link nativeInfo} reports. */
export interface NativeInfo {
  /** Whether the addon loaded. */
  readonly loaded: boolean;
  /** The .node file that was loaded. */
  readonly path?: string;
  /** Why nothing was loaded, or why earlier candidates were skipped: each file and its error. */
  readonly reason?: string;
  /** The .node files tried, in order (empty when none was found). */
  readonly tried?: readonly string[];
}

const PACKAGE_NAME = 'iptables-sync';
const RULE_ID_LENGTH = 16;

// node-gyp-build ships no types; these are the parts used. Its tag helpers pick the same
// prebuild file as `node-gyp-build` does at install time.
interface PrebuildTags {
  readonly file: string;
}
const nodeGypBuild: {
  path(dir: string): string;
  parseTags(file: string): PrebuildTags | undefined;
  matchTags(runtime: string, abi: string): (tags: PrebuildTags | undefined) => boolean;
  compareTags(runtime: string): (a: PrebuildTags, b: PrebuildTags) => number;
} = require('node-gyp-build/node-gyp-build.js');

let state: { addon: NativeAddon | undefined; info: NativeInfo } | undefined;

/** The package root: the nearest directory upwards holding our package.json (src/, dist/, …). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
        if (typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === PACKAGE_NAME) {
          return dir;
        }
      } catch {
        // not ours; keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return join(__dirname, '..');
    dir = parent;
  }
}

function candidates(root: string): string[] {
  const forced = process.env.IPTABLES_SYNC_NATIVE_PATH;
  if (forced) return [forced];
  const found: string[] = [];
  const prebuild = prebuildPath(root);
  if (prebuild) found.push(prebuild);
  try {
    const resolved = nodeGypBuild.path(root); // build/Release, else the prebuild again
    if (!found.includes(resolved)) found.push(resolved);
  } catch {
    // nothing built
  }
  return found;
}

/** The prebuild node-gyp-build would pick for this platform, ignoring build/Release. */
export function prebuildPath(root: string = packageRoot()): string | undefined {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return undefined;
  }
  const winner = files
    .map((f) => nodeGypBuild.parseTags(f))
    .filter(nodeGypBuild.matchTags('node', process.versions.modules))
    .filter((t): t is PrebuildTags => t !== undefined)
    .sort(nodeGypBuild.compareTags('node'))[0];
  return winner ? join(dir, winner.file) : undefined;
}

function isAddon(value: unknown): value is NativeAddon {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.tryFlock === 'function' &&
    typeof v.tryBindAbstract === 'function' &&
    typeof v.Scanner === 'function' &&
    typeof v.PipeScanner === 'function' &&
    typeof v.chainRuleHashes === 'function' &&
    typeof v.hashChains === 'function' &&
    typeof v.Child === 'function' &&
    typeof v.sourceDigest === 'string'
  );
}

/** The first field where the addon's scan layout differs from SCAN_LAYOUT, or undefined. */
export function layoutMismatch(layout: unknown): string | undefined {
  for (const part of Object.keys(SCAN_LAYOUT) as (keyof typeof SCAN_LAYOUT)[]) {
    const theirs = typeof layout === 'object' && layout !== null ? (layout as Record<string, unknown>)[part] : undefined;
    for (const [field, ours] of Object.entries(SCAN_LAYOUT[part])) {
      const value = typeof theirs === 'object' && theirs !== null ? (theirs as Record<string, unknown>)[field] : undefined;
      if (value !== ours) return `scan layout ${part}.${field} is ${String(value)}, expected ${ours}`;
    }
  }
  return undefined;
}

// ELF e_machine values of the architectures Node runs on here, by process.arch.
const ELF_MACHINES: Readonly<Record<number, { readonly name: string; readonly arch: string }>> = {
  3: { name: 'x86 (32-bit)', arch: 'ia32' },
  40: { name: 'ARM (32-bit)', arch: 'arm' },
  62: { name: 'x86-64', arch: 'x64' },
  183: { name: 'AArch64', arch: 'arm64' },
  243: { name: 'RISC-V', arch: 'riscv64' },
};

/**
 * dlopen reports a binary for another CPU as "No such file or directory"; this names the CPU
 * the file was built for when it is not ours, else returns "".
 */
function foreignArchNote(file: string): string {
  const header = Buffer.alloc(20);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    if (readSync(fd, header, 0, header.length, 0) < header.length) return '';
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return '';
  const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  const known = ELF_MACHINES[machine];
  if (known?.arch === process.arch) return '';
  return ` (the file is ${known ? `an ${known.name}` : `an ELF machine ${machine}`} binary, this Node is ${process.arch})`;
}

/** A loader error with what it means when dlopen's own words do not say it. */
export function loadErrorText(file: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const glibc = /version `(GLIBC_[\d.]+|GLIBCXX_[\d.]+|CXXABI_[\d.]+)' not found/.exec(message);
  const note = glibc ? ` (this host's C/C++ runtime is older than ${glibc[1]})` : foreignArchNote(file);
  return `${file}: ${message}${note}`;
}

/** The reason given when there is no addon file at all for this platform. */
export function describeNoCandidates(root: string): string {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  return `no prebuild for ${process.platform}-${process.arch} (looked in ${dir}) and no local build (build/Release under ${root})`;
}

function load(): { addon: NativeAddon | undefined; info: NativeInfo } {
  if (process.env.IPTABLES_SYNC_NO_NATIVE === '1') {
    return { addon: undefined, info: { loaded: false, reason: 'disabled by IPTABLES_SYNC_NO_NATIVE=1', tried: [] } };
  }
  const root = packageRoot();
  const skipped: string[] = [];
  const tried = candidates(root);
  for (const file of tried) {
    let value: unknown;
    try {
      value = require(file);
    } catch (err) {
      skipped.push(loadErrorText(file, err));
      continue;
    }
    const abi = typeof value === 'object' && value !== null ? (value as { abiVersion?: unknown }).abiVersion : undefined;
    if (abi !== NATIVE_ABI_VERSION || !isAddon(value)) {
      skipped.push(`${file}: interface version ${String(abi)}, expected ${NATIVE_ABI_VERSION} (stale build?)`);
      continue;
    }
    const mismatch = layoutMismatch(value.scanLayout);
    if (mismatch !== undefined) {
      skipped.push(`${file}: ${mismatch} (stale build?)`);
      continue;
    }
    const info: NativeInfo = skipped.length ? { loaded: true, path: file, reason: skipped.join('; '), tried } : { loaded: true, path: file, tried };
    return { addon: value, info };
  }
  const reason = skipped.length ? skipped.join('; ') : describeNoCandidates(root);
  return { addon: undefined, info: { loaded: false, reason, tried } };
}

/** The addon, or undefined when it cannot load or IPTABLES_SYNC_NO_NATIVE=1. Loaded once. */
export function loadNative(): NativeAddon | undefined {
  state ??= load();
  return state.addon;
}

/**
 * Whether the native addon loaded, from which file, or why not: `reason` names each file tried
 * and the loader's error. Without it the package still works (TypeScript reader and hashing),
 * but the lock functions throw LockUnavailableError.
 */
export function nativeInfo(): NativeInfo {
  state ??= load();
  return state.info;
}

/**
 * Felix's chained rule IDs for one chain (the same as ruleHashesFor) computed in C++, or undefined when the
 * addon is not loaded. `renderedRulesJoinedByNewline` holds `count` lines, each
 * `rule.renderAppend(chainName, "HASH")`.
 */
export function chainRuleHashes(
  chainName: string,
  renderedRulesJoinedByNewline: string,
  count: number,
): string[] | undefined {
  const addon = loadNative();
  if (!addon) return undefined;
  const joined = addon.chainRuleHashes(chainName, renderedRulesJoinedByNewline, count);
  const ids = new Array<string>(count);
  for (let i = 0; i < count; i++) ids[i] = joined.substring(i * RULE_ID_LENGTH, (i + 1) * RULE_ID_LENGTH);
  return ids;
}

/**
 * Rule IDs of many chains in one native call: `names[c]` has `counts[c]` rules whose bodies are
 * `bodies` (joined by newlines, chain after chain). Returns all IDs concatenated (16 characters
 * each), or undefined when the addon is not loaded.
 */
export function hashChainBodies(names: string, counts: Uint32Array, bodies: string): string | undefined {
  return loadNative()?.hashChains(names, counts, bodies);
}
