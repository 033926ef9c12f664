import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/pg.ts';
import type { CsvRecord } from '../../core/csv-stream.ts';
import { countDatasetLabels, datasetIdFor, getDataset, loadDataset, readDatasetPassengers } from './datasets.ts';
import { migrate } from './migrations.ts';
import { getModel, registerModel, servedFeatureSets } from './model-records.ts';
import { markDatasetSuspect, recordPromotion, wasPromoted } from './promotions.ts';

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
