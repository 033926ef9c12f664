/**
 * One load in a process of its own, so its memory can be measured under the heap a deployed function has:
 * `node --max-old-space-size=N --import tsx test/support/load-process.ts` with LOAD_GCS (emulator URL), LOAD_PG
 * (connection JSON), LOAD_BUCKET, LOAD_NAME, LOAD_GENERATION and LOAD_MAX_REJECTED_SHARE. Prints one JSON line:
 * the outcome (or the error's code, message and details) and the process's peak RSS in MiB.
 */
import { readFileSync } from 'node:fs';
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
console.log(JSON.stringify({ ...outcome, maxRssMiB: peakRssMiB() }));

/**
 * The peak RSS of this process: VmHWM of /proc/self/status. Not `process.resourceUsage().maxRSS`: Linux carries a
 * forked child's high-water mark over from its parent (the RSS of the parent at fork), which would count the
 * test runner's memory as this process's.
 */
function peakRssMiB(): number {
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (hwm === null) throw new Error('no VmHWM in /proc/self/status');
  return Math.round(Number(hwm[1]) / 1024);
}
