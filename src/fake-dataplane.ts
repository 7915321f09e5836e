// The in-memory dataplane behind FakeIptables (src/testing.ts): tables of chains of rule bodies per
// IP version, changed by restore input the way `iptables-restore` changes the kernel's, and
// printed the way `iptables-save` prints it. Measured against iptables v1.8.9, legacy and nft:
//
// - Each `*table` … `COMMIT` block is one transaction: all of it lands or none. Blocks before a
//   failing one stay committed (both backends).
// - With --noflush, `:CHAIN POLICY [p:b]` creates a user chain, or flushes an existing one; for a
//   kernel chain it only sets the policy (`-` keeps it). Without --noflush, `*table` first
//   flushes every chain and deletes every user chain.
// - A rule naming a missing chain, a rule number out of range, `-N` of an existing chain, `-X` of a
//   missing, non-empty or referenced chain or of a kernel chain (nft: one with rules or policy DROP), and `-D` of a rule that is not there fail the
//   transaction ("line N failed"); a jump to a missing chain fails with "Couldn't load target"
//   (legacy) or "Chain '…' does not exist" (nft).
// - iptables-save lists the kernel chains in the kernel's order, then user chains sorted by name,
//   then the rules chain by chain in that order.
//
// nft checks jumps only when it commits, so it names the COMMIT line for a jump to a missing chain
// (legacy names the rule's line); the fake does the same. Where the fake is simpler: rules are
// kept as text (canonicalRuleBody), so `-D chain rule-spec` matches the printed form of the rule,
// not the kernel's binary form; no match or target module is checked for existence.
import type { IpVersion } from './backend';
import { canonicalRuleBody, splitRuleWords } from './fake-rule-text';
import { IptablesSyncError } from './errors';
import { targetOfRuleWords } from './save-line';
import { KERNEL_CHAINS, type TableName } from './table-names';

/** Which iptables the fake plays: the legacy binaries or the nft ones (their version strings,
 *  iptables-save header and error wording differ). */
export type FakeDialect = 'legacy' | 'nft';

/** Restore input the fake iptables-restore rejected; nothing of the failing transaction landed.
 *  `line` is the 1-based input line it named, `stderr` and `exitCode` what the real binary
 *  prints and exits with. */
export class FakeRestoreError extends IptablesSyncError {
  constructor(
    /** The 1-based input line named. */
    readonly line: number,
    /** The exit code the real binary gives for this failure (1, 2 or 4). */
    readonly exitCode: number,
    /** What the real binary prints to stderr. */
    readonly stderr: string,
  ) {
    super(`fake iptables-restore failed at input line ${line}: ${stderr.trim()}`);
  }
}

/** Targets iptables finds as extensions, so a jump to them needs no chain. */
const EXTENSION_TARGETS = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'QUEUE', 'NFQUEUE', 'REJECT', 'LOG', 'NFLOG', 'MARK', 'CONNMARK', 'DNAT', 'SNAT', 'MASQUERADE',
  'REDIRECT', 'NETMAP', 'NOTRACK', 'CT', 'TCPMSS', 'TPROXY', 'TRACE', 'TOS', 'TTL', 'HL', 'DSCP', 'CLASSIFY', 'CHECKSUM',
  'AUDIT', 'SET', 'SYNPROXY', 'TEE', 'SECMARK', 'CONNSECMARK', 'IDLETIMER',
]);

interface TableState {
  /** Chain name → rule bodies as iptables-save prints them (the text after "-A <chain> "). */
  readonly chains: Map<string, string[]>;
  /** Kernel chain → policy. */
  readonly policies: Map<string, string>;
}

function newTable(name: TableName): TableState {
  const kernel = KERNEL_CHAINS[name];
  return { chains: new Map(kernel.map((c) => [c, []])), policies: new Map(kernel.map((c) => [c, 'ACCEPT'])) };
}

function copyTable(t: TableState): TableState {
  return { chains: new Map([...t.chains].map(([k, v]) => [k, [...v]])), policies: new Map(t.policies) };
}

const isTableName = (name: string): name is TableName => Object.prototype.hasOwnProperty.call(KERNEL_CHAINS, name);

/** The target a rule jumps or goes to, if any. */
export function ruleTarget(body: string): { readonly flag: '-j' | '-g'; readonly name: string } | undefined {
  return targetOfRuleWords(splitRuleWords(body) ?? body.split(' '));
}

/** One failure while applying a line: the kind decides the wording. */
class LineFailure {
  constructor(
    readonly kind: 'failed' | 'busy' | 'target' | 'syntax',
    readonly detail: string,
  ) {}
}

/** The tables of both IP versions, changed only by `restore`. */
export class FakeDataplane {
  private readonly families = new Map<IpVersion, Map<TableName, TableState>>([
    [4, new Map()],
    [6, new Map()],
  ]);

  /** The live state of one table (created with its kernel chains on first use, as the kernel
   *  loads a table on first access). */
  private table(name: TableName, ipVersion: IpVersion): TableState {
    const family = this.families.get(ipVersion) as Map<TableName, TableState>;
    let t = family.get(name);
    if (!t) {
      t = newTable(name);
      family.set(name, t);
    }
    return t;
  }

  /** Tables in use, in the order they were first used. */
  tableNames(ipVersion: IpVersion): TableName[] {
    return [...(this.families.get(ipVersion) as Map<TableName, TableState>).keys()];
  }

  chainNames(name: TableName, ipVersion: IpVersion): string[] {
    return this.orderedChains(name, ipVersion);
  }

  rules(chain: string, name: TableName, ipVersion: IpVersion): readonly string[] | undefined {
    const rules = this.table(name, ipVersion).chains.get(chain);
    return rules ? [...rules] : undefined;
  }

  policy(chain: string, name: TableName, ipVersion: IpVersion): string | undefined {
    return this.table(name, ipVersion).policies.get(chain);
  }

  private orderedChains(name: TableName, ipVersion: IpVersion): string[] {
    const t = this.table(name, ipVersion);
    const kernel = KERNEL_CHAINS[name];
    const user = [...t.chains.keys()].filter((c) => !kernel.includes(c)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return [...kernel, ...user];
  }

  /** The `*table` … `COMMIT` part of iptables-save for one table. */
  saveTable(name: TableName, ipVersion: IpVersion, counters: boolean): string[] {
    const t = this.table(name, ipVersion);
    const chains = this.orderedChains(name, ipVersion);
    const lines = [`*${name}`];
    for (const c of chains) lines.push(`:${c} ${t.policies.get(c) ?? '-'} [0:0]`);
    for (const c of chains) for (const r of t.chains.get(c) ?? []) lines.push(`${counters ? '[0:0] ' : ''}-A ${c} ${r}`);
    lines.push('COMMIT');
    return lines;
  }

  /** Applies restore input like `iptables-restore [--noflush]`; throws FakeRestoreError. */
  restore(input: string, ipVersion: IpVersion, options: { readonly noflush: boolean; readonly dialect: FakeDialect; readonly binary: string; readonly version: string }): void {
    const lines = input.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    let open: { name: TableName; work: TableState } | undefined;
    // nft checks jumps when the transaction commits, and names the COMMIT line.
    let missingTarget: LineFailure | undefined;
    const fail = (n: number, f: LineFailure): never => {
      throw failure(n, f, options.dialect, options.binary, options.version);
    };
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1;
      const line = (lines[i] as string).trim();
      if (line === '' || line.startsWith('#')) continue;
      if (line.startsWith('*')) {
        const name = line.slice(1);
        if (open) fail(n, new LineFailure('failed', 'COMMIT expected'));
        if (!isTableName(name)) fail(n, new LineFailure('failed', `table '${name}' does not exist`));
        const work = copyTable(this.table(name as TableName, ipVersion));
        if (!options.noflush) {
          for (const c of [...work.chains.keys()]) {
            if (KERNEL_CHAINS[name as TableName].includes(c)) work.chains.set(c, []);
            else work.chains.delete(c);
          }
        }
        open = { name: name as TableName, work };
        continue;
      }
      if (!open) fail(n, new LineFailure('syntax', `no command specified`));
      const current = open as { name: TableName; work: TableState };
      if (line === 'COMMIT') {
        if (missingTarget) fail(n, missingTarget);
        (this.families.get(ipVersion) as Map<TableName, TableState>).set(current.name, current.work);
        open = undefined;
        continue;
      }
      try {
        // Counters in front of a rule (`iptables-restore -c` input): the fake keeps none.
        applyLine(line.replace(/^\[\d+:\d+\]\s+/, ''), current.name, current.work, ipVersion, options.dialect);
      } catch (e) {
        if (!(e instanceof LineFailure)) throw e;
        // Once nft has a jump to report, it reports that at COMMIT rather than a later rule's
        // missing chain or rule number (measured).
        if (e.kind === 'target' && options.dialect === 'nft') missingTarget ??= e;
        else if (!(missingTarget && e.kind === 'failed')) fail(n, e);
      }
    }
    if (open) {
      throw new FakeRestoreError(lines.length + 1, 1, `${restoreName(options.binary)}: COMMIT expected at line ${lines.length + 1}\n`);
    }
  }
}

function restoreName(binary: string): string {
  // The legacy binaries call themselves iptables-restore, the nft ones by their full name.
  return binary.replace(/-legacy-/, '-');
}

function failure(n: number, f: LineFailure, dialect: FakeDialect, binary: string, version: string): FakeRestoreError {
  const name = restoreName(binary);
  const help = `Try \`${name} -h' or '${name} --help' for more information.\n`;
  const banner = `${name} ${version} (${dialect === 'nft' ? 'nf_tables' : 'legacy'})`;
  switch (f.kind) {
    case 'syntax':
      return new FakeRestoreError(n, 2, `${f.detail}\nError occurred at line: ${n}\n${help}`);
    case 'target':
      return dialect === 'nft'
        ? new FakeRestoreError(n, 2, `${banner}: Chain '${f.detail}' does not exist\nError occurred at line: ${n}\n${help}`)
        : new FakeRestoreError(n, 2, `${banner}: Couldn't load target \`${f.detail}':No such file or directory\n\nError occurred at line: ${n}\n${help}`);
    case 'busy':
      return dialect === 'nft'
        ? new FakeRestoreError(n, 4, `${banner}: \nline ${n}: CHAIN_DEL failed (Device or resource busy): chain ${f.detail}\n`)
        : new FakeRestoreError(n, 1, `${name}: line ${n} failed\n`);
    case 'failed':
      return new FakeRestoreError(n, 1, dialect === 'nft' ? `${name}: line ${n} failed: ${f.detail}.\n` : `${name}: line ${n} failed\n`);
  }
}

const NO_CHAIN = 'No chain/target/match by that name';

/** Applies one line of a transaction to `work`; throws LineFailure. */
function applyLine(line: string, tableName: TableName, work: TableState, ipVersion: IpVersion, dialect: FakeDialect): void {
  const kernel = KERNEL_CHAINS[tableName];
  const decl = /^:(\S+)\s+(\S+)(?:\s+\S+)?$/.exec(line); // counters are ignored, as without -c
  if (decl) {
    const [, chain, policy] = decl as unknown as [string, string, string];
    if (kernel.includes(chain)) {
      if (policy !== '-') work.policies.set(chain, policy);
    } else {
      work.chains.set(chain, []); // create, or flush an existing chain
    }
    return;
  }
  const m = /^(\S+)(?:\s+(\S+))?(?:\s+(.*))?$/.exec(line) as RegExpExecArray;
  const command = m[1] as string;
  const chain = m[2];
  const rest = m[3] ?? '';
  const rulesOf = (name: string | undefined): string[] => {
    const rules = name === undefined ? undefined : work.chains.get(name);
    if (!rules) throw new LineFailure('failed', NO_CHAIN);
    return rules;
  };
  const checkTarget = (body: string): void => {
    const target = ruleTarget(body);
    if (!target || work.chains.has(target.name) && !kernel.includes(target.name)) return;
    if (target.flag === '-j' && EXTENSION_TARGETS.has(target.name)) return;
    throw new LineFailure('target', target.name);
  };
  const ruleNumber = (text: string | undefined): number | undefined => (text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined);
  switch (command) {
    case '-A':
    case '--append': {
      const rules = rulesOf(chain);
      checkTarget(rest);
      rules.push(canonicalRuleBody(rest, ipVersion, dialect));
      return;
    }
    case '-I':
    case '--insert': {
      const rules = rulesOf(chain);
      const [first, ...others] = rest.split(' ');
      const num = ruleNumber(first);
      const body = num === undefined ? rest : others.join(' ');
      checkTarget(body);
      const at = (num ?? 1) - 1;
      if (at < 0 || at > rules.length) throw new LineFailure('failed', 'Index of insertion too big');
      rules.splice(at, 0, canonicalRuleBody(body, ipVersion, dialect));
      return;
    }
    case '-R':
    case '--replace': {
      const rules = rulesOf(chain);
      const [first, ...others] = rest.split(' ');
      const num = ruleNumber(first);
      if (num === undefined) throw new LineFailure('syntax', `Bad argument \`${first ?? ''}'`);
      const body = others.join(' ');
      checkTarget(body);
      if (num < 1 || num > rules.length) throw new LineFailure('failed', 'Index of replacement too big');
      rules[num - 1] = canonicalRuleBody(body, ipVersion, dialect);
      return;
    }
    case '-D':
    case '--delete': {
      const rules = rulesOf(chain);
      const num = ruleNumber(rest);
      if (num !== undefined) {
        if (num < 1 || num > rules.length) throw new LineFailure('failed', 'Index of deletion too big');
        rules.splice(num - 1, 1);
        return;
      }
      const at = rules.indexOf(canonicalRuleBody(rest, ipVersion, dialect));
      if (at < 0) throw new LineFailure('failed', 'Bad rule (does a matching rule exist in that chain?)');
      rules.splice(at, 1);
      return;
    }
    case '-F':
    case '--flush':
      if (chain === undefined) for (const c of work.chains.keys()) work.chains.set(c, []);
      else rulesOf(chain).length = 0;
      return;
    case '-N':
    case '--new-chain':
      if (chain === undefined) throw new LineFailure('syntax', `option "${command}" requires an argument`);
      if (work.chains.has(chain)) throw new LineFailure('failed', 'Chain already exists');
      work.chains.set(chain, []);
      return;
    case '-X':
    case '--delete-chain': {
      const doomed = chain === undefined ? [...work.chains.keys()].filter((c) => !kernel.includes(c)) : [chain];
      for (const name of doomed) {
        if (kernel.includes(name)) {
          // nft deletes an empty kernel (base) chain of policy ACCEPT, which iptables-nft-save
          // still lists as it was; legacy refuses.
          if (dialect === 'nft' && rulesOf(name).length === 0 && work.policies.get(name) === 'ACCEPT') continue;
          throw new LineFailure('failed', 'Directory not empty');
        }
        const rules = rulesOf(name);
        const referenced = [...work.chains].some(([from, rs]) => (chain !== undefined || kernel.includes(from)) && rs.some((r) => ruleTarget(r)?.name === name));
        if (referenced || rules.length > 0) throw new LineFailure('busy', name);
      }
      for (const name of doomed) if (!kernel.includes(name)) work.chains.delete(name);
      return;
    }
    case '-P':
    case '--policy': {
      if (chain === undefined || !kernel.includes(chain)) throw new LineFailure('failed', 'Bad built-in chain name');
      work.policies.set(chain, rest);
      return;
    }
    case '-Z':
    case '--zero':
      return; // the fake keeps no counters
    default:
      throw new LineFailure('syntax', `Bad argument \`${command}'`);
  }
}
