/** Entry point of the `load` function: configuration, clients, registration. */
import { http } from '@google-cloud/functions-framework';
import { migrate } from '../../shared/adapters/db/migrations.ts';
import { createPool } from '../../shared/adapters/db/pool.ts';
import {
  functionLogger,
  loadFunctionConfig,
  readCommon,
  readPgConfig,
  readStorageLimits,
  storageClient,
} from '../clients.ts';
import { onceUntilSuccess } from '../edge.ts';
import { makeLoadHandler } from './handler.ts';

const config = loadFunctionConfig('load', process.env, (r) => ({
  ...readCommon(r),
  pg: readPgConfig(r),
  storageEndpoint: r.optionalString('STORAGE_API_ENDPOINT'),
  storageLimits: readStorageLimits(r),
  load: {
    maxUploadBytes: r.int('MAX_UPLOAD_BYTES', { default: 104_857_600, min: 1 }),
    maxRejectedShare: r.number('MAX_REJECTED_SHARE', { default: 0.05, min: 0, max: 1 }),
  },
}));
const pool = createPool(config.pg);
pool.on('error', () => {}); // an idle connection dropped by the server is replaced on next use

http(
  'load',
  makeLoadHandler({
    pool,
    storage: storageClient(config.storageEndpoint, config.projectId, config.storageLimits),
    config: config.load,
    logger: functionLogger('load', config.logLevel),
    projectId: config.projectId,
    ready: onceUntilSuccess(() => migrate(pool)),
  }),
);
