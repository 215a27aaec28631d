// Prompt-lookup speculation (no draft model): the tokens that followed the most recent earlier
// occurrence of the context's last n-gram are proposed as its continuation, longest n first, as
// OpenVINO GenAI's prompt lookup and transformers' prompt_lookup_num_tokens do. Code edits, quotes
// and structured output repeat their prompt, so proposals are often right; the model verifies
// them all in one run (runtime/batching/scheduler.ts).

/**
 * Up to `count` proposed next tokens for `context`: the continuation of the latest earlier match
 * of its last n tokens (n from `maxNgram` down to 1). Empty when nothing matches or nothing follows.
 */
export function proposeByLookup(context: readonly number[], maxNgram: number, count: number): number[] {
  const length = context.length;
  if (count <= 0) return [];
  for (let n = Math.min(maxNgram, length - 1); n >= 1; n--) {
    // The latest start whose n tokens equal the suffix, with at least one token after it.
    for (let start = length - n - 1; start >= 0; start--) {
      let same = true;
      for (let i = 0; i < n && same; i++) same = context[start + i] === context[length - n + i];
      if (same) return context.slice(start + n, Math.min(start + n + count, length)) as number[];
    }
  }
  return [];
}
