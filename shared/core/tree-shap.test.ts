import { beforeAll, describe, expect, it } from 'vitest';
import { loadTitanic, type TitanicData } from '../../test/support/titanic.ts';
import { AppError } from '../errors.ts';
import { type CompiledForest, compileForest } from './compiled-forest.ts';
import { bootstrapCovers, preorder, rowCovers } from './covers.ts';
import { type ForestParams, trainForest } from './forest.ts';
import { createExplainer } from './tree-shap.ts';

/**
 * The oracle: Shapley values by definition, over every subset of the features, of the same game TreeSHAP
 * solves: v(S) follows the row's branch at a split on a feature in S and both branches, weighted by the
 * children's share of the node's cover, elsewhere (an empty node splits its weight evenly).
 */
function bruteForceShapley(forest: CompiledForest, covers: readonly (readonly number[])[], row: number[]): number[] {
  const { feature, threshold, left, roots } = forest.nodes;
  const cover = new Float64Array(feature.length);
  for (let t = 0; t < forest.nTrees; t++) {
    preorder(forest.nodes, t).forEach((n, k) => {
      cover[n] = covers[t]?.[k] as number;
    });
  }
  const expectation = (n: number, inS: (f: number) => boolean): number => {
    const f = feature[n] as number;
    if (f < 0) return left[n] === 1 ? 1 / forest.nTrees : 0;
    const l = left[n] as number;
    if (inS(f)) return expectation((row[f] as number) < (threshold[n] as number) ? l : l + 1, inS);
    const c = cover[n] as number;
    const wl = c > 0 ? (cover[l] as number) / c : 0.5;
    const wr = c > 0 ? (cover[l + 1] as number) / c : 0.5;
    return wl * expectation(l, inS) + wr * expectation(l + 1, inS);
  };
  const m = forest.nFeatures;
  const v = new Float64Array(1 << m);
  for (let mask = 0; mask < 1 << m; mask++) {
    let total = 0;
    for (let t = 0; t < forest.nTrees; t++) total += expectation(roots[t] as number, (f) => (mask & (1 << f)) !== 0);
    v[mask] = total;
  }
  const factorial = [1];
  for (let k = 1; k <= m; k++) factorial.push((factorial[k - 1] as number) * k);
  const phi = new Array<number>(m).fill(0);
  for (let i = 0; i < m; i++) {
    for (let mask = 0; mask < 1 << m; mask++) {
      if ((mask & (1 << i)) !== 0) continue;
      let size = 0;
      for (let b = mask; b > 0; b &= b - 1) size++;
      const weight = ((factorial[size] as number) * (factorial[m - size - 1] as number)) / (factorial[m] as number);
      phi[i] = (phi[i] as number) + weight * ((v[mask | (1 << i)] as number) - (v[mask] as number));
    }
  }
  return phi;
}

function sum(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i] as number;
  return s;
}

const SERVED: ForestParams = {
  nEstimators: 120,
  maxFeatures: 7,
  maxDepth: 10,
  minNumSamples: 3,
  gainThreshold: 0,
  seed: 42,
};

let data: TitanicData;
let servedJson: object;
let served: CompiledForest;
beforeAll(async () => {
  data = await loadTitanic();
  servedJson = trainForest(data.fit.X, data.fit.y, SERVED);
  served = compileForest(servedJson);
});

describe('TreeSHAP on a served-size forest', () => {
  it('adds up to the served probability within 1e-9 on every row of data/titanic.csv, with bootstrap covers', () => {
    const forest = served;
    const covers = bootstrapCovers(servedJson, forest, data.fit.X, SERVED);
    expect(covers.source).toBe('bootstrap');
    const explainer = createExplainer(forest, covers.trees);
    let worst = 0;
    for (const row of data.X) {
      const phi = explainer.explain(row);
      worst = Math.max(worst, Math.abs(explainer.baseValue + sum(phi) - forest.probability(row)));
    }
    console.info(`worst additivity error over ${data.X.length} rows (bootstrap covers): ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-9);
    // the base value is a share of votes, strictly between the all-died and all-survived forests
    expect(explainer.baseValue).toBeGreaterThan(0.2);
    expect(explainer.baseValue).toBeLessThan(0.8);
  });

  it('adds up on every row with covers counted from the real training rows, whose base value is their mean probability', () => {
    const forest = served;
    const reference = data.input.train.X;
    const explainer = createExplainer(forest, rowCovers(forest, reference));
    const meanProbability = sum(reference.map((row) => forest.probability(row))) / reference.length;
    expect(Math.abs(explainer.baseValue - meanProbability)).toBeLessThan(1e-12);
    let worst = 0;
    for (const row of data.X) {
      const phi = explainer.explain(row);
      worst = Math.max(worst, Math.abs(explainer.baseValue + sum(phi) - forest.probability(row)));
    }
    console.info(`worst additivity error over ${data.X.length} rows (reference covers): ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-9);
  });
});

describe('TreeSHAP against brute-force Shapley values', () => {
  const SMALL: ForestParams[] = [
    { nEstimators: 4, maxFeatures: 11, maxDepth: 5, minNumSamples: 2, gainThreshold: 0, seed: 1 },
    { nEstimators: 6, maxFeatures: 4, maxDepth: 7, minNumSamples: 3, gainThreshold: 0, seed: 2 },
    { nEstimators: 3, maxFeatures: 8, maxDepth: 9, minNumSamples: 5, gainThreshold: 0.001, seed: 3 },
  ];

  it('equals the Shapley values of every subset to 1e-9 on small forests, with bootstrap and with sparse covers', () => {
    let worst = 0;
    let compared = 0;
    // every 30th passenger: rows from every class, port, title and fill
    const rows = data.X.filter((_, i) => i % 30 === 0);
    for (const params of SMALL) {
      const json = trainForest(data.fit.X, data.fit.y, params);
      const forest = compileForest(json);
      const coverSets = [
        bootstrapCovers(json, forest, data.fit.X, params).trees,
        // 40 real rows: many nodes get no row at all, which exercises the empty-node rule
        rowCovers(forest, data.input.train.X.slice(0, 40)),
      ];
      expect((coverSets[1] as number[][]).flat()).toContain(0);
      for (const covers of coverSets) {
        const explainer = createExplainer(forest, covers);
        for (const row of rows) {
          const phi = explainer.explain(row);
          const expected = bruteForceShapley(forest, covers, row);
          for (let j = 0; j < expected.length; j++) {
            worst = Math.max(worst, Math.abs((phi[j] as number) - (expected[j] as number)));
            compared++;
          }
        }
      }
    }
    console.info(`worst difference from brute force over ${compared} values: ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-9);
    expect(compared).toBe(SMALL.length * 2 * rows.length * 11);
  });

  it('gives exactly 0 to a feature that no tree splits on', () => {
    // a twelfth column, constant, can never be split on; with 4 of 12 columns per tree, several real
    // features go unused by some trees too, but only a feature unused by every tree must get 0
    const X = data.fit.X.map((row) => [...row, 7]);
    const params: ForestParams = {
      nEstimators: 5,
      maxFeatures: 4,
      maxDepth: 6,
      minNumSamples: 3,
      gainThreshold: 0,
      seed: 9,
    };
    const json = trainForest(X, data.fit.y, params);
    const forest = compileForest(json);
    const used = new Set<number>();
    for (const f of forest.nodes.feature) if (f >= 0) used.add(f);
    const unused = [...Array(12).keys()].filter((f) => !used.has(f));
    expect(unused).toContain(11);
    const explainer = createExplainer(forest, bootstrapCovers(json, forest, X, params).trees);
    for (const row of data.X.slice(0, 200)) {
      const phi = explainer.explain([...row, 7]);
      for (const f of unused) expect(Object.is(phi[f], 0)).toBe(true);
      expect(sum(phi)).not.toBe(0);
    }
  });
});

describe('node covers', () => {
  it('refuses a replay on a different matrix than the forest was trained on', () => {
    const params: ForestParams = {
      nEstimators: 3,
      maxFeatures: 5,
      maxDepth: 6,
      minNumSamples: 3,
      gainThreshold: 0,
      seed: 5,
    };
    const json = trainForest(data.fit.X, data.fit.y, params);
    const forest = compileForest(json);
    expect(() => bootstrapCovers(json, forest, [...data.fit.X].reverse(), params)).toThrow(/bootstrap covers/);
    expect(() => bootstrapCovers(json, forest, data.fit.X, { ...params, seed: 6 })).toThrow(/bootstrap covers/);
  });

  it('rejects covers that do not fit the forest, naming what is wrong', () => {
    const params: ForestParams = {
      nEstimators: 2,
      maxFeatures: 5,
      maxDepth: 4,
      minNumSamples: 3,
      gainThreshold: 0,
      seed: 5,
    };
    const json = trainForest(data.fit.X, data.fit.y, params);
    const forest = compileForest(json);
    const good = bootstrapCovers(json, forest, data.fit.X, params).trees;
    const cases: Array<[number[][], RegExp]> = [
      [good.slice(0, 1), /1 trees of covers for a forest of 2/],
      [[good[0] as number[], (good[1] as number[]).slice(1)], /tree 1 has \d+ nodes and \d+ covers/],
      [
        [good[0] as number[], (good[1] as number[]).map((c, k) => (k === 0 ? c + 1 : c))],
        /not the sum of its children/,
      ],
      [[good[0] as number[], (good[1] as number[]).map((c, k) => (k === 0 ? -1 : c))], /not a count/],
    ];
    for (const [covers, message] of cases) {
      let caught: unknown;
      try {
        createExplainer(forest, covers);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(AppError);
      expect((caught as AppError).code).toBe('ARTIFACT_INVALID');
      expect((caught as AppError).message).toMatch(message);
    }
  });
});
