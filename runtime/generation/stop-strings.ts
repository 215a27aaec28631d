// Stop strings over streamed text: text that may be the start of a stop string is held back,
// so a stop string never leaks, even when it spans several tokens.

export interface StopMatcher {
  /** Adds decoded text; returns what is safe to emit and whether (and which) stop string ended it. */
  push(text: string): { emit: string; stopped: boolean; matched?: string };
  /** At the end of generation: whatever was held back. */
  flush(): string;
}

export function createStopMatcher(stops: readonly string[]): StopMatcher {
  const active = stops.filter((s) => s.length > 0);
  let held = '';
  return {
    push(text) {
      if (active.length === 0) return { emit: text, stopped: false };
      held += text;
      let first = -1;
      let matched = '';
      for (const stop of active) {
        const at = held.indexOf(stop);
        if (at >= 0 && (first < 0 || at < first)) (first = at), (matched = stop);
      }
      if (first >= 0) {
        const emit = held.slice(0, first);
        held = '';
        return { emit, stopped: true, matched };
      }
      // Hold back the longest tail that is a prefix of some stop string.
      let keep = 0;
      for (const stop of active) {
        for (let n = Math.min(stop.length - 1, held.length); n > keep; n--) {
          if (held.endsWith(stop.slice(0, n))) {
            keep = n;
            break;
          }
        }
      }
      const emit = held.slice(0, held.length - keep);
      held = held.slice(held.length - keep);
      return { emit, stopped: false };
    },
    flush() {
      const rest = held;
      held = '';
      return rest;
    },
  };
}
