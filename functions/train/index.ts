/** Entry point of the `train` function: configuration, clients, registration. */
import os from 'node:os';
import { http } from '@google-cloud/functions-framework';
import { migrate } from '../../shared/adapters/db/migrations.ts';
import { createPool } from '../../shared/adapters/db/pool.ts';
import { DEFAULT_PUBLISH_TIMEOUT_MS } from '../../shared/adapters/events.ts';
import { createRedis } from '../../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../../shared/adapters/feature-store/store.ts';
import { DEFAULT_ARTIFACT_LIMITS } from '../../shared/core/artifact.ts';
import { SEARCH_DEFAULTS } from '../../shared/core/pipeline.ts';
import { DEFAULT_SEARCH_MAX_ROWS } from '../../shared/core/search-sample.ts';
import { DEFAULT_VALIDATION } from '../../shared/core/validation.ts';
import {
  functionLogger,
  loadFunctionConfig,
  pubsubClient,
  readCommon,
  readPgConfig,
  readRedisConfig,
  readStorageLimits,
  storageClient,
} from '../clients.ts';
import { onceUntilSuccess } from '../edge.ts';
import { DEFAULT_VALIDATION_MAX_ROWS, makeTrainHandler } from './handler.ts';

const config = loadFunctionConfig('train', process.env, (r) => ({
  ...readCommon(r),
  pg: readPgConfig(r),
  redis: readRedisConfig(r),
  storageEndpoint: r.optionalString('STORAGE_API_ENDPOINT'),
  storageLimits: readStorageLimits(r),
  train: {
    modelsBucket: r.string('MODELS_BUCKET'),
    minAccuracy: r.number('MIN_ACCURACY', { default: 0.75, min: 0, max: 1 }),
    promotionAlpha: r.number('PROMOTION_ALPHA', { default: 0.05, min: 0, max: 1 }),
    validation: {
      maxJensenShannon: r.number('VALIDATION_MAX_JS', { default: DEFAULT_VALIDATION.maxJensenShannon, min: 0, max: 1 }),
      maxLInfinity: r.number('VALIDATION_MAX_LINF', { default: DEFAULT_VALIDATION.maxLInfinity, min: 0, max: 1 }),
      maxOutOfRange: r.number('VALIDATION_MAX_OUT_OF_RANGE', {
        default: DEFAULT_VALIDATION.maxOutOfRange,
        min: 0,
        max: 1,
      }),
      maxLabelShareDelta: r.number('VALIDATION_MAX_LABEL_SHARE_DELTA', {
        default: DEFAULT_VALIDATION.maxLabelShareDelta,
        min: 0,
        max: 1,
      }),
      consistencyAlpha: r.number('VALIDATION_CONSISTENCY_ALPHA', {
        default: DEFAULT_VALIDATION.consistencyAlpha,
        min: 0,
        max: 1,
      }),
      consistencyMinDrop: r.number('VALIDATION_CONSISTENCY_MIN_DROP', {
        default: DEFAULT_VALIDATION.consistencyMinDrop,
        min: 0,
        max: 1,
      }),
      consistencyMinRows: r.int('VALIDATION_CONSISTENCY_MIN_ROWS', {
        default: DEFAULT_VALIDATION.consistencyMinRows,
        min: 1,
      }),
    },
    maxArtifactBytes: r.int('MODEL_MAX_BYTES', { default: DEFAULT_ARTIFACT_LIMITS.maxBytes, min: 1 }),
    candidates: r.int('SEARCH_CANDIDATES', { default: SEARCH_DEFAULTS.candidates, min: 1 }),
    seed: r.int('SEARCH_SEED', { default: SEARCH_DEFAULTS.seed }),
    searchMaxRows: r.int('SEARCH_MAX_ROWS', { default: DEFAULT_SEARCH_MAX_ROWS, min: 1 }),
    validationMaxRows: r.int('VALIDATION_MAX_ROWS', { default: DEFAULT_VALIDATION_MAX_ROWS, min: 1 }),
    workers: r.int('TRAIN_WORKERS', { default: os.availableParallelism(), min: 0 }),
    topic: r.string('MODEL_PUBLISHED_TOPIC', { default: 'model-published' }),
    publishTimeoutMs: r.int('PUBSUB_PUBLISH_TIMEOUT_MS', { default: DEFAULT_PUBLISH_TIMEOUT_MS, min: 1 }),
  },
}));
const pool = createPool(config.pg);
pool.on('error', () => {});

http(
  'train',
  makeTrainHandler({
    pool,
    featureStore: createFeatureStore(createRedis(config.redis), {
      prefix: config.redis.prefix,
      keep: config.redis.keep,
    }),
    storage: storageClient(config.storageEndpoint, config.projectId, config.storageLimits),
    pubsub: pubsubClient(config.projectId),
    config: config.train,
    logger: functionLogger('train', config.logLevel),
    projectId: config.projectId,
    ready: onceUntilSuccess(() => migrate(pool)),
  }),
);
