import { beforeAll, describe, expect, it } from 'vitest';
import { loadTitanic, type TitanicData } from '../../test/support/titanic.ts';
import { compileForest } from './compiled-forest.ts';
import { forestOptions, impurityImportances, libraryVotes, trainForest } from './forest.ts';

let data: TitanicData;
beforeAll(async () => {
  data = await loadTitanic();
});

const params = { nEstimators: 15, maxFeatures: 5, maxDepth: 8, minNumSamples: 3, gainThreshold: 0.001, seed: 1 };

describe('forestOptions', () => {
  it('asks for distinct columns per tree and no out-of-bag pass', () => {
    expect(forestOptions(params, 11)).toMatchObject({ maxFeatures: 5, replacement: false, noOOB: true });
  });

  it('refuses maxFeatures 1 (the library would read it as 100% of the columns) and counts above the width', () => {
    expect(() => forestOptions({ ...params, maxFeatures: 1 }, 11)).toThrow(RangeError);
    expect(() => forestOptions({ ...params, maxFeatures: 12 }, 11)).toThrow(RangeError);
  });

  it('passes a per-split column count to the trees only when given, within [1, maxFeatures]', () => {
    expect('maxFeaturesPerSplit' in (forestOptions(params, 11).treeOptions ?? {})).toBe(false);
    expect(forestOptions({ ...params, maxFeaturesPerSplit: 3 }, 11).treeOptions).toMatchObject({
      maxFeaturesPerSplit: 3,
    });
    for (const k of [0, 6, 2.5]) {
      expect(() => forestOptions({ ...params, maxFeaturesPerSplit: k }, 11)).toThrow(/maxFeaturesPerSplit/);
    }
  });

  it('gives every tree exactly maxFeatures distinct columns', () => {
    const json = trainForest(data.fit.X, data.fit.y, params) as { baseModel: { indexes: number[][] } };
    for (const columns of json.baseModel.indexes) {
      expect(columns).toHaveLength(5);
      expect(new Set(columns).size).toBe(5);
    }
  });
});

describe('a forest restricted to a column subset', () => {
  const subset = [1, 5, 8];
  const restricted = { ...params, maxFeatures: 3, columns: subset };

  it('is a forest over every column whose trees only use the subset, predicting as one fitted on the subset alone', () => {
    const json = trainForest(data.fit.X, data.fit.y, restricted) as { baseModel: { indexes: number[][] } };
    for (const columns of json.baseModel.indexes) expect([...columns].sort((a, b) => a - b)).toEqual(subset);
    const projected = (X: number[][]) => X.map((row) => subset.map((c) => row[c] as number));
    const alone = trainForest(projected(data.fit.X), data.fit.y, { ...params, maxFeatures: 3 });
    // the library itself predicts from full rows through the mapped column lists
    const votes = libraryVotes(json, data.input.test.X);
    expect(votes).toEqual(libraryVotes(alone, projected(data.input.test.X)));
    // and the compiled predictor agrees vote for vote
    const compiled = compileForest(json);
    expect(data.input.test.X.map((row) => compiled.probability(row))).toEqual(votes.map((v) => v / params.nEstimators));
    // a column outside the subset changes nothing
    const scrambled = data.input.test.X.map((row) => row.map((v, j) => (subset.includes(j) ? v : v + 1000)));
    expect(libraryVotes(json, scrambled)).toEqual(votes);
  });

  it('refuses columns that are not ascending indices of the matrix, and counts maxFeatures within the subset', () => {
    expect(() => trainForest(data.fit.X, data.fit.y, { ...restricted, columns: [5, 1, 8] })).toThrow(RangeError);
    expect(() => trainForest(data.fit.X, data.fit.y, { ...restricted, columns: [1, 5, 11] })).toThrow(RangeError);
    expect(() => forestOptions({ ...restricted, maxFeatures: 4 }, 11)).toThrow(RangeError);
  });
});

describe('impurityImportances', () => {
  it('are finite, non-negative and sum to 1, with Sex and Title among the most important on Titanic', () => {
    const json = trainForest(data.fit.X, data.fit.y, params);
    const importances = impurityImportances(json, 11);
    expect(importances).toHaveLength(11);
    for (const v of importances) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(importances.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const ranked = importances.map((v, j) => [v, j] as const).sort((a, b) => b[0] - a[0]);
    const top = ranked.slice(0, 4).map(([, j]) => data.recipe.featureNames[j]);
    expect(top.some((name) => name === 'Sex' || name === 'Title')).toBe(true);
  });

  it('are the same after a JSON round trip (the library gives NaN after load)', () => {
    const json = trainForest(data.fit.X, data.fit.y, params);
    expect(impurityImportances(JSON.parse(JSON.stringify(json)), 11)).toEqual(impurityImportances(json, 11));
  });
});
