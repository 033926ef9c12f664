/**
 * The environment of the data-plane integration tests: a GCS emulator (in memory) with a data and a models bucket,
 * a throwaway Postgres database with the schema, and a quiet logger that keeps what it logged.
 */
import type { Storage } from '@google-cloud/storage';
import supertest from 'supertest';
import { type GcsEmulator, localStorageClient, startGcsEmulator } from '../../local/gcs/gcs-emulator.ts';
import { migrate } from '../../shared/adapters/db/migrations.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { createTestDatabase, type TestDatabase } from './pg.ts';

export const DATA_BUCKET = 'data-bucket';
export const MODELS_BUCKET = 'models-bucket';

export interface DataPlaneEnv {
  db: TestDatabase;
  gcs: GcsEmulator;
  storage: Storage;
  logger: Logger;
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startDataPlane(): Promise<DataPlaneEnv> {
  const [db, gcs] = await Promise.all([
    createTestDatabase(),
    startGcsEmulator({ buckets: [DATA_BUCKET, MODELS_BUCKET] }),
  ]);
  await migrate(db.pool);
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ sink: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  return {
    db,
    gcs,
    storage: localStorageClient(gcs.url),
    logger,
    logs,
    async close() {
      await Promise.allSettled([db.drop(), gcs.close()]);
    },
  };
}

/** Uploads `content` and returns the generation the finalize produced. */
export async function upload(storage: Storage, name: string, content: string | Buffer): Promise<string> {
  const file = storage.bucket(DATA_BUCKET).file(name);
  await file.save(content, { resumable: Buffer.byteLength(content) > 5 * 1024 * 1024, contentType: 'text/csv' });
  return String(file.metadata.generation);
}

/** POSTs JSON to a registered function through the functions-framework test server. */
export function post(server: Parameters<typeof supertest>[0], body: unknown, headers: Record<string, string> = {}) {
  return supertest(server)
    .post('/')
    .set({ 'content-type': 'application/json', ...headers })
    .send(JSON.stringify(body));
}

export async function count(db: TestDatabase, table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params);
  return rows[0]!.n;
}
