// Reads the text of `nft -a list table <family> <name>` into what the engine needs: per chain,
// its base chain declaration (if any) and, per rule, our rule ID (from the comment) and handle.
//
// createListingScanner is self-contained (no imports, nothing from the module around it), so
// the listing worker (listing-worker.ts) runs its source text on a worker thread; tests run it
// directly. Lines arrive in chunks; a line cut between two chunks is joined first.

/** One chain as listed. */
export interface ListedChain {
  readonly name: string;
  /** The base chain's `type … hook … priority …; policy …;` line; undefined for a regular chain. */
  readonly declaration: string | undefined;
  /** Per rule, in order: our rule ID, or "" for a rule without one (not ours). */
  readonly ids: readonly string[];
  /** Per rule, its handle. */
  readonly handles: readonly number[];
  /** Per rule, when the scanner was asked for details (show): its text and counters. */
  readonly details?: readonly ListedRuleDetail[];
}

/** What `show` needs of one listed rule. */
export interface ListedRuleDetail {
  /** The rule's statements as nft lists them, without the handle and with `counter` in place of
   *  `counter packets N bytes M`. */
  readonly text: string;
  readonly packets: number;
  readonly bytes: number;
}

/** A whole listing. */
export interface Listing {
  /** Whether the listing held the table (false: it does not exist). */
  readonly found: boolean;
  /** Its chains, in listing order. */
  readonly chains: readonly ListedChain[];
}

/** What a listing scanner takes and gives. */
export interface ListingScanner {
  /** Takes the next piece of the listing's text. */
  push(text: string): void;
  /** The listing, once all text is in. */
  finish(): Listing;
}

/**
 * A scanner of one listing. A rule is ours when its comment starts with `hashPrefix` followed by
 * `idLength` ID characters and then the end or a space (the rule's own comment follows).
 */
export function createListingScanner(hashPrefix: string, idLength: number, withDetails = false): ListingScanner {
  type Detail = { text: string; packets: number; bytes: number };
  const chains: { name: string; declaration: string | undefined; ids: string[]; handles: number[]; details?: Detail[] }[] = [];
  let current: (typeof chains)[number] | undefined;
  let found = false;
  let rest = '';
  const ruleTail = / comment "([^"]*)" # handle (\d+)$/;
  const handleTail = /# handle (\d+)$/;
  const chainHead = /^\tchain (\S+) \{/;
  const counterValues = /\bcounter packets (\d+) bytes (\d+)/;
  const line = (text: string): void => {
    if (text.startsWith('table ')) {
      found = true;
      return;
    }
    if (text.startsWith('\t\t')) {
      if (current === undefined) return; // inside a set, map or other object
      const body = text.slice(2);
      if (body.startsWith('type ') && body.includes(' hook ') && current.ids.length === 0) {
        current.declaration = body;
        return;
      }
      const commented = ruleTail.exec(body);
      const handle = commented ? commented[2] : handleTail.exec(body)?.[1];
      if (handle === undefined) return;
      let id = '';
      const comment = commented?.[1];
      if (comment !== undefined && comment.startsWith(hashPrefix)) {
        const end = hashPrefix.length + idLength;
        if (comment.length === end || (comment.length > end && comment[end] === ' ')) id = comment.slice(hashPrefix.length, end);
      }
      current.ids.push(id);
      current.handles.push(Number(handle));
      if (current.details) {
        const counted = counterValues.exec(body);
        const text = body.slice(0, body.lastIndexOf(' # handle '));
        current.details.push({
          text: counted ? text.replace(counterValues, 'counter') : text,
          packets: counted ? Number(counted[1]) : 0,
          bytes: counted ? Number(counted[2]) : 0,
        });
      }
      return;
    }
    if (text.startsWith('\t}')) {
      current = undefined;
      return;
    }
    const head = chainHead.exec(text);
    if (head) {
      current = { name: head[1] as string, declaration: undefined, ids: [], handles: [], ...(withDetails ? { details: [] } : {}) };
      chains.push(current);
    }
  };
  return {
    push(text: string): void {
      const all = rest + text;
      let start = 0;
      for (let nl = all.indexOf('\n'); nl >= 0; nl = all.indexOf('\n', start)) {
        line(all.slice(start, nl));
        start = nl + 1;
      }
      rest = all.slice(start);
    },
    finish(): Listing {
      if (rest !== '') line(rest);
      rest = '';
      return { found, chains };
    },
  };
}
