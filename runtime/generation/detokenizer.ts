// Incremental detokenisation: decode a sliding window of tokens and emit only the new, complete
// text, so a multi-byte character split over several byte-level tokens is never cut in half.

export interface Detokenizer {
  /** Adds one token; returns the text it completes (often '', never a partial character). */
  push(token: number): string;
  /** Everything still pending at the end (a truly invalid byte sequence decodes to U+FFFD). */
  flush(): string;
}

const INCOMPLETE = '\uFFFD';

export function createDetokenizer(decode: (ids: readonly number[]) => string): Detokenizer {
  const tokens: number[] = [];
  let prefixOffset = 0; // start of the decode window (a little context keeps spacing right)
  let readOffset = 0; // tokens before this have been emitted
  return {
    push(token) {
      tokens.push(token);
      const prefix = decode(tokens.slice(prefixOffset, readOffset));
      const full = decode(tokens.slice(prefixOffset));
      if (full.length <= prefix.length || full.endsWith(INCOMPLETE)) return '';
      prefixOffset = readOffset;
      readOffset = tokens.length;
      return full.slice(prefix.length);
    },
    flush() {
      if (readOffset === tokens.length) return '';
      const prefix = decode(tokens.slice(prefixOffset, readOffset));
      const full = decode(tokens.slice(prefixOffset));
      readOffset = tokens.length;
      return full.slice(prefix.length);
    },
  };
}
