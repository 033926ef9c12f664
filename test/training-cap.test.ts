/**
 * The caps on rows: a dataset larger than MAX_TRAINING_ROWS trains on a stratified, seeded sample of it, chosen in
 * Postgres, and the feature set and the model artifact record the cap and the sample; a training split larger than
 * SEARCH_MAX_ROWS is searched on a stratified sample of it (the refit on the whole split); a dataset larger than
 * VALIDATION_MAX_ROWS is validated and compared on a stratified sample read in Postgres. The model card shows all
 * three. Real Postgres, real Redis, the GCS and Pub/Sub emulators.
 */
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { PubSub } from '@google-cloud/pubsub';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitCandidate } from '../functions/fit/handler.ts';
import { processDataset } from '../functions/process/handler.ts';
import { makeTrainHandler, modelVersionFor, type TrainConfig } from '../functions/train/handler.ts';
import { localPubSubClient, type PubSubEmulator, startPubSubEmulator } from '../local/pubsub/pubsub-emulator.ts';
import { modelCard } from '../service/model-card.ts';
import type { ServedModel } from '../service/model-registry.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { keysFor } from '../shared/adapters/feature-store/layout.ts';
import { createFeatureStore, type FeatureStore } from '../shared/adapters/feature-store/store.ts';
import type { ModelPointer } from '../shared/adapters/model-store.ts';
import { readJson } from '../shared/adapters/storage.ts';
import { DEFAULT_ARTIFACT_LIMITS, parseArtifact } from '../shared/core/artifact.ts';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import { loadModel } from '../shared/core/model.ts';
import { type DataPlaneEnv, MODELS_BUCKET, post, startDataPlane } from './support/data-plane.ts';
import { connect, deleteByPrefix, uniquePrefix } from './support/redis.ts';
import { syntheticCsv } from './support/synthetic.ts';

const ROWS = 3000;
const CAP = 1000;
let env: DataPlaneEnv;
let redis: Redis;
let prefix: string;
let pubsubEmulator: PubSubEmulator;
let pubsub: PubSub;
let featureStore: FeatureStore;
let datasetId: string;
let died = 0;

beforeAll(async () => {
  [env, pubsubEmulator] = await Promise.all([startDataPlane(), startPubSubEmulator({ pullWaitMs: 200 })]);
  pubsub = localPubSubClient(pubsubEmulator.host);
  await pubsub.createTopic('model-published');
  redis = connect();
  prefix = uniquePrefix('cap-test');
  featureStore = createFeatureStore(redis, { prefix });
  const csv = await syntheticCsv(ROWS);
  died = csv.split('\n').filter((line) => /^\d+,0,/.test(line)).length;
  ({ datasetId } = await loadDataset(
    env.db.pool,
    { bucket: 'b', object: 'big.csv', generation: '1' },
    validatePassengerCsv(csv, { requireSurvived: true }),
    { maxRejectedShare: 0.05, startedAt: new Date() },
  ));
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis?.quit();
  await pubsub?.close();
  await pubsubEmulator?.close();
  await env?.close();
});

/** The passenger ids a feature set holds (train then test), as the store keeps them. */
async function idsOf(version: string): Promise<number[]> {
  const buf = await redis.getBuffer(keysFor(prefix, version).ids);
  const copy = new Uint8Array(buf!);
  return Array.from(new Int32Array(copy.buffer, 0, copy.length / 4));
}

const processWith = (config: { splitSeed: number; maxRows?: number }) =>
  processDataset(
    { pool: env.db.pool, featureStore, logger: env.logger, config: { testSize: 0.2, ...config } },
    datasetId,
  );

describe('the cap on training rows', () => {
  it('trains on a stratified sample of exactly the cap, each outcome in its proportional share, and records it', async () => {
    const out = await processWith({ splitSeed: 42, maxRows: CAP });
    expect(out.trainRows + out.testRows).toBe(CAP);
    expect(out.sampledFrom).toBe(ROWS);
    const m = await featureStore.readMatrices(out.featureSetVersion);
    const labels = [...m!.train.y, ...m!.test.y];
    const sampledDied = labels.filter((l) => l === 0).length;
    // the proportional share, rounded to a neighbouring integer
    expect(Math.abs(sampledDied - (died * CAP) / ROWS)).toBeLessThan(1);
    expect(m!.meta.metadata).toMatchObject({
      maxRows: String(CAP),
      sampledFrom: String(ROWS),
      sampledDied: String(sampledDied),
      sampledSurvived: String(CAP - sampledDied),
    });
    // sampled rows are real rows of the dataset, each once
    const ids = await idsOf(out.featureSetVersion);
    expect(new Set(ids).size).toBe(CAP);
    expect(ids.every((id) => Number.isInteger(id) && id >= 1 && id <= ROWS)).toBe(true);
  });

  it('takes the same rows for the same seed and other rows for another seed', async () => {
    const first = await processWith({ splitSeed: 42, maxRows: CAP });
    // the same seed into a second store: sampled again from Postgres, not found already done
    const second = createFeatureStore(redis, { prefix: `${prefix}-again` });
    const again = await processDataset(
      {
        pool: env.db.pool,
        featureStore: second,
        logger: env.logger,
        config: { testSize: 0.2, splitSeed: 42, maxRows: CAP },
      },
      datasetId,
    );
    const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);
    const ids = sorted(await idsOf(first.featureSetVersion));
    const buf = await redis.getBuffer(keysFor(`${prefix}-again`, again.featureSetVersion).ids);
    const copy = new Uint8Array(buf!);
    expect(sorted(Array.from(new Int32Array(copy.buffer, 0, copy.length / 4)))).toEqual(ids);
    await deleteByPrefix(redis, `${prefix}-again`);

    const other = await processWith({ splitSeed: 7, maxRows: CAP });
    expect(other.featureSetVersion).not.toBe(first.featureSetVersion);
    const otherIds = sorted(await idsOf(other.featureSetVersion));
    // two independent 1/3 samples share about a third of their rows: far from all of them
    const overlap = otherIds.filter((id) => ids.includes(id)).length;
    expect(overlap).toBeLessThan(CAP * 0.5);
  });

  it('leaves a dataset within the cap whole, with no sample recorded', async () => {
    const out = await processWith({ splitSeed: 42, maxRows: ROWS });
    expect(out.trainRows + out.testRows).toBe(ROWS);
    expect(out.sampledFrom).toBeUndefined();
    const m = await featureStore.readMatrices(out.featureSetVersion);
    expect(m!.meta.metadata.sampledFrom).toBeUndefined();
  });

  it('writes the cap and the sample into the model artifact', async () => {
    const out = await processWith({ splitSeed: 42, maxRows: CAP });
    const config: TrainConfig = {
      modelsBucket: MODELS_BUCKET,
      minAccuracy: 0,
      candidates: 1,
      folds: 2,
      seed: 42,
      workers: 0,
      space: { nEstimators: [10], maxFeatures: [4], maxDepth: [6], minNumSamples: [3], gainThreshold: [0] },
      topic: 'model-published',
    };
    http(
      'train-cap',
      makeTrainHandler({ pool: env.db.pool, featureStore, storage: env.storage, pubsub, logger: env.logger, config }),
    );
    const res = await post(getTestServer('train-cap'), { featureSetVersion: out.featureSetVersion });
    expect(res.status).toBe(200);
    const stored = await readJson(env.storage, MODELS_BUCKET, `models/${res.body.modelVersion}/model.json`);
    const artifact = parseArtifact(stored!.value);
    const m = await featureStore.readMatrices(out.featureSetVersion);
    const sampledDied = [...m!.train.y, ...m!.test.y].filter((l) => l === 0).length;
    expect(artifact.sample).toEqual({
      maxRows: CAP,
      datasetRows: ROWS,
      died: sampledDied,
      survived: CAP - sampledDied,
      seed: 42,
    });
  });
});

describe('the byte bound on the artifact', () => {
  it('keeps the artifact of a capped sample within MODEL_MAX_BYTES: the refit keeps its first trees that fit, and says so', async () => {
    const out = await processWith({ splitSeed: 42, maxRows: CAP });
    const MAX_BYTES = 700_000;
    const TREES = 40;
    const config: TrainConfig = {
      modelsBucket: MODELS_BUCKET,
      minAccuracy: 0,
      candidates: 1,
      folds: 2,
      repeats: 1,
      seed: 42,
      workers: 0,
      // the default space's largest candidate, with fewer trees
      space: { nEstimators: [TREES], maxFeatures: [9], maxDepth: [12], minNumSamples: [2], gainThreshold: [0] },
      maxArtifactBytes: MAX_BYTES,
      topic: 'model-published',
    };
    http(
      'train-bytes',
      makeTrainHandler({ pool: env.db.pool, featureStore, storage: env.storage, pubsub, logger: env.logger, config }),
    );
    const res = await post(getTestServer('train-bytes'), { featureSetVersion: out.featureSetVersion });
    expect(res.status).toBe(200);
    const [bytes] = await env.storage
      .bucket(MODELS_BUCKET)
      .file(`models/${res.body.modelVersion}/model.json`)
      .download();
    expect(bytes.length).toBeLessThanOrEqual(MAX_BYTES);
    const artifact = parseArtifact(bytes, { ...DEFAULT_ARTIFACT_LIMITS, maxBytes: MAX_BYTES });
    const kept = artifact.params.nEstimators;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(TREES);
    expect(artifact.search.best.nEstimators).toBe(TREES);
    expect(artifact.treeCap).toMatchObject({ searchedTrees: TREES, keptTrees: kept });
    expect(artifact.treeCap!.refitBytes).toBeGreaterThan(MAX_BYTES);
    const served = { model: loadModel(bytes), pointer: null } as unknown as ServedModel;
    expect(modelCard(served).trainingData.treeCap).toEqual(artifact.treeCap);

    // A retried step that finds the artifact stored but no decision recorded (a crash between the two) reads the
    // stored artifact again, under the configured limit, not the default one.
    await env.db.pool.query('DELETE FROM promotions WHERE model_version = $1', [res.body.modelVersion]);
    await env.db.pool.query('DELETE FROM models WHERE version = $1', [res.body.modelVersion]);
    const tighter = Math.floor(bytes.length / 2);
    http(
      'train-bytes-tighter',
      makeTrainHandler({
        pool: env.db.pool,
        featureStore,
        storage: env.storage,
        pubsub,
        logger: env.logger,
        config: { ...config, maxArtifactBytes: tighter },
      }),
    );
    const again = await post(getTestServer('train-bytes-tighter'), { featureSetVersion: out.featureSetVersion });
    expect(again.status).not.toBe(200);
    expect(again.body.error?.code ?? again.body.code).toBe('ARTIFACT_INVALID');
    expect(JSON.stringify(again.body)).toContain(String(tighter));
  });
});

describe('the search sample and the validation sample', () => {
  const SEARCH_CAP = 300;
  const VALIDATION_CAP = 500;
  const config: TrainConfig = {
    modelsBucket: MODELS_BUCKET,
    minAccuracy: 0,
    candidates: 2,
    folds: 2,
    repeats: 1,
    seed: 42,
    workers: 0,
    space: { nEstimators: [5], maxFeatures: [4, 6], maxDepth: [6], minNumSamples: [3], gainThreshold: [0] },
    searchMaxRows: SEARCH_CAP,
    validationMaxRows: VALIDATION_CAP,
    topic: 'model-published',
  };

  /**
   * The passenger rows the pool sends back while `fn` runs (every query's result rows counted, on the real pool).
   * Instrumentation only: each query runs on Postgres as it would.
   */
  async function passengerRowsRead<T>(fn: () => Promise<T>): Promise<{ result: T; rows: number }> {
    const pool = env.db.pool;
    const query = pool.query.bind(pool);
    let rows = 0;
    (pool as { query: unknown }).query = async (...args: unknown[]) => {
      const res = await (query as (...a: unknown[]) => Promise<{ rows: Array<Record<string, unknown>> }>)(...args);
      rows += res.rows.filter((r) => r && 'passenger_id' in r).length;
      return res;
    };
    try {
      return { result: await fn(), rows };
    } finally {
      (pool as { query: unknown }).query = query;
    }
  }

  it('searches a split over SEARCH_MAX_ROWS on a stratified sample (fit and train alike), refits on the whole split, records it', async () => {
    const out = await processWith({ splitSeed: 42, maxRows: CAP });
    expect(out.trainRows).toBeGreaterThan(SEARCH_CAP);
    http(
      'train-search-cap',
      makeTrainHandler({ pool: env.db.pool, featureStore, storage: env.storage, pubsub, logger: env.logger, config }),
    );
    const res = await post(getTestServer('train-search-cap'), { featureSetVersion: out.featureSetVersion });
    expect(res.status).toBe(200);
    // another search, another version; the version without the cap is what a split within it keeps
    expect(res.body.modelVersion).toBe(modelVersionFor(out.featureSetVersion, config, undefined, SEARCH_CAP));
    expect(res.body.modelVersion).not.toBe(modelVersionFor(out.featureSetVersion, config));
    const stored = await readJson(env.storage, MODELS_BUCKET, `models/${res.body.modelVersion}/model.json`);
    const artifact = parseArtifact(stored!.value);
    const m = await featureStore.readMatrices(out.featureSetVersion);
    const trainDied = m!.train.y.filter((l) => l === 0).length;
    const { searchSample } = artifact;
    expect(searchSample).toMatchObject({ maxRows: SEARCH_CAP, trainRows: out.trainRows, seed: 42 });
    expect(searchSample!.died + searchSample!.survived).toBe(SEARCH_CAP);
    // stratified: each outcome its proportional share of the split, rounded to a neighbouring integer
    expect(Math.abs(searchSample!.died - (trainDied * SEARCH_CAP) / out.trainRows)).toBeLessThan(1);
    // the folds held sampled rows only: a 2-fold pass scores each sampled row once
    expect(artifact.search.candidates[0]!.scores).toHaveLength(2);
    // the refit used the whole split: the drift reference is every training row
    expect(artifact.driftReference.columns[0]).toHaveLength(out.trainRows);

    // a fanned-out fit scores the same sample: the same scores as the single-call search
    for (const c of [0, 1]) {
      const fitted = await fitCandidate(
        { featureStore, logger: env.logger, config: { ...config, searchMaxRows: SEARCH_CAP } },
        { featureSetVersion: out.featureSetVersion, candidate: c },
      );
      expect(fitted.scores).toEqual(artifact.search.candidates[c]!.scores);
    }
    // and without the cap, the fit scores another set of rows
    const whole = await fitCandidate(
      { featureStore, logger: env.logger, config: { ...config, searchMaxRows: out.trainRows } },
      { featureSetVersion: out.featureSetVersion, candidate: 0 },
    );
    expect(whole.scores).not.toEqual(artifact.search.candidates[0]!.scores);
  });

  it('validates a dataset over VALIDATION_MAX_ROWS on a stratified sample read in Postgres, not all its rows; the card shows every sample', async () => {
    // the champion: the model of the test above (promoted: minAccuracy 0); the challenger: another split seed
    const out = await processWith({ splitSeed: 7, maxRows: CAP });
    http(
      'train-validation-cap',
      makeTrainHandler({ pool: env.db.pool, featureStore, storage: env.storage, pubsub, logger: env.logger, config }),
    );
    const { result: res, rows } = await passengerRowsRead(() =>
      post(getTestServer('train-validation-cap'), { featureSetVersion: out.featureSetVersion }),
    );
    expect(res.status).toBe(200);
    expect(res.body.decision.championVersion).not.toBeNull();
    // the train step read the validation sample's rows, not the dataset's ROWS
    expect(rows).toBe(VALIDATION_CAP);
    const evidence = res.body.decision.evidence.dataset;
    expect(evidence.rows).toBe(ROWS);
    expect(evidence.validationSample).toMatchObject({ maxRows: VALIDATION_CAP, seed: 42 });
    expect(evidence.validationSample.died + evidence.validationSample.survived).toBe(VALIDATION_CAP);
    expect(Math.abs(evidence.validationSample.died - (died * VALIDATION_CAP) / ROWS)).toBeLessThan(1);
    // drawn apart from the training sample: most of its rows are ones neither model trained on
    expect(res.body.decision.evidence.comparison.rows).toBeGreaterThan(VALIDATION_CAP / 2);
    expect(res.body.decision.evidence.comparison.rows).toBeLessThanOrEqual(VALIDATION_CAP);

    // the model card of this model, as the service builds it from the artifact and the pointer's evidence
    const bytes = await env.storage.bucket(MODELS_BUCKET).file(`models/${res.body.modelVersion}/model.json`).download();
    const pointer = { evidence: res.body.decision.evidence } as unknown as ModelPointer;
    const card = modelCard({ model: loadModel(bytes[0]), pointer } as unknown as ServedModel);
    expect(card.trainingData.samples).toEqual({
      training: expect.objectContaining({ maxRows: CAP, datasetRows: ROWS, seed: 7 }),
      search: expect.objectContaining({ maxRows: SEARCH_CAP, trainRows: out.trainRows, seed: 42 }),
      validation: expect.objectContaining({ maxRows: VALIDATION_CAP, seed: 42 }),
    });
  });
});
