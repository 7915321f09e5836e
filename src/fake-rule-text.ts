// How iptables-save (v1.8.x, both backends) prints back a rule body it was given in restore
// input: the part of the fake iptables that plays the kernel's round trip. The kernel stores rules
// in binary form, so iptables-save prints them in its own order and spelling, not as written:
//
//   -p tcp -m comment --comment "x" -m multiport --destination-ports 80 --jump ACCEPT
//   becomes  -p tcp -m comment --comment "x" -m multiport --dports 80 -j ACCEPT
//
// This covers what the library writes (every Match method and action, with and without features)
// and the usual foreign rules; test/fake-differential.test.ts checks it against the real binaries.
// The backends print alike but for NFLOG: nft keeps no --nflog-range. Not modelled (printed as
// given): options of matches and targets other than the ones below, and IPv4-mapped IPv6
// addresses. Protocols are named from /etc/protocols, as iptables-save names them.
import { readFileSync } from 'node:fs';
import type { Backend, IpVersion } from './backend';

const HEADER_ORDER = ['-s', '-d', '-i', '-o', '-p', '-f'] as const;
type HeaderOption = (typeof HEADER_ORDER)[number];
const HEADER_ALIASES: Readonly<Record<string, HeaderOption>> = {
  '-s': '-s',
  '--source': '-s',
  '--src': '-s',
  '-d': '-d',
  '--destination': '-d',
  '--dst': '-d',
  '-i': '-i',
  '--in-interface': '-i',
  '-o': '-o',
  '--out-interface': '-o',
  '-p': '-p',
  '--protocol': '-p',
  '-f': '-f',
  '--fragment': '-f',
};
/** Used when the host has no /etc/protocols. */
const BUILTIN_PROTOCOLS: readonly (readonly [number, string])[] = [
  [1, 'icmp'], [6, 'tcp'], [17, 'udp'], [41, 'ipv6'], [50, 'esp'], [51, 'ah'], [58, 'ipv6-icmp'], [132, 'sctp'], [135, 'mobility-header'], [136, 'udplite'],
];
/** Protocols whose options iptables loads as an implicit match (`-p tcp --dport 22`). */
const IMPLICIT_MATCH: Readonly<Record<string, string>> = { tcp: 'tcp', udp: 'udp', icmp: 'icmp', 'ipv6-icmp': 'icmp6', sctp: 'sctp' };
/** The options of those protocol matches: one of them goes to the protocol's match (loaded
 *  implicitly if no -m loaded it yet) wherever it stands, e.g. after `-m comment --comment x`. */
const PROTOCOL_MATCH_OPTIONS: Readonly<Record<string, ReadonlySet<string>>> = {
  tcp: new Set(['--dport', '--sport', '--destination-port', '--source-port', '--tcp-flags', '--syn', '--tcp-option']),
  udp: new Set(['--dport', '--sport', '--destination-port', '--source-port']),
  sctp: new Set(['--dport', '--sport', '--destination-port', '--source-port', '--chunk-types']),
  icmp: new Set(['--icmp-type']),
  icmp6: new Set(['--icmpv6-type']),
};
const CT_STATE_ORDER = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];
/** REJECT's aliases and the names iptables-save prints for them (per IP version). */
const REJECT_NAMES: Readonly<Record<IpVersion, Readonly<Record<string, string>>>> = {
  4: {
    'net-unreach': 'icmp-net-unreachable',
    'host-unreach': 'icmp-host-unreachable',
    'proto-unreach': 'icmp-proto-unreachable',
    'port-unreach': 'icmp-port-unreachable',
    'net-prohib': 'icmp-net-prohibited',
    'host-prohib': 'icmp-host-prohibited',
    'tcp-rst': 'tcp-reset',
    'admin-prohib': 'icmp-admin-prohibited',
  },
  6: {
    'no-route': 'icmp6-no-route',
    'adm-prohibited': 'icmp6-adm-prohibited',
    'addr-unreach': 'icmp6-addr-unreachable',
    'port-unreach': 'icmp6-port-unreachable',
    'policy-fail': 'icmp6-policy-fail',
    'reject-route': 'icmp6-reject-route',
  },
};
const OPTION_ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  multiport: { '--destination-ports': '--dports', '--source-ports': '--sports' },
  tcp: { '--destination-port': '--dport', '--source-port': '--sport' },
  udp: { '--destination-port': '--dport', '--source-port': '--sport' },
};

interface Option {
  readonly negated: boolean;
  readonly name: string;
  readonly values: string[];
}
interface Module {
  readonly name: string;
  readonly options: Option[];
}

/** Splits a rule body into words; a double-quoted string (a backslash escapes the next character)
 *  is one word, quotes removed. Returns undefined for an unterminated quote. */
export function splitRuleWords(body: string): string[] | undefined {
  const words: string[] = [];
  let i = 0;
  while (i < body.length) {
    while (body[i] === ' ' || body[i] === '\t') i++;
    if (i >= body.length) break;
    let word = '';
    while (i < body.length && body[i] !== ' ' && body[i] !== '\t') {
      if (body[i] === '"') {
        i++;
        while (i < body.length && body[i] !== '"') {
          if (body[i] === '\\' && i + 1 < body.length) i++; // an escaped character
          word += body[i];
          i++;
        }
        if (i >= body.length) return undefined;
        i++;
      } else {
        word += body[i];
        i++;
      }
    }
    words.push(word);
  }
  return words;
}

const isOption = (word: string): boolean => /^-{1,2}[A-Za-z]/.test(word);
/** Options whose one argument is free text. */
const ONE_TEXT_ARGUMENT = new Set(['--comment', '--log-prefix', '--nflog-prefix']);

/**
 * The rule body as iptables-save (v1.8.x) prints it after `iptables-restore` loaded `body`, e.g.
 * `--in-interface eth0 --source 10.1.2.3/16 --jump ACCEPT` → `-s 10.1.0.0/16 -i eth0 -j ACCEPT`.
 * `body` is everything after `-A <chain> `; `ipVersion` 6 for ip6tables (hosts get /128);
 * `backend` the iptables that loaded it (they differ for NFLOG). Text it cannot split (an
 * unterminated quote) is returned as given.
 */
export function canonicalRuleBody(body: string, ipVersion: IpVersion = 4, backend: Backend = 'legacy'): string {
  const words = splitRuleWords(body);
  if (!words) return body;
  const header = new Map<HeaderOption, { negated: boolean; value: string }>();
  const modules: Module[] = [];
  let target: { flag: '-j' | '-g'; name: string; options: Option[] } | undefined;
  let current: Module | undefined;
  let negated = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (word === '!') {
      negated = true;
      continue;
    }
    const headerOption = HEADER_ALIASES[word];
    if (headerOption && !target) {
      const value = headerOption === '-f' ? '' : (words[++i] ?? '');
      header.set(headerOption, { negated, value });
      negated = false;
      continue;
    }
    if ((word === '-m' || word === '--match') && !target) {
      current = { name: words[++i] ?? '', options: [] };
      modules.push(current);
      continue;
    }
    if ((word === '-j' || word === '--jump' || word === '-g' || word === '--goto') && !target) {
      target = { flag: word === '-g' || word === '--goto' ? '-g' : '-j', name: words[++i] ?? '', options: [] };
      continue;
    }
    const values: string[] = [];
    if (ONE_TEXT_ARGUMENT.has(word)) {
      // Free text (it may look like an option: --comment "-a").
      if (i + 1 < words.length) values.push(words[++i] as string);
    } else {
      while (i + 1 < words.length && !isOption(words[i + 1] as string) && words[i + 1] !== '!') values.push(words[++i] as string);
    }
    const option: Option = { negated, name: word, values };
    negated = false;
    if (target) {
      target.options.push(option);
      continue;
    }
    // An option of the protocol's match goes to it; any other to the last -m. Where there is no
    // such match yet, iptables loads the protocol's match implicitly (at the end of the list).
    const proto = protocolName(header.get('-p')?.value ?? '');
    const implicit = IMPLICIT_MATCH[proto] ?? proto;
    const ofProtocol = PROTOCOL_MATCH_OPTIONS[implicit]?.has(word) === true;
    let owner = ofProtocol ? last(modules, (m) => m.name === implicit) : current;
    if (!owner) {
      owner = { name: implicit, options: [] };
      modules.push(owner);
      current ??= owner;
    }
    owner.options.push(option);
  }

  const out: string[] = [];
  for (const flag of HEADER_ORDER) {
    const h = header.get(flag);
    if (!h) continue;
    let value = h.value;
    if (flag === '-s' || flag === '-d') value = canonicalAddress(value, ipVersion);
    if (flag === '-p') value = protocolName(value);
    if (flag === '-p' && (value === 'all' || value === '0') && !h.negated) continue;
    // What matches everything is not stored at all: interface "+", address /0.
    if ((flag === '-i' || flag === '-o') && value === '+' && !h.negated) continue;
    if ((flag === '-s' || flag === '-d') && value.endsWith('/0') && !h.negated) continue;
    out.push(...(h.negated ? ['!'] : []), flag, ...(value === '' ? [] : [value]));
  }
  for (const m of modules) out.push('-m', m.name, ...renderMatch(m, ipVersion));
  if (target) out.push(target.flag, target.name, ...renderTarget(target.name, target.options, ipVersion, backend));
  return out.join(' ');
}

/** A match's options as iptables-save prints them: some matches print their fields in a fixed
 *  order whatever the input order; the others option by option. */
function renderMatch(m: Module, ipVersion: IpVersion): string[] {
  const fixed = m.name === 'limit' ? canonicalLimit(m.options) : m.name === 'rpfilter' ? canonicalRpfilter(m.options) : m.name === 'connlimit' ? canonicalConnlimit(m.options, ipVersion) : undefined;
  return fixed ?? m.options.flatMap((o) => renderOption(m.name, o));
}

function renderTarget(name: string, given: readonly Option[], ipVersion: IpVersion, backend: Backend): string[] {
  if (name === 'NFLOG') {
    const nflog = canonicalNflog(given, backend);
    if (nflog) return nflog;
  }
  if (name === 'CONNMARK') {
    const connmark = canonicalConnmark(given);
    if (connmark) return connmark;
  }
  const options = given.map((o) => canonicalTargetOption(name, o, ipVersion));
  if (name === 'REJECT' && !options.some((o) => o.name === '--reject-with')) {
    options.push({ negated: false, name: '--reject-with', values: [ipVersion === 6 ? 'icmp6-port-unreachable' : 'icmp-port-unreachable'] });
  }
  return options.flatMap((o) => renderOption(name, o));
}

/** The value of the last option `name` (iptables keeps the last one given), or undefined. */
const lastValue = (options: readonly Option[], name: string): string | undefined => last(options, (o) => o.name === name)?.values[0];
function last<T>(items: readonly T[], test: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i] as T)) return items[i];
  return undefined;
}
/** A number as strtoul(text, 0) reads it (0x… hex, 0… octal, else decimal), or undefined. */
function cNumber(text: string): number | undefined {
  if (!/^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.test(text)) return undefined;
  const n = /^0[0-7]+$/.test(text) ? parseInt(text, 8) : Number(text);
  return n <= 0xffffffff ? n : undefined;
}
const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

// The limit match keeps the interval between packets in 1/10000 s and prints it back in the
// largest unit that shows it well: 600000/minute reads back as 10000/sec.
const LIMIT_SCALE = 10000;
const LIMIT_UNITS: readonly (readonly [string, number])[] = [['second', 1], ['minute', 60], ['hour', 3600], ['day', 86400]];
const LIMIT_PRINT: readonly (readonly [string, number])[] = [['day', 86400 * LIMIT_SCALE], ['hour', 3600 * LIMIT_SCALE], ['min', 60 * LIMIT_SCALE], ['sec', LIMIT_SCALE]];
const DEFAULT_LIMIT_BURST = 5;

function canonicalLimit(options: readonly Option[]): string[] | undefined {
  if (!options.every((o) => !o.negated && (o.name === '--limit' || o.name === '--limit-burst'))) return undefined;
  const rate = lastValue(options, '--limit');
  let period = (3600 * LIMIT_SCALE) / 3; // iptables' default rate, 3/hour
  if (rate !== undefined) {
    const m = /^(\d+)(?:\/(.+))?$/.exec(rate);
    const unit = m?.[2] === undefined ? 1 : LIMIT_UNITS.find(([name]) => name.startsWith((m[2] as string).toLowerCase()))?.[1];
    if (!m || unit === undefined || Number(m[1]) === 0) return undefined;
    period = Math.floor((LIMIT_SCALE * unit) / Number(m[1]));
  }
  const burstText = lastValue(options, '--limit-burst');
  const burst = burstText === undefined ? DEFAULT_LIMIT_BURST : Number(burstText);
  if (period === 0 || !Number.isInteger(burst)) return undefined;
  let i = 1;
  for (; i < LIMIT_PRINT.length; i++) {
    const mult = (LIMIT_PRINT[i] as readonly [string, number])[1];
    if (period > mult || Math.floor(mult / period) < mult % period) break;
  }
  const [unitName, mult] = LIMIT_PRINT[i - 1] as readonly [string, number];
  return ['--limit', `${Math.floor(mult / period)}/${unitName}`, ...(burst === DEFAULT_LIMIT_BURST ? [] : ['--limit-burst', String(burst)])];
}

/** rpfilter's flags, printed in a fixed order. */
const RPFILTER_FLAGS = ['--loose', '--validmark', '--accept-local', '--invert'];
function canonicalRpfilter(options: readonly Option[]): string[] | undefined {
  if (!options.every((o) => !o.negated && o.values.length === 0 && RPFILTER_FLAGS.includes(o.name))) return undefined;
  return RPFILTER_FLAGS.filter((f) => options.some((o) => o.name === f));
}

/** connlimit: the limit (`! --connlimit-above N` is `--connlimit-upto N`), the mask as a prefix
 *  length (the whole address if not given), then which address counts. */
function canonicalConnlimit(options: readonly Option[], ipVersion: IpVersion): string[] | undefined {
  let limit: string[] | undefined;
  let mask = String(ipVersion === 6 ? 128 : 32);
  let address = '--connlimit-saddr';
  for (const o of options) {
    const value = o.values[0] ?? '';
    if (o.name === '--connlimit-above' || o.name === '--connlimit-upto') {
      limit = [(o.name === '--connlimit-above') !== o.negated ? '--connlimit-above' : '--connlimit-upto', value];
    } else if (o.name === '--connlimit-mask' && !o.negated) mask = value;
    else if ((o.name === '--connlimit-saddr' || o.name === '--connlimit-daddr') && !o.negated) address = o.name;
    else return undefined;
  }
  return limit ? [...limit, '--connlimit-mask', mask, address] : undefined;
}

/** u32 tests as iptables-save prints them: every number in hex, always quoted
 *  ("0>>22&0x3C@12>>8=0x1000" → "0x0>>0x16&0x3c@0xc>>0x8=0x1000"). */
function canonicalU32(text: string): string | undefined {
  const tests = text.replace(/\s+/g, '').split('&&');
  const out: string[] = [];
  for (const test of tests) {
    const [location, values, ...more] = test.split('=');
    if (location === undefined || values === undefined || more.length > 0) return undefined;
    const parts = location.split(/(&|<<|>>|@)/);
    const numbers = parts.filter((_, i) => i % 2 === 0).map(cNumber);
    if (numbers.some((n) => n === undefined)) return undefined;
    const loc = parts.map((p, i) => (i % 2 === 0 ? hex(numbers[i / 2] as number) : p)).join('');
    const ranges: string[] = [];
    for (const range of values.split(',')) {
      const [min, max, ...rest] = range.split(':').map(cNumber);
      if (min === undefined || rest.length > 0 || (range.includes(':') && max === undefined)) return undefined;
      ranges.push(max === undefined || max === min ? hex(min) : `${hex(min)}:${hex(max)}`);
    }
    out.push(`${loc}=${ranges.join(',')}`);
  }
  return `"${out.join('&&')}"`;
}

/** NFLOG prints its fields in a fixed order, each only if set: prefix, group (not 0), then
 *  --nflog-size, or --nflog-range (not 0; iptables-nft keeps no range at all), threshold. */
function canonicalNflog(options: readonly Option[], backend: Backend): string[] | undefined {
  const known = ['--nflog-prefix', '--nflog-group', '--nflog-size', '--nflog-range', '--nflog-threshold'];
  if (!options.every((o) => !o.negated && o.values.length === 1 && known.includes(o.name))) return undefined;
  const out: string[] = [];
  const prefix = lastValue(options, '--nflog-prefix');
  if (prefix !== undefined && prefix !== '') out.push('--nflog-prefix', quote(prefix));
  const number = (name: string): number | undefined => {
    const text = lastValue(options, name);
    return text === undefined ? undefined : cNumber(text);
  };
  const group = number('--nflog-group');
  if (group !== undefined && group !== 0) out.push('--nflog-group', String(group));
  const size = number('--nflog-size');
  const range = number('--nflog-range');
  if (size !== undefined) out.push('--nflog-size', String(size));
  else if (range !== undefined && range !== 0 && backend === 'legacy') out.push('--nflog-range', String(range));
  const threshold = number('--nflog-threshold');
  if (threshold !== undefined && threshold !== 0) out.push('--nflog-threshold', String(threshold));
  return out;
}

/** CONNMARK: --set-mark is stored as --set-xmark; --save-mark and --restore-mark with one --mask
 *  keep it as both the packet-mark and the connection-mark mask. */
function canonicalConnmark(options: readonly Option[]): string[] | undefined {
  const [first, ...rest] = options;
  if (!first || first.negated) return undefined;
  if ((first.name === '--set-mark' || first.name === '--set-xmark') && rest.length === 0 && first.values.length === 1) {
    const mark = canonicalMark(first.values[0] as string, true, first.name === '--set-mark');
    return ['--set-xmark', mark];
  }
  if ((first.name === '--save-mark' || first.name === '--restore-mark') && first.values.length === 0) {
    let nfmask = 0xffffffff;
    let ctmask = 0xffffffff;
    for (const o of rest) {
      const value = o.values.length === 1 && !o.negated ? cNumber(o.values[0] as string) : undefined;
      if (value === undefined) return undefined;
      if (o.name === '--mask') nfmask = ctmask = value;
      else if (o.name === '--nfmask') nfmask = value;
      else if (o.name === '--ctmask') ctmask = value;
      else return undefined;
    }
    return [first.name, '--nfmask', hex(nfmask), '--ctmask', hex(ctmask)];
  }
  return undefined;
}

function renderOption(module: string, option: Option): string[] {
  const name = OPTION_ALIASES[module]?.[option.name] ?? option.name;
  let values = option.values;
  if (module === 'comment' || (module === 'LOG' && name === '--log-prefix')) values = values.map(quote);
  if (module === 'mark' && name === '--mark') values = values.map((v) => canonicalMark(v, false));
  if (module === 'conntrack' && (name === '--ctstate' || name === '--state')) values = values.map(canonicalStates);
  // IPv4 ICMP type 255 is the kernel's "any type" (whatever the code).
  if (module === 'icmp' && name === '--icmp-type' && /^255(\/\d+)?$/.test(values[0] ?? '')) values = ['any'];
  if (module === 'state' && name === '--state') values = values.map(canonicalStates);
  if (module === 'u32' && name === '--u32') values = values.map((v) => canonicalU32(v) ?? `"${v}"`);
  return [...(option.negated ? ['!'] : []), name, ...values];
}

function canonicalTargetOption(target: string, option: Option, ipVersion: IpVersion): Option {
  if (target === 'MARK' && (option.name === '--set-mark' || option.name === '--set-xmark')) {
    // --set-mark V/M is stored as "zero the mask bits, then XOR V": printed as --set-xmark.
    return { negated: false, name: '--set-xmark', values: option.values.map((v) => canonicalMark(v, true, option.name === '--set-mark')) };
  }
  if (target === 'REJECT' && option.name === '--reject-with') {
    return { ...option, values: option.values.map((v) => REJECT_NAMES[ipVersion][v] ?? v) };
  }
  if (target === 'DSCP' && option.name === '--set-dscp') {
    // Printed as two hex digits.
    return { ...option, values: option.values.map((v) => { const n = cNumber(v); return n === undefined ? v : `0x${n.toString(16).padStart(2, '0')}`; }) };
  }
  return option;
}

/** "0x10", "16", "0x10/0xff" → iptables-save's hex spelling; a full mask is left out for a match
 *  and printed for --set-xmark. --set-mark V/M is kept as V/(V|M) (`markOrMask`). */
function canonicalMark(text: string, alwaysMask: boolean, markOrMask = false): string {
  const [valueText, maskText] = text.split('/');
  const value = Number(valueText);
  const given = maskText === undefined ? 0xffffffff : Number(maskText);
  if (!Number.isInteger(value) || !Number.isInteger(given)) return text;
  const mask = markOrMask ? (given | value) >>> 0 : given;
  return mask === 0xffffffff && !alwaysMask ? hex(value) : `${hex(value)}/${hex(mask)}`;
}

function canonicalStates(text: string): string {
  const states = text.split(',');
  if (!states.every((s) => CT_STATE_ORDER.includes(s))) return text;
  return CT_STATE_ORDER.filter((s) => states.includes(s)).join(',');
}

/** The kernel keeps a protocol as its number; iptables-save prints the number's name from
 *  /etc/protocols (getprotobynumber), or the number if it has none. */
function protocolName(text: string): string {
  const lower = text.toLowerCase();
  const table = protocols();
  const num = /^\d+$/.test(lower) ? Number(lower) : lower === 'icmpv6' ? 58 : lower === 'all' ? 0 : table.byName.get(lower);
  if (num === undefined) return lower;
  if (num === 0) return 'all';
  return table.byNumber.get(num) ?? String(num);
}

let protocolTable: { readonly byNumber: ReadonlyMap<number, string>; readonly byName: ReadonlyMap<string, number> } | undefined;
function protocols(): NonNullable<typeof protocolTable> {
  if (protocolTable) return protocolTable;
  const byNumber = new Map<number, string>();
  const byName = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync('/etc/protocols', 'utf8');
  } catch {
    // no /etc/protocols: the common names only
  }
  const entries: (readonly [number, string, ...string[]])[] = [];
  for (const line of text.split('\n')) {
    const [name, number, ...aliases] = (line.split('#')[0] ?? '').trim().split(/\s+/);
    if (name && number && /^\d+$/.test(number)) entries.push([Number(number), name, ...aliases]);
  }
  if (entries.length === 0) entries.push(...BUILTIN_PROTOCOLS);
  for (const [number, name, ...aliases] of entries) {
    if (!byNumber.has(number)) byNumber.set(number, name);
    for (const n of [name, ...aliases]) if (!byName.has(n.toLowerCase())) byName.set(n.toLowerCase(), number);
  }
  protocolTable = { byNumber, byName };
  return protocolTable;
}

/** An address as the kernel keeps it: a host gets its full-length prefix, an IPv4 network is
 *  masked to its network address (10.1.2.3/16 → 10.1.0.0/16). */
function canonicalAddress(text: string, ipVersion: IpVersion): string {
  const [addr, prefixText] = text.split('/') as [string, string | undefined];
  if (ipVersion === 6 || addr.includes(':')) return canonicalAddress6(addr, prefixText) ?? text;
  const octets = addr.split('.').map(Number);
  if (octets.length !== 4 || !octets.every((o) => Number.isInteger(o) && o >= 0 && o <= 255)) return text;
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return text;
  const n = octets.reduce((acc, o) => acc * 256 + o, 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${prefix}`;
}

/** An IPv6 address masked to its prefix and printed as inet_ntop does: lower case, no leading
 *  zeros, the longest run of two or more zero groups as "::" (IPv4-mapped forms not modelled). */
function canonicalAddress6(addr: string, prefixText: string | undefined): string | undefined {
  const prefix = prefixText === undefined ? 128 : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128 || addr.includes('.')) return undefined;
  const halves = addr.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)) : []);
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const groups = [...head, ...Array<number>(halves.length === 1 ? 0 : fill).fill(0), ...tail];
  if (groups.some((g) => Number.isNaN(g))) return undefined;
  const masked = groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 0 ? 0 : g & ((0xffff << (16 - bits)) & 0xffff);
  });
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && masked[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = masked.map((g) => g.toString(16));
  const text = best.at < 0 ? hex.join(':') : `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
  return `${text}/${prefix}`;
}

/** Comments and log prefixes are printed as is when made only of letters, digits, `_` and `-`,
 *  else double-quoted with `\`, `"` and `'` escaped (iptables' xtables_save_string). */
function quote(text: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(text)) return text;
  return `"${text.replace(/[\\"']/g, (c) => `\\${c}`)}"`;
}
