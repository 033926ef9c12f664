import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/pg.ts';
import type { CsvRecord } from '../../core/csv-stream.ts';
import { SCRAM_SECRET_PATTERN, scramSha256Secret } from '../../core/scram.ts';
import { countDatasetLabels, datasetIdFor, getDataset, loadDataset, readDatasetPassengers } from './datasets.ts';
import { migrate } from './migrations.ts';
import { getModel, registerModel, servedFeatureSets } from './model-records.ts';
import { markDatasetSuspect, recordPromotion, wasPromoted } from './promotions.ts';
import { type DbFunction, enableFunctionLogins, FUNCTION_ROLES, parseLoginSecrets, roleProblems } from './roles.ts';

// Each function's pool runs as its role (the superuser of the test database takes it with SET ROLE at
// connection start), so every statement below is checked against that role's grants alone.
let db: TestDatabase;
const pools: Record<'load' | 'process' | 'train', pg.Pool> = {} as never;
const DENIED = '42501';

beforeAll(async () => {
  db = await createTestDatabase();
  await migrate(db.pool);
  for (const fn of ['load', 'process', 'train'] as const) {
    pools[fn] = new pg.Pool({ ...db.config, max: 2, options: `-c role=pipeline_${fn}` });
    pools[fn].on('error', () => {});
  }
});
afterAll(async () => {
  await Promise.all(Object.values(pools).map((p) => p.end()));
  await db?.drop();
});

async function* records(n: number): AsyncGenerator<CsvRecord> {
  for (let i = 1; i <= n; i++) {
    yield {
      kind: 'row',
      line: i + 1,
      passenger: {
        passengerId: i,
        survived: (i % 2) as 0 | 1,
        pclass: 3,
        name: `P ${i}`,
        sex: 'female',
        age: 30,
        sibSp: 0,
        parch: 0,
        ticket: `T${i}`,
        fare: 8,
        cabin: null,
        embarked: 'S',
      },
    };
  }
}
const source = { bucket: 'b', object: 'train.csv', generation: '1', md5Hash: 'md5', crc32c: 'crc' };
const datasetId = datasetIdFor(source);

async function refusal(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<string | undefined> {
  const err = await pool.query(sql, params).then(
    () => undefined,
    (e: { code?: string }) => e,
  );
  return err?.code;
}

describe('function roles', () => {
  it('each pool really runs as its own role', async () => {
    for (const fn of ['load', 'process', 'train'] as const) {
      const { rows } = await pools[fn].query<{ u: string }>('SELECT current_user AS u');
      expect(rows[0]?.u).toBe(`pipeline_${fn}`);
    }
  });

  it('load loads a dataset with its own partition, and cannot read or write models or promotions', async () => {
    const out = await loadDataset(pools.load, source, records(20), { maxRejectedShare: 0.05, startedAt: new Date() });
    expect(out.rows).toBe(20);
    expect(await refusal(pools.load, 'SELECT * FROM models')).toBe(DENIED);
    expect(
      await refusal(
        pools.load,
        `INSERT INTO promotions (model_version, action, actor, reason) VALUES ('m', 'promote', 'x', 'y')`,
      ),
    ).toBe(DENIED);
    expect(await refusal(pools.load, 'DELETE FROM datasets')).toBe(DENIED);
    expect(await refusal(pools.load, 'UPDATE datasets SET suspect = true')).toBe(DENIED);
    expect(await refusal(pools.load, 'INSERT INTO schema_migrations (version, name) VALUES (99, $1)', ['x'])).toBe(
      DENIED,
    );
  });

  it('process reads a dataset and its passengers, and cannot write anything', async () => {
    expect((await getDataset(pools.process, datasetId))?.rowCount).toBe(20);
    expect(await countDatasetLabels(pools.process, datasetId)).toEqual([10, 10]);
    expect(await readDatasetPassengers(pools.process, datasetId)).toHaveLength(20);
    expect(await refusal(pools.process, 'DELETE FROM passengers')).toBe(DENIED);
    expect(await refusal(pools.process, 'UPDATE datasets SET row_count = 0')).toBe(DENIED);
    expect(await refusal(pools.process, 'SELECT * FROM rejected_rows')).toBe(DENIED);
    expect(await refusal(pools.process, 'SELECT * FROM models')).toBe(DENIED);
    expect(await refusal(pools.process, 'CREATE TABLE t (x int)')).toBe(DENIED);
  });

  it('train registers and promotes a model and marks a dataset suspect, and cannot change the data it trains on', async () => {
    expect(await readDatasetPassengers(pools.train, datasetId)).toHaveLength(20);
    await registerModel(pools.train, {
      version: 'm-1',
      datasetId,
      featureSetVersion: 'fs-1',
      uri: 'gs://models/models/m-1/model.json',
      metrics: { accuracy: 0.8 },
      params: { nEstimators: 10 },
      createdAt: new Date('2026-01-01T00:00:00Z'),
    });
    await recordPromotion(pools.train, {
      action: 'promote',
      modelVersion: 'm-1',
      previousVersion: null,
      at: new Date().toISOString(),
      actor: 'train',
      reason: 'first model',
    });
    expect(await wasPromoted(pools.train, 'm-1')).toBe(true);
    expect((await getModel(pools.train, 'm-1'))?.promoted).toBe(true);
    await markDatasetSuspect(pools.train, datasetId, ['test']);
    expect(await refusal(pools.train, 'DELETE FROM passengers')).toBe(DENIED);
    expect(await refusal(pools.train, 'UPDATE passengers SET survived = 1')).toBe(DENIED);
    expect(await refusal(pools.train, 'UPDATE datasets SET row_count = 0')).toBe(DENIED);
    expect(await refusal(pools.train, 'DELETE FROM models')).toBe(DENIED);
    expect(await refusal(pools.train, 'DELETE FROM promotions')).toBe(DENIED);
    expect(await refusal(pools.train, 'SELECT * FROM rejected_rows')).toBe(DENIED);
    expect(await refusal(pools.train, 'CREATE TABLE t (x int)')).toBe(DENIED);
  });

  it('process sees which feature sets the promoted models use, and nothing else of the models', async () => {
    // m-1 was registered on fs-1 and promoted by train above.
    expect(await servedFeatureSets(pools.process)).toEqual(['fs-1']);
    expect(await refusal(pools.process, 'SELECT * FROM models')).toBe(DENIED);
    expect(await refusal(pools.process, 'SELECT metrics FROM models')).toBe(DENIED);
    expect(await refusal(pools.process, 'UPDATE models SET promoted = false')).toBe(DENIED);
    expect(await refusal(pools.process, 'SELECT * FROM promotions')).toBe(DENIED);
  });

  it('a function role starts against an up-to-date schema, and cannot apply a migration itself', async () => {
    for (const fn of ['load', 'process', 'train'] as const) expect(await migrate(pools[fn])).toEqual([]);
    const next = { version: 99, name: 'next', sql: 'CREATE TABLE next_one (x int)' };
    const err = await migrate(pools.train, [next]).catch((e: { code?: string }) => e);
    expect((err as { code?: string }).code).toBe(DENIED);
    const { rows } = await db.pool.query('SELECT version FROM schema_migrations WHERE version = 99');
    expect(rows).toHaveLength(0);
  });

  it('migrating again, in a second database while the roles already exist, applies the grants there too', async () => {
    const other = await createTestDatabase();
    try {
      expect(await migrate(other.pool)).toEqual([1, 2, 3, 4]);
      expect(await migrate(other.pool)).toEqual([]);
      const { rows } = await other.pool.query<{ ok: boolean }>(
        `SELECT has_table_privilege('pipeline_process', 'passengers', 'SELECT')
            AND NOT has_table_privilege('pipeline_process', 'passengers', 'DELETE') AS ok`,
      );
      expect(rows[0]?.ok).toBe(true);
    } finally {
      await other.drop();
    }
  });
});

// ------------------------------------------------------------------------------------------- function logins

/** node-postgres's own SCRAM client (what the functions run), driven against a server that holds only `secret`. */
const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[]): { clientNonce: string; response: string; message: string };
  continueSession(session: object, password: string, serverData: string): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
};
async function scramLogin(secret: string, password: string): Promise<boolean> {
  const [, iterations, salt, storedKey, serverKey] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(secret)!;
  const session = sasl.startSession(['SCRAM-SHA-256']) as { clientNonce: string; response: string };
  const clientFirstBare = session.response.slice(3);
  const nonce = session.clientNonce + randomBytes(18).toString('base64');
  const serverFirst = `r=${nonce},s=${salt},i=${iterations}`;
  await sasl.continueSession(session, password, serverFirst);
  const clientFinal = (session as unknown as { response: string }).response;
  const withoutProof = clientFinal.slice(0, clientFinal.indexOf(',p='));
  const proof = Buffer.from(clientFinal.slice(clientFinal.indexOf(',p=') + 3), 'base64');
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const stored = Buffer.from(storedKey!, 'base64');
  const clientKey = Buffer.from(proof.map((b, i) => b ^ createHmac('sha256', stored).update(authMessage).digest()[i]!));
  const { createHash } = await import('node:crypto');
  if (!createHash('sha256').update(clientKey).digest().equals(stored)) return false;
  // The client checks the server too: only a holder of the ServerKey can sign this.
  const signature = createHmac('sha256', Buffer.from(serverKey!, 'base64')).update(authMessage).digest('base64');
  sasl.finalizeSession(session, `v=${signature}`);
  return true;
}

describe('SCRAM secrets', () => {
  it("let node-postgres's SCRAM client log in with the password, and not with another", async () => {
    const secret = scramSha256Secret('Abc123xyz', randomBytes(16));
    expect(secret).toMatch(SCRAM_SECRET_PATTERN);
    expect(await scramLogin(secret, 'Abc123xyz')).toBe(true);
    expect(await scramLogin(secret, 'Abc123xyZ')).toBe(false);
  });

  it('are stored by Postgres as given (a string it could not parse as one would be hashed as a password)', async () => {
    const secret = scramSha256Secret('Abc123xyz', randomBytes(16));
    const role = `t_scram_${randomBytes(4).toString('hex')}`;
    await db.pool.query(`CREATE ROLE ${role} NOLOGIN PASSWORD '${secret}'`);
    try {
      const { rows } = await db.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
      expect(rows[0]?.rolpassword).toBe(secret);
    } finally {
      await db.pool.query(`DROP ROLE ${role}`);
    }
  });

  it('refuse a password Postgres would normalise differently, and a short salt', () => {
    expect(() => scramSha256Secret('pässword', randomBytes(16))).toThrow(/printable ASCII/);
    expect(() => scramSha256Secret('password', randomBytes(8))).toThrow(/salt/);
  });
});

describe('function logins', () => {
  const passwords = { load: 'loadPw1', process: 'processPw1', train: 'trainPw1' } as Record<DbFunction, string>;
  const secrets = Object.fromEntries(
    Object.entries(passwords).map(([fn, p]) => [fn, scramSha256Secret(p, randomBytes(16))]),
  ) as Record<DbFunction, string>;
  /** A pool that logs in as the function's own user (no SET ROLE), as the deployed function does. */
  const loginPool = (fn: DbFunction) => {
    const pool = new pg.Pool({ ...db.config, user: FUNCTION_ROLES[fn], password: passwords[fn], max: 1 });
    pool.on('error', () => {});
    return pool;
  };
  const stored = async (role: string) =>
    (await db.pool.query('SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1', [role])).rows[0];
  afterAll(async () => {
    // Roles are cluster-wide: leave them as migration 3 made them.
    for (const role of Object.values(FUNCTION_ROLES)) await db.pool.query(`ALTER ROLE ${role} NOLOGIN PASSWORD NULL`);
  });

  it('parses PG_LOGIN_SECRETS, refusing a plain password or a missing function by name', () => {
    expect(parseLoginSecrets(JSON.stringify(secrets))).toEqual(secrets);
    expect(() => parseLoginSecrets(JSON.stringify({ ...secrets, process: 'hunter2' }))).toThrow(
      /PG_LOGIN_SECRETS\.process must be a SCRAM-SHA-256 secret/,
    );
    expect(() => parseLoginSecrets(JSON.stringify({ load: secrets.load, train: secrets.train }))).toThrow(
      /PG_LOGIN_SECRETS\.process/,
    );
    expect(() => parseLoginSecrets(JSON.stringify({ ...secrets, fit: secrets.load }))).toThrow(/no such function: fit/);
    expect(() => parseLoginSecrets('{')).toThrow(/not JSON/);
  });

  it('refuses, and changes no login, when a function role holds more than its grants', async () => {
    await db.pool.query('ALTER ROLE pipeline_process NOLOGIN PASSWORD NULL');
    await db.pool.query('GRANT pipeline_train TO pipeline_process');
    await db.pool.query('ALTER ROLE pipeline_load CREATEROLE');
    try {
      const client = await db.pool.connect();
      try {
        expect(await roleProblems(client, 'process')).toEqual(['pipeline_process is a member of pipeline_train']);
        expect(await roleProblems(client, 'load')).toEqual(['pipeline_load has CREATEROLE']);
      } finally {
        client.release();
      }
      const err = await enableFunctionLogins(db.pool, secrets).catch((e: { code?: string; message: string }) => e);
      expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
      expect((err as Error).message).toMatch(
        /pipeline_load has CREATEROLE; pipeline_process is a member of pipeline_train/,
      );
      expect(await stored('pipeline_process')).toEqual({ rolcanlogin: false, rolpassword: null });
    } finally {
      await db.pool.query('REVOKE pipeline_train FROM pipeline_process');
      await db.pool.query('ALTER ROLE pipeline_load NOCREATEROLE');
    }
  });

  it("gives each role LOGIN and its function's SCRAM secret; each logs in as itself, does its work and not another's", async () => {
    // Before: a function cannot log in at all.
    const before = loginPool('process');
    const refused = await before.query('SELECT 1').catch((e: { code?: string }) => e);
    await before.end();
    expect((refused as { code?: string }).code).toBe('28000');

    expect(await enableFunctionLogins(db.pool, secrets)).toEqual(Object.values(FUNCTION_ROLES));
    for (const fn of ['load', 'process', 'train'] as const) {
      expect(await stored(FUNCTION_ROLES[fn])).toEqual({ rolcanlogin: true, rolpassword: secrets[fn] });
      expect(await scramLogin((await stored(FUNCTION_ROLES[fn])).rolpassword, passwords[fn])).toBe(true);
    }
    const logins = { load: loginPool('load'), process: loginPool('process'), train: loginPool('train') };
    try {
      for (const fn of ['load', 'process', 'train'] as const) {
        const { rows } = await logins[fn].query<{ u: string; s: string }>(
          'SELECT current_user AS u, session_user AS s',
        );
        expect(rows[0]).toEqual({ u: FUNCTION_ROLES[fn], s: FUNCTION_ROLES[fn] });
        expect(await migrate(logins[fn])).toEqual([]);
      }
      // Each does its own work ...
      const other = { ...source, object: 'again.csv' };
      const loaded = await loadDataset(logins.load, other, records(10), {
        maxRejectedShare: 0.05,
        startedAt: new Date(),
      });
      expect(loaded.rows).toBe(10);
      expect(await readDatasetPassengers(logins.process, datasetIdFor(other))).toHaveLength(10);
      await markDatasetSuspect(logins.train, datasetIdFor(other), ['login test']);
      // ... and not another's: process cannot load, load cannot register a model, train cannot add passengers.
      const third = { ...source, object: 'third.csv' };
      const processLoads = await loadDataset(logins.process, third, records(5), {
        maxRejectedShare: 0.05,
        startedAt: new Date(),
      }).catch((e: { code?: string; cause?: { code?: string } }) => e);
      expect((processLoads as { code?: string }).code).toBe(DENIED);
      expect(await refusal(logins.load, `UPDATE models SET promoted = false`)).toBe(DENIED);
      expect(await refusal(logins.train, `INSERT INTO datasets (id) VALUES ('x')`)).toBe(DENIED);
      // None can give itself another role's rights or change a password (no CREATEROLE, not a role admin).
      expect(await refusal(logins.process, 'GRANT pipeline_train TO pipeline_process')).toBe(DENIED);
      expect(await refusal(logins.load, 'GRANT pipeline_partitions TO pipeline_train')).toBe(DENIED);
      expect(await refusal(logins.train, `ALTER ROLE pipeline_load PASSWORD 'x'`)).toBe(DENIED);
      expect(await refusal(logins.train, 'CREATE ROLE sneaky')).toBe(DENIED);
    } finally {
      await Promise.all(Object.values(logins).map((p) => p.end()));
    }
    // Idempotent: a second run sets the same secrets again.
    expect(await enableFunctionLogins(db.pool, secrets)).toEqual(Object.values(FUNCTION_ROLES));
  });
});
