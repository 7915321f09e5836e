// What may be written into nft's input language as a name or inside a double-quoted string, so
// that no value handed to the nftables backend can end its token and inject other syntax.
//
// Facts of nft 1.0.6's scanner this relies on (checked against the real nft in
// test/nftables-render-nft.test.ts):
//  - an unquoted name is `[A-Za-z_.][A-Za-z0-9/_.-]*`, and a name that is exactly one of nft's
//    keywords is read as that keyword (`jump ip` is a syntax error);
//  - `jump`/`goto` take only an unquoted name (`jump "x"` is a syntax error), so chain names
//    must be plain names;
//  - a quoted string is `"` then anything but `"` then `"`: there is no escape for `"`, a
//    backslash is kept as is, and `$name` inside it is expanded as a variable.
import { InvalidRuleError } from '../errors';
import { CONTROL, isWellFormed } from '../validate';

/** The longest table, chain or set name nftables takes, in bytes (NFT_NAME_MAXLEN less the NUL). */
export const NFT_MAX_NAME_BYTES = 255;
/** The longest log prefix nftables takes, in bytes (NF_LOG_PREFIXLEN less the NUL). */
export const NFT_MAX_LOG_PREFIX_BYTES = 127;
/** The longest rule comment nftables takes, in bytes (NFT_USERDATA_MAXLEN's comment limit). */
export const NFT_MAX_COMMENT_BYTES = 128;

// nft 1.0.6's keywords: its parser's token names (`strings libnftables.so.1`) and the scanner's
// aliases for them (eq, and, maxseg, …). A name equal to one of these is not a name to nft.
const KEYWORDS_TEXT = `
a-rwnd abort accept ackseq add addr ah all and arp asconf asconf-ack auto-merge avgpkt bridge burst bypass bytes
cfi cgroup cgroupv2 chain chains check checksum chunk classid code comment comp constant continue cookie-ack
cookie-echo count counter counters cpi cpu create csumcov ct cum-tsn-ack cwr daddr data day dccp define dei
delete describe destroy device devices direction dnat doff dport drop dscp dst dup dynamic echo ecn ecne element
elements eol eq error esp ether event exists expectation expiration expires export exthdr fanout fastopen fib
flags flow flowlabel flowtable flowtables flush forward-tsn frag frag-off fully-random fwd gateway gc-interval ge
geneve get goto gre gretap group gt handle hbh hdrlength heartbeat heartbeat-ack helper helpers hlen hook hooks
hoplimit hour htype ibriport ibrname icmp icmpv6 icmpx id igmp iif iifgroup iifname iiftype import in inc
include index inet init init-ack init-tag initial-tsn insert interval ip ip6 ipsec jhash json jump l3proto label
last last-entry le left length level limit limits list ll log lowest-tsn lshift lsrr lt map maps mark masquerade
max-delay maxseg md5sig memory meta meter meters mh minute missing mod monitor more-fragments mptcp mrt mss mtu
name ne netdev never new-cum-tsn nexthdr nexthop nftrace nh noop nop not notrack num num-dup-tsns
num-gap-ack-blocks num-inbound-streams num-outbound-streams numgen obriport obrname offload offset oif oifgroup
oifname oiftype operation option options or original osf out over packets param-problem pcp performance
persistent pkttype plen policy port position ppid prefix priority proto-dst proto-src protocol ptr ptype queue
queue-threshold quota quotas ra random rate redefine redirect reject rename replace reply reqid reserved
reserved2 reset return right rr rshift rt rt0 rt2 rtclassid rule rules ruleset sack sack-perm sack-permitted
sack0 sack1 sack2 sack3 saddr sctp secmark secmarks second seed seg-left seq seqno sequence set sets shutdown
shutdown-ack shutdown-complete sid size skgid skuid snaplen snat socket spi spnum sport srh ssn ssrr state status
stream subtype symhash synproxy synproxys table tables tag taddr tcp th time timeout timestamp to tos tproxy
trace transparent tsecr tsn tsval ttl tunnel tunnels type typeof udp udplite undefine until update urgptr used
value version vlan vm vmap vni vtag vxlan week wildcard window with wscale xml xor xt zone`;

/** nft 1.0.6's keywords (and a few later versions added): names nft reads as syntax, not as names. */
export const NFT_KEYWORDS: ReadonlySet<string> = new Set(KEYWORDS_TEXT.split(/\s+/).filter((w) => w !== ''));

const NAME = /^[A-Za-z_.][A-Za-z0-9/_.-]*$/;

/** Why `value` is not a name nft takes unquoted (a table or chain name, a jump target), or
 *  undefined when it is one. */
export function nftNameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'an nftables name must be a non-empty string';
  // "." alone is nft's concatenation operator, not a name.
  if (!NAME.test(value) || value === '.') return 'an nftables name must start with a letter, "_" or "." and have only letters, digits, "/", "_", "." and "-"';
  if (value.length > NFT_MAX_NAME_BYTES) return `an nftables name must be at most ${NFT_MAX_NAME_BYTES} bytes`;
  if (NFT_KEYWORDS.has(value)) return `"${value}" is an nft keyword, so nft would not read it as a name`;
  return undefined;
}

/** A table or chain name as nft takes it unquoted (what `jump`/`goto` need).
 *  @throws {@link InvalidRuleError} naming `where` for anything else. */
export function nftName(where: string, value: unknown): string {
  const problem = nftNameProblem(value);
  if (problem !== undefined) throw new InvalidRuleError(where, value, `${problem} (backend nftables)`);
  return value as string;
}

/** Why `value` cannot go inside nft's double quotes, or undefined when it can. */
export function nftStringProblem(value: unknown, maxBytes: number): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  // nft has no escape for `"`, keeps `\` as is and expands `$name` inside quotes; control
  // characters (newlines above all) would end the statement.
  if (CONTROL.test(value) || /["\\$]/.test(value)) return 'must not contain double quotes, backslashes, "$" or control characters (nft strings have no escapes)';
  if (!isWellFormed(value)) return 'must be well-formed Unicode (it has an unpaired UTF-16 surrogate)';
  if (Buffer.byteLength(value, 'utf8') > maxBytes) return `must be at most ${maxBytes} bytes`;
  return undefined;
}

/** `value` in double quotes, for nft's input (a log prefix, a comment, an interface name).
 *  @throws {@link InvalidRuleError} naming `where` for a value that could break out of the
 *  quotes (`"`, `\`, `$`, control characters) or is longer than `maxBytes`. */
export function nftQuoted(where: string, value: unknown, what: string, maxBytes: number): string {
  const problem = nftStringProblem(value, maxBytes);
  if (problem !== undefined) throw new InvalidRuleError(where, value, `${what} ${problem} (backend nftables)`);
  return `"${value as string}"`;
}
