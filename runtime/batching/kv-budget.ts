// The KV budget (max_kv_tokens) in positions: the session's cache holds rows of one length, so
// rows x the longest row is what it costs. Admission lets a sequence in while that stays within
// the budget; when growth would exceed it, the newest sequences are preempted (their rows freed,
// recomputed later from their prompt and what they had generated) rather than failing anyone.

export interface KvRow {
  /** Positions the row holds, or is about to hold once its pending tokens are fed. */
  length: number;
  /** Admission order: larger is newer. */
  order: number;
}

/** The cost of these rows, each grown by `growth` positions (rows x longest). */
export const kvCost = (rows: readonly KvRow[], growth = 0) => rows.length * Math.max(0, ...rows.map((r) => r.length + growth));

/** Whether a row of `length` positions (plus one to decode) may join `rows` within `budget`. */
export function admits(rows: readonly KvRow[], length: number, budget: number | undefined): boolean {
  if (budget === undefined || rows.length === 0) return true;
  return (rows.length + 1) * Math.max(length + 1, ...rows.map((r) => r.length + 1)) <= budget;
}

/**
 * Indices of the rows to preempt, newest first, so that the others can each grow by `growth`
 * within `budget`. One row always stays (a sequence alone above the budget was refused at submit).
 */
export function preemptions(rows: readonly KvRow[], budget: number | undefined, growth: number): number[] {
  if (budget === undefined) return [];
  const newestFirst = rows.map((r, i) => ({ ...r, i })).sort((a, b) => b.order - a.order);
  const kept = [...rows];
  const out: number[] = [];
  for (const victim of newestFirst) {
    if (kept.length <= 1 || kvCost(kept, growth) <= budget) break;
    kept.splice(kept.indexOf(rows[victim.i] as KvRow), 1);
    out.push(victim.i);
  }
  return out;
}
