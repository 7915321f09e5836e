// "Did you mean …?" for a misspelt name, from the vocabulary's own lists.

/** " (did you mean X?)" for a close name, else "". */
export function suggest(name: string, candidates: readonly string[]): string {
  // The edit distance costs name × candidate; no vocabulary word is this long anyway.
  if (name.length > 64) return '';
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === lower ? 0 : lower.length >= 3 && c.toLowerCase().startsWith(lower) ? 1 : editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 4)) ? ` (did you mean ${JSON.stringify(best)}?)` : '';
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
