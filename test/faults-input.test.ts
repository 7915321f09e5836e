// Issue #11, the input half: what a rules file or a rule can do to `check`, `plan` and the
// library before anything is applied. Each block reproduces one thing that was seen and asserts
// the fixed behaviour, on the real built CLI (node dist/cli.js) and, where the kernel decides,
// on both backends in throwaway namespaces:
//  - protocol dependencies iptables checks (multiport and ICMP need the right -p, one -p per rule)
//    are refused when the Rule is built, with the kernel confirming every verdict;
//  - hostile rules files (alias bombs, /dev/zero, FIFOs, deep nesting, invalid UTF-8, huge
//    values) end in bounded time with one positioned error and bounded stderr;
//  - `check --kernel` runs the file's restore input in a throwaway namespace;
//  - the reader's UTF-8 scanner (which finds the offset) agrees with Node's validator.
import { isUtf8 } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AcceptAction } from '../src/actions';
import { InvalidRuleError } from '../src/errors';
import { Match, type MatchCriteria } from '../src/match';
import { Rule } from '../src/rule';
import { firstInvalidUtf8 } from '../src/rules-file/read';
import { BACKENDS, useNamespace } from './helpers/netns';
import { runCliTimed, buildCliIfMissing, type CliResult, CLI, runCommandLine } from './helpers/run-cli';

const scratch = mkdtempSync(join(tmpdir(), 'ipts-fi-'));
function rulesFile(name: string, text: string | Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

beforeAll(() => {
  // `npm test` builds first; a lone `vitest run` of this file builds here.
  buildCliIfMissing();
});

// --- protocol dependencies -------------------------------------------------------------------

interface DependencyCase {
  readonly label: string;
  readonly family: 4 | 6;
  readonly match: () => MatchCriteria;
  /** What iptables does with the rendered rule (the kernel run below confirms each one). */
  readonly kernel: 'accepts' | 'refuses';
  /** For refused cases: the criterion the error must name. */
  readonly names?: string;
}

const M = Match;
const DEPENDENCY_CASES: readonly DependencyCase[] = [
  // multiport: a protocol with ports, not negated, written before the ports
  { label: 'destPorts without a protocol', family: 4, match: () => M().destPorts(80), kernel: 'refuses', names: 'destPorts' },
  { label: 'sourcePortRanges without a protocol', family: 4, match: () => M().sourcePortRanges([{ first: 80, last: 90 }]), kernel: 'refuses', names: 'sourcePortRanges' },
  { label: 'tcp then destPorts', family: 4, match: () => M().protocol('tcp').destPorts(80), kernel: 'accepts' },
  { label: 'destPorts then tcp (iptables reads -p first)', family: 4, match: () => M().destPorts(80).protocol('tcp'), kernel: 'refuses', names: 'destPorts' },
  { label: 'all then destPorts', family: 4, match: () => M().protocol('all').destPorts(80), kernel: 'refuses', names: 'destPorts' },
  { label: 'protocol 0 then notDestPorts', family: 4, match: () => M().protocolNum(0).notDestPorts(80), kernel: 'refuses', names: 'notDestPorts' },
  { label: 'negated tcp then destPorts', family: 4, match: () => M().notProtocol('tcp').destPorts(80), kernel: 'refuses', names: 'destPorts' },
  { label: 'icmp then destPorts', family: 4, match: () => M().protocol('icmp').destPorts(80), kernel: 'refuses', names: 'destPorts' },
  { label: 'protocol 6 then sourcePorts', family: 4, match: () => M().protocolNum(6).sourcePorts(80), kernel: 'accepts' },
  { label: 'TCP (upper case) then destPortRanges', family: 4, match: () => M().protocol('TCP').destPortRanges([{ first: 1, last: 2 }]), kernel: 'accepts' },
  { label: 'udp then notSourcePorts', family: 4, match: () => M().protocol('udp').notSourcePorts(53), kernel: 'accepts' },
  { label: 'udplite then destPorts', family: 4, match: () => M().protocol('udplite').destPorts(1), kernel: 'accepts' },
  { label: 'protocol 132 (sctp) then notSourcePortRanges', family: 4, match: () => M().protocolNum(132).notSourcePortRanges([{ first: 1, last: 9 }]), kernel: 'accepts' },
  { label: 'dccp then notDestPortRanges', family: 4, match: () => M().protocol('dccp').notDestPortRanges([{ first: 5, last: 5 }]), kernel: 'accepts' },
  { label: 'protocol 33 (dccp) then destPorts', family: 4, match: () => M().protocolNum(33).destPorts(1), kernel: 'accepts' },
  { label: 'ipv6-icmp then destPorts (IPv6)', family: 6, match: () => M().protocol('ipv6-icmp').destPorts(80), kernel: 'refuses', names: 'destPorts' },
  { label: 'tcp then destPorts (IPv6)', family: 6, match: () => M().protocol('tcp').destPorts(80), kernel: 'accepts' },
  // ICMP: the kernel wants the match's own protocol, not negated; the order does not matter
  { label: 'icmpType without a protocol', family: 4, match: () => M().icmpType(8), kernel: 'refuses', names: 'icmpType' },
  { label: 'icmp then icmpType', family: 4, match: () => M().protocol('icmp').icmpType(8), kernel: 'accepts' },
  { label: 'icmpType then icmp', family: 4, match: () => M().icmpType(8).protocol('icmp'), kernel: 'accepts' },
  { label: 'ICMP (upper case) then notIcmpType', family: 4, match: () => M().protocol('ICMP').notIcmpType(3), kernel: 'accepts' },
  { label: 'protocol 1 then notIcmpTypeAndCode', family: 4, match: () => M().protocolNum(1).notIcmpTypeAndCode(8, 0), kernel: 'accepts' },
  { label: 'negated icmp then icmpType', family: 4, match: () => M().notProtocol('icmp').icmpType(8), kernel: 'refuses', names: 'icmpType' },
  { label: 'tcp then icmpTypeAndCode', family: 4, match: () => M().protocol('tcp').icmpTypeAndCode(3, 1), kernel: 'refuses', names: 'icmpTypeAndCode' },
  { label: 'all then icmpType', family: 4, match: () => M().protocol('all').icmpType(8), kernel: 'refuses', names: 'icmpType' },
  { label: 'icmpv6 then icmpType (IPv4)', family: 4, match: () => M().protocol('icmpv6').icmpType(8), kernel: 'refuses', names: 'icmpType' },
  { label: 'icmpV6Type without a protocol', family: 6, match: () => M().icmpV6Type(128), kernel: 'refuses', names: 'icmpV6Type' },
  { label: 'ipv6-icmp then icmpV6Type', family: 6, match: () => M().protocol('ipv6-icmp').icmpV6Type(128), kernel: 'accepts' },
  { label: 'icmpv6 then notIcmpV6Type', family: 6, match: () => M().protocol('icmpv6').notIcmpV6Type(128), kernel: 'accepts' },
  { label: 'protocol 58 then icmpV6TypeAndCode', family: 6, match: () => M().protocolNum(58).icmpV6TypeAndCode(1, 3), kernel: 'accepts' },
  { label: 'icmpV6Type then IPV6-ICMP', family: 6, match: () => M().icmpV6Type(128).protocol('IPV6-ICMP'), kernel: 'accepts' },
  { label: 'negated icmpv6 then icmpV6Type', family: 6, match: () => M().notProtocol('icmpv6').icmpV6Type(128), kernel: 'refuses', names: 'icmpV6Type' },
  { label: 'icmp then notIcmpV6TypeAndCode (IPv6)', family: 6, match: () => M().protocol('icmp').notIcmpV6TypeAndCode(1, 0), kernel: 'refuses', names: 'notIcmpV6TypeAndCode' },
  // one -p per rule
  { label: 'tcp and udp', family: 4, match: () => M().protocol('tcp').protocol('udp'), kernel: 'refuses', names: 'protocol' },
  { label: 'tcp and not 17', family: 4, match: () => M().protocol('tcp').notProtocolNum(17), kernel: 'refuses', names: 'notProtocolNum' },
  { label: 'a lone negated protocol', family: 4, match: () => M().notProtocolNum(17), kernel: 'accepts' },
];

describe('validation knows the protocol dependencies iptables checks', () => {
  for (const c of DEPENDENCY_CASES) {
    it(`${c.label}: ${c.kernel === 'accepts' ? 'a Rule is built' : `InvalidRuleError naming ${c.names}`}`, () => {
      const match = c.match(); // the builder itself never refuses: order is free until the Rule
      let error: unknown;
      try {
        new Rule({ match, action: new AcceptAction() });
      } catch (e) {
        error = e;
      }
      if (c.kernel === 'accepts') {
        expect(error).toBeUndefined();
      } else {
        expect(error).toBeInstanceOf(InvalidRuleError);
        expect((error as InvalidRuleError).where).toBe(c.names);
        expect((error as Error).message.startsWith(`${c.names}: `)).toBe(true);
      }
    });
  }

  describe.each(BACKENDS)('the kernel agrees (%s, each rendered match loaded alone)', (backend) => {
    const ns = useNamespace('fi-deps');

    it('every accepted case loads and every refused case fails', async () => {
      const verdicts: string[] = [];
      const expected: string[] = [];
      for (const c of DEPENDENCY_CASES) {
        const bin = `${c.family === 6 ? 'ip6tables' : 'iptables'}-${backend}-restore`;
        const input = `*filter\n:fi-dep - -\n-A fi-dep ${c.match().render()} -j ACCEPT\nCOMMIT\n`;
        const res = await ns.exec(bin, ['--noflush'], input);
        verdicts.push(`${c.label}: ${res.code === 0 ? 'accepts' : 'refuses'}`);
        expected.push(`${c.label}: ${c.kernel}`);
      }
      expect(verdicts).toEqual(expected);
    }, 60_000);
  });

  it('check reports a dependency with file:line:column of the criterion, exit 1', async () => {
    const file = rulesFile(
      'ports-without-protocol.yaml',
      ['tables:', '  filter:', '    chains:', '      ipts-web:', '        - match: { destNet: 10.0.0.0/8, destPorts: [80, 443] }', '          action: accept', ''].join('\n'),
    );
    const res = await runCliTimed(['check', '-f', file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    const first = res.stderr.split('\n')[0] as string;
    expect(first).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:41: tables\\.filter\\.chains\\.ipts-web\\[0\\]\\.match\\.destPorts: .*protocol`));
  });

  it('plan reports the same position, before reading the dataplane', async () => {
    const file = rulesFile(
      'icmp-without-protocol.yaml',
      ['tables:', '  filter:', '    insert:', '      INPUT:', '        - match:', '            - protocol: tcp', '            - icmpType: 8', '          action: drop', ''].join('\n'),
    );
    const res = await runCliTimed(['plan', '-f', file, '--netns', 'fi-no-such-namespace']);
    expect(res.code).toBe(1);
    expect(res.stderr.split('\n')[0]).toContain(`${file}:7:15: tables.filter.insert.INPUT[0].match[1].icmpType: `);
  });
});

// --- hostile rules files -----------------------------------------------------------------------

/** Runs the CLI under GNU time, so the test sees the child's peak memory. */
async function runMeasured(args: readonly string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<CliResult & { maxRssKiB: number }> {
  const res = await runCommandLine('/usr/bin/time', ['-f', 'fi-maxrss=%M', process.execPath, CLI, ...args], options);
  const m = /fi-maxrss=(\d+)\s*$/.exec(res.stderr);
  return { ...res, stderr: res.stderr.replace(/(Command exited with non-zero status \d+\n)?fi-maxrss=\d+\s*$/, ''), maxRssKiB: m ? Number(m[1]) : Infinity };
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The fixed behaviour every hostile file must get: exit 1 in bounded time, nothing on stdout,
 *  a first line "file[:line:column]: message", no stack trace, small stderr. */
function expectRefused(res: CliResult, file: string, message: RegExp, maxMs = 10_000): void {
  expect(res.signal).toBeNull();
  expect(res.code).toBe(1);
  expect(res.ms).toBeLessThan(maxMs);
  expect(res.stdout).toBe('');
  const first = res.stderr.split('\n')[0] as string;
  expect(first).toMatch(new RegExp(`^${escapeRe(file)}(:\\d+:\\d+)?: `));
  expect(first.slice(file.length)).toMatch(message); // (the file name must not be what matches)
  expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(res.stderr).not.toMatch(/RangeError|Maximum call stack/);
  expect(res.stderr.length).toBeLessThan(4096);
}

const VALID = 'tables:\n  filter:\n    chains:\n      ipts-a:\n        - match: { protocol: tcp, destPorts: [22] }\n          action: accept\n';

describe('hostile rules files are refused in bounded time, with one positioned error', () => {
  it('a 3.4 KB YAML alias bomb (10 levels of 10 aliases, used as a port list)', async () => {
    const lines = ['x:', '  - &lol0 [80, 80, 80, 80, 80, 80, 80, 80, 80, 80]'];
    for (let i = 1; i <= 10; i++) lines.push(`  - &lol${i} [${Array.from({ length: 10 }, () => `*lol${i - 1}`).join(', ')}]`);
    lines.push(...VALID.replace('[22]', '*lol10').split('\n'));
    const text = `${lines.join('\n')}`.padEnd(3400, '#');
    const file = rulesFile('alias-bomb.yaml', `${text}\n`);
    const res = await runMeasured(['check', '-f', file]);
    expectRefused(res, file, /alias/i);
    expect(res.maxRssKiB).toBeLessThan(300 * 1024);
  });

  it('20,000 uses of one anchor (each cheap, together quadratic) stop at the alias limit', async () => {
    const file = rulesFile(
      'alias-many.yaml',
      `tables:\n  filter:\n    chains:\n      ipts-a:\n        - &r { match: { protocol: tcp, destPorts: [80] }, action: accept }\n${'        - *r\n'.repeat(20_000)}`,
    );
    const res = await runCliTimed(['check', '-f', file]);
    expectRefused(res, file, /alias/i);
  });

  it('a few aliases are still fine', async () => {
    const file = rulesFile(
      'alias-ok.yaml',
      'tables:\n  filter:\n    chains:\n      ipts-a:\n        - { match: { protocol: tcp, destPorts: &web [80, 443] }, action: accept }\n        - { match: { protocol: udp, destPorts: *web }, action: accept }\n',
    );
    const res = await runCliTimed(['check', '-f', file]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });

  it('/dev/zero is refused before reading, in bounded memory', async () => {
    const res = await runMeasured(['check', '-f', '/dev/zero']);
    expectRefused(res, '/dev/zero', /not a regular file.*character device/, 5_000);
    expect(res.maxRssKiB).toBeLessThan(200 * 1024);
  });

  it('a FIFO is refused without waiting for a writer', async () => {
    const fifo = join(scratch, 'rules.fifo');
    execFileSync('mkfifo', [fifo]);
    const res = await runCliTimed(['check', '-f', fifo]);
    expectRefused(res, fifo, /not a regular file.*FIFO/, 5_000);
  });

  it('a directory is refused as not a regular file', async () => {
    const res = await runCliTimed(['check', '-f', scratch]);
    expectRefused(res, scratch, /not a regular file.*directory/, 5_000);
  });

  it('a file over the size limit is refused before reading (default 256 MiB; --max-file-size)', async () => {
    const sparse = join(scratch, 'huge.yaml');
    execFileSync('truncate', ['-s', '300M', sparse]);
    const res = await runMeasured(['check', '-f', sparse]);
    expectRefused(res, sparse, /300 MiB.*over the limit of 256 MiB.*--max-file-size/, 5_000);
    expect(res.maxRssKiB).toBeLessThan(200 * 1024);

    const small = rulesFile('small.yaml', VALID);
    expectRefused(await runCliTimed(['check', '-f', small, '--max-file-size', '100']), small, /over the limit of 100 bytes/);
    const ok = await runCliTimed(['check', '-f', small, '--max-file-size', '1KiB']);
    expect(ok.code).toBe(0);
    const bad = await runCliTimed(['check', '-f', small, '--max-file-size', 'lots']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--max-file-size');
  });

  it('stdin ("-") is read, with the same size limit', async () => {
    const ok = await runCliTimed(['check', '-f', '-'], { stdin: VALID });
    expect(ok.stdout).toContain('- is valid');
    expect(ok.code).toBe(0);
    const big = await runCliTimed(['check', '-f', '-', '--max-file-size', '64'], { stdin: VALID });
    expectRefused(big, '-', /over the limit of 64 bytes/);
  });

  it('100,000 nested "[" in JSON: a positioned nesting error, no RangeError', async () => {
    const file = rulesFile('deep.json', '['.repeat(100_000));
    const res = await runCliTimed(['check', '-f', file]);
    expectRefused(res, file, /^:1:\d+: .*nest(ed|ing) deeper than 64/);
  });

  it('100,000 nested "[" in YAML: the same', async () => {
    const file = rulesFile('deep.yaml', `tables: ${'['.repeat(100_000)}`);
    const res = await runCliTimed(['check', '-f', file]);
    expectRefused(res, file, /^:1:\d+: .*nest(ed|ing) deeper than 64/);
  });

  it('YAML nested by indentation is limited too', async () => {
    const file = rulesFile('deep-block.yaml', `tables:\n${Array.from({ length: 200 }, (_, i) => `${' '.repeat(i + 1)}- `).join('\n')}x\n`);
    const res = await runCliTimed(['check', '-f', file]);
    expectRefused(res, file, /nest(ed|ing) deeper than 64/);
  });

  it('invalid UTF-8 is refused with the byte offset, line and column of the first bad byte', async () => {
    const head = 'tables:\n  filter:\n    chains:\n      ipts-a:\n        - action: accept\n          comment: "caf';
    const bytes = Buffer.concat([Buffer.from(`${head}é `, 'utf8'), Buffer.from([0xff, 0xfe]), Buffer.from('"\n')]);
    const file = rulesFile('bad-utf8.yaml', bytes);
    const offset = Buffer.byteLength(`${head}é `, 'utf8');
    const res = await runCliTimed(['check', '-f', file]);
    expectRefused(res, file, new RegExp(`:6:26: invalid UTF-8 at byte offset ${offset}`));
  });

  it('a 10 MB comment is not echoed: the quoted value is cut at 200 characters', async () => {
    const file = rulesFile('big-comment.yaml', `tables:\n  filter:\n    chains:\n      ipts-a:\n        - action: accept\n          comment: "${'x'.repeat(10_000_000)}"\n`);
    const res = await runCliTimed(['check', '-f', file]);
    expectRefused(res, file, /:6:20: .*comment must be at most 255 bytes \(got "x{200}"… \(10000000 characters\)\)/);
  });

  it('a 10 MB key is not echoed either, nor compared for a suggestion', async () => {
    // (YAML caps implicit keys at 1024 characters; JSON has no such cap.)
    const file = rulesFile('big-key.json', `{"tables": {"filter": {"${'k'.repeat(10_000_000)}": 1}}}\n`);
    const res = await runCliTimed(['check', '-f', file]);
    expectRefused(res, file, /^:1:24: .*unknown key "k{200}"… \(10000000 characters\)/);
  });
});

// --- check --kernel ----------------------------------------------------------------------------

/** A chain whose rule `badAt` (0-based) the kernel refuses: rpfilter outside raw and mangle
 *  (a combination the model does not know), among rules it accepts. */
function kernelFile(name: string, rules: number, badAt: number): string {
  const lines = ['tables:', '  filter:', '    chains:', '      ipts-k:'];
  for (let i = 0; i < rules; i++) {
    lines.push(i === badAt ? '        - match: { rpfCheckPassed: true }' : `        - match: { protocol: tcp, destPorts: [${1000 + i}] }`, '          action: accept');
  }
  lines.push('    insert:', '      INPUT:', '        - action: { jump: ipts-k }', '');
  const file = rulesFile(name, lines.join('\n'));
  chmodSync(file, 0o644);
  return file;
}

describe('check --kernel loads the restore input into a throwaway namespace', () => {
  const ns = useNamespace('fi-kernel');
  beforeAll(async () => {
    chmodSync(scratch, 0o755);
  });

  /** The CLI run inside our test namespace, so we can see that it left that namespace alone. */
  const inNs = (args: readonly string[]): Promise<CliResult> => runCommandLine('ip', ['netns', 'exec', ns.name, process.execPath, CLI, ...args], {});

  describe.each(BACKENDS)('%s', (backend) => {
    it('a rule the kernel refuses: its file:line:column, the restore line and iptables\' message; exit 1', async () => {
      const file = kernelFile(`refused-${backend}.yaml`, 3, 1);
      const res = await inNs(['check', '--kernel', '--backend', backend, '-f', file]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      const [first, line] = res.stderr.split('\n');
      expect(first).toBe(`${file}:7:11: tables.filter.chains.ipts-k[1]: iptables-${backend}-restore refused this rule (loaded into a throwaway network namespace, exit ${backend === 'nft' ? 4 : 1}):`);
      expect(line).toMatch(/^ {4}-A ipts-k -m comment --comment "ipts:[A-Za-z0-9_-]{16}" -m rpfilter --jump ACCEPT$/);
      expect(res.stderr).toMatch(backend === 'nft' ? /RULE_APPEND failed \(Invalid argument\)/ : /iptables-restore: line \d+ failed/);
      // Nothing reached the namespace the CLI ran in.
      expect(await ns.save(backend, 'filter')).not.toContain('ipts-');
    });

    it('the refused rule is found among 60 (legacy names only COMMIT: found by bisection)', async () => {
      const file = kernelFile(`refused-60-${backend}.yaml`, 60, 37);
      const res = await inNs(['check', '--kernel', '--backend', backend, '-f', file]);
      expect(res.code).toBe(1);
      expect(res.stderr.split('\n')[0]).toContain(`${file}:${5 + 2 * 37}:11: tables.filter.chains.ipts-k[37]: `);
    }, 60_000);

    it('a good file: valid, loaded, exit 0, and the namespace it ran in is untouched', async () => {
      const file = kernelFile(`good-${backend}.yaml`, 3, -1);
      const res = await inNs(['check', '--kernel', '--backend', backend, '-f', file]);
      expect(res.stderr).toBe('');
      expect(res.stdout).toBe(`${file} is valid (filter: 1 chain, 3 rules, 1 insert); iptables-${backend}-restore loads it into a throwaway network namespace.\n`);
      expect(res.code).toBe(0);
      expect(await ns.save(backend, 'filter')).not.toContain('ipts-');
    });

    it('--json says which rule and what iptables said', async () => {
      const file = kernelFile(`refused-json-${backend}.yaml`, 2, 0);
      const res = await inNs(['check', '--kernel', '--json', '--backend', backend, '-f', file]);
      expect(res.code).toBe(1);
      const out = JSON.parse(res.stdout) as { valid: boolean; kernel: { accepted: boolean; refusal: { rule: { line: number; column: number; path: string }; line: string; stderr: string } } };
      expect(out.valid).toBe(false);
      expect(out.kernel.accepted).toBe(false);
      expect(out.kernel.refusal.rule).toEqual({ line: 5, column: 11, path: 'tables.filter.chains.ipts-k[0]' });
      expect(out.kernel.refusal.line).toContain('-m rpfilter');
      expect(out.kernel.refusal.stderr).not.toBe('');
    });
  });

  it('not root: a clear error, exit 1, nothing run', async () => {
    const file = kernelFile('not-root.yaml', 2, -1);
    const res = await runCommandLine('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'check', '--kernel', '--backend', 'nft', '-f', file], {});
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('iptables-sync: error: check --kernel needs root: it loads the rules with iptables-restore into a throwaway network namespace (unshare --net)\n');
  });

  it('without --kernel, check runs no iptables at all (works as any user)', async () => {
    const file = kernelFile('plain.yaml', 2, 1);
    const res = await runCommandLine('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'check', '-f', file], {});
    expect(res.code).toBe(0);
  });
});

describe('firstInvalidUtf8 agrees with Node\'s own UTF-8 validation', () => {
  it('-1 exactly for valid UTF-8; otherwise the bytes before it are valid and the text from it is not', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
      // valid text with one byte changed, cut or inserted
      fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([s, at, b]) => {
        const buf = Buffer.from(s, 'utf8');
        buf[at % buf.length] = b;
        return new Uint8Array(buf);
      }),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const offset = firstInvalidUtf8(b);
        expect(offset === -1).toBe(isUtf8(b));
        if (offset >= 0) {
          expect(isUtf8(b.subarray(0, offset))).toBe(true);
          // No valid sequence starts at the offset: every prefix of the rest is invalid.
          expect(isUtf8(b.subarray(offset, offset + 1))).toBe(false);
          expect([1, 2, 3, 4].some((n) => offset + n <= b.length && isUtf8(b.subarray(offset, offset + n)))).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
