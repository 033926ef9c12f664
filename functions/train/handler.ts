/**
 * `train`: one feature set -> one model artifact, registered, promoted if the promotion rule allows, announced.
 *
 * `{featureSetVersion}` -> `{modelVersion, metrics, promoted, uri, decision}`. The model version is a hash of the
 * feature set and the training parameters, so a re-run finds the artifact (or the registration) and does not train
 * again. Before promoting, the new dataset is validated against the current model's training data and the two
 * models are compared on rows neither trained on (shared/core/validation.ts, shared/core/promotion.ts); the
 * decision and its figures are registered with the model and returned. The model store owns the bucket layout and
 * the compare-and-set on `models/latest.json`; automatic promotion never moves the pointer to a model created
 * before the one it names (an operator's rollback or forced promote does, through `npm run models`).
 */
import type { Storage } from '@google-cloud/storage';
import type pg from 'pg';
import { countDatasetLabels, readDatasetPassengers } from '../../shared/adapters/db/datasets.ts';
import { getModel, registerModel } from '../../shared/adapters/db/model-records.ts';
import { markDatasetSuspect, recordPromotion, wasPromoted } from '../../shared/adapters/db/promotions.ts';
import { type Publisher, publishJson } from '../../shared/adapters/events.ts';
import { unpackRows } from '../../shared/adapters/feature-store/layout.ts';
import type { TrainingReader } from '../../shared/adapters/feature-store/store.ts';
import {
  ArtifactNotFoundError,
  artifactObject,
  gcsModelStore,
  type ModelPointer,
  type ModelStore,
  PointerCorruptError,
  type PointerRead,
  type PromotionEvidence,
  pointerFor,
  sha256Hex,
  verifyArtifactBytes,
} from '../../shared/adapters/model-store.ts';
import {
  buildArtifact,
  DEFAULT_ARTIFACT_LIMITS,
  type ModelArtifact,
  maxForestBytesOf,
  parseArtifact,
  type TrainingSample,
} from '../../shared/core/artifact.ts';
import { loadModel, type Predictor } from '../../shared/core/model.ts';
import { modelVersionFor, resolveSearchOptions, type SearchSettings } from '../../shared/core/pipeline.ts';
import {
  type Comparison,
  decidePromotion,
  judgeChallenger,
  type PromotionDecision,
} from '../../shared/core/promotion.ts';
import type { LabelledPassenger } from '../../shared/core/schema.ts';
import { searchFromScores } from '../../shared/core/search.ts';
import { searchCapFor, searchRowsOf } from '../../shared/core/search-sample.ts';
import { stratifiedSampleSizes } from '../../shared/core/split.ts';
import { type TestMetrics, trainModel } from '../../shared/core/training.ts';
import {
  DEFAULT_VALIDATION,
  describeFailures,
  type ValidationReport,
  type ValidationThresholds,
} from '../../shared/core/validation.ts';
import { AppError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { threadPoolRunner } from '../../shared/runtime/search-pool.ts';
import { asObject, type EdgeDeps, makeJsonHandler, requireString } from '../edge.ts';
import { parseFoldScores } from '../fit/handler.ts';

/** The search settings (SEARCH_CANDIDATES, SEARCH_SEED; unset ones take the core's defaults) and the rest. */
export interface TrainConfig extends SearchSettings {
  modelsBucket: string;
  /** MIN_ACCURACY: the absolute floor on test accuracy. */
  minAccuracy: number;
  /** PROMOTION_ALPHA: one-sided level of the champion/challenger test (default 0.05). */
  promotionAlpha?: number | undefined;
  /** VALIDATION_*: dataset validation thresholds (defaults in shared/core/validation.ts). */
  validation?: Partial<ValidationThresholds> | undefined;
  /** MODEL_MAX_BYTES: the champion's artifact is not read beyond this size. */
  maxArtifactBytes?: number | undefined;
  /** SEARCH_MAX_ROWS: a larger training split is searched on a stratified sample of this many rows (search-sample.ts). */
  searchMaxRows?: number | undefined;
  /**
   * VALIDATION_MAX_ROWS: the dataset validation and the champion comparison read at most this many of the dataset's
   * rows, a stratified sample drawn in Postgres (default DEFAULT_VALIDATION_MAX_ROWS).
   */
  validationMaxRows?: number | undefined;
  /** TRAIN_WORKERS: threads fitting forests (results do not depend on it). */
  workers?: number | undefined;
  /** MODEL_PUBLISHED_TOPIC. */
  topic: string;
  /** PUBSUB_PUBLISH_TIMEOUT_MS: the publish of model-published gives up (503, retried by the workflow) after this. */
  publishTimeoutMs?: number;
}

export interface TrainDeps extends EdgeDeps {
  pool: pg.Pool;
  featureStore: TrainingReader;
  storage: Storage;
  pubsub: Publisher;
  config: TrainConfig;
  now?: () => Date;
}

/** The outcome an upload reports: promoted or not, the stable reason code, the words and the figures. */
export interface TrainDecision {
  code: PromotionDecision['code'];
  reasons: string[];
  figures: PromotionDecision['figures'];
  championVersion: string | null;
  suspect: boolean;
}

export interface TrainResult {
  modelVersion: string;
  metrics: TestMetrics;
  promoted: boolean;
  uri: string;
  decision: TrainDecision;
}

export { modelVersionFor };

/** The search settings of a train config (the other fields are not the search's). */
function searchSettings(config: TrainConfig): SearchSettings {
  const { candidates, folds, repeats, seed, space } = config;
  return { candidates, folds, repeats, seed, space };
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

/** The sample the process step took of a dataset larger than its cap, from the feature set's metadata. */
function sampleOf(metadata: Record<string, string>): { sample?: TrainingSample } {
  const n = (key: string): number => Number(metadata[key]);
  if (!(n('sampledFrom') > 0)) return {};
  return {
    sample: {
      maxRows: n('maxRows'),
      datasetRows: n('sampledFrom'),
      died: n('sampledDied'),
      survived: n('sampledSurvived'),
      seed: n('splitSeed'),
    },
  };
}

/** The search result of the fanned-out fits; scores that do not match this search's options are the caller's error. */
function searchFromFanOut(config: TrainConfig, featureNames: readonly string[], foldScores: number[][]) {
  try {
    return searchFromScores(featureNames.length, foldScores, {
      ...resolveSearchOptions(searchSettings(config)),
      featureNames,
    });
  } catch (err) {
    if (err instanceof RangeError)
      throw new AppError('BAD_REQUEST', `foldScores do not match the search: ${err.message}`, { field: 'foldScores' });
    throw err;
  }
}

/** Creation order of two models: time first, then version, so the order is total. */
function isNewer(
  a: { createdAt: string; modelVersion: string },
  b: { createdAt: string; modelVersion: string },
): boolean {
  const ta = Date.parse(a.createdAt);
  const tb = Date.parse(b.createdAt);
  return ta !== tb ? ta > tb : a.modelVersion > b.modelVersion;
}

const storeOf = (deps: Pick<TrainDeps, 'storage' | 'config'>): ModelStore =>
  gcsModelStore(deps.storage, deps.config.modelsBucket);

interface StoredArtifact {
  artifact: ModelArtifact;
  sha256: string;
  size: number;
}

/** The artifact of this version: the stored one if any, else trained now and written only if still absent. */
async function obtainArtifact(
  deps: TrainDeps,
  store: ModelStore,
  featureSetVersion: string,
  modelVersion: string,
  log: Logger,
  foldScores: number[][] | null = null,
): Promise<StoredArtifact> {
  // A stored artifact is read under the same configured limit that the one written below is checked against.
  const limits = {
    ...DEFAULT_ARTIFACT_LIMITS,
    maxBytes: deps.config.maxArtifactBytes ?? DEFAULT_ARTIFACT_LIMITS.maxBytes,
  };
  const existing = await store
    .readArtifactBytes(artifactObject(modelVersion), { maxBytes: limits.maxBytes })
    .catch((err: unknown) => {
      if (err instanceof ArtifactNotFoundError) return null;
      throw err;
    });
  if (existing) {
    return { artifact: parseArtifact(existing, limits), sha256: sha256Hex(existing), size: existing.length };
  }

  const m = await deps.featureStore.readMatrices(featureSetVersion);
  if (!m) throw new AppError('FEATURE_SET_NOT_FOUND', `no feature set ${featureSetVersion}`, { featureSetVersion });
  const train = unpackRows(m.train);
  const options = resolveSearchOptions(searchSettings(deps.config));
  // the search's rows: the split, or its stratified search sample above SEARCH_MAX_ROWS (the fits take the same)
  const searchRows = searchRowsOf(m.recipe, m.trainIds, train, deps.config.searchMaxRows, options.seed);
  const search = foldScores && searchFromFanOut(deps.config, m.meta.featureNames, foldScores);
  const { maxBytes } = limits;
  const training = await trainModel(
    {
      featureNames: m.meta.featureNames,
      train,
      synthetic: unpackRows(m.synthetic),
      test: unpackRows(m.test),
      ...(searchRows.sample ? { searchRows: { X: searchRows.X, y: searchRows.y } } : {}),
      ...(searchRows.foldView === undefined ? {} : { foldView: searchRows.foldView }),
      ...(search ? { search } : {}),
    },
    {
      ...options,
      runner: threadPoolRunner(deps.config.workers),
      maxForestBytes: maxForestBytesOf(maxBytes, m.recipe, train.X),
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
    ...sampleOf(m.meta.metadata),
    ...(searchRows.sample ? { searchSample: searchRows.sample } : {}),
  });
  // Written only if absent: a concurrent run of the same version may have won, and then its bytes are the ones kept.
  const stored = await store.writeArtifact(modelVersion, artifact);
  return {
    artifact: parseArtifact(stored.bytes, { ...DEFAULT_ARTIFACT_LIMITS, maxBytes }),
    sha256: stored.sha256,
    size: stored.size,
  };
}

/** The current champion: the pointer and the model it names (verified), or null when there is none to compare. */
async function readChampion(
  store: ModelStore,
  config: TrainConfig,
  log: Logger,
): Promise<{ read: PointerRead; model: Predictor } | null> {
  let read: PointerRead | null;
  try {
    read = await store.readPointer();
  } catch (err) {
    if (!(err instanceof PointerCorruptError)) throw err;
    log.error('the model pointer is corrupt: no champion to compare with', { err });
    return null;
  }
  if (!read) return null;
  try {
    const bytes = await store.readArtifactBytes(read.pointer.object, {
      ...(config.maxArtifactBytes === undefined ? {} : { maxBytes: config.maxArtifactBytes }),
    });
    verifyArtifactBytes(read.pointer, bytes);
    return { read, model: loadModel(bytes) };
  } catch (err) {
    // The service refuses this champion too; the first good model replaces it, judged by the floor alone.
    if (!(err instanceof AppError && err.code === 'ARTIFACT_INVALID')) throw err;
    log.error('the promoted artifact is invalid: no champion to compare with', { err, object: read.pointer.object });
    return null;
  }
}

/**
 * Moves `models/latest.json` to the model unless it already names a newer one (compare-and-set on the pointer's
 * generation, retried on a lost race). Returns whether the pointer names this model afterwards.
 */
export async function promoteModel(
  deps: Pick<TrainDeps, 'storage' | 'config' | 'now'>,
  stored: StoredArtifact,
  uri: string,
  log: Logger,
  evidence?: PromotionEvidence,
): Promise<{ promoted: boolean; previousVersion: string | null; pointer: ModelPointer | null }> {
  const { artifact } = stored;
  let previousVersion: string | null = null;
  let alreadyThere = false;
  const written = await storeOf(deps).movePointer((current) => {
    previousVersion = current?.modelVersion ?? null;
    alreadyThere = current?.modelVersion === artifact.modelVersion;
    if (alreadyThere) return null;
    if (current?.createdAt && isNewer(current, artifact)) {
      log.info('a newer model is already promoted', {
        current: current.modelVersion,
        modelVersion: artifact.modelVersion,
      });
      return null;
    }
    const at = (deps.now ?? (() => new Date()))().toISOString();
    return pointerFor(
      artifact,
      stored,
      uri,
      {
        action: 'promote',
        modelVersion: artifact.modelVersion,
        previousVersion,
        at,
        actor: 'train',
        reason: 'PROMOTED',
      },
      current,
      evidence,
    );
  });
  return { promoted: alreadyThere || written !== null, previousVersion, pointer: written };
}

/** VALIDATION_MAX_ROWS by default: rows of the dataset the validation and the champion comparison read at most. */
export const DEFAULT_VALIDATION_MAX_ROWS = 50_000;

/** The validation sample recorded with the promotion evidence when the dataset was larger than VALIDATION_MAX_ROWS. */
export interface ValidationSample {
  maxRows: number;
  /** Rows of the sample per outcome (each outcome's proportional share). */
  died: number;
  survived: number;
  /** md5(PassengerId:seed:validation) orders the rows within each outcome: not the training sample's order. */
  seed: number;
  method: 'stratified by outcome, drawn in Postgres';
}

/**
 * The dataset rows the validation and the champion comparison read: all of them up to VALIDATION_MAX_ROWS, else a
 * stratified sample of that many, chosen in Postgres so the others are never sent (a 1,000,000-row dataset would
 * otherwise be read whole into the function's memory). The sample is drawn independently of the process step's
 * training sample (another salt), so most of its rows are ones neither model trained on. `counts` are the
 * dataset's, whole.
 */
async function readValidationRows(
  deps: TrainDeps,
  datasetId: string,
): Promise<{ passengers: LabelledPassenger[]; counts: [number, number]; sample: ValidationSample | null }> {
  const maxRows = deps.config.validationMaxRows ?? DEFAULT_VALIDATION_MAX_ROWS;
  const counts = await countDatasetLabels(deps.pool, datasetId);
  if (counts[0] + counts[1] <= maxRows) {
    const passengers = await readDatasetPassengers(deps.pool, datasetId);
    return { passengers, counts, sample: null };
  }
  const perLabel = stratifiedSampleSizes(counts, maxRows) as [number, number];
  const seed = resolveSearchOptions(searchSettings(deps.config)).seed;
  const passengers = await readDatasetPassengers(deps.pool, datasetId, { perLabel, seed, salt: 'validation' });
  return {
    passengers,
    counts,
    sample: {
      maxRows,
      died: perLabel[0],
      survived: perLabel[1],
      seed,
      method: 'stratified by outcome, drawn in Postgres',
    },
  };
}

export async function trainFeatureSet(
  deps: TrainDeps,
  featureSetVersion: string,
  log: Logger,
  foldScores: number[][] | null = null,
): Promise<TrainResult> {
  const { config } = deps;
  const store = storeOf(deps);
  // a split over SEARCH_MAX_ROWS is searched on a sample: another model, another version (within it, the old one)
  const meta = await deps.featureStore.readMeta(featureSetVersion);
  const searchCap = meta === null ? null : searchCapFor(meta.trainRows, config.searchMaxRows);
  const modelVersion = modelVersionFor(featureSetVersion, searchSettings(config), undefined, searchCap);
  const uri = store.uriOf(modelVersion);

  let record = await getModel(deps.pool, modelVersion);
  let decision: TrainDecision;
  let stored: StoredArtifact | undefined;
  let evidence: PromotionEvidence | undefined;
  if (record?.decision) {
    // Decided before (a retried step): the same answer, no new training or comparison.
    decision = record.decision as unknown as TrainDecision;
  } else {
    stored = await obtainArtifact(deps, store, featureSetVersion, modelVersion, log, foldScores);
    const { artifact } = stored;
    const champion = await readChampion(store, config, log);
    const read = artifact.lineage.datasetId
      ? await readValidationRows(deps, artifact.lineage.datasetId)
      : { passengers: [], counts: [0, 0] as [number, number], sample: null };
    const { passengers } = read;
    let validation: ValidationReport | null = null;
    let comparison: Comparison | null = null;
    if (champion && champion.model.version !== modelVersion && passengers.length > 0) {
      ({ validation, comparison } = judgeChallenger(champion.model, loadModel(artifact), passengers, {
        ...DEFAULT_VALIDATION,
        ...config.validation,
      }));
    }
    const cm = artifact.metrics.confusionMatrix;
    const decided = decidePromotion({
      policy: { minAccuracy: config.minAccuracy, alpha: config.promotionAlpha ?? 0.05 },
      testAccuracy: artifact.metrics.accuracy,
      testRows: cm.tn + cm.fp + cm.fn + cm.tp,
      validation,
      comparison,
      describeValidation: describeFailures,
    });
    decision = {
      code: decided.code,
      reasons: decided.reasons,
      figures: decided.figures,
      championVersion: champion?.model.version ?? null,
      suspect: validation !== null && !validation.passed,
    };
    const datasetRows = read.counts[0] + read.counts[1];
    const labelShare = datasetRows === 0 ? 0 : read.counts[1] / datasetRows;
    evidence = {
      dataset: {
        datasetId: artifact.lineage.datasetId,
        rows: datasetRows,
        labelShare: Number(labelShare.toFixed(4)),
        ...(read.sample ? { validationSample: read.sample } : {}),
        validation: validation
          ? { passed: validation.passed, failed: validation.failed }
          : 'first model: no champion to validate against',
      },
      comparison,
      decision: { code: decision.code, championVersion: decision.championVersion },
    };
    if (decision.suspect && artifact.lineage.datasetId) {
      await markDatasetSuspect(deps.pool, artifact.lineage.datasetId, decision.reasons);
    }
    record = await registerModel(deps.pool, {
      version: modelVersion,
      datasetId: artifact.lineage.datasetId,
      featureSetVersion,
      uri,
      metrics: artifact.metrics as unknown as Record<string, unknown>,
      params: artifact.params as unknown as Record<string, unknown>,
      createdAt: new Date(artifact.createdAt),
      decision: { ...decision, evidence } as unknown as Record<string, unknown>,
      suspect: decision.suspect,
    });
    decision = record.decision as unknown as TrainDecision;
  }
  evidence ??= (record.decision as { evidence?: PromotionEvidence } | null)?.evidence;

  let promoted = record.promoted;
  // A model promoted once and later rolled back is not promoted again by a retried run: only an operator does that.
  if (!promoted && decision.code.startsWith('PROMOTED') && !(await wasPromoted(deps.pool, modelVersion))) {
    stored ??= await obtainArtifact(deps, store, featureSetVersion, modelVersion, log);
    const moved = await promoteModel(deps, stored, uri, log, evidence);
    promoted = moved.promoted;
    if (moved.pointer?.promotion) await recordPromotion(deps.pool, moved.pointer.promotion);
    if (!promoted) {
      decision = {
        ...decision,
        code: 'NEWER_MODEL_SERVING',
        reasons: [...decision.reasons, 'a model created later is already promoted'],
      };
    }
  } else if (!promoted) {
    log.info('not promoted', { modelVersion, code: decision.code, reasons: decision.reasons });
  }
  await publishJson(
    deps.pubsub,
    config.topic,
    { modelVersion, uri, promoted },
    { modelVersion, promoted: String(promoted) },
    config.publishTimeoutMs === undefined ? {} : { timeoutMs: config.publishTimeoutMs },
  );
  return { modelVersion, metrics: record.metrics as unknown as TestMetrics, promoted, uri, decision };
}

export function makeTrainHandler(deps: TrainDeps) {
  return makeJsonHandler('train', deps, parseTrainRequest, (req, { log }) =>
    trainFeatureSet(deps, req.featureSetVersion, log, req.foldScores),
  );
}
