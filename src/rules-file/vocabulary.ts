// The rules file's vocabulary, declared once: every match method with the shape of its value,
// every action with its forms, builder, argument schema and table. The walker, the JSON Schema
// and "did you mean" all read these tables.
import {
  AcceptAction,
  ClearMarkAction,
  DNATAction,
  DropAction,
  DSCPAction,
  GotoAction,
  JumpAction,
  LimitNumConnectionsAction,
  LimitPacketRateAction,
  LogAction,
  MasqAction,
  NflogAction,
  NoTrackAction,
  REJECT_WITH,
  RejectAction,
  RestoreConnMarkAction,
  ReturnAction,
  SNATAction,
  SaveConnMarkAction,
  SetConnMarkAction,
  SetMarkAction,
  SetMaskedMarkAction,
  type Action,
  type RejectWith,
} from '../actions';
import type { TableName } from '../table-names';
import { describeJs, isMapping, type AnyNode, type DocPair } from './nodes';

// --- matches -----------------------------------------------------------------------------------

/** The shape of a match method's value in the file (rulesJsonSchema() gives its JSON Schema). */
export type ArgKind =
  | 'flag'
  | 'mark'
  | 'markMask'
  | 'uint8'
  | 'string'
  | 'net'
  | 'addrType'
  | 'srcAddrType'
  | 'states'
  | 'ports'
  | 'ranges'
  | 'icmp4'
  | 'icmp4pair'
  | 'icmp6'
  | 'icmp6pair'
  | 'rpf'
  | 'integer'
  | 'limit';

/** Every Match() method and the shape of its value in the file; the builder is the method of
 *  that name. */
export const MATCH_METHODS: Readonly<Record<string, ArgKind>> = Object.freeze({
  markClear: 'mark',
  markNotClear: 'mark',
  markSingleBitSet: 'mark',
  markMatchesWithMask: 'markMask',
  notMarkMatchesWithMask: 'markMask',
  inInterface: 'string',
  outInterface: 'string',
  rpfCheckPassed: 'rpf',
  rpfCheckFailed: 'rpf',
  ipvsConnection: 'flag',
  notIpvsConnection: 'flag',
  srcAddrType: 'srcAddrType',
  notSrcAddrType: 'srcAddrType',
  destAddrType: 'addrType',
  notDestAddrType: 'addrType',
  conntrackState: 'states',
  notConntrackState: 'states',
  protocol: 'string',
  notProtocol: 'string',
  protocolNum: 'uint8',
  notProtocolNum: 'uint8',
  sourceNet: 'net',
  notSourceNet: 'net',
  destNet: 'net',
  notDestNet: 'net',
  sourceIpSet: 'string',
  notSourceIpSet: 'string',
  sourceIpPortSet: 'string',
  notSourceIpPortSet: 'string',
  destIpSet: 'string',
  notDestIpSet: 'string',
  destIpPortSet: 'string',
  notDestIpPortSet: 'string',
  sourcePorts: 'ports',
  notSourcePorts: 'ports',
  destPorts: 'ports',
  notDestPorts: 'ports',
  sourcePortRanges: 'ranges',
  notSourcePortRanges: 'ranges',
  destPortRanges: 'ranges',
  notDestPortRanges: 'ranges',
  destPort: 'integer',
  limit: 'limit',
  vxlanVni: 'integer',
  icmpType: 'icmp4',
  notIcmpType: 'icmp4',
  icmpTypeAndCode: 'icmp4pair',
  notIcmpTypeAndCode: 'icmp4pair',
  icmpV6Type: 'icmp6',
  notIcmpV6Type: 'icmp6',
  icmpV6TypeAndCode: 'icmp6pair',
  notIcmpV6TypeAndCode: 'icmp6pair',
});

export function isMatchMethod(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(MATCH_METHODS, name);
}

// --- actions -----------------------------------------------------------------------------------

/** The table a rule is in, as the walker knows it. */
export interface TableContext {
  readonly name: TableName;
  /** Chains the file defines in this table (jump targets with our prefix must be among them). */
  readonly defined: ReadonlySet<string>;
}

/**
 * An action's argument as a builder sees it, with the walker's readers. Each reports a problem
 * where it is (file:line:column and path) and returns undefined, so a builder just returns.
 */
export interface ActionArg {
  /** The argument's plain value (null for none). */
  readonly js: unknown;
  /** The argument's node, and where to point when it is missing. */
  readonly node: AnyNode;
  readonly at: AnyNode | DocPair;
  /** tables.T.chains.C[i].action.NAME */
  readonly path: string;
  readonly table: TableContext;
  readonly chainPrefix: string;
  /** The fields of a mapping argument as plain values. */
  fields(allowed: readonly string[], required: readonly string[], expected: string): Record<string, unknown> | undefined;
  /** The fields of a mapping argument as nodes. */
  fieldNodes(allowed: readonly string[], required: readonly string[], expected: string): Record<string, AnyNode> | undefined;
  /** Numeric fields (marks may be hex strings); with `single`, the argument itself is that field. */
  markFields(allowed: readonly string[], required: readonly string[], single?: string): Record<string, number> | undefined;
  /** An integer or a "0x…" string at `node`. */
  number(node: AnyNode, at: AnyNode | DocPair, expected: string): number | undefined;
  /** [a, b] or { k1: a, k2: b } of numbers. */
  pair(keys: [string, string], expected: string, marks: boolean): unknown[] | undefined;
  /** False (and reported at `path`) when the address is of the other IP family. */
  addressFamilyOk(addr: unknown, path: string): boolean;
  fail(message: string): undefined;
  /** Runs the library's constructor; its validation error becomes an issue at `blame`. */
  build(make: () => Action, blame?: AnyNode | DocPair): Action | undefined;
}

export interface ActionWord {
  readonly name: string;
  /** `action: NAME`, without an argument. */
  readonly bare?: () => Action;
  /** `action: { NAME: argument }`. */
  readonly build?: (arg: ActionArg) => Action | undefined;
  /** JSON Schema of the argument of the mapping form. */
  readonly argSchema?: object;
  /** The only table the kernel accepts it in. */
  readonly onlyIn?: TableName;
}

const MARK_REF = { $ref: '#/definitions/mark' };
const PORT_REF = { $ref: '#/definitions/port' };
const REJECT_WITH_SCHEMA = { enum: [...REJECT_WITH.keys()] };
/** iptables' chain names: at most 28 characters, no spaces or quotes, not starting with "!" or "-". */
export const CHAIN_NAME_SCHEMA = { type: 'string', minLength: 1, maxLength: 28, pattern: '^[^\\s"\'\\\\!-][^\\s"\'\\\\]*$' };
const NO_ARGUMENT = [{ type: 'null' }, { const: true }];

/** A mapping with exactly this one key. */
export function oneKey(key: string, value: object): object {
  return { type: 'object', properties: { [key]: value }, required: [key], additionalProperties: false };
}
function object(properties: Record<string, object>, required: readonly string[]): object {
  return { type: 'object', properties, required, additionalProperties: false };
}

const MARK = 'a mark: an integer or a hex string such as "0x10"';

function jumpOrGoto(make: (target: string) => Action): (a: ActionArg) => Action | undefined {
  return (a) => {
    const f = typeof a.js === 'string' ? { target: a.js } : a.fields(['target'], ['target'], `a chain name, or { target: <chain> }`);
    if (!f) return undefined;
    if (typeof f.target !== 'string') return a.fail(`expected a chain name, got ${describeJs(f.target)}`);
    const target = f.target;
    if (target.startsWith(a.chainPrefix) && !a.table.defined.has(target)) {
      return a.fail(`no chain ${JSON.stringify(target)} is defined under tables.${a.table.name}.chains (names with the chain prefix are ours, so the target must be defined in this file)`);
    }
    return a.build(() => make(target));
  };
}

function markAction(make: (mark: number) => Action): (a: ActionArg) => Action | undefined {
  return (a) => {
    const markNode = isMapping(a.node) ? a.fieldNodes(['mark'], ['mark'], '{ mark: ... }')?.mark : a.node;
    if (isMapping(a.node) && markNode === undefined) return undefined;
    const mark = a.number(markNode, markNode ?? a.at, MARK);
    if (mark === undefined) return undefined;
    return a.build(() => make(mark), markNode ?? a.at);
  };
}

function connMarkMask(key: 'saveMask' | 'restoreMask', make: (mask: number | undefined) => Action): (a: ActionArg) => Action | undefined {
  return (a) => {
    const f = a.js === null || a.js === true ? {} : isMapping(a.node) ? a.markFields([key], []) : a.markFields([key], [key], key);
    if (!f) return undefined;
    const mask = f[key];
    return a.build(() => make(mask));
  };
}

// The actions without arguments, one frozen instance each for every rule that names them
// (100k-rule files name them tens of thousands of times; an action is a value).
const ACCEPT = Object.freeze(new AcceptAction());
const DROP = Object.freeze(new DropAction());
const RETURN = Object.freeze(new ReturnAction());
const NO_TRACK = Object.freeze(new NoTrackAction());

/** Every action, in the order messages and the schema list them. */
export const ACTIONS: readonly ActionWord[] = Object.freeze([
  { name: 'accept', bare: () => ACCEPT },
  { name: 'drop', bare: () => DROP },
  { name: 'return', bare: () => RETURN },
  { name: 'noTrack', bare: () => NO_TRACK, onlyIn: 'raw' },
  {
    name: 'jump',
    build: jumpOrGoto((target) => new JumpAction({ target })),
    argSchema: { anyOf: [CHAIN_NAME_SCHEMA, oneKey('target', CHAIN_NAME_SCHEMA)] },
  },
  {
    name: 'goto',
    build: jumpOrGoto((target) => new GotoAction({ target })),
    argSchema: { anyOf: [CHAIN_NAME_SCHEMA, oneKey('target', CHAIN_NAME_SCHEMA)] },
  },
  {
    name: 'log',
    build: (a) => {
      const f = typeof a.js === 'string' ? { prefix: a.js } : a.fields(['prefix'], ['prefix'], 'a log prefix, or { prefix: ... }');
      if (!f) return undefined;
      return a.build(() => new LogAction({ prefix: f.prefix as string }));
    },
    argSchema: { anyOf: [{ type: 'string', maxLength: 27 }, oneKey('prefix', { type: 'string', maxLength: 27 })] },
  },
  {
    name: 'dnat',
    onlyIn: 'nat',
    build: (a) => {
      const f = typeof a.js === 'string' ? { destAddr: a.js } : a.fields(['destAddr', 'destPort'], ['destAddr'], 'an address, or { destAddr: ..., destPort: ... }');
      if (!f) return undefined;
      if (!a.addressFamilyOk(f.destAddr, `${a.path}.destAddr`)) return undefined;
      return a.build(() => new DNATAction({ destAddr: f.destAddr as string, ...(f.destPort !== undefined ? { destPort: f.destPort as number } : {}) }));
    },
    argSchema: {
      anyOf: [{ type: 'string' }, { type: 'object', properties: { destAddr: { type: 'string' }, destPort: PORT_REF }, required: ['destAddr'], additionalProperties: false }],
    },
  },
  {
    name: 'snat',
    onlyIn: 'nat',
    build: (a) => {
      const f = typeof a.js === 'string' ? { toAddr: a.js } : a.fields(['toAddr'], ['toAddr'], 'an address or range "a-b", or { toAddr: ... }');
      if (!f) return undefined;
      const toAddr = f.toAddr;
      if (typeof toAddr === 'string' && !toAddr.split('-').every((addr) => a.addressFamilyOk(addr, `${a.path}.toAddr`))) return undefined;
      return a.build(() => new SNATAction({ toAddr: toAddr as string }));
    },
    argSchema: { anyOf: [{ type: 'string' }, oneKey('toAddr', { type: 'string' })] },
  },
  {
    name: 'masq',
    onlyIn: 'nat',
    bare: () => new MasqAction(),
    build: (a) => {
      if (a.js === null || a.js === true) return a.build(() => new MasqAction());
      const f = typeof a.js === 'string' ? { toPorts: a.js } : a.fields(['toPorts'], [], 'a port range such as "1024-65535", or { toPorts: ... }');
      if (!f) return undefined;
      return a.build(() => new MasqAction(f.toPorts === undefined ? {} : { toPorts: f.toPorts as string }));
    },
    argSchema: { anyOf: [...NO_ARGUMENT, { type: 'string' }, { type: 'object', properties: { toPorts: { type: 'string' } }, additionalProperties: false }] },
  },
  { name: 'clearMark', build: markAction((mark) => new ClearMarkAction({ mark })), argSchema: { anyOf: [MARK_REF, oneKey('mark', MARK_REF)] } },
  { name: 'setMark', build: markAction((mark) => new SetMarkAction({ mark })), argSchema: { anyOf: [MARK_REF, oneKey('mark', MARK_REF)] } },
  {
    name: 'setMaskedMark',
    build: (a) => {
      const mm = a.pair(['mark', 'mask'], 'a mark and mask: { mark: ..., mask: ... } or [mark, mask]', true);
      if (!mm) return undefined;
      return a.build(() => new SetMaskedMarkAction({ mark: mm[0] as number, mask: mm[1] as number }));
    },
    argSchema: { $ref: '#/definitions/markMask' },
  },
  {
    name: 'reject',
    bare: () => new RejectAction(),
    build: (a) => {
      if (a.js === null || a.js === true) return a.build(() => new RejectAction());
      const f = typeof a.js === 'string' ? { with: a.js } : a.fields(['with'], ['with'], 'a reject type such as tcp-reset, or { with: ... }');
      if (!f) return undefined;
      return a.build(() => new RejectAction({ with: f.with as RejectWith }));
    },
    argSchema: { anyOf: [...NO_ARGUMENT, REJECT_WITH_SCHEMA, oneKey('with', REJECT_WITH_SCHEMA)] },
  },
  {
    name: 'setConnMark',
    build: (a) => {
      const f = isMapping(a.node) ? a.markFields(['mark', 'mask'], ['mark']) : a.markFields(['mark'], ['mark'], 'mark');
      if (!f) return undefined;
      return a.build(() => new SetConnMarkAction({ mark: f.mark as number, ...(f.mask !== undefined ? { mask: f.mask } : {}) }));
    },
    argSchema: { anyOf: [MARK_REF, object({ mark: MARK_REF, mask: MARK_REF }, ['mark'])] },
  },
  {
    name: 'saveConnMark',
    bare: () => new SaveConnMarkAction(),
    build: connMarkMask('saveMask', (mask) => new SaveConnMarkAction(mask === undefined ? {} : { saveMask: mask })),
    argSchema: { anyOf: [...NO_ARGUMENT, MARK_REF, object({ saveMask: MARK_REF }, [])] },
  },
  {
    name: 'restoreConnMark',
    bare: () => new RestoreConnMarkAction(),
    build: connMarkMask('restoreMask', (mask) => new RestoreConnMarkAction(mask === undefined ? {} : { restoreMask: mask })),
    argSchema: { anyOf: [...NO_ARGUMENT, MARK_REF, object({ restoreMask: MARK_REF }, [])] },
  },
  {
    name: 'nflog',
    build: (a) => {
      const f = a.fields(['group', 'prefix', 'size'], ['group', 'prefix'], '{ group: ..., prefix: ..., size: ... }');
      if (!f) return undefined;
      return a.build(() => new NflogAction({ group: f.group as number, prefix: f.prefix as string, ...(f.size !== undefined ? { size: f.size as number } : {}) }));
    },
    argSchema: object({ group: { type: 'integer', minimum: 0, maximum: 65535 }, prefix: { type: 'string', minLength: 1, maxLength: 63 }, size: { type: 'integer' } }, ['group', 'prefix']),
  },
  {
    name: 'limitPacketRate',
    build: (a) => {
      const f = a.markFields(['rate', 'burst', 'mark'], ['rate', 'burst', 'mark']);
      if (!f) return undefined;
      return a.build(() => new LimitPacketRateAction({ rate: f.rate as number, burst: f.burst as number, mark: f.mark as number }));
    },
    argSchema: object({ rate: { type: 'integer', minimum: 1, maximum: 10000 }, burst: { type: 'integer', minimum: 1, maximum: 10000 }, mark: MARK_REF }, ['rate', 'burst', 'mark']),
  },
  {
    name: 'limitNumConnections',
    build: (a) => {
      const f = a.fields(['num', 'rejectWith'], ['num', 'rejectWith'], '{ num: ..., rejectWith: ... }');
      if (!f) return undefined;
      return a.build(() => new LimitNumConnectionsAction({ num: f.num as number, rejectWith: f.rejectWith as RejectWith }));
    },
    argSchema: object({ num: { type: 'integer', minimum: 0, maximum: 0xffffffff }, rejectWith: REJECT_WITH_SCHEMA }, ['num', 'rejectWith']),
  },
  {
    name: 'dscp',
    onlyIn: 'mangle',
    build: (a) => {
      const f = isMapping(a.node) ? a.markFields(['value'], ['value']) : a.markFields(['value'], ['value'], 'value');
      if (!f) return undefined;
      return a.build(() => new DSCPAction({ value: f.value as number }));
    },
    argSchema: { anyOf: [{ type: 'integer', minimum: 0, maximum: 63 }, oneKey('value', { type: 'integer', minimum: 0, maximum: 63 })] },
  },
] satisfies readonly ActionWord[]);

const BY_NAME: ReadonlyMap<string, ActionWord> = new Map(ACTIONS.map((a) => [a.name, a]));

export function actionWord(name: string): ActionWord | undefined {
  return BY_NAME.get(name);
}

/** Actions written as a bare word ("action: accept"). */
export const BARE_ACTIONS: readonly string[] = Object.freeze(ACTIONS.filter((a) => a.bare).map((a) => a.name));
/** Actions written as a one-key mapping ("action: { jump: ipts-x }"). */
export const MAPPING_ACTIONS: readonly string[] = Object.freeze(ACTIONS.filter((a) => a.build).map((a) => a.name));
