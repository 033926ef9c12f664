/**
 * `train`: one feature set -> one model artifact, registered, promoted if it passes the quality gate, announced.
 *
 * `{featureSetVersion}` -> `{modelVersion, metrics, promoted, uri}`. The model version is a hash of the feature set
 * and the training parameters, so a re-run finds the artifact (or the registration) and does not train again. The
 * artifact is written only if absent (`ifGenerationMatch: 0`). Promotion rewrites `models/latest.json` with
 * `ifGenerationMatch` on the generation read, retrying the read-compare-write when another trainer got there
 * first, and never moves the pointer to a model created before the one it names.
 */
import { createHash } from 'node:crypto';
import type { Storage } from '@google-cloud/storage';
import type pg from 'pg';
import { getModel, markModelPromoted, registerModel } from '../../shared/adapters/db.ts';
import { type Publisher, publishJson } from '../../shared/adapters/events.ts';
import { type FeatureStore, unpackRows } from '../../shared/adapters/feature-store.ts';
import { PreconditionFailedError, readJson, writeJson } from '../../shared/adapters/storage.ts';
import { buildArtifact, type ModelArtifact, parseArtifact } from '../../shared/core/artifact.ts';
import { type SearchSpace, searchFromScores } from '../../shared/core/search.ts';
import { type TestMetrics, trainModel } from '../../shared/core/training.ts';
import { AppError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { asObject, type EdgeDeps, makeJsonHandler, requireString } from '../edge.ts';
import { parseFoldScores } from '../fit/handler.ts';

export const MODEL_POINTER = 'models/latest.json';

export interface TrainConfig {
  modelsBucket: string;
  /** MIN_ACCURACY: the quality gate on test accuracy. */
  minAccuracy: number;
  /** SEARCH_CANDIDATES, SEARCH_SEED, TRAIN_WORKERS. */
  candidates: number;
  seed: number;
  workers?: number | undefined;
  folds?: number | undefined;
  /** A smaller search space (tests); part of the model version when given. */
  space?: SearchSpace | undefined;
  /** MODEL_PUBLISHED_TOPIC. */
  topic: string;
}

export interface TrainDeps extends EdgeDeps {
  pool: pg.Pool;
  featureStore: FeatureStore;
  storage: Storage;
  pubsub: Publisher;
  config: TrainConfig;
  now?: () => Date;
}

export interface TrainResult {
  modelVersion: string;
  metrics: TestMetrics;
  promoted: boolean;
  uri: string;
}

/** What `models/latest.json` holds: enough to find the artifact and to order models by creation. */
export interface ModelPointer {
  modelVersion: string;
  object: string;
  uri: string;
  createdAt: string;
  featureSetVersion: string | null;
  datasetId: string | null;
  accuracy: number;
  promotedAt: string;
}

export function modelVersionFor(featureSetVersion: string, config: TrainConfig): string {
  const params = JSON.stringify({
    featureSetVersion,
    candidates: config.candidates,
    folds: config.folds ?? 5,
    seed: config.seed,
    space: config.space ?? null,
  });
  return `m-${createHash('sha256').update(params).digest('hex').slice(0, 16)}`;
}

/**
 * `foldScores`, when present, are the scores of a fanned-out search (one `fit` call per candidate): the search is
 * not run again, only the selection, the refit and what follows. The model version does not depend on it: both
 * ways select the same parameters.
 */
export function parseTrainRequest(body: unknown): { featureSetVersion: string; foldScores: number[][] | null } {
  const o = asObject(body);
  return {
    featureSetVersion: requireString(o, 'featureSetVersion', /^[A-Za-z0-9._-]{1,128}$/),
    foldScores: parseFoldScores(o.foldScores),
  };
}

const artifactObject = (version: string): string => `models/${version}/model.json`;

/** Creation order of two models: time first, then version, so the order is total. */
function isNewer(
  a: { createdAt: string; modelVersion: string },
  b: { createdAt: string; modelVersion: string },
): boolean {
  const ta = Date.parse(a.createdAt);
  const tb = Date.parse(b.createdAt);
  return ta !== tb ? ta > tb : a.modelVersion > b.modelVersion;
}

/** The artifact of this version: the stored one if any, else trained now and written only if still absent. */
async function obtainArtifact(
  deps: TrainDeps,
  featureSetVersion: string,
  modelVersion: string,
  log: Logger,
  foldScores: number[][] | null = null,
) {
  const { storage, config } = deps;
  const object = artifactObject(modelVersion);
  const stored = await readJson(storage, config.modelsBucket, object);
  if (stored) return parseArtifact(stored.value);

  const m = await deps.featureStore.readMatrices(featureSetVersion);
  if (!m) throw new AppError('FEATURE_SET_NOT_FOUND', `no feature set ${featureSetVersion}`, { featureSetVersion });
  const train = unpackRows(m.train);
  const search = foldScores && searchFromFanOut(config, m.meta.featureNames.length, foldScores);
  const training = await trainModel(
    {
      featureNames: m.meta.featureNames,
      train,
      synthetic: unpackRows(m.synthetic),
      test: unpackRows(m.test),
      ...(search ? { search } : {}),
    },
    {
      candidates: config.candidates,
      seed: config.seed,
      ...(config.folds === undefined ? {} : { folds: config.folds }),
      ...(config.workers === undefined ? {} : { workers: config.workers }),
      ...(config.space === undefined ? {} : { space: config.space }),
    },
  );
  log.info('trained', { modelVersion, seconds: training.seconds, accuracy: training.metrics.accuracy });
  const artifact = buildArtifact({
    modelVersion,
    createdAt: (deps.now ?? (() => new Date()))().toISOString(),
    lineage: { datasetId: m.meta.datasetId || null, featureSetVersion },
    recipe: m.recipe,
    training,
    trainX: train.X,
  });
  try {
    await writeJson(storage, config.modelsBucket, object, artifact, { ifGenerationMatch: 0 });
    return artifact;
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
    // A concurrent run of the same version wrote it first: same inputs, so keep the stored one.
    const winner = await readJson(storage, config.modelsBucket, object);
    if (!winner) throw err;
    return parseArtifact(winner.value);
  }
}

/** The search result of the fanned-out fits; scores that do not match this search's options are the caller's error. */
function searchFromFanOut(config: TrainConfig, nFeatures: number, foldScores: number[][]) {
  try {
    return searchFromScores(nFeatures, foldScores, {
      candidates: config.candidates,
      seed: config.seed,
      ...(config.folds === undefined ? {} : { folds: config.folds }),
      ...(config.space === undefined ? {} : { space: config.space }),
    });
  } catch (err) {
    if (err instanceof RangeError)
      throw new AppError('BAD_REQUEST', `foldScores do not match the search: ${err.message}`, { field: 'foldScores' });
    throw err;
  }
}

/**
 * Points `models/latest.json` at the model unless it already names a newer one. Returns whether the pointer
 * names this model afterwards.
 */
export async function promoteModel(
  deps: Pick<TrainDeps, 'storage' | 'config' | 'now'>,
  artifact: ModelArtifact,
  uri: string,
  log: Logger,
): Promise<boolean> {
  const { storage, config } = deps;
  for (let attempt = 1; attempt <= 10; attempt++) {
    const current = await readJson(storage, config.modelsBucket, MODEL_POINTER);
    const pointed = current?.value as Partial<ModelPointer> | undefined;
    if (pointed?.modelVersion === artifact.modelVersion) return true;
    if (
      pointed?.createdAt &&
      pointed.modelVersion &&
      isNewer({ createdAt: pointed.createdAt, modelVersion: pointed.modelVersion }, artifact)
    ) {
      log.info('a newer model is already promoted', {
        current: pointed.modelVersion,
        modelVersion: artifact.modelVersion,
      });
      return false;
    }
    const pointer: ModelPointer = {
      modelVersion: artifact.modelVersion,
      object: artifactObject(artifact.modelVersion),
      uri,
      createdAt: artifact.createdAt,
      featureSetVersion: artifact.lineage.featureSetVersion,
      datasetId: artifact.lineage.datasetId,
      accuracy: artifact.metrics.accuracy,
      promotedAt: (deps.now ?? (() => new Date()))().toISOString(),
    };
    try {
      await writeJson(storage, config.modelsBucket, MODEL_POINTER, pointer, {
        ifGenerationMatch: current?.generation ?? 0,
        cacheControl: 'no-store',
      });
      return true;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      log.info('pointer changed under us; re-reading', { attempt });
      await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50));
    }
  }
  throw new AppError('UNAVAILABLE', 'could not update the model pointer: too much contention');
}

export async function trainFeatureSet(
  deps: TrainDeps,
  featureSetVersion: string,
  log: Logger,
  foldScores: number[][] | null = null,
): Promise<TrainResult> {
  const { config } = deps;
  const modelVersion = modelVersionFor(featureSetVersion, config);
  const uri = `gs://${config.modelsBucket}/${artifactObject(modelVersion)}`;

  let record = await getModel(deps.pool, modelVersion);
  let artifact: ModelArtifact | undefined;
  if (!record) {
    artifact = await obtainArtifact(deps, featureSetVersion, modelVersion, log, foldScores);
    record = await registerModel(deps.pool, {
      version: modelVersion,
      datasetId: artifact.lineage.datasetId,
      featureSetVersion,
      uri,
      metrics: artifact.metrics as unknown as Record<string, unknown>,
      params: artifact.params as unknown as Record<string, unknown>,
      createdAt: new Date(artifact.createdAt),
    });
  }
  const metrics = record.metrics as unknown as TestMetrics;
  let promoted = record.promoted;
  if (!promoted && metrics.accuracy >= config.minAccuracy) {
    artifact ??= await obtainArtifact(deps, featureSetVersion, modelVersion, log);
    promoted = await promoteModel(deps, artifact, uri, log);
    if (promoted) await markModelPromoted(deps.pool, modelVersion);
  } else if (!promoted) {
    log.info('below the quality gate: not promoted', {
      modelVersion,
      accuracy: metrics.accuracy,
      min: config.minAccuracy,
    });
  }
  await publishJson(
    deps.pubsub,
    config.topic,
    { modelVersion, uri, promoted },
    { modelVersion, promoted: String(promoted) },
  );
  return { modelVersion, metrics, promoted, uri };
}

export function makeTrainHandler(deps: TrainDeps) {
  return makeJsonHandler('train', deps, parseTrainRequest, (req, { log }) =>
    trainFeatureSet(deps, req.featureSetVersion, log, req.foldScores),
  );
}
