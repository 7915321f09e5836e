// The rules file's JSON Schema (schema/rules.schema.json is generated from it: `iptables-sync
// schema`), built from the vocabulary's tables so that it names exactly what the walker takes.
import { AddrType } from '../match';
import { ACTIONS, BARE_ACTIONS, MATCH_METHODS, oneKey, type ArgKind } from './vocabulary';

const PORT = { $ref: '#/definitions/port' };

/** The JSON Schema (draft-07) of a rules file. */
export function rulesJsonSchema(): object {
  const mark = {
    description: 'A 32-bit mark: an integer (YAML also takes 0x10) or a hex string such as "0x10".',
    anyOf: [
      { type: 'integer', minimum: 0, maximum: 0xffffffff },
      { type: 'string', pattern: '^0[xX][0-9a-fA-F]{1,8}$' },
    ],
  };
  const markRef = { $ref: '#/definitions/mark' };
  const u8 = { type: 'integer', minimum: 0, maximum: 255 };
  const u8Ref = { $ref: '#/definitions/uint8' };
  const portDef = { type: 'integer', minimum: 0, maximum: 65535 };
  const addrType = { enum: Object.values(AddrType) };
  const limitPattern = '^[0-9]+/(second|sec|s|minute|min|m|hour|h|day|d)$';
  const pairOf = (a: string, b: string, item: object): object => ({
    anyOf: [
      { type: 'array', items: item, minItems: 2, maxItems: 2 },
      { type: 'object', properties: { [a]: item, [b]: item }, required: [a, b], additionalProperties: false },
    ],
  });
  const kinds: Record<ArgKind, object> = {
    flag: { const: true, description: 'Takes no arguments: write true.' },
    mark,
    markMask: { ...pairOf('mark', 'mask', markRef), description: '[mark, mask] or { mark, mask }; the mark must lie within the mask.' },
    uint8: u8,
    string: { type: 'string', minLength: 1 },
    net: { type: 'string', description: 'An address or CIDR of the --ip-version family.' },
    addrType,
    srcAddrType: {
      anyOf: [
        addrType,
        { type: 'object', properties: { type: addrType, limitIfaceOut: { type: 'boolean' } }, required: ['type'], additionalProperties: false },
      ],
      description: 'LOCAL, or { type: LOCAL, limitIfaceOut: true }.',
    },
    states: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { enum: ['INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'SNAT', 'DNAT'] }, minItems: 1 }],
      description: 'NEW, "ESTABLISHED,RELATED" or a list such as [ESTABLISHED, RELATED].',
    },
    ports: { anyOf: [PORT, { type: 'array', items: PORT, minItems: 1, maxItems: 15 }], description: 'A port or a list of up to 15 ports.' },
    ranges: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', properties: { first: PORT, last: PORT }, required: ['first', 'last'], additionalProperties: false },
      description: 'A list of { first, last } ranges; a range counts as two of the 15 multiport slots.',
    },
    icmp4: { ...u8, description: 'IPv4 only.' },
    icmp4pair: { ...pairOf('type', 'code', u8Ref), description: '[type, code] or { type, code }; IPv4 only.' },
    icmp6: { ...u8, description: 'IPv6 only (--ip-version 6).' },
    icmp6pair: { ...pairOf('type', 'code', u8Ref), description: '[type, code] or { type, code }; IPv6 only.' },
    rpf: {
      anyOf: [{ const: true }, { type: 'object', properties: { acceptLocal: { type: 'boolean' } }, required: ['acceptLocal'], additionalProperties: false }],
      description: "true (Felix v3.2.2's form), or { acceptLocal: false | true } for latest Felix's --validmark form.",
    },
    integer: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^0[xX][0-9a-fA-F]+$' }] },
    limit: {
      anyOf: [{ type: 'string', pattern: limitPattern }, { type: 'object', properties: { rate: { type: 'string', pattern: limitPattern }, burst: { type: 'integer', minimum: 0, maximum: 10000 } }, required: ['rate'], additionalProperties: false }],
      description: '"10/second" (or /minute, /hour, /day), or { rate, burst }.',
    },
  };
  const matchProperties: Record<string, object> = {};
  for (const [method, kind] of Object.entries(MATCH_METHODS) as [string, ArgKind][]) matchProperties[method] = { $ref: `#/definitions/${kind}` };
  const matchMap = { $ref: '#/definitions/match' };
  const action = {
    description: `${BARE_ACTIONS.join(', ')}, or a one-key mapping such as { jump: ipts-x }.`,
    anyOf: [{ enum: BARE_ACTIONS }, ...ACTIONS.filter((a) => a.build).map((a) => oneKey(a.name, a.argSchema ?? {}))],
  };
  const rule = {
    type: 'object',
    properties: {
      match: {
        description: 'Match() methods, applied in the order written; a list of one-key mappings may repeat a method.',
        anyOf: [matchMap, { type: 'array', items: { allOf: [matchMap], minProperties: 1, maxProperties: 1 } }, { type: 'null' }],
      },
      action,
      comment: { type: 'string', maxLength: 255 },
    },
    required: ['action'],
    additionalProperties: false,
  };
  const ruleList = { anyOf: [{ type: 'array', items: { $ref: '#/definitions/rule' } }, { type: 'null' }] };
  const listsOf = (description: string): object => ({ description, type: ['object', 'null'], additionalProperties: ruleList });
  const table = {
    anyOf: [
      {
        type: 'object',
        properties: {
          chains: listsOf('Chains we own. Names start with the chain prefix (--chain-prefix, default "ipts-").'),
          insert: listsOf('Our rules at the top (or, with --insert-mode append, the bottom) of chains we do not own, such as INPUT.'),
          append: listsOf('Our rules kept at the end of chains we do not own, below their other rules (after the insert: rules in either insert mode).'),
          forceProgramming: {
            description: 'Chains of "chains:" written even when nothing jumps to them (with --only-referenced-chains).',
            type: ['array', 'null'],
            items: { type: 'string' },
          },
        },
        additionalProperties: false,
      },
      { type: 'null' },
    ],
  };
  const tableRef = { $ref: '#/definitions/table' };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'iptables-sync rules file',
    description: 'The chains and inserts iptables-sync keeps in the dataplane. Tables not named here are left alone.',
    type: 'object',
    properties: {
      $schema: { type: 'string' },
      tables: {
        type: ['object', 'null'],
        properties: { filter: tableRef, nat: tableRef, mangle: tableRef, raw: tableRef },
        additionalProperties: false,
      },
    },
    required: ['tables'],
    additionalProperties: false,
    definitions: { table, rule, match: { type: 'object', properties: matchProperties, additionalProperties: false }, port: portDef, ...kinds },
  };
}
