// One saved iptables rule line ("-A chain …" as iptables-save prints it), split into tokens, and
// the one definition of which rules are ours. The native scanner (native/save_scanner.cc) has a
// C++ twin of this; test/reader-diff.test.ts holds the two to the same answers.
//
// iptables-save prints an option value bare when it is only [A-Za-z0-9_-], else in double quotes
// with `"`, `\` and `'` escaped by a backslash (legacy and nft alike). Splitting follows
// iptables-restore's own reading of such a line: whitespace separates tokens; a `"` opens a
// quoted part in which `\x` stands for x and the closing `"` ends the token. So text inside a
// quoted value (a LOG prefix, a comment, a string match) is part of one token and can never be
// read as a match, a comment or a target.
//
// Works on any string; the readers pass latin1 strings (one char per byte).

/** Length of the ID part of our comment (after the hash prefix). */
export const RULE_ID_LENGTH = 16;

// RE2's \s, which is what the readers have always used for whitespace.
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 12 || c === 13;
}

const QUOTE = 34;
const BACKSLASH = 92;

/** Reads the tokens of one line, one at a time (so a classification can stop early). */
class TokenCursor {
  private at = 0;
  constructor(private readonly line: string) {}

  /** The next token, unquoted and unescaped, or undefined at the end of the line. */
  next(): string | undefined {
    const line = this.line;
    const n = line.length;
    let i = this.at;
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) {
      this.at = i;
      return undefined;
    }
    const start = i;
    while (i < n && !isSpace(line.charCodeAt(i)) && line.charCodeAt(i) !== QUOTE) i++;
    if (i >= n || line.charCodeAt(i) !== QUOTE) {
      this.at = i;
      return line.slice(start, i); // a bare word
    }
    // A quoted part runs to the closing quote, which ends the token; \x stands for x.
    let token = line.slice(start, i);
    let from = ++i;
    for (; i < n; i++) {
      const c = line.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        token += line.slice(from, i);
        from = ++i; // the escaped character is literal (a backslash at the very end is dropped)
      }
    }
    token += line.slice(from, Math.min(i, n));
    this.at = i + 1;
    return token;
  }
}

/** The tokens of a saved line, unquoted and unescaped, as iptables-restore would see them. */
export function saveLineTokens(line: string): string[] {
  const cursor = new TokenCursor(line);
  const tokens: string[] = [];
  for (let t = cursor.next(); t !== undefined; t = cursor.next()) tokens.push(t);
  return tokens;
}

function isIdChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45;
}

/** Whether a comment value is exactly `hashPrefix` + 16 characters of the ID alphabet. */
export function isOurCommentValue(value: string, hashPrefix: string): boolean {
  if (value.length !== hashPrefix.length + RULE_ID_LENGTH || !value.startsWith(hashPrefix)) return false;
  for (let i = hashPrefix.length; i < value.length; i++) if (!isIdChar(value.charCodeAt(i))) return false;
  return true;
}

const isMatchFlag = (t: string): boolean => t === '-m' || t === '--match';
const isTargetFlag = (t: string): boolean => t === '-j' || t === '--jump' || t === '-g' || t === '--goto';

/** What the tokens of a rule say about ownership. */
export interface RuleOwnership {
  /** Our rule ID (without the prefix) when the rule's first comment match is our ID. */
  readonly id: string | undefined;
  /** The rule jumps or goes to a chain with one of the historic prefixes (an old insert of ours). */
  readonly oldInsert: boolean;
}

/**
 * Classifies a saved rule line ("-A chain …"). The ID is the whole value of the first
 * `-m comment --comment` match, when it has our exact shape; a later comment never counts. Old
 * inserts are found only on target tokens: the token after `-j`/`--jump`/`-g`/`--goto`.
 */
export function ruleOwnership(line: string, hashPrefix: string, historicPrefixes: readonly string[]): RuleOwnership {
  const cursor = new TokenCursor(line);
  cursor.next(); // "-A"
  cursor.next(); // the chain
  let commentStep = 0; // 1: after -m, 2: after -m comment, 3: after -m comment --comment
  let commentSeen = false;
  let afterTarget = false;
  let oldInsert = false;
  for (let t = cursor.next(); t !== undefined; t = cursor.next()) {
    if (afterTarget && !oldInsert && historicPrefixes.some((p) => t.startsWith(p))) oldInsert = true;
    afterTarget = isTargetFlag(t);
    if (commentSeen) continue;
    if (commentStep === 3) {
      commentSeen = true;
      if (isOurCommentValue(t, hashPrefix)) return { id: t.slice(hashPrefix.length), oldInsert: false };
      continue;
    }
    if (commentStep === 1 && t === 'comment') commentStep = 2;
    else if (commentStep === 2 && t === '--comment') commentStep = 3;
    else commentStep = isMatchFlag(t) ? 1 : 0;
  }
  return { id: undefined, oldInsert };
}

/**
 * The line with every quoted part replaced by `""`: what the extra cleanup pattern is tested
 * on, so that it, too, never looks inside a quoted value.
 */
export function withoutQuotedText(line: string): string {
  if (!line.includes('"')) return line;
  let out = '';
  let from = 0;
  for (let i = 0; i < line.length; i++) {
    if (line.charCodeAt(i) !== QUOTE) continue;
    out += `${line.slice(from, i)}""`;
    // Skip to the closing quote, honouring backslash escapes.
    for (i++; i < line.length; i++) {
      const c = line.charCodeAt(i);
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) break;
    }
    from = i + 1;
  }
  return from < line.length ? out + line.slice(from) : out;
}

/** The chain a rule line ("-A CHAIN …", or a restore input's "-I CHAIN N …", "-R CHAIN N …")
 *  is in and the chain it jumps or goes to, on tokens (so a quoted comment that mentions
 *  "-j X" is not a jump). */
export function jumpOf(line: string): { readonly chain: string; readonly target: string } | undefined {
  if (!/^-[AIR] /.test(line)) return undefined;
  const tokens = saveLineTokens(line);
  const chain = tokens[1];
  const target = chain === undefined ? undefined : targetOfRuleWords(tokens, 2);
  return chain === undefined || target === undefined ? undefined : { chain, target: target.name };
}

/** Options whose value may itself read like an option: an interface may be named "-g". */
const OPTIONS_WITH_ANY_VALUE: ReadonlySet<string> = new Set(['-i', '-o', '--in-interface', '--out-interface', '--comment']);

/** The jump (`-j`) or goto (`-g`) among a rule's words from index `from` on, skipping the values
 *  of the options whose value may look like one. */
export function targetOfRuleWords(words: readonly string[], from = 0): { readonly flag: '-j' | '-g'; readonly name: string } | undefined {
  for (let i = from; i + 1 < words.length; i++) {
    const w = words[i] as string;
    if (OPTIONS_WITH_ANY_VALUE.has(w)) i++;
    else if (w === '-j' || w === '--jump') return { flag: '-j', name: words[i + 1] as string };
    else if (w === '-g' || w === '--goto') return { flag: '-g', name: words[i + 1] as string };
  }
  return undefined;
}
