/**
 * The fanned-out search: the `fit` function (one candidate, every fold) and the `train` function given every
 * candidate's fold scores, through the functions-framework test server, against real Postgres, real Redis, the GCS
 * emulator and the Pub/Sub emulator. A fanned-out search must select, and refit, exactly what the single-call search
 * selects for the same seed.
 */
import fs from 'node:fs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { PubSub } from '@google-cloud/pubsub';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FitConfig, makeFitHandler } from '../functions/fit/handler.ts';
import { processDataset } from '../functions/process/handler.ts';
import { makeTrainHandler, type TrainConfig } from '../functions/train/handler.ts';
import { localPubSubClient, type PubSubEmulator, startPubSubEmulator } from '../local/pubsub/pubsub-emulator.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { unpackRows } from '../shared/adapters/feature-store/layout.ts';
import { createFeatureStore, type FeatureStore } from '../shared/adapters/feature-store/store.ts';
import { readJson } from '../shared/adapters/storage.ts';
import { parseArtifact } from '../shared/core/artifact.ts';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import { foldViewFor } from '../shared/core/pipeline.ts';
import { randomizedSearch } from '../shared/core/search.ts';
import { trainModel } from '../shared/core/training.ts';
import { type DataPlaneEnv, MODELS_BUCKET, post, startDataPlane } from './support/data-plane.ts';
import { connect, deleteByPrefix, uniquePrefix } from './support/redis.ts';

const TITANIC = fs.readFileSync(new URL('../data/titanic.csv', import.meta.url), 'utf8');
const SPACE = {
  nEstimators: [12, 15],
  maxFeatures: [4, 6, 8],
  maxDepth: [6, 8],
  minNumSamples: [3],
  gainThreshold: [0],
  // candidates on every column and on a named subset, as the default space has
  columnSets: [null, ['Sex', 'Title', 'GroupWcOutcome']],
};
const search = { candidates: 4, folds: 3, repeats: 1, seed: 42, workers: 0, space: SPACE } satisfies FitConfig;
const trainConfig: TrainConfig = { ...search, modelsBucket: MODELS_BUCKET, minAccuracy: 0, topic: 'model-published' };

let env: DataPlaneEnv;
let redis: Redis;
let prefix: string;
let pubsubEmulator: PubSubEmulator;
let pubsub: PubSub;
let featureStore: FeatureStore;
let featureSetVersion: string;

beforeAll(async () => {
  [env, pubsubEmulator] = await Promise.all([startDataPlane(), startPubSubEmulator({ pullWaitMs: 200 })]);
  pubsub = localPubSubClient(pubsubEmulator.host);
  await pubsub.createTopic('model-published');
  redis = connect();
  prefix = uniquePrefix('fit-test');
  featureStore = createFeatureStore(redis, { prefix });
  const { datasetId } = await loadDataset(
    env.db.pool,
    { bucket: 'b', object: 'titanic.csv', generation: '1' },
    validatePassengerCsv(TITANIC, { requireSurvived: true }),
    { maxRejectedShare: 0.05, startedAt: new Date() },
  );
  ({ featureSetVersion } = await processDataset(
    { pool: env.db.pool, featureStore, logger: env.logger, config: { splitSeed: 42, testSize: 0.2 } },
    datasetId,
  ));
  http('fit', makeFitHandler({ featureStore, logger: env.logger, config: search }));
  const trainDeps = { pool: env.db.pool, featureStore, storage: env.storage, pubsub, logger: env.logger };
  http('train-other-seed', makeTrainHandler({ ...trainDeps, config: { ...trainConfig, seed: 43 } }));
  http(
    'train-fanned-out',
    makeTrainHandler({
      pool: env.db.pool,
      featureStore,
      storage: env.storage,
      pubsub,
      logger: env.logger,
      config: trainConfig,
    }),
  );
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis?.quit();
  await pubsub?.close();
  await pubsubEmulator?.close();
  await env?.close();
});

/** What the workflow's parallel for collects: candidate index (as a string) -> fold scores. */
async function fanOut(): Promise<Record<string, number[]>> {
  const answers = await Promise.all(
    Array.from({ length: search.candidates }, (_, candidate) =>
      post(getTestServer('fit'), { featureSetVersion, candidate }),
    ),
  );
  return Object.fromEntries(
    answers.map((res, candidate) => {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ featureSetVersion, candidate, seconds: expect.any(Number) });
      return [String(candidate), res.body.scores as number[]];
    }),
  );
}

describe('fanned-out search', () => {
  it('scores each candidate on every fold exactly as the single-call search does, whatever the candidate', async () => {
    const matrices = await featureStore.readMatrices(featureSetVersion);
    const train = unpackRows(matrices!.train);
    // recipe v2 (the default): each fold's group features from its training rows, in both searches
    const foldView = foldViewFor(matrices!.recipe, matrices!.trainIds, train.X);
    const single = await randomizedSearch(train.X, train.y, {
      ...search,
      featureNames: matrices!.meta.featureNames,
      ...(foldView ? { foldView } : {}),
    });
    // both kinds of candidate are among those compared
    expect(single.candidates.some((c) => c.params.columns === undefined)).toBe(true);
    expect(single.candidates.some((c) => c.params.columns !== undefined)).toBe(true);
    const scores = await fanOut();
    expect(Object.keys(scores)).toEqual(['0', '1', '2', '3']);
    single.candidates.forEach((c, i) => {
      expect(scores[String(i)]).toEqual(c.scores);
    });
    // the candidates really differ, so picking the wrong one would show
    expect(new Set(single.candidates.map((c) => c.mean)).size).toBeGreaterThan(1);
  });

  it('makes train select and refit exactly the model of the single-call search for the same seed', async () => {
    const res = await post(getTestServer('train-fanned-out'), { featureSetVersion, foldScores: await fanOut() });
    expect(res.status).toBe(200);
    const stored = await readJson(env.storage, MODELS_BUCKET, `models/${res.body.modelVersion}/model.json`);
    const artifact = parseArtifact(stored!.value);

    const m = await featureStore.readMatrices(featureSetVersion);
    const single = await trainModel(
      {
        featureNames: m!.meta.featureNames,
        train: unpackRows(m!.train),
        synthetic: unpackRows(m!.synthetic),
        test: unpackRows(m!.test),
        ...(m!.recipe.version === 2 ? { foldView: foldViewFor(m!.recipe, m!.trainIds, unpackRows(m!.train).X)! } : {}),
      },
      search,
    );
    expect(artifact.search.bestIndex).toBe(single.search.bestIndex);
    expect(artifact.search.candidates).toEqual(single.search.candidates);
    expect(artifact.params).toEqual(single.params);
    expect(JSON.stringify(artifact.forest)).toBe(JSON.stringify(single.forest));
    expect(artifact.metrics).toEqual(single.metrics);
  });

  it('refuses fold scores that do not match the search, naming the field', async () => {
    const scores = await fanOut();
    const cases: Array<[unknown, RegExp]> = [
      [{ 0: scores['0'], 1: scores['1'] }, /4 candidates but 2 score lists/],
      [{ ...scores, 3: [0.5] }, /candidate 3 has 1 fold scores, expected 3/],
      [{ ...scores, x: [0.5, 0.5, 0.5] }, /keys must be the candidates/],
      [{ ...scores, 2: [0.5, 2, 0.5] }, /accuracies in \[0, 1\]/],
      [[[0.5]], /map from candidate index/],
    ];
    for (const [foldScores, message] of cases) {
      // a search of another seed: no model of this version exists, so the scores are checked, not skipped
      const res = await post(getTestServer('train-other-seed'), { featureSetVersion, foldScores });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({
        code: 'BAD_REQUEST',
        message: expect.stringMatching(message),
        details: { field: expect.stringMatching(/^foldScores/) },
      });
    }
  });

  it('answers 400 for a candidate the search does not have and 404 for an unknown feature set', async () => {
    const bad = await post(getTestServer('fit'), { featureSetVersion, candidate: 4 });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'BAD_REQUEST', details: { field: 'candidate' } });
    expect((await post(getTestServer('fit'), { featureSetVersion, candidate: -1 })).status).toBe(400);
    const missing = await post(getTestServer('fit'), { featureSetVersion: 'fs-none', candidate: 0 });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('FEATURE_SET_NOT_FOUND');
  });
});
