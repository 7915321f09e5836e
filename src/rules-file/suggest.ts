// "Did you mean …?" for a misspelt name, from the vocabulary's own lists.

/** " (did you mean X?)" for a close name, else "". */
export function suggest(name: string, candidates: readonly string[]): string {
  // The edit distance costs name × candidate; no vocabulary word is this long anyway.
  if (name.length > 64) return '';
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const candidate = c.toLowerCase();
    const d =
      candidate === lower ? 0
      : lower.length >= 3 && candidate.startsWith(lower) ? 1
      // A word left out ("historicPrefixes" for historicChainPrefixes): counts as two edits.
      : lower.length >= 8 && candidate.length <= lower.length * 1.5 && isSubsequence(lower, candidate) ? 2
      : editDistance(lower, candidate);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 4)) ? ` (did you mean ${JSON.stringify(best)}?)` : '';
}

/** Whether every character of `a` is in `b`, in order. */
function isSubsequence(a: string, b: string): boolean {
  let at = 0;
  for (const ch of b) if (ch === a[at]) at++;
  return at === a.length;
}

/** Optimal string alignment distance: edits, with a swap of neighbours counting as one.
 *  Three rolling rows (the swap looks two rows back). */
function editDistance(a: string, b: string): number {
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(b.length + 1).fill(0);
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (before[j - 2] ?? 0) + 1);
      current[j] = v;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}
