/**
 * The cap on training rows: a dataset larger than MAX_TRAINING_ROWS trains on a stratified, seeded sample of it,
 * chosen in Postgres, and the feature set and the model artifact record the cap and the sample. Real Postgres, real
 * Redis, the GCS and Pub/Sub emulators.
 */
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { PubSub } from '@google-cloud/pubsub';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processDataset } from '../functions/process/handler.ts';
import { makeTrainHandler, type TrainConfig } from '../functions/train/handler.ts';
import { localPubSubClient, type PubSubEmulator, startPubSubEmulator } from '../local/pubsub/pubsub-emulator.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { keysFor } from '../shared/adapters/feature-store/layout.ts';
import { createFeatureStore, type FeatureStore } from '../shared/adapters/feature-store/store.ts';
import { readJson } from '../shared/adapters/storage.ts';
import { parseArtifact } from '../shared/core/artifact.ts';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
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
