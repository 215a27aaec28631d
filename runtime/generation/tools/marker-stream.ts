// Splits a text stream at begin/end markers, incrementally: text outside the markers passes
// through as soon as it cannot be the start of a marker; a marked span is handed over whole once
// its end marker (or the end of the output, when there is no end marker) arrives, or, streaming,
// in parts as it grows. Pure.

export type MarkedPiece = { kind: 'text'; text: string } | { kind: 'marked'; body: string; closed: boolean };

export interface MarkerOptions {
  /** Hand a span over in parts as it arrives (as `marked` pieces with closed false, then true). */
  streamSpans?: boolean;
  /** The output begins inside a span (its begin marker was in the prompt). */
  startInside?: boolean;
}

export interface MarkerStream {
  push(text: string): MarkedPiece[];
  /** The end of the output: held text and an unclosed span come out. */
  flush(): MarkedPiece[];
}

/** How much of `text`'s tail could be the start of `marker`. */
function partialSuffix(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) if (text.endsWith(marker.slice(0, n))) return n;
  return 0;
}

/** `end` undefined: a span runs to the end of the output. */
export function createMarkerStream(begin: string, end: string | undefined, options: MarkerOptions = {}): MarkerStream {
  let held = '';
  let inside = options.startInside ?? false;

  function drain(): MarkedPiece[] {
    const out: MarkedPiece[] = [];
    for (;;) {
      if (!inside) {
        const at = held.indexOf(begin);
        if (at < 0) {
          const keep = partialSuffix(held, begin);
          if (held.length > keep) out.push({ kind: 'text', text: held.slice(0, held.length - keep) });
          held = held.slice(held.length - keep);
          return out;
        }
        if (at > 0) out.push({ kind: 'text', text: held.slice(0, at) });
        held = held.slice(at + begin.length);
        inside = true;
      }
      if (end === undefined) return out;
      const close = held.indexOf(end);
      if (close < 0) {
        if (options.streamSpans) {
          const keep = partialSuffix(held, end);
          if (held.length > keep) out.push({ kind: 'marked', body: held.slice(0, held.length - keep), closed: false });
          held = held.slice(held.length - keep);
        }
        return out;
      }
      out.push({ kind: 'marked', body: held.slice(0, close), closed: true });
      held = held.slice(close + end.length);
      inside = false;
    }
  }

  return {
    push(text) {
      held += text;
      return drain();
    },
    flush() {
      const out = drain();
      if (inside) out.push({ kind: 'marked', body: held, closed: false });
      else if (held !== '') out.push({ kind: 'text', text: held });
      held = '';
      inside = false;
      return out;
    },
  };
}
