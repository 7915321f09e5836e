// Small facts about parsed document nodes (the yaml package's classes, which the JSON path
// builds too): where a node starts, its plain value, and how to name what was found.
import { isMap, isPair, isScalar, isSeq, type Node, type Pair } from 'yaml';

export type AnyNode = Node | null | undefined;

export function offsetOf(node: AnyNode | Pair): number {
  if (node === null || node === undefined) return 0;
  if (isPair(node)) return offsetOf(node.key as AnyNode);
  return (node as Node).range?.[0] ?? 0;
}

export function toJs(node: AnyNode): unknown {
  if (node === null || node === undefined) return null;
  if (isScalar(node)) return node.value;
  return (node as { toJSON(): unknown }).toJSON();
}

export function kindOf(node: AnyNode): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return describeJs(node.value);
  return 'an unsupported value';
}

export function describeJs(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}
