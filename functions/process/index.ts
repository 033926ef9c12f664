/** Entry point of the `process` function: configuration, clients, registration. */
import { http } from '@google-cloud/functions-framework';
import { migrate } from '../../shared/adapters/db/migrations.ts';
import { createPool } from '../../shared/adapters/db/pool.ts';
import { createRedis } from '../../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../../shared/adapters/feature-store/store.ts';
import { FEATURE_SET_DEFAULTS } from '../../shared/core/pipeline.ts';
import { functionLogger, loadFunctionConfig, readCommon, readPgConfig, readRedisConfig } from '../clients.ts';
import { onceUntilSuccess } from '../edge.ts';
import { makeProcessHandler } from './handler.ts';

const config = loadFunctionConfig('process', process.env, (r) => ({
  ...readCommon(r),
  pg: readPgConfig(r),
  redis: readRedisConfig(r),
  process: {
    splitSeed: r.int('SPLIT_SEED', { default: FEATURE_SET_DEFAULTS.splitSeed }),
    testSize: r.number('TEST_SIZE', { default: FEATURE_SET_DEFAULTS.testSize, min: 0.05, max: 0.5 }),
    maxRows: r.int('MAX_TRAINING_ROWS', { default: 50_000, min: 100 }),
  },
}));
const pool = createPool(config.pg);
pool.on('error', () => {});
const redis = createRedis(config.redis);

http(
  'process',
  makeProcessHandler({
    pool,
    featureStore: createFeatureStore(redis, { prefix: config.redis.prefix, keep: config.redis.keep }),
    config: config.process,
    logger: functionLogger('process', config.logLevel),
    projectId: config.projectId,
    ready: onceUntilSuccess(() => migrate(pool)),
  }),
);
