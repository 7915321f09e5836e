// Felix v3.2.2's own Go Table on the reference workload (bench-workload.md): wall ms, median of 3,
// and its bytes to restore / from save. Measured by the workload's author on a machine like ours;
// a number from another run, so its ratio is orientation, not a floor.
export interface FelixRow {
  readonly backend: 'legacy' | 'nft';
  readonly rules: number;
  readonly phase: 'initialApply' | 'changeOneRuleApply' | 'resyncNoChangeApply';
  readonly wallMs: number;
  readonly restoreBytes: number;
  readonly saveBytes: number;
}

const rows: [FelixRow['backend'], number, FelixRow['phase'], number, number, number][] = [
  ['legacy', 1000, 'initialApply', 10.2, 139386, 182],
  ['legacy', 1000, 'changeOneRuleApply', 8.6, 1066, 127437],
  ['legacy', 1000, 'resyncNoChangeApply', 4.2, 0, 127437],
  ['legacy', 10000, 'initialApply', 92.6, 1394226, 182],
  ['legacy', 10000, 'changeOneRuleApply', 73.1, 1068, 1273377],
  ['legacy', 10000, 'resyncNoChangeApply', 33.6, 0, 1273377],
  ['legacy', 100000, 'initialApply', 760.9, 13963794, 182],
  ['legacy', 100000, 'changeOneRuleApply', 779.4, 1071, 12753945],
  ['legacy', 100000, 'resyncNoChangeApply', 360.5, 0, 12753945],
  ['nft', 1000, 'initialApply', 25.1, 139386, 198],
  ['nft', 1000, 'changeOneRuleApply', 19.2, 1066, 127453],
  ['nft', 1000, 'resyncNoChangeApply', 8.0, 0, 127453],
  ['nft', 10000, 'initialApply', 171.4, 1394226, 198],
  ['nft', 10000, 'changeOneRuleApply', 88.2, 1068, 1273393],
  ['nft', 10000, 'resyncNoChangeApply', 71.4, 0, 1273393],
  ['nft', 100000, 'initialApply', 3587.6, 13963794, 198],
  ['nft', 100000, 'changeOneRuleApply', 1363.3, 1071, 12753961],
  ['nft', 100000, 'resyncNoChangeApply', 1322.2, 0, 12753961],
];

export const FELIX: readonly FelixRow[] = rows.map(([backend, rules, phase, wallMs, restoreBytes, saveBytes]) => ({
  backend,
  rules,
  phase,
  wallMs,
  restoreBytes,
  saveBytes,
}));

export function felixFor(backend: string, rules: number, phase: string): FelixRow | undefined {
  return FELIX.find((r) => r.backend === backend && r.rules === rules && r.phase === phase);
}
