// Beam search (runtime/generation/beam-search.ts) against a fake model: a deterministic function
// from a token context to a log-probability row over a tiny vocabulary. No tensors, no model files.
import { describe, expect, it } from 'vitest';
import { createBeamSearch, type BeamSearch, type BeamSearchOptions, type BeamStep, type Hypothesis } from '../../runtime/generation/beam-search.ts';
import { createRng, type Rng } from '../../runtime/generation/rng.ts';
import { argmax } from '../../runtime/generation/sampler.ts';

type Model = (context: readonly number[]) => Float32Array;

/** FNV-1a over the seed and the context, so one context always gets one row. */
function contextHash(seed: number, context: readonly number[]): number {
  let h = 0x811c9dc5 ^ seed;
  for (const t of [context.length, ...context]) h = Math.imul(h ^ (t + 1), 0x01000193) >>> 0;
  return h >>> 0;
}

interface FakeModel {
  vocab: number;
  /** Added to this id's logit (the EOS) before log-softmax, to make endings likelier or rarer. */
  eos?: number;
  eosBias?: number;
  /** Chance that an entry is masked to -Infinity / NaN, and that a whole row is masked. */
  maskRate?: number;
  nanRate?: number;
  allMaskedRate?: number;
}

/** Seeded pseudo-random logits from a hash of the context, log-softmaxed, as Float32. */
function fakeModel(seed: number, m: FakeModel): Model {
  return (context) => {
    const rng = createRng(contextHash(seed, context));
    const logits = Array.from({ length: m.vocab }, () => (rng() * 2 - 1) * 3);
    if (m.eos !== undefined) logits[m.eos] = (logits[m.eos] as number) + (m.eosBias ?? 0);
    const max = Math.max(...logits);
    const logZ = max + Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
    const row = Float32Array.from(logits, (x) => x - logZ);
    for (let i = 0; i < row.length; i++) {
      const r = rng();
      if (r < (m.maskRate ?? 0)) row[i] = -Infinity;
      else if (r < (m.maskRate ?? 0) + (m.nanRate ?? 0)) row[i] = NaN;
    }
    if (rng() < (m.allMaskedRate ?? 0)) row.fill(-Infinity);
    return row;
  };
}

interface Snapshot {
  tokens: number[];
  logprob: number;
}

interface Trace {
  search: BeamSearch;
  steps: BeamStep[];
}

/**
 * Drives the search with the model until done, as a scheduler would. `check` sees each step with
 * the beams before it, their rows, and the search after it.
 */
function run(options: BeamSearchOptions, model: Model, check?: (before: Snapshot[], rows: Float32Array[], step: BeamStep, search: BeamSearch) => void): Trace {
  const search = createBeamSearch(options);
  const steps: BeamStep[] = [];
  while (!search.done) {
    const before = search.beams.map((b) => ({ tokens: [...b.tokens], logprob: b.logprob }));
    const rows = before.map((b) => model(b.tokens));
    const step = search.step(rows);
    steps.push(step);
    check?.(before, rows, step, search);
    if (steps.length > options.maxTokens) throw new Error('beam search ran past maxTokens');
  }
  return { search, steps };
}

const options = (o: Partial<BeamSearchOptions> & Pick<BeamSearchOptions, 'width'>): BeamSearchOptions => ({
  returned: 1,
  lengthPenalty: 1,
  earlyStopping: false,
  maxTokens: 4,
  eosIds: new Set<number>(),
  ...o,
});

/** A row entry as the search is specified to read it: NaN and +Infinity are masked. */
const read = (v: number) => (Number.isNaN(v) || v === Infinity ? -Infinity : v);

/** The specified score, written out again: sum / length ** lengthPenalty, NaN read as below. */
function plainScore(sum: number, length: number, lengthPenalty: number): number {
  const s = sum / length ** lengthPenalty;
  return Number.isNaN(s) ? (sum === 0 ? 0 : -Infinity) : s;
}

interface Complete {
  tokens: number[];
  logprob: number;
  score: number;
}

/** Every sequence the model can produce: ending with an EOS, or cut at maxTokens. */
function allCompletions(model: Model, vocab: number, eosIds: ReadonlySet<number>, maxTokens: number, lengthPenalty: number): Complete[] {
  const out: Complete[] = [];
  const visit = (prefix: number[], sum: number) => {
    const row = model(prefix);
    for (let t = 0; t < vocab; t++) {
      const tokens = [...prefix, t];
      const logprob = sum + (row[t] as number);
      if (eosIds.has(t) || tokens.length === maxTokens) out.push({ tokens, logprob, score: logprob / tokens.length ** lengthPenalty });
      else visit(tokens, logprob);
    }
  };
  visit([], 0);
  return out.sort((a, b) => b.score - a.score);
}

/**
 * The specification written plainly: every step enumerates all width * vocab candidates, sorts
 * them fully, and keeps every finished hypothesis in one list (the best `width` are "kept").
 */
function referenceBeamSearch(o: BeamSearchOptions, model: Model): { steps: BeamStep[]; results: Hypothesis[] } {
  interface Done extends Hypothesis {
    seq: number;
  }
  const finished: Done[] = [];
  const byScore = (a: Done, b: Done) => b.score - a.score || a.seq - b.seq;
  const kept = () => [...finished].sort(byScore).slice(0, o.width);
  const finish = (tokens: number[], logprob: number, finish: 'stop' | 'length') =>
    finished.push({ tokens, logprob, score: plainScore(logprob, tokens.length, o.lengthPenalty), finish, seq: finished.length });
  const poolSize = Math.max(2, 1 + o.eosIds.size) * o.width;
  const steps: BeamStep[] = [];
  let beams: Snapshot[] = [{ tokens: [], logprob: 0 }];
  for (;;) {
    const candidates: { parent: number; token: number; value: number; sum: number }[] = [];
    beams.forEach((beam, parent) => {
      const row = model(beam.tokens);
      for (let token = 0; token < row.length; token++) {
        const value = read(row[token] as number);
        candidates.push({ parent, token, value, sum: beam.logprob + value });
      }
    });
    // Best sum; ties: likelier token (a beam at -Infinity), lower beam index, lower token id.
    candidates.sort((x, y) => y.sum - x.sum || y.value - x.value || x.parent - y.parent || x.token - y.token);
    const next: Snapshot[] = [];
    const step: BeamStep = { parents: [], tokens: [] };
    for (const [rank, c] of candidates.slice(0, poolSize).entries()) {
      if (next.length === o.width) break;
      const tokens = [...(beams[c.parent] as Snapshot).tokens, c.token];
      if (o.eosIds.has(c.token)) {
        if (rank < o.width) finish(tokens, c.sum, 'stop');
        continue;
      }
      next.push({ tokens, logprob: c.sum });
      step.parents.push(c.parent);
      step.tokens.push(c.token);
    }
    const best = next[0];
    let done = !best;
    if (best && kept().length === o.width) {
      const worst = (kept().at(-1) as Done).score;
      done = o.earlyStopping || worst >= plainScore(best.logprob, best.tokens.length, o.lengthPenalty);
    }
    if (!done && best && best.tokens.length === o.maxTokens) {
      for (const beam of next) finish(beam.tokens, beam.logprob, 'length');
      done = true;
    }
    steps.push(done ? { parents: [], tokens: [] } : step);
    if (done) break;
    beams = next;
  }
  const results = [...finished].sort(byScore).slice(0, o.returned).map(({ seq: _, ...h }) => h);
  return { steps, results };
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;

describe('beam search', () => {
  it('is exact when the width covers every sequence: matches exhaustive search', () => {
    // Once `width` hypotheses are kept, HF's done rules drop the live beams (and with a length
    // penalty the heuristic may stop early), so exactness needs more beams than complete
    // sequences: vocab ** maxTokens is more than enough (121 of 256, 85 of 125 below).
    for (const { vocab, maxTokens } of [
      { vocab: 4, maxTokens: 4 },
      { vocab: 5, maxTokens: 3 },
    ]) {
      const eos = vocab - 1;
      const eosIds = new Set([eos]);
      for (let seed = 0; seed < 6; seed++) {
        const model = fakeModel(seed, { vocab, eos, eosBias: (seed % 3) - 1 });
        for (const lengthPenalty of [0, 1, 2]) {
          const all = allCompletions(model, vocab, eosIds, maxTokens, lengthPenalty);
          for (const earlyStopping of [false, true]) {
            const o = options({ width: vocab ** maxTokens, returned: 5, lengthPenalty, earlyStopping, maxTokens, eosIds });
            const results = run(o, model).search.results();
            expect(results.map((h) => [h.tokens, h.score])).toEqual(all.slice(0, 5).map((c) => [c.tokens, c.score]));
            const top = results[0] as Hypothesis;
            expect(top.logprob).toBe((all[0] as Complete).logprob);
            expect(top.finish).toBe(top.tokens.at(-1) === eos ? 'stop' : 'length');
          }
        }
      }
    }
  });

  it('equals a plain re-implementation (full sort of all candidates) on many seeded cases', () => {
    const rng = createRng(2024);
    for (let seed = 0; seed < 400; seed++) {
      const vocab = pick(rng, [3, 6, 6]);
      const width = 1 + Math.floor(rng() * 4);
      const eosIds = new Set(pick(rng, [[vocab - 1], [vocab - 1], [0, vocab - 1], []]));
      const o = options({
        width,
        returned: 1 + Math.floor(rng() * width),
        lengthPenalty: pick(rng, [0, 0.5, 1, 1, 2, -1]),
        earlyStopping: rng() < 0.5,
        maxTokens: 1 + Math.floor(rng() * 8),
        eosIds,
      });
      // Masked and NaN entries, and now and then a fully masked row, exercise the total paths.
      const model = fakeModel(seed, { vocab, eos: vocab - 1, eosBias: rng() * 3 - 1, maskRate: 0.15, nanRate: 0.05, allMaskedRate: 0.05 });
      const expected = referenceBeamSearch(o, model);
      const { search, steps } = run(o, model);
      expect(steps, `case ${seed}`).toEqual(expected.steps);
      expect(search.results(), `case ${seed}`).toEqual(expected.results);
    }
  });

  it('breaks ties by lower beam index, then lower token id, over a larger vocabulary', () => {
    // Few distinct values over 5k ids: most sums tie, so partial selection must break ties as
    // the full sort does, across beams too (integer sums are exact).
    const vocab = 5_000;
    const model: Model = (context) => {
      const rng = createRng(contextHash(9, context));
      return Float32Array.from({ length: vocab }, () => -1 - Math.floor(rng() * 3));
    };
    const o = options({ width: 3, returned: 3, maxTokens: 3, eosIds: new Set([7]) });
    const expected = referenceBeamSearch(o, model);
    const { search, steps } = run(o, model);
    expect(steps).toEqual(expected.steps);
    expect(search.results()).toEqual(expected.results);
  });

  it('width 1 is greedy argmax decoding', () => {
    for (let seed = 0; seed < 50; seed++) {
      const vocab = 6;
      const model = fakeModel(seed, { vocab, eos: 5, eosBias: 1, maskRate: 0.2, allMaskedRate: 0.05 });
      const maxTokens = 1 + (seed % 7);
      const greedy: number[] = [];
      let logprob = 0;
      while (greedy.length < maxTokens) {
        const row = model(greedy);
        const token = argmax(row);
        greedy.push(token);
        logprob += row[token] as number;
        if (token === 5) break;
      }
      for (const lengthPenalty of [0, 1, 2]) {
        for (const earlyStopping of [false, true]) {
          const o = options({ width: 1, lengthPenalty, earlyStopping, maxTokens, eosIds: new Set([5]) });
          const [top] = run(o, model).search.results();
          expect(top?.tokens).toEqual(greedy);
          expect(top?.logprob).toBe(logprob);
          expect(top?.finish).toBe(greedy.at(-1) === 5 ? 'stop' : 'length');
        }
      }
    }
  });

  it('returns at most `returned` hypotheses, best score first; `returned` does not change the search', () => {
    const model = fakeModel(5, { vocab: 6, eos: 5, eosBias: 1 });
    const all = run(options({ width: 4, returned: 4, maxTokens: 6, eosIds: new Set([5]) }), model).search.results();
    expect(all).toHaveLength(4);
    for (let i = 1; i < all.length; i++) expect((all[i - 1] as Hypothesis).score).toBeGreaterThanOrEqual((all[i] as Hypothesis).score);
    for (let returned = 1; returned <= 4; returned++) {
      const results = run(options({ width: 4, returned, maxTokens: 6, eosIds: new Set([5]) }), model).search.results();
      expect(results).toEqual(all.slice(0, returned));
    }
  });

  it('parents/tokens describe the live beams after every step, which stay finite or -Infinity', () => {
    for (let seed = 0; seed < 60; seed++) {
      const model = fakeModel(seed, { vocab: 6, eos: 5, maskRate: 0.2, nanRate: 0.1, allMaskedRate: 0.1 });
      const o = options({ width: 1 + (seed % 4), maxTokens: 2 + (seed % 5), eosIds: new Set([5]) });
      run(o, model, (before, rows, step, search) => {
        expect(step.tokens).toHaveLength(step.parents.length);
        expect(search.beams).toHaveLength(step.parents.length);
        expect(step.parents.length).toBeLessThanOrEqual(o.width);
        if (step.parents.length === 0) expect(search.done).toBe(true);
        search.beams.forEach((beam, i) => {
          const parent = before[step.parents[i] as number] as Snapshot;
          const token = step.tokens[i] as number;
          expect(o.eosIds.has(token)).toBe(false);
          expect([...beam.tokens]).toEqual([...parent.tokens, token]);
          expect(beam.logprob).toBe(parent.logprob + read((rows[step.parents[i] as number] as Float32Array)[token] as number));
          expect(Number.isNaN(beam.logprob)).toBe(false);
          if (i > 0) expect(search.beams[i - 1]?.logprob).toBeGreaterThanOrEqual(beam.logprob);
        });
      });
    }
  });

  it('terminates by maxTokens; stop hypotheses end with EOS, length ones are maxTokens long', () => {
    for (let seed = 0; seed < 40; seed++) {
      const maxTokens = 1 + (seed % 6);
      const o = options({ width: 3, returned: 3, maxTokens, eosIds: new Set([5]), lengthPenalty: 2 });
      const { search, steps } = run(o, fakeModel(seed, { vocab: 6, eos: 5, eosBias: -2 }));
      expect(steps.length).toBeLessThanOrEqual(maxTokens);
      expect(search.beams).toHaveLength(0);
      expect(search.step([])).toEqual({ parents: [], tokens: [] }); // done: further steps are no-ops
      for (const h of search.results()) {
        expect(h.tokens.length).toBeLessThanOrEqual(maxTokens);
        if (h.finish === 'stop') expect(h.tokens.at(-1)).toBe(5);
        else expect(h.tokens).toHaveLength(maxTokens);
        expect(h.tokens.slice(0, -1)).not.toContain(5);
      }
    }
  });

  it('stays total on fully masked and NaN rows: no throw, no NaN', () => {
    const masked: Model = () => new Float32Array(4).fill(-Infinity);
    const nan: Model = () => new Float32Array(4).fill(NaN);
    const positive: Model = () => Float32Array.from([Infinity, NaN, -Infinity, 0]);
    for (const model of [masked, nan, positive]) {
      for (const lengthPenalty of [0, 1, 2, -3, 400]) {
        for (const earlyStopping of [false, true]) {
          const o = options({ width: 3, returned: 3, lengthPenalty, earlyStopping, maxTokens: 5, eosIds: new Set([1]) });
          const { search } = run(o, model, (_before, _rows, _step, s) => {
            for (const beam of s.beams) expect(Number.isNaN(beam.logprob)).toBe(false);
          });
          const results = search.results();
          expect(results.length).toBeGreaterThan(0);
          for (const h of results) {
            expect(Number.isNaN(h.score)).toBe(false);
            expect(Number.isNaN(h.logprob)).toBe(false);
          }
        }
      }
    }
    // Masked entries never win over a finite one.
    const [top] = run(options({ width: 2, maxTokens: 1 }), positive).search.results();
    expect(top?.tokens).toEqual([3]);
    expect(top?.score).toBe(0);
  });

  it('with earlyStopping true stops as soon as `width` hypotheses are finished; false keeps going', () => {
    // Vocabulary {0: EOS, 1, 2}, width 2, lengthPenalty 1.
    // Step 1: [1] -0.51 live, [EOS] -1.20 finished (score -1.20), [2] -2.30 live.
    // Step 2: [1, EOS] -1.20 finished (score -0.60): 2 hypotheses. Early stopping ends here; the
    // heuristic does not, since the best live beam [1, 1] scores -1.31 / 2 = -0.66 > -1.20.
    const rows: Record<string, number[]> = { '': [0.3, 0.6, 0.1], '1': [0.5, 0.45, 0.05], '2': [0.1, 0.1, 0.8] };
    const model: Model = (context) => Float32Array.from(rows[context.join(',')] ?? [0.2, 0.4, 0.4], Math.log);
    const early = run(options({ width: 2, returned: 2, earlyStopping: true, maxTokens: 5, eosIds: new Set([0]) }), model);
    expect(early.steps).toHaveLength(2);
    expect(early.search.results().map((h) => h.tokens)).toEqual([[1, 0], [0]]);
    const heuristic = run(options({ width: 2, returned: 2, earlyStopping: false, maxTokens: 5, eosIds: new Set([0]) }), model);
    expect(heuristic.steps.length).toBeGreaterThan(2);
  });

  it('rejects impossible options and a wrong number of rows', () => {
    expect(() => createBeamSearch(options({ width: 0 }))).toThrow(RangeError);
    expect(() => createBeamSearch(options({ width: 2, returned: 3 }))).toThrow(RangeError);
    expect(() => createBeamSearch(options({ width: 2, maxTokens: 0 }))).toThrow(RangeError);
    expect(() => createBeamSearch(options({ width: 2, lengthPenalty: NaN }))).toThrow(RangeError);
    expect(() => createBeamSearch(options({ width: 2 })).step([])).toThrow(RangeError);
  });
});
