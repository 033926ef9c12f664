/**
 * Promotion through the real `process` and `train` code, against real Postgres, Redis and the GCS emulator: a
 * champion trained on data/titanic.csv, then the label attacks of issue 11 (each registered, not promoted, its
 * dataset marked suspect, the pointer untouched) and a legitimately larger dataset (promoted). The publisher is a
 * recorder: the events contract is covered in train.test.ts.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollbackTarget, runModelsCommand } from '../cli/models.ts';
import { processDataset } from '../functions/process/handler.ts';
import { type TrainConfig, type TrainResult, trainFeatureSet } from '../functions/train/handler.ts';
import { gcsModelSource } from '../service/gcs-model-source.ts';
import { ModelRegistry } from '../service/model-registry.ts';
import { loadDataset } from '../shared/adapters/db/datasets.ts';
import { getModel, listModels } from '../shared/adapters/db/model-records.ts';
import { datasetSuspicion, listPromotions } from '../shared/adapters/db/promotions.ts';
import type { Publisher } from '../shared/adapters/events.ts';
import { createFeatureStore, type FeatureStore } from '../shared/adapters/feature-store/store.ts';
import { gcsModelStore } from '../shared/adapters/model-store.ts';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import { type DataPlaneEnv, MODELS_BUCKET, startDataPlane } from './support/data-plane.ts';
import { ATTACKS, attackedRows, largerLegitRows, TITANIC_CSV_TEXT, toCsv } from './support/label-attacks.ts';
import { connect, deleteByPrefix, uniquePrefix } from './support/redis.ts';

const config: TrainConfig = {
  modelsBucket: MODELS_BUCKET,
  minAccuracy: 0.75,
  candidates: 1,
  folds: 2,
  seed: 42,
  workers: 0,
  space: { nEstimators: [25], maxFeatures: [5], maxDepth: [8], minNumSamples: [3], gainThreshold: [0] },
  topic: 'model-published',
};

let env: DataPlaneEnv;
let redis: Redis;
let prefix: string;
let featureStore: FeatureStore;
const published: unknown[] = [];
const pubsub = {
  topic: () => ({
    publishMessage: async (m: unknown) => {
      published.push(m);
      return 'id';
    },
  }),
} as unknown as Publisher;
let generation = 0;

/** Loads a CSV as a new dataset, processes it and trains on it, as the workflow does. */
async function uploadAndTrain(csv: string): Promise<TrainResult & { datasetId: string }> {
  const { datasetId } = await loadDataset(
    env.db.pool,
    { bucket: 'b', object: 'upload.csv', generation: String(++generation) },
    validatePassengerCsv(csv, { requireSurvived: true }),
    { maxRejectedShare: 0.05, startedAt: new Date() },
  );
  const { featureSetVersion } = await processDataset(
    { pool: env.db.pool, featureStore, logger: env.logger, config: { splitSeed: 42, testSize: 0.2 } },
    datasetId,
  );
  const deps = { pool: env.db.pool, featureStore, storage: env.storage, pubsub, logger: env.logger, config };
  return { ...(await trainFeatureSet(deps, featureSetVersion, env.logger)), datasetId };
}

let champion: TrainResult;

beforeAll(async () => {
  env = await startDataPlane();
  redis = connect();
  prefix = uniquePrefix('promotion-test');
  featureStore = createFeatureStore(redis, { prefix, keep: 20 });
  champion = await uploadAndTrain(TITANIC_CSV_TEXT);
}, 120_000);
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis?.quit();
  await env?.close();
});

const pointer = async () => (await gcsModelStore(env.storage, MODELS_BUCKET).readPointer())!;

describe('promotion', () => {
  it('promotes the first model on the floor alone', () => {
    expect(champion.promoted).toBe(true);
    expect(champion.decision).toMatchObject({ code: 'PROMOTED_FIRST_MODEL', championVersion: null, suspect: false });
  });

  it.each(ATTACKS)('registers but does not promote a model trained on titanic.csv with labels %s', async (attack) => {
    const before = await pointer();
    const res = await uploadAndTrain(toCsv(attackedRows(attack)));
    expect(res.promoted).toBe(false);
    expect(res.decision.code).toBe('DATASET_SUSPECT');
    expect(res.decision.championVersion).toBe(champion.modelVersion);
    // Each failed validation check is named with its figure; the label checks catch every one of these attacks.
    const labelChecks = res.decision.reasons.filter((r) => /^label-(share|consistency): .+ [\d.]+ > [\d.]+$/.test(r));
    expect(labelChecks.length).toBeGreaterThan(0);
    const after = await pointer();
    expect(after.generation).toBe(before.generation);
    expect(after.pointer.modelVersion).toBe(champion.modelVersion);
    expect(await getModel(env.db.pool, res.modelVersion)).toMatchObject({
      promoted: false,
      suspect: true,
      decision: expect.objectContaining({ code: 'DATASET_SUSPECT' }),
    });
    expect(await datasetSuspicion(env.db.pool, res.datasetId)).toEqual({
      suspect: true,
      reasons: res.decision.reasons,
    });
  });

  it('promotes a model trained on titanic.csv plus 400 more correctly labelled passengers', async () => {
    const res = await uploadAndTrain(toCsv(largerLegitRows(400)));
    expect(res.decision.figures.validation).toMatchObject({ passed: true, failed: [] });
    // Few rows are unseen by both when the new data contains the old: the comparison has little power here.
    expect(res.decision.figures.comparison?.rows).toBeGreaterThan(10);
    expect(res).toMatchObject({ promoted: true, decision: { code: 'PROMOTED', suspect: false } });
    const p = await pointer();
    expect(p.pointer).toMatchObject({
      modelVersion: res.modelVersion,
      promotion: { action: 'promote', previousVersion: champion.modelVersion, actor: 'train' },
    });
    expect(p.pointer.history?.map((h) => h.modelVersion)).toEqual([res.modelVersion, champion.modelVersion]);
    expect((await listPromotions(env.db.pool)).map((r) => r.modelVersion)).toEqual([
      res.modelVersion,
      champion.modelVersion,
    ]);
  });

  describe('npm run models', () => {
    const lines: string[] = [];
    const deps = () => ({
      pool: env.db.pool,
      store: gcsModelStore(env.storage, MODELS_BUCKET),
      pubsub,
      topic: 'model-published',
      out: (line: string) => lines.push(line),
    });
    const registry = () =>
      new ModelRegistry({ source: gcsModelSource(env.storage, MODELS_BUCKET), logger: env.logger });

    it('rolls back to the previously promoted version, and a service instance reloads it', async () => {
      const instance = registry();
      await instance.refresh();
      const before = (await pointer()).pointer;
      expect(instance.current()?.version).toBe(before.modelVersion);
      expect(rollbackTarget(before)).toBe(champion.modelVersion);
      published.length = 0;
      expect(await runModelsCommand(deps(), 'rollback', { who: 'ops-anna', why: 'bad answers in prod' })).toBe(0);
      const after = (await pointer()).pointer;
      expect(after).toMatchObject({
        modelVersion: champion.modelVersion,
        promotion: {
          action: 'rollback',
          previousVersion: before.modelVersion,
          actor: 'ops-anna',
          reason: 'bad answers in prod',
        },
      });
      expect(published).toHaveLength(1);
      expect(await instance.refresh()).toBe('loaded');
      expect(instance.current()?.version).toBe(champion.modelVersion);
      expect((await getModel(env.db.pool, champion.modelVersion))?.promoted).toBe(true);
      expect((await getModel(env.db.pool, before.modelVersion))?.promoted).toBe(false);
      // Rolling back again goes further back, not forth to the version just rolled away from.
      expect(rollbackTarget(after)).toBe(null);
    });

    it('refuses to promote a suspect model without --force and --why, then promotes it with them', async () => {
      const suspect = (await listModels(env.db.pool)).find((m) => m.suspect)!;
      await expect(runModelsCommand(deps(), 'promote', { version: suspect.version, who: 'ops-anna' })).rejects.toThrow(
        /needs --force and --why/,
      );
      await expect(
        runModelsCommand(deps(), 'promote', { version: suspect.version, who: 'ops-anna', force: true }),
      ).rejects.toThrow(/needs --force and --why/);
      expect((await pointer()).pointer.modelVersion).toBe(champion.modelVersion);

      const instance = registry();
      await instance.refresh();
      await runModelsCommand(deps(), 'promote', {
        version: suspect.version,
        who: 'ops-anna',
        force: true,
        why: 'labels checked by hand',
      });
      expect((await pointer()).pointer).toMatchObject({
        modelVersion: suspect.version,
        promotion: { action: 'force-promote', actor: 'ops-anna', reason: 'labels checked by hand' },
      });
      expect(await instance.refresh()).toBe('loaded');
      expect(instance.current()?.version).toBe(suspect.version);
      const history = await listPromotions(env.db.pool);
      expect(history[0]).toMatchObject({ action: 'force-promote', modelVersion: suspect.version, actor: 'ops-anna' });
      expect(history[1]).toMatchObject({ action: 'rollback', modelVersion: champion.modelVersion });

      lines.length = 0;
      await runModelsCommand(deps(), 'list', { who: 'x' });
      expect(lines.find((l) => l.startsWith('*'))).toContain(suspect.version);
    });
  });
});
