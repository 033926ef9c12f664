/** Entry point of the `migrate` function: configuration, clients, registration. */
import { http } from '@google-cloud/functions-framework';
import { createPool } from '../../shared/adapters/db/pool.ts';
import { parseLoginSecrets } from '../../shared/adapters/db/roles.ts';
import { functionLogger, loadFunctionConfig, readCommon, readPgConfig } from '../clients.ts';
import { makeMigrateHandler } from './handler.ts';

const config = loadFunctionConfig('migrate', process.env, (r) => {
  const secrets = r.optionalString('PG_LOGIN_SECRETS');
  return {
    ...readCommon(r),
    pg: readPgConfig(r),
    loginSecrets: secrets === undefined ? undefined : parseLoginSecrets(secrets),
  };
});
const pool = createPool({ ...config.pg, max: 1 });
pool.on('error', () => {});

http(
  'migrate',
  makeMigrateHandler({
    pool,
    loginSecrets: config.loginSecrets,
    logger: functionLogger('migrate', config.logLevel),
    projectId: config.projectId,
  }),
);
