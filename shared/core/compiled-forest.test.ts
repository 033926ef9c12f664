import { RandomForestClassifier } from 'ml-random-forest';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTitanic, type TitanicData } from '../../test/support/titanic.ts';
import { AppError } from '../errors.ts';
import { type CompiledForest, compileForest } from './compiled-forest.ts';
import { libraryVotes, trainForest } from './forest.ts';
import { createRng } from './rng.ts';

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

/**
 * The plain walk over `ForestNodes` (left on `row[column] < threshold`, else right; a leaf votes its class): the
 * reference the serving walk must agree with, vote for vote.
 */
function nodeVotes(compiled: CompiledForest, row: ArrayLike<number>): number {
  const { feature, threshold, left, roots } = compiled.nodes;
  let count = 0;
  for (const root of roots) {
    let n = root;
    while ((feature[n] as number) >= 0) {
      n =
        (row[feature[n] as number] as number) < (threshold[n] as number)
          ? (left[n] as number)
          : (left[n] as number) + 1;
    }
    if (left[n] === 1) count++;
  }
  return count;
}

/**
 * Rows meant to find a walk that goes the wrong way: every column drawn from the forest's own thresholds (a value
 * equal to a threshold must go right), their neighbours one ulp away, NaN, ±Infinity, ±0, and Titanic values;
 * some rows short (missing columns go right) or with extra columns.
 */
function adversarialRows(compiled: CompiledForest, n: number, seed: number, titanic: readonly number[][]): number[][] {
  const rng = createRng(seed);
  const thresholds = Array.from(compiled.nodes.threshold).filter((_, i) => (compiled.nodes.feature[i] as number) >= 0);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)] as T;
  const ulp = (v: number, up: boolean): number => {
    const f = new Float64Array([v]);
    const b = new BigInt64Array(f.buffer);
    b[0] = (b[0] as bigint) + (v >= 0 === up ? 1n : -1n);
    return f[0] as number;
  };
  const value = (column: number): number => {
    const kind = rng.int(10);
    if (kind <= 3) return pick(thresholds);
    if (kind === 4) return ulp(pick(thresholds), rng.int(2) === 0);
    if (kind === 5) return pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, -1e300]);
    if (kind === 6) return (rng.next() - 0.5) * 1000;
    return pick(titanic)[column] as number;
  };
  return Array.from({ length: n }, () => {
    const width = rng.int(8) === 0 ? rng.int(compiled.nFeatures + 3) : compiled.nFeatures;
    return Array.from({ length: width }, (_, c) => value(c % compiled.nFeatures));
  });
}

describe('compileForest', () => {
  it('votes as the plain node walk and the library on 20,000 adversarial rows, one by one and in batches', () => {
    // The serving walk takes trees eight at a time, then the rest one at a time: 25 trees (8 x 3 and one alone)
    // and 24 (only eights)
    const even = structuredClone(forest) as {
      baseModel: { estimators: unknown[]; indexes: unknown[]; nEstimators: number };
    };
    even.baseModel.estimators.pop();
    even.baseModel.indexes.pop();
    even.baseModel.nEstimators = 24;
    // and shallow forests of mixed depths whose counts reach every part of the walk: 9 (an eight and one), 8, 11
    // (an eight and three alone), 14 (an eight and six alone) and 3 (three alone, no eight)
    const shallow = (maxDepth: number, minNumSamples: number, nEstimators: number) =>
      trainForest(data.fit.X, data.fit.y, {
        nEstimators,
        maxFeatures: 4,
        maxDepth,
        minNumSamples,
        gainThreshold: 0,
        seed: maxDepth,
      });
    for (const [json, trees] of [
      [forest, 25],
      [even, 24],
      [shallow(5, 2, 9), 9],
      [shallow(3, 40, 8), 8],
      [shallow(7, 60, 11), 11],
      [shallow(6, 5, 14), 14],
      [shallow(4, 10, 3), 3],
    ] as const) {
      const compiled = compileForest(json);
      expect(compiled.nTrees).toBe(trees);
      const rows = adversarialRows(compiled, 20_000, trees, data.X);
      const expected = rows.map((row) => nodeVotes(compiled, row));
      expect(rows.map((row) => compiled.votes(row))).toEqual(expected);
      expect(rows.map((row) => compiled.probability(row))).toEqual(expected.map((v) => v / trees));
      expect(Array.from(compiled.votesBatch(rows))).toEqual(expected);
      expect(Array.from(compiled.votesBatch(rows.slice(0, 1)))).toEqual(expected.slice(0, 1));
      // the library reads a short row's missing columns as undefined, which goes right as NaN does
      const full = rows.slice(0, 2000).filter((row) => row.length === compiled.nFeatures);
      expect(full.map((row) => compiled.votes(row))).toEqual(libraryVotes(json, full));
    }
  });

  it('votes as the plain walk for a forest too wide for the serving layout (more than 256 columns)', () => {
    // the same trees reading column 30c instead of c: 301 columns
    const wide = structuredClone(forest) as { baseModel: { indexes: number[][] } };
    wide.baseModel.indexes = wide.baseModel.indexes.map((columns) => columns.map((c) => c * 30));
    const narrow = compileForest(forest);
    const compiled = compileForest(wide);
    expect(compiled.nFeatures).toBeGreaterThan(256);
    const rows = adversarialRows(narrow, 2000, 5, data.X);
    // a short row's missing columns stay missing (NaN), as they read in the narrow forest
    const spread = (row: number[]): number[] =>
      Array.from({ length: compiled.nFeatures }, (_, c) => (c % 30 === 0 ? (row[c / 30] ?? Number.NaN) : 0));
    const expected = rows.map((row) => narrow.votes(row));
    expect(rows.map((row) => compiled.votes(spread(row)))).toEqual(expected);
    expect(Array.from(compiled.votesBatch(rows.map(spread)))).toEqual(expected);
  });

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
