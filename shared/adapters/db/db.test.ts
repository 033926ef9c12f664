import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/pg.ts';
import { freePort } from '../../../test/support/redis.ts';
import type { CsvRecord } from '../../core/csv-stream.ts';
import type { LabelledPassenger } from '../../core/schema.ts';
import { AppError } from '../../errors.ts';
import { datasetIdFor, getDataset, loadDataset, readDatasetPassengers, readRejectedRows } from './datasets.ts';
import { MIGRATIONS, migrate } from './migrations.ts';
import { getModel, markModelPromoted, registerModel } from './model-records.ts';
import { createPool, DB_TIMEOUTS, isTransientDbError } from './pool.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

function passenger(id: number, over: Partial<LabelledPassenger> = {}): LabelledPassenger {
  return {
    passengerId: id,
    survived: (id % 2) as 0 | 1,
    pclass: 3,
    name: `Doe, Mr. John\t"${id}" back\\slash`,
    sex: 'male',
    age: id % 5 === 0 ? null : 20 + (id % 40),
    sibSp: 0,
    parch: 1,
    ticket: `T-${id}`,
    fare: 7.25,
    cabin: null,
    embarked: 'S',
    ...over,
  };
}

async function* records(list: CsvRecord[]): AsyncGenerator<CsvRecord> {
  for (const r of list) yield r;
}
const rows = (n: number, from = 1): CsvRecord[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'row', line: i + 2, passenger: passenger(from + i) }));
const source = (generation: string) => ({
  bucket: 'b',
  object: 'train.csv',
  generation,
  md5Hash: 'md5',
  crc32c: 'crc',
});
const options = { maxRejectedShare: 0.05, startedAt: new Date() };

describe('createPool', () => {
  it('gives every session a statement_timeout and a lock_timeout, the defaults unless configured', async () => {
    const defaults = createPool(db.config);
    const configured = createPool({ ...db.config, statementTimeoutMs: 1234, lockTimeoutMs: 567 });
    try {
      const show = async (pool: typeof defaults) => {
        const { rows } = await pool.query<{ statement: string; lock: string }>(
          `SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock`,
        );
        return rows[0];
      };
      expect(await show(defaults)).toEqual({
        statement: `${DB_TIMEOUTS.statementTimeoutMs / 60_000}min`,
        lock: `${DB_TIMEOUTS.lockTimeoutMs / 1000}s`,
      });
      expect(await show(configured)).toEqual({ statement: '1234ms', lock: '567ms' });
    } finally {
      await Promise.all([defaults.end(), configured.end()]);
    }
  });

  it('ends a statement that outruns statement_timeout with an error a retry may fix', async () => {
    const pool = createPool({ ...db.config, statementTimeoutMs: 200 });
    try {
      const err = await pool.query('SELECT pg_sleep(5)').catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('57014');
      expect(isTransientDbError(err)).toBe(true);
    } finally {
      await pool.end();
    }
  });
});

describe('migrate', () => {
  it('applies every migration once even when several instances start at the same time', async () => {
    const results = await Promise.all([migrate(db.pool), migrate(db.pool), migrate(db.pool)]);
    expect(results.flat().sort()).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await migrate(db.pool)).toEqual([]);
    const { rows: applied } = await db.pool.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(applied.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });
});

describe('loadDataset', () => {
  it('stores typed rows exactly, including tabs, quotes, backslashes and nulls', async () => {
    const out = await loadDataset(db.pool, source('1'), records(rows(10)), options);
    expect(out).toEqual({ datasetId: datasetIdFor(source('1')), rows: 10, rejected: 0, alreadyLoaded: false });
    const stored = await readDatasetPassengers(db.pool, out.datasetId);
    expect(stored).toEqual(Array.from({ length: 10 }, (_, i) => passenger(i + 1)));
  });

  it('returns the same dataset and writes nothing when the same generation is loaded again', async () => {
    const first = await loadDataset(db.pool, source('2'), records(rows(5)), options);
    const again = await loadDataset(db.pool, source('2'), records(rows(7)), options);
    expect(again).toEqual({ ...first, alreadyLoaded: true });
    expect(await readDatasetPassengers(db.pool, first.datasetId)).toHaveLength(5);
  });

  it('writes one dataset when two loads of the same generation run concurrently', async () => {
    const outs = await Promise.all([
      loadDataset(db.pool, source('3'), records(rows(300)), options),
      loadDataset(db.pool, source('3'), records(rows(300)), options),
    ]);
    expect(outs.map((o) => o.alreadyLoaded).sort()).toEqual([false, true]);
    expect(outs[0]!.datasetId).toBe(outs[1]!.datasetId);
    const { rows: n } = await db.pool.query('SELECT count(*)::int AS n FROM datasets WHERE generation = $1', ['3']);
    expect(n[0].n).toBe(1);
  });

  it('stores rejected rows with their line, reason and raw text', async () => {
    const list: CsvRecord[] = [
      ...rows(40),
      { kind: 'rejected', line: 42, reason: 'Pclass must be 1, 2 or 3', raw: '41,0,9,x' },
      { kind: 'rejected', line: 43, reason: 'Sex is empty', raw: '42,0,3,"A, Mr. B",,1' },
    ];
    const out = await loadDataset(db.pool, source('4'), records(list), options);
    expect(out).toMatchObject({ rows: 40, rejected: 2 });
    expect(await readRejectedRows(db.pool, out.datasetId)).toEqual([
      { line: 42, reason: 'Pclass must be 1, 2 or 3', raw: '41,0,9,x' },
      { line: 43, reason: 'Sex is empty', raw: '42,0,3,"A, Mr. B",,1' },
    ]);
  });

  it('refuses a file with more than the allowed share of rejected rows and leaves no dataset', async () => {
    const list: CsvRecord[] = [...rows(10), { kind: 'rejected', line: 99, reason: 'bad', raw: 'x' }];
    const err = await loadDataset(db.pool, source('5'), records(list), options).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('CSV_TOO_MANY_REJECTED');
    const { rows: n } = await db.pool.query('SELECT count(*)::int AS n FROM datasets WHERE generation = $1', ['5']);
    expect(n[0].n).toBe(0);
  });

  it('rolls back and rethrows when the source fails midway', async () => {
    async function* failing(): AsyncGenerator<CsvRecord> {
      yield* rows(1000);
      throw new AppError('CSV_MALFORMED', 'unterminated quote on line 1002');
    }
    const err = await loadDataset(db.pool, source('6'), failing(), options).catch((e) => e);
    expect(err.code).toBe('CSV_MALFORMED');
    const { rows: n } = await db.pool.query('SELECT count(*)::int AS n FROM datasets WHERE generation = $1', ['6']);
    expect(n[0].n).toBe(0);
    // The connection went back to the pool healthy.
    expect((await loadDataset(db.pool, source('6'), records(rows(3)), options)).rows).toBe(3);
  });
});

describe('model registry', () => {
  it('registers a model once and records its promotion', async () => {
    const model = {
      version: 'm-1',
      datasetId: datasetIdFor(source('1')),
      featureSetVersion: 'fs-1',
      uri: 'gs://models/models/m-1/model.json',
      metrics: { accuracy: 0.8 },
      params: { nEstimators: 10 },
      createdAt: new Date('2026-01-01T00:00:00Z'),
    };
    const first = await registerModel(db.pool, model);
    const again = await registerModel(db.pool, { ...model, uri: 'other', createdAt: new Date() });
    expect(again).toEqual(first);
    expect(first).toMatchObject({ promoted: false, metrics: { accuracy: 0.8 } });
    await markModelPromoted(db.pool, 'm-1');
    expect((await getModel(db.pool, 'm-1'))?.promoted).toBe(true);
  });
});

describe('the Postgres adapter maps its own failures', () => {
  it('answers UNAVAILABLE naming the database when the server cannot be reached', async () => {
    const pool = createPool({ ...db.config, port: await freePort(), connectTimeoutMs: 2_000 });
    try {
      const err = await getDataset(pool, 'ds-0000000000000000').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'UNAVAILABLE', status: 503, message: 'the database is unavailable' });
    } finally {
      await pool.end();
    }
  });

  it('leaves a failure a retry cannot fix as it is', async () => {
    const err = await migrate(db.pool, [{ version: 999, name: 'broken', sql: 'SELECT * FROM no_such_table' }]).catch(
      (e: unknown) => e,
    );
    expect((err as { code?: string }).code).toBe('42P01');
  });
});
