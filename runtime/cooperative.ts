// Cooperative CPU work on the main thread: long loops give the event loop a turn every few
// milliseconds, so one large request never stalls other requests' streams or health checks.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { throwIfAborted } from './errors.ts';

/** Most milliseconds of synchronous work between two turns of the event loop. */
export const SLICE_MS = 4;

export interface SliceStats {
  /** Times the loop gave the event loop a turn. */
  yields: number;
}

/** Counters over every cooperative loop in the process (tests read them). */
export const sliceStats: SliceStats = { yields: 0 };

/**
 * `items.map(work)`, yielding to the event loop whenever SLICE_MS has passed since the last turn.
 * `signal` stops the loop between items (a `cancelled` RuntimeError).
 */
export async function mapCooperatively<T, R>(items: readonly T[], work: (item: T, index: number) => R, signal?: AbortSignal): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let sliceStart = performance.now();
  for (let i = 0; i < items.length; i++) {
    if (performance.now() - sliceStart >= SLICE_MS) {
      await nextTurn();
      sliceStats.yields++;
      throwIfAborted(signal);
      sliceStart = performance.now();
    }
    out[i] = work(items[i] as T, i);
  }
  return out;
}
