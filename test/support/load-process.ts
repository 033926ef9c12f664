/**
 * One load in a process of its own, so its memory can be measured under the heap a deployed function has:
 * `node --max-old-space-size=N --import tsx test/support/load-process.ts` with LOAD_GCS (emulator URL), LOAD_PG
 * (connection JSON), LOAD_BUCKET, LOAD_NAME, LOAD_GENERATION and LOAD_MAX_REJECTED_SHARE. Prints one JSON line:
 * the outcome (or the error's code, message and details) and the process's peak RSS in MiB.
 */
import pg from 'pg';
import { loadObject } from '../../functions/load/handler.ts';
import { localStorageClient } from '../../local/gcs/gcs-emulator.ts';
import { AppError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const pool = new pg.Pool({ ...(JSON.parse(env('LOAD_PG')) as pg.PoolConfig), max: 2 });
const deps = {
  pool,
  storage: localStorageClient(env('LOAD_GCS')),
  logger: createLogger({ minSeverity: 'ERROR' }),
  config: { maxUploadBytes: 104_857_600, maxRejectedShare: Number(env('LOAD_MAX_REJECTED_SHARE')) },
};
let outcome: Record<string, unknown>;
try {
  const out = await loadObject(deps, {
    bucket: env('LOAD_BUCKET'),
    name: env('LOAD_NAME'),
    generation: env('LOAD_GENERATION'),
  });
  outcome = { ...out };
} catch (err) {
  if (!(err instanceof AppError)) throw err;
  outcome = { code: err.code, message: err.message, details: err.details };
}
await pool.end();
console.log(JSON.stringify({ ...outcome, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
