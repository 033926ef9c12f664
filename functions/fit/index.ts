/** Entry point of the `fit` function: configuration, clients, registration. */
import os from 'node:os';
import { http } from '@google-cloud/functions-framework';
import { createRedis } from '../../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../../shared/adapters/feature-store/store.ts';
import { SEARCH_DEFAULTS } from '../../shared/core/pipeline.ts';
import { DEFAULT_SEARCH_MAX_ROWS } from '../../shared/core/search-sample.ts';
import { functionLogger, loadFunctionConfig, readCommon, readRedisConfig } from '../clients.ts';
import { makeFitHandler } from './handler.ts';

const config = loadFunctionConfig('fit', process.env, (r) => ({
  ...readCommon(r),
  redis: readRedisConfig(r),
  fit: {
    candidates: r.int('SEARCH_CANDIDATES', { default: SEARCH_DEFAULTS.candidates, min: 1 }),
    seed: r.int('SEARCH_SEED', { default: SEARCH_DEFAULTS.seed }),
    searchMaxRows: r.int('SEARCH_MAX_ROWS', { default: DEFAULT_SEARCH_MAX_ROWS, min: 1 }),
    workers: r.int('TRAIN_WORKERS', { default: os.availableParallelism(), min: 0 }),
  },
}));

http(
  'fit',
  makeFitHandler({
    featureStore: createFeatureStore(createRedis(config.redis), {
      prefix: config.redis.prefix,
      keep: config.redis.keep,
    }),
    config: config.fit,
    logger: functionLogger('fit', config.logLevel),
    projectId: config.projectId,
  }),
);
