// Feature detection as latest Felix does it (felix/environment/feature_detect_linux.go): the
// thresholds, the version parsing, the fallbacks, and the `features` option. Expected values are
// written by hand from Felix's rules; the detection on this host is checked against its real
// `--version` output and /proc/version.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { spawnCommand, type CommandFactory } from '../src/commands';
import { InvalidOptionError } from '../src/errors';
import { detectFeatures, featuresFor, NO_FEATURES, parseFeaturesOption, parseKernelVersion } from '../src/features';

describe('featuresFor (latest Felix thresholds)', () => {
  it.each([
    ['iptables 1.8.9, kernel 6.1', [1, 8, 9], [6, 1, 0], { snatFullyRandom: true, masqFullyRandom: true, nfLogSize: true }],
    ['iptables 1.6.2, kernel 3.14', [1, 6, 2], [3, 14, 0], { snatFullyRandom: true, masqFullyRandom: true, nfLogSize: false }],
    ['iptables 1.6.1: SNAT only', [1, 6, 1], [4, 8, 0], { snatFullyRandom: true, masqFullyRandom: false, nfLogSize: true }],
    ['iptables 1.6.0: SNAT only', [1, 6, 0], [5, 0, 0], { snatFullyRandom: true, masqFullyRandom: false, nfLogSize: true }],
    ['iptables 1.4.21: neither', [1, 4, 21], [5, 0, 0], { snatFullyRandom: false, masqFullyRandom: false, nfLogSize: true }],
    ['kernel 3.13: no random-fully', [1, 8, 0], [3, 13, 99], { snatFullyRandom: false, masqFullyRandom: false, nfLogSize: false }],
    ['kernel 4.7.10: no nflog-size', [1, 8, 0], [4, 7, 10], { snatFullyRandom: true, masqFullyRandom: true, nfLogSize: false }],
    ['unknown versions: 1.4.7 and 3.10.0, nothing', undefined, undefined, { snatFullyRandom: false, masqFullyRandom: false, nfLogSize: false }],
  ] as const)('%s', (_label, ipt, ker, expected) => {
    expect(featuresFor(ipt, ker)).toEqual(expected);
  });
});

describe('parseKernelVersion', () => {
  it.each([
    ['Linux version 6.18.44-fc-v973 (builder@x) (gcc 15.3.0) #1 SMP', [6, 18, 44]],
    ['Linux version 4.18.0-330.el8.x86_64 (mockbuild@x)', [4, 18, 0, 330]],
    ['Linux version 3.10.0 (root@h)', [3, 10, 0]],
    ['no kernel here', undefined],
  ] as const)('%s', (text, expected) => {
    expect(parseKernelVersion(text)).toEqual(expected);
  });
});

describe('parseFeaturesOption', () => {
  it('none/undefined: no features; auto; explicit objects fill the rest with false', () => {
    expect(parseFeaturesOption(undefined)).toBe(NO_FEATURES);
    expect(parseFeaturesOption('none')).toBe(NO_FEATURES);
    expect(parseFeaturesOption('auto')).toBe('auto');
    expect(parseFeaturesOption({ masqFullyRandom: true })).toEqual({ snatFullyRandom: false, masqFullyRandom: true, nfLogSize: false });
    // Nothing on is the same as 'none' (the Table then skips re-rendering altogether).
    expect(parseFeaturesOption({ snatFullyRandom: false })).toBe(NO_FEATURES);
    expect(featuresFor(undefined, undefined)).toBe(NO_FEATURES);
  });

  it.each([
    ['"yes"', 'yes'],
    ['an unknown feature', { randomFully: true }],
    ['a non-boolean', { snatFullyRandom: 1 }],
    ['null', null],
    ['an array', []],
  ] as const)('refuses %s', (_label, value) => {
    expect(() => parseFeaturesOption(value)).toThrow(InvalidOptionError);
  });
});

describe('detectFeatures', () => {
  it('on this host: from the binary\'s real --version and /proc/version', async () => {
    // This machine: iptables 1.8.9 and a 6.x kernel (the kernel-backed Table test relies on it too).
    expect(parseKernelVersion(readFileSync('/proc/version', 'latin1'))?.[0]).toBeGreaterThanOrEqual(5);
    expect(await detectFeatures(spawnCommand, 'iptables-nft-restore')).toEqual({ snatFullyRandom: true, masqFullyRandom: true, nfLogSize: true });
  });

  it('asks each binary once per command factory; a binary that cannot run means no features', async () => {
    const calls: string[] = [];
    const failing: CommandFactory = (command, args, options) => {
      calls.push(`${command} ${args.join(' ')}`);
      return spawnCommand('/nonexistent/iptables-restore', args, options);
    };
    // Unknown iptables counts as 1.4.7 (no random-fully); the kernel here still has nflog-size.
    expect(await detectFeatures(failing, 'iptables-legacy-restore')).toEqual({ snatFullyRandom: false, masqFullyRandom: false, nfLogSize: true });
    expect(await detectFeatures(failing, 'iptables-legacy-restore')).toEqual({ snatFullyRandom: false, masqFullyRandom: false, nfLogSize: true });
    expect(calls).toEqual(['iptables-legacy-restore --version']);
  });
});
