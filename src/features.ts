// Host features that change how some actions render (latest Felix's feature detection):
// `--random-fully` on SNAT and MASQUERADE, and NFLOG's `--nflog-size` instead of `--nflog-range`.
//
// A Table renders with no features unless asked ('none', the default), so its text and rule IDs
// stay those of Felix v3.2.2. 'auto' detects them once per binary and process, as latest Felix
// does: from the iptables version the binary reports and the kernel version in /proc/version.
import { readFile } from 'node:fs/promises';
import { parseIptablesVersion, versionTextOnce, type RestoreVersion } from './backend';
import type { CommandFactory } from './commands';
import { InvalidOptionError } from './errors';

/** What the host supports (latest Felix's environment.Features, the fields that change rendering). */
export interface Features {
  /** SNAT takes --random-fully: iptables 1.6.0+ and kernel 3.14+. */
  readonly snatFullyRandom: boolean;
  /** MASQUERADE takes --random-fully: iptables 1.6.2+ and kernel 3.14+. */
  readonly masqFullyRandom: boolean;
  /** NFLOG takes --nflog-size (kernel 4.8+); without it Felix writes --nflog-range. */
  readonly nfLogSize: boolean;
}

/** `'none'`: no optional features (Felix v3.2.2's text); `'auto'`: detect; or say which. */
export type FeaturesOption = 'none' | 'auto' | Partial<Features>;

/** No optional features: actions render as Felix v3.2.2 wrote them. */
export const NO_FEATURES: Features = Object.freeze({ snatFullyRandom: false, masqFullyRandom: false, nfLogSize: false });

const FEATURE_NAMES: readonly (keyof Features)[] = ['snatFullyRandom', 'masqFullyRandom', 'nfLogSize'];

/** Validates a `features` option; returns the features it fixes, or 'auto'. */
export function parseFeaturesOption(value: unknown): Features | 'auto' {
  if (value === undefined || value === 'none') return NO_FEATURES;
  if (value === 'auto') return 'auto';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError('features', value, 'expected "none", "auto" or an object such as { snatFullyRandom: true }');
  }
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(FEATURE_NAMES as readonly string[]).includes(key)) {
      throw new InvalidOptionError(`features.${key}`, given[key], `unknown feature; expected ${FEATURE_NAMES.join(', ')}`);
    }
    if (given[key] !== undefined && typeof given[key] !== 'boolean') {
      throw new InvalidOptionError(`features.${key}`, given[key], 'expected true or false');
    }
  }
  return canonical({ snatFullyRandom: given.snatFullyRandom === true, masqFullyRandom: given.masqFullyRandom === true, nfLogSize: given.nfLogSize === true });
}

/** Frozen; NO_FEATURES itself when nothing is on (so a Table can skip re-rendering). */
function canonical(f: Features): Features {
  return f.snatFullyRandom || f.masqFullyRandom || f.nfLogSize ? Object.freeze(f) : NO_FEATURES;
}

/** A dotted version as numbers, compared part by part (a missing part counts as 0). */
export type Version = readonly number[];

function atLeast(v: Version, min: Version): boolean {
  for (let i = 0; i < Math.max(v.length, min.length); i++) {
    const a = v[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

// Latest Felix's thresholds, and what it assumes when a version cannot be learned.
const OLDEST_IPTABLES: Version = [1, 4, 7];
const OLDEST_KERNEL: Version = [3, 10, 0];

/** The features latest Felix derives from these versions (undefined: its safe defaults). */
export function featuresFor(iptables: Version | undefined, kernel: Version | undefined): Features {
  const ipt = iptables ?? OLDEST_IPTABLES;
  const ker = kernel ?? OLDEST_KERNEL;
  const randomFullyKernel = atLeast(ker, [3, 14, 0]);
  return canonical({
    snatFullyRandom: atLeast(ipt, [1, 6, 0]) && randomFullyKernel,
    masqFullyRandom: atLeast(ipt, [1, 6, 2]) && randomFullyKernel,
    nfLogSize: atLeast(ker, [4, 8, 0]),
  });
}

/** The kernel release in /proc/version text ("Linux version 6.1.0-18-amd64 …" → [6, 1, 0, 18]). */
export function parseKernelVersion(text: string): Version | undefined {
  const m = /Linux version (\d+)\.(\d+)\.(\d+)(?:-(\d+))?/.exec(text);
  if (!m) return undefined;
  return m.slice(1).filter((p): p is string => p !== undefined).map(Number);
}

const toVersion = (v: RestoreVersion | undefined): Version | undefined => (v ? [v.major, v.minor, v.patch] : undefined);

// Once per process (iptables versions: once per command factory and binary, versionTextOnce).
let kernelVersion: Promise<Version | undefined> | undefined;

function kernelVersionOnce(): Promise<Version | undefined> {
  kernelVersion ??= readFile('/proc/version', 'latin1').then(parseKernelVersion, () => undefined);
  return kernelVersion;
}

/** The version `<binary> --version` reports (asked once per command factory and binary: versionTextOnce). */
export function binaryVersionOnce(run: CommandFactory, binary: string, timeoutMs: number): Promise<RestoreVersion | undefined> {
  return versionTextOnce(run, binary, timeoutMs).then(parseIptablesVersion);
}

/** Detects the features of `binary` (e.g. iptables-nft-restore) on this host. Never rejects: what
 *  cannot be learned counts as absent, as in latest Felix. */
export async function detectFeatures(run: CommandFactory, binary: string, timeoutMs = 120_000): Promise<Features> {
  const [iptables, kernel] = await Promise.all([binaryVersionOnce(run, binary, timeoutMs).then(toVersion, () => undefined), kernelVersionOnce()]);
  return featuresFor(iptables, kernel);
}
