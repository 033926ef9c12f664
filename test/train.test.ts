/**
 * The `train` function through the functions-framework test server, against real Postgres, real Redis, the GCS
 * emulator and the Pub/Sub emulator. Small forests and few search candidates keep it fast.
 */
import fs from 'node:fs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { type PubSub, v1 } from '@google-cloud/pubsub';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processDataset } from '../functions/process/handler.ts';
import { makeTrainHandler, modelVersionFor, promoteModel, type TrainConfig } from '../functions/train/handler.ts';
import { localPubSubClient, type PubSubEmulator, startPubSubEmulator } from '../local/pubsub/pubsub-emulator.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { getModel, listModels } from '../shared/adapters/db/model-records.ts';
import { createFeatureStore } from '../shared/adapters/feature-store/store.ts';
import { MODEL_POINTER_OBJECT as MODEL_POINTER, sha256Hex } from '../shared/adapters/model-store.ts';
import { readJson, writeJson } from '../shared/adapters/storage.ts';
import { parseArtifact } from '../shared/core/artifact.ts';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import { type DataPlaneEnv, MODELS_BUCKET, post, startDataPlane } from './support/data-plane.ts';
import { connect, deleteByPrefix, uniquePrefix } from './support/redis.ts';

const TITANIC = fs.readFileSync(new URL('../data/titanic.csv', import.meta.url), 'utf8');
const SMALL_SPACE = {
  nEstimators: [15],
  maxFeatures: [4, 6],
  maxDepth: [6, 8],
  minNumSamples: [3],
  gainThreshold: [0],
};
const config: TrainConfig = {
  modelsBucket: MODELS_BUCKET,
  minAccuracy: 0.75,
  candidates: 2,
  folds: 3,
  seed: 42,
  workers: 0,
  space: SMALL_SPACE,
  topic: 'model-published',
};

let env: DataPlaneEnv;
let redis: Redis;
let prefix: string;
let pubsubEmulator: PubSubEmulator;
let pubsub: PubSub;
let subscriber: v1.SubscriberClient;
let featureSetVersion: string;
const subscription = 'projects/local/subscriptions/model-published-test';

beforeAll(async () => {
  [env, pubsubEmulator] = await Promise.all([startDataPlane(), startPubSubEmulator({ pullWaitMs: 200 })]);
  pubsub = localPubSubClient(pubsubEmulator.host);
  subscriber = new v1.SubscriberClient(
    (await pubsub.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0],
  );
  const [topic] = await pubsub.createTopic('model-published');
  await topic.createSubscription('model-published-test');
  redis = connect();
  prefix = uniquePrefix('train-test');
  const featureStore = createFeatureStore(redis, { prefix });
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
  const deps = { pool: env.db.pool, featureStore, storage: env.storage, pubsub, logger: env.logger, config };
  http('train', makeTrainHandler(deps));
  http('train-strict', makeTrainHandler({ ...deps, config: { ...config, minAccuracy: 0.99, seed: 5 } }));
  http('train-a', makeTrainHandler({ ...deps, config: { ...config, seed: 1 } }));
  http('train-b', makeTrainHandler({ ...deps, config: { ...config, seed: 2 } }));
  http('train-late', makeTrainHandler({ ...deps, config: { ...config, seed: 3 } }));
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis?.quit();
  await subscriber?.close();
  await pubsub?.close();
  await pubsubEmulator?.close();
  await env?.close();
});

async function pulled(): Promise<Array<{ data: unknown; attributes: Record<string, string> }>> {
  const [res] = await subscriber.pull({ subscription, maxMessages: 50 });
  const messages = res.receivedMessages ?? [];
  if (messages.length > 0) await subscriber.acknowledge({ subscription, ackIds: messages.map((m) => m.ackId!) });
  return messages.map((m) => ({
    data: JSON.parse(Buffer.from(m.message!.data as Uint8Array).toString('utf8')),
    attributes: (m.message!.attributes ?? {}) as Record<string, string>,
  }));
}

const pointer = async () => readJson(env.storage, MODELS_BUCKET, MODEL_POINTER);

describe('train', () => {
  it('trains, writes the artifact, registers and promotes the model, and announces it', async () => {
    const res = await post(getTestServer('train'), { featureSetVersion }, { 'x-workflow-execution': 'exec-7' });
    expect(res.status).toBe(200);
    const modelVersion = modelVersionFor(featureSetVersion, config);
    const uri = `gs://${MODELS_BUCKET}/models/${modelVersion}/model.json`;
    expect(res.body).toMatchObject({ modelVersion, promoted: true, uri });
    expect(res.body.metrics.accuracy).toBeGreaterThanOrEqual(0.75);

    const stored = await readJson(env.storage, MODELS_BUCKET, `models/${modelVersion}/model.json`);
    const artifact = parseArtifact(stored!.value);
    expect(artifact.lineage).toEqual({ datasetId: expect.stringMatching(/^ds-/), featureSetVersion });
    expect(artifact.metrics).toEqual(res.body.metrics);
    expect(artifact.driftReference.columns[0]).toHaveLength(712);

    expect((await pointer())!.value).toMatchObject({
      pointerFormat: 2,
      modelVersion,
      uri,
      object: `models/${modelVersion}/model.json`,
      sha256: sha256Hex(
        await env.storage
          .bucket(MODELS_BUCKET)
          .file(`models/${modelVersion}/model.json`)
          .download()
          .then(([b]) => b),
      ),
      promotion: { action: 'promote', actor: 'train', modelVersion, previousVersion: null },
    });
    expect(res.body.decision).toMatchObject({ code: 'PROMOTED_FIRST_MODEL', championVersion: null, suspect: false });
    expect(await getModel(env.db.pool, modelVersion)).toMatchObject({ promoted: true, featureSetVersion, uri });
    expect(await pulled()).toEqual([
      { data: { modelVersion, uri, promoted: true }, attributes: { modelVersion, promoted: 'true' } },
    ]);
  });

  it('does not train or rewrite anything when the same feature set and params are trained again', async () => {
    const modelVersion = modelVersionFor(featureSetVersion, config);
    const before = await readJson(env.storage, MODELS_BUCKET, `models/${modelVersion}/model.json`);
    const pointerBefore = await pointer();
    const started = Date.now();
    const res = await post(getTestServer('train'), { featureSetVersion });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ modelVersion, promoted: true });
    expect(Date.now() - started).toBeLessThan(1000);
    const after = await readJson(env.storage, MODELS_BUCKET, `models/${modelVersion}/model.json`);
    expect(after!.generation).toBe(before!.generation);
    expect((await pointer())!.generation).toBe(pointerBefore!.generation);
  });

  it('registers but does not promote a model below the quality gate', async () => {
    const before = await pointer();
    const res = await post(getTestServer('train-strict'), { featureSetVersion });
    expect(res.status).toBe(200);
    expect(res.body.promoted).toBe(false);
    expect((await pointer())!.generation).toBe(before!.generation);
    expect(await getModel(env.db.pool, res.body.modelVersion)).toMatchObject({ promoted: false });
    await pulled();
  });

  it('keeps both models and a consistent pointer when two trainers race to promote', async () => {
    const [a, b] = await Promise.all([
      post(getTestServer('train-a'), { featureSetVersion }),
      post(getTestServer('train-b'), { featureSetVersion }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const versions = [a.body.modelVersion, b.body.modelVersion];
    const registered = (await listModels(env.db.pool)).filter((m) => versions.includes(m.version));
    expect(registered).toHaveLength(2);
    // The pointer names the newest of the two, and that one says it was promoted.
    const newest = [...registered]
      .sort((x, y) => x.createdAt.getTime() - y.createdAt.getTime() || (x.version < y.version ? -1 : 1))
      .at(-1)!;
    const p = (await pointer())!.value as { modelVersion: string; createdAt: string };
    expect(p.modelVersion).toBe(newest.version);
    expect(new Date(p.createdAt).getTime()).toBe(newest.createdAt.getTime());
    expect([a.body, b.body].find((r) => r.modelVersion === newest.version).promoted).toBe(true);
    await pulled();
  });

  it('lands on the newest model when many promotions race on the pointer, retrying on 412', async () => {
    const base = parseArtifact(
      (await readJson(env.storage, MODELS_BUCKET, `models/${modelVersionFor(featureSetVersion, config)}/model.json`))!
        .value,
    );
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    const contenders = Array.from({ length: 6 }, (_, i) => ({
      ...base,
      modelVersion: `m-race-${i}`,
      createdAt: new Date(t0 + ((i * 7) % 6) * 1000).toISOString(),
    }));
    const logs: string[] = [];
    const log = { ...env.logger, info: (m: string) => logs.push(m), child: () => log } as typeof env.logger;
    const outcomes = await Promise.all(
      contenders.map((a) =>
        promoteModel(
          { storage: env.storage, config },
          { artifact: a, sha256: 'a'.repeat(64), size: 1 },
          `gs://x/${a.modelVersion}`,
          log,
        ),
      ),
    );
    const newest = contenders.reduce((x, y) => (Date.parse(y.createdAt) > Date.parse(x.createdAt) ? y : x));
    expect(((await pointer())!.value as { modelVersion: string }).modelVersion).toBe(newest.modelVersion);
    expect(outcomes[contenders.indexOf(newest)]?.promoted).toBe(true);
    // Every contender that wrote lost its race to a newer one or was declined: one final pointer, the newest.
    expect(outcomes.filter((o) => o.pointer !== null).length).toBeGreaterThanOrEqual(1);
    void logs;
  });

  it('never moves the pointer back to a model older than the one it names', async () => {
    const current = (await pointer())!;
    const future = {
      ...(current.value as object),
      modelVersion: 'm-from-the-future',
      object: 'models/m-from-the-future/model.json',
      createdAt: '2999-01-01T00:00:00.000Z',
    };
    const { generation } = await writeJson(env.storage, MODELS_BUCKET, MODEL_POINTER, future, {
      ifGenerationMatch: current.generation,
    });
    const res = await post(getTestServer('train-late'), { featureSetVersion });
    expect(res.status).toBe(200);
    expect(res.body.promoted).toBe(false);
    expect((await pointer())!.generation).toBe(generation);
    expect(await getModel(env.db.pool, res.body.modelVersion)).toMatchObject({ promoted: false });
  });

  it('answers 404 for a feature set that does not exist', async () => {
    http(
      'train-other',
      makeTrainHandler({
        pool: env.db.pool,
        featureStore: createFeatureStore(redis, { prefix }),
        storage: env.storage,
        pubsub,
        logger: env.logger,
        config: { ...config, seed: 99 },
      }),
    );
    const res = await post(getTestServer('train-other'), { featureSetVersion: 'fs-nope' });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('FEATURE_SET_NOT_FOUND');
  });
});
