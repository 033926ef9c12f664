/**
 * The artifact's byte bound on the refit (`maxForestBytes`): a refit whose forest and covers would not fit keeps its
 * first trees, which is the forest the same parameters grow with that many trees, and says so; a refit that fits is
 * untouched.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { readPassengerCsv } from './csv-stream.ts';
import { type ForestParams, firstTrees, trainForest } from './forest.ts';
import { FEATURE_SET_DEFAULTS, prepareFeatureSet, trainingInputOf } from './pipeline.ts';
import type { LabelledPassenger } from './schema.ts';
import type { SearchSpace } from './search.ts';
import { type TrainingOptions, trainModel } from './training.ts';

const { rows } = await readPassengerCsv(readFileSync(new URL('../../data/titanic.csv', import.meta.url)), {
  requireSurvived: true,
});
const prepared = prepareFeatureSet(
  rows.map((r) => r.passenger as LabelledPassenger),
  FEATURE_SET_DEFAULTS,
);
const input = trainingInputOf(prepared);
// the default space's largest candidate: most trees, deepest, smallest leaves, every column
const WORST: SearchSpace = {
  nEstimators: [150],
  maxFeatures: [9],
  maxDepth: [12],
  minNumSamples: [2],
  gainThreshold: [0],
};
const opts: TrainingOptions = { candidates: 1, folds: 2, repeats: 1, seed: 42, space: WORST, shapMaxRows: 50 };
const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

describe('the byte bound on the refit', () => {
  it('keeps the first trees of the forest, exactly the forest grown with that many trees', () => {
    const X = [...prepared.train.X, ...prepared.synthetic.X];
    const y = [...prepared.train.y, ...prepared.synthetic.y];
    const params: ForestParams = {
      nEstimators: 6,
      maxFeatures: 5,
      maxDepth: 8,
      minNumSamples: 2,
      gainThreshold: 0,
      seed: 7,
    };
    expect(firstTrees(trainForest(X, y, params), 3)).toEqual(trainForest(X, y, { ...params, nEstimators: 3 }));
  });

  it('cuts a refit over the budget to the trees that fit, records it, and scores the forest it keeps', async () => {
    const full = await trainModel(input, opts);
    const fullBytes = jsonBytes(full.forest) + jsonBytes(full.covers);
    expect(full.treeCap).toBeUndefined();
    const budget = Math.floor(fullBytes / 3);
    // the search result's bytes come off the budget the train step passes
    const capped = await trainModel(input, { ...opts, maxForestBytes: budget + jsonBytes(full.search) });

    expect(jsonBytes(capped.forest) + jsonBytes(capped.covers)).toBeLessThanOrEqual(budget);
    const kept = capped.params.nEstimators;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(150);
    expect(capped.treeCap).toEqual({ maxBytes: budget, searchedTrees: 150, keptTrees: kept, refitBytes: fullBytes });
    expect(capped.search).toEqual(full.search);
    expect(capped.forest).toEqual(firstTrees(full.forest, kept));
    expect(capped.covers.trees).toEqual(full.covers.trees.slice(0, kept));
    // one more tree would not have fitted
    const oneMore =
      jsonBytes(firstTrees(full.forest, kept + 1)) +
      jsonBytes({ ...full.covers, trees: full.covers.trees.slice(0, kept + 1) });
    expect(oneMore).toBeGreaterThan(budget);
    // the metrics are the kept forest's, not the full one's
    const again = await trainModel(input, { ...opts, space: { ...WORST, nEstimators: [kept] } });
    expect(capped.metrics).toEqual(again.metrics);
    expect(capped.forest).toEqual(again.forest);
  });

  it('leaves a refit within the budget untouched, and refuses a budget no tree fits', async () => {
    const free = await trainModel(input, opts);
    const roomy = await trainModel(input, { ...opts, maxForestBytes: 16 * 1024 * 1024 });
    expect(roomy.treeCap).toBeUndefined();
    expect(roomy.forest).toEqual(free.forest);
    expect(roomy.params).toEqual(free.params);
    const err = await trainModel(input, { ...opts, maxForestBytes: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('ARTIFACT_INVALID');
  });
});
