// How iptables-save (v1.8.x, both backends) prints back a rule body it was given in restore
// input: the part of the fake iptables that plays the kernel's round trip. The kernel stores rules
// in binary form, so iptables-save prints them in its own order and spelling, not as written:
//
//   -p tcp -m comment --comment "x" -m multiport --destination-ports 80 --jump ACCEPT
//   becomes  -p tcp -m comment --comment "x" -m multiport --dports 80 -j ACCEPT
//
// This covers what the library writes (every Match method and action) and the usual foreign rules;
// test/fake-differential.test.ts checks it against the real binaries. Not modelled (printed as
// given): options of matches and targets other than the ones below, and IPv4-mapped IPv6
// addresses. Protocols are named from /etc/protocols, as iptables-save names them.
import { readFileSync } from 'node:fs';
import type { IpVersion } from './backend';

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
const CT_STATE_ORDER = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];
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
 * `body` is everything after `-A <chain> `; `ipVersion` 6 for ip6tables (hosts get /128).
 * Text it cannot split (an unterminated quote) is returned as given.
 */
export function canonicalRuleBody(body: string, ipVersion: IpVersion = 4): string {
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
    if (!current) {
      // An option before any -m: iptables loads the protocol's match implicitly.
      const proto = protocolName(header.get('-p')?.value ?? '');
      current = { name: IMPLICIT_MATCH[proto] ?? proto, options: [] };
      modules.push(current);
    }
    current.options.push(option);
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
  for (const m of modules) {
    out.push('-m', m.name);
    for (const o of m.options) out.push(...renderOption(m.name, o));
  }
  if (target) {
    out.push(target.flag, target.name);
    const options = target.options.map((o) => canonicalTargetOption(target.name, o));
    if (target.name === 'REJECT' && !options.some((o) => o.name === '--reject-with')) {
      options.push({ negated: false, name: '--reject-with', values: [ipVersion === 6 ? 'icmp6-port-unreachable' : 'icmp-port-unreachable'] });
    }
    for (const o of options) out.push(...renderOption(target.name, o));
  }
  return out.join(' ');
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
  return [...(option.negated ? ['!'] : []), name, ...values];
}

function canonicalTargetOption(target: string, option: Option): Option {
  if (target === 'MARK' && (option.name === '--set-mark' || option.name === '--set-xmark')) {
    // --set-mark V/M is stored as "zero the mask bits, then XOR V": printed as --set-xmark.
    return { negated: false, name: '--set-xmark', values: option.values.map((v) => canonicalMark(v, true)) };
  }
  return option;
}

/** "0x10", "16", "0x10/0xff" → iptables-save's hex spelling; a full mask is left out for a match
 *  and printed for --set-xmark. */
function canonicalMark(text: string, alwaysMask: boolean): string {
  const [valueText, maskText] = text.split('/');
  const value = Number(valueText);
  const mask = maskText === undefined ? 0xffffffff : Number(maskText);
  if (!Number.isInteger(value) || !Number.isInteger(mask)) return text;
  const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
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
