import { RandomForestClassifier } from 'ml-random-forest';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTitanic, type TitanicData } from '../../test/support/titanic.ts';
import { AppError } from '../errors.ts';
import { compileForest } from './compiled-forest.ts';
import { libraryVotes, trainForest } from './forest.ts';

let data: TitanicData;
let forest: object;
beforeAll(async () => {
  data = await loadTitanic();
  forest = trainForest(data.fit.X, data.fit.y, {
    nEstimators: 25,
    maxFeatures: 6,
    maxDepth: 12,
    minNumSamples: 2,
    gainThreshold: 0,
    seed: 3,
  });
});

/** Two one-leaf trees: the first votes "survived", the second "died". */
function twoLeafForest(): object {
  const leaf = (distribution: number[]) => ({ kind: 'classifier', distribution: [distribution] });
  const tree = (distribution: number[]) => ({ name: 'DTClassifier', options: {}, root: leaf(distribution) });
  return {
    name: 'RFClassifier',
    baseModel: {
      indexes: [
        [0, 1],
        [0, 1],
      ],
      n: 2,
      nEstimators: 2,
      isClassifier: true,
      estimators: [tree([0, 1]), tree([1, 0])],
    },
  };
}

describe('compileForest', () => {
  it('gives exactly the votes of ml-random-forest on every row of the data set, synthetic rows included', () => {
    const compiled = compileForest(forest);
    const rows = [...data.X, ...data.fit.X];
    const expected = libraryVotes(forest, rows);
    expect(rows.map((row) => compiled.votes(row))).toEqual(expected);
    expect(compiled.nTrees).toBe(25);
  });

  it('counts the first tree: the probability is the share of all tree votes', () => {
    const json = twoLeafForest();
    const compiled = compileForest(json);
    expect(compiled.votes([0, 0])).toBe(1);
    expect(compiled.probability([0, 0])).toBe(0.5);
    // the library's own predictProbability reduces without an initial value: the first tree's vote is taken
    // as the raw accumulator instead of being counted (the defect worked around)
    const library = RandomForestClassifier.load(json) as unknown as {
      predictProbability(X: number[][], label: number): number[];
    };
    expect(library.predictProbability([[0, 0]], 1)).toEqual([0.000001]);
  });

  it('votesBatch gives exactly the per-row votes (and the library votes) on every row, in order', () => {
    const compiled = compileForest(forest);
    const rows = [...data.X, ...data.fit.X];
    const batch = compiled.votesBatch(rows);
    expect(Array.from(batch)).toEqual(rows.map((row) => compiled.votes(row)));
    expect(Array.from(batch)).toEqual(libraryVotes(forest, rows));
    // short rows and NaN go right in both walks; one row and no rows work too
    const odd = [[], [Number.NaN, 1, 2], data.X[0]!.slice(0, 3), data.X[1]!.map(() => Number.NaN)];
    expect(Array.from(compiled.votesBatch(odd))).toEqual(odd.map((row) => compiled.votes(row)));
    expect(Array.from(compiled.votesBatch([data.X[2]!]))).toEqual([compiled.votes(data.X[2]!)]);
    expect(compiled.votesBatch([])).toHaveLength(0);
  });

  it('matches probability = votes / nTrees on every row', () => {
    const compiled = compileForest(forest);
    for (const row of data.X) expect(compiled.probability(row)).toBe(compiled.votes(row) / compiled.nTrees);
  });

  it('votes "died" on a leaf whose shares tie, as the library does (first maximum)', () => {
    const json = twoLeafForest() as { baseModel: { estimators: Array<{ root: { distribution: number[][] } }> } };
    for (const tree of json.baseModel.estimators) tree.root.distribution = [[0.5, 0.5]];
    expect(compileForest(json).votes([0, 0])).toBe(0);
    expect(libraryVotes(json, [[0, 0]])).toEqual([0]);
  });

  it('rejects something that is not an ml-random-forest classifier with ARTIFACT_INVALID', () => {
    for (const bad of [null, {}, { name: 'RFClassifier' }, { name: 'RFRegression', baseModel: {} }]) {
      expect(() => compileForest(bad)).toThrow(AppError);
    }
    const broken = twoLeafForest() as { baseModel: { estimators: Array<{ root: object }> } };
    (broken.baseModel.estimators[1] as { root: object }).root = { splitColumn: 0 };
    expect(() => compileForest(broken)).toThrow(/malformed split node/);
  });
});
