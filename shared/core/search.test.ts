import { beforeAll, describe, expect, it } from 'vitest';
import { loadTitanic, type TitanicData } from '../../test/support/titanic.ts';
import { FEATURE_NAMES, FEATURE_NAMES_V2 } from './schema.ts';
import { planFolds, randomizedSearch, type SearchSpace, sampleCandidates } from './search.ts';

/** Small forests keep these tests to seconds. */
const SMALL: SearchSpace = {
  nEstimators: [5, 7],
  maxFeatures: [4, 6, 11],
  maxDepth: [4, 8],
  minNumSamples: [3, 5],
  gainThreshold: [0, 0.01],
};

let data: TitanicData;
let X: number[][];
let y: number[];
beforeAll(async () => {
  data = await loadTitanic();
  // a stratified-enough slice of the training split
  X = data.input.train.X.slice(0, 300);
  y = data.input.train.y.slice(0, 300);
});

describe('planFolds', () => {
  it('never puts a synthetic row in a scored fold: scored rows are real rows held out of that fold', () => {
    const plans = planFolds(X, y, 5, 42);
    const scoredTimes = new Array<number>(X.length).fill(0);
    for (const plan of plans) {
      const fit = new Set(plan.fitIndices);
      for (const i of plan.scoredIndices) {
        expect(fit.has(i)).toBe(false);
        scoredTimes[i] = (scoredTimes[i] ?? 0) + 1;
      }
      expect(plan.testX).toEqual(plan.scoredIndices.map((i) => X[i]));
      expect(plan.testY).toEqual(plan.scoredIndices.map((i) => y[i]));
      // the fit rows are the real fold rows followed by SMOTE rows made from them only
      expect(plan.syntheticCount).toBeGreaterThan(0);
      expect(plan.X.length).toBe(plan.fitIndices.length + plan.syntheticCount);
      expect(plan.X.slice(0, plan.fitIndices.length)).toEqual(plan.fitIndices.map((i) => X[i]));
      // SMOTE balanced the fit rows
      const ones = plan.y.filter((v) => v === 1).length;
      expect(ones).toBe(plan.y.length - ones);
    }
    // every real row is scored exactly once over the folds
    expect(scoredTimes.every((n) => n === 1)).toBe(true);
  });
});

describe('sampleCandidates', () => {
  it('draws distinct parameter sets from the grid, the same ones for the same seed', () => {
    const a = sampleCandidates(SMALL, 10, 1, 11);
    expect(a).toEqual(sampleCandidates(SMALL, 10, 1, 11));
    expect(new Set(a.map((c) => JSON.stringify(c))).size).toBe(10);
    expect(sampleCandidates(SMALL, 10, 2, 11)).not.toEqual(a);
    expect(sampleCandidates(SMALL, 1000, 1, 11)).toHaveLength(2 * 3 * 2 * 2 * 2);
  });

  const V2_NAMES = [...FEATURE_NAMES_V2];
  const WITH_SETS: SearchSpace = { ...SMALL, columnSets: [null, ['Sex', 'Title', 'GroupWcOutcome']] };

  it('restricts candidates to a named column set, with maxFeatures clipped to the set, and draws both kinds', () => {
    const all = sampleCandidates(WITH_SETS, 1000, 1, V2_NAMES.length, V2_NAMES);
    expect(all).toHaveLength(2 * 3 * 2 * 2 * 2 * 2);
    const restricted = all.filter((c) => c.columns !== undefined);
    expect(restricted).toHaveLength(all.length / 2);
    for (const c of restricted) {
      expect(c.columns).toEqual([1, 8, 14]);
      expect(c.maxFeatures).toBeLessThanOrEqual(3);
    }
    const ten = sampleCandidates(WITH_SETS, 10, 1, V2_NAMES.length, V2_NAMES);
    expect(ten.some((c) => c.columns === undefined) && ten.some((c) => c.columns !== undefined)).toBe(true);
  });

  it('leaves out a set naming a column the recipe lacks, so recipe v1 draws exactly the candidates it always did', () => {
    const v1 = [...FEATURE_NAMES];
    expect(sampleCandidates(WITH_SETS, 10, 3, v1.length, v1)).toEqual(sampleCandidates(SMALL, 10, 3, v1.length));
  });

  it('needs the feature names to resolve a named set, and refuses a set of fewer than 2 columns', () => {
    expect(() => sampleCandidates(WITH_SETS, 10, 1, 15)).toThrow(/feature names/);
    const one: SearchSpace = { ...SMALL, columnSets: [['Sex']] };
    expect(() => sampleCandidates(one, 10, 1, V2_NAMES.length, V2_NAMES)).toThrow(/at least 2 columns/);
  });

  it('draws the same candidates from a space with an empty per-split axis, and clips that axis to maxFeatures', () => {
    const a = sampleCandidates(SMALL, 10, 1, 11);
    expect(sampleCandidates({ ...SMALL, maxFeaturesPerSplit: [] }, 10, 1, 11)).toStrictEqual(a);
    for (const c of a) expect('maxFeaturesPerSplit' in c).toBe(false);
    const split = sampleCandidates({ ...SMALL, maxFeaturesPerSplit: [3, 5] }, 1000, 1, 11);
    expect(split).toHaveLength(2 * 3 * 2 * 2 * 2 * 2);
    for (const c of split) expect(c.maxFeaturesPerSplit).toBe(Math.min(c.maxFeatures, c.maxFeaturesPerSplit as number));
    expect(new Set(split.map((c) => c.maxFeaturesPerSplit))).toEqual(new Set([3, 4, 5]));
  });
});

describe('randomizedSearch', () => {
  it('scores every candidate on every fold, reports the best mean and its spread, and reports progress', async () => {
    const progress: Array<[number, number]> = [];
    const result = await randomizedSearch(X, y, {
      candidates: 4,
      folds: 3,
      repeats: 1,
      seed: 9,
      space: SMALL,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(result.candidates).toHaveLength(4);
    for (const c of result.candidates) {
      expect(c.scores).toHaveLength(3);
      for (const s of c.scores) expect(s).toBeGreaterThan(0.5);
    }
    const best = Math.max(...result.candidates.map((c) => c.mean));
    expect(result.cvMean).toBe(best);
    expect(result.candidates[result.bestIndex]?.mean).toBe(best);
    expect(result.cvSd).toBeGreaterThanOrEqual(0);
    expect(progress.at(-1)).toEqual([12, 12]);
  });
});
