// Compares two greedy decodings of the same prompt: how many leading ids agree, and how close the distributions were.

export interface GreedyRun {
  ids: number[];
  /** Per step, the softmax over the vocabulary the id was picked from. */
  probabilities: Float32Array[];
}

export interface GreedyComparison {
  /** Leading ids that agree (when all do, the runs are identical). */
  agreeingPrefix: number;
  identical: boolean;
  /** Largest |p_a - p_b| over the vocabulary and the agreeing steps (both runs saw the same context there). */
  maxProbabilityDelta: number;
  /** Smallest gap between the reference's top two probabilities over those steps: how close a call each pick was. */
  minReferenceTop2Gap: number;
}

function top2Gap(p: Float32Array): number {
  let first = -Infinity;
  let second = -Infinity;
  for (const v of p) {
    if (v > first) [first, second] = [v, first];
    else if (v > second) second = v;
  }
  return first - second;
}

export function compareGreedy(reference: GreedyRun, other: GreedyRun): GreedyComparison {
  let agreeingPrefix = 0;
  while (agreeingPrefix < reference.ids.length && reference.ids[agreeingPrefix] === other.ids[agreeingPrefix]) agreeingPrefix++;
  let maxProbabilityDelta = 0;
  let minReferenceTop2Gap = Infinity;
  // Step s's distribution depends on ids before s only, so it is comparable up to and including the first mismatch.
  for (let s = 0; s < Math.min(agreeingPrefix + 1, reference.ids.length, other.ids.length); s++) {
    const a = reference.probabilities[s] as Float32Array;
    const b = other.probabilities[s] as Float32Array;
    for (let i = 0; i < a.length; i++) maxProbabilityDelta = Math.max(maxProbabilityDelta, Math.abs((a[i] as number) - (b[i] ?? 0)));
    minReferenceTop2Gap = Math.min(minReferenceTop2Gap, top2Gap(a));
  }
  return { agreeingPrefix, identical: agreeingPrefix === reference.ids.length && other.ids.length === reference.ids.length, maxProbabilityDelta, minReferenceTop2Gap };
}
