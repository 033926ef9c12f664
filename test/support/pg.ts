/**
 * A throwaway Postgres database per test file: `t_<random>` on 127.0.0.1:5432 as `postgres` (trust auth),
 * dropped (with its connections) by `drop()`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  pool: pg.Pool;
  url: string;
  name: string;
  config: { host: string; port: number; user: string; database: string };
  drop(): Promise<void>;
}

const ADMIN = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client(ADMIN);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const config = { ...ADMIN, database: name };
  const pool = new pg.Pool({ ...config, max: 8 });
  // Tests kill backends on purpose; an idle client's error must not crash the run.
  pool.on('error', () => {});
  return {
    pool,
    name,
    config,
    url: `postgres://${ADMIN.user}@${ADMIN.host}:${ADMIN.port}/${name}`,
    async drop() {
      await pool.end().catch(() => {});
      const c = new pg.Client(ADMIN);
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
