/**
 * The `load` function through the functions-framework test server, against the GCS emulator and real Postgres.
 */
import fs from 'node:fs';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { Storage } from '@google-cloud/storage';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeLoadHandler } from '../functions/load/handler.ts';
import { datasetIdFor, readDatasetPassengers, readRejectedRows } from '../shared/adapters/db/datasets.ts';
import { CORPUS_DIR, readCorpus } from './support/bad-csv.ts';
import { count, DATA_BUCKET, type DataPlaneEnv, post, startDataPlane, upload } from './support/data-plane.ts';

const TITANIC = fs.readFileSync(new URL('../data/titanic.csv', import.meta.url), 'utf8');
const HEADER = TITANIC.slice(0, TITANIC.indexOf('\n') + 1);
const TITANIC_ROWS = TITANIC.slice(HEADER.length).trimEnd().split('\n');
const config = { maxUploadBytes: 104_857_600, maxRejectedShare: 0.05 };

/** `n` Titanic rows with fresh PassengerIds (for files larger than the real one). */
function bigCsv(n: number): string {
  const out = [HEADER];
  for (let i = 0; i < n; i++) {
    const row = TITANIC_ROWS[i % TITANIC_ROWS.length]!;
    out.push(`${i + 1}${row.slice(row.indexOf(','))}\n`);
  }
  return out.join('');
}

let env: DataPlaneEnv;
beforeAll(async () => {
  env = await startDataPlane();
  const deps = { pool: env.db.pool, storage: env.storage, logger: env.logger, config };
  http('load', makeLoadHandler(deps));
  http('load-lenient', makeLoadHandler({ ...deps, config: { ...config, maxRejectedShare: 1 } }));
  http('load-small-limit', makeLoadHandler({ ...deps, config: { ...config, maxUploadBytes: 1000 } }));
  const noRetry = new Storage({
    apiEndpoint: 'http://127.0.0.1:1',
    projectId: 'local',
    retryOptions: { autoRetry: false },
  });
  http('load-gcs-down', makeLoadHandler({ ...deps, storage: noRetry }));
  const deadPool = new pg.Pool({ host: '127.0.0.1', port: 1, user: 'postgres', connectionTimeoutMillis: 1000 });
  http('load-pg-down', makeLoadHandler({ ...deps, pool: deadPool }));
});
afterAll(async () => {
  await env?.close();
});

const datasets = (name: string) => count(env.db, 'datasets', 'object = $1', [name]);

describe('load', () => {
  it('loads the Titanic CSV into one dataset with its checksums and every passenger', async () => {
    const generation = await upload(env.storage, 'uploads/titanic.csv', TITANIC);
    const res = await post(
      getTestServer('load'),
      { bucket: DATA_BUCKET, name: 'uploads/titanic.csv', generation },
      {
        'x-workflow-execution': 'exec-123',
      },
    );
    expect(res.status).toBe(200);
    const datasetId = datasetIdFor({ bucket: DATA_BUCKET, object: 'uploads/titanic.csv', generation });
    expect(res.body).toEqual({ datasetId, rows: 891, rejected: 0, alreadyLoaded: false });
    const { rows } = await env.db.pool.query('SELECT * FROM datasets WHERE id = $1', [datasetId]);
    expect(rows[0]).toMatchObject({ status: 'loaded', row_count: 891, rejected_count: 0, generation });
    expect(rows[0].md5_hash).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(rows[0].crc32c).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(await count(env.db, 'passengers', 'dataset_id = $1', [datasetId])).toBe(891);
    const { rows: first } = await env.db.pool.query(
      'SELECT name, age, cabin, embarked, fare FROM passengers WHERE dataset_id = $1 AND passenger_id = 1',
      [datasetId],
    );
    expect(first[0]).toEqual({ name: 'Braund, Mr. Owen Harris', age: 22, cabin: null, embarked: 'S', fare: 7.25 });
    // A plain file is parsed by Postgres itself.
    expect(env.logs.find((l) => l.message === 'dataset loaded')).toMatchObject({ parser: 'postgres', rows: 891 });
    // The log line carries the workflow execution id and Cloud Logging's severity.
    expect(env.logs.find((l) => l.message === 'load done')).toMatchObject({
      severity: 'INFO',
      executionId: 'exec-123',
    });
  });

  it('returns the same dataset and writes nothing when the same generation is loaded again', async () => {
    const generation = await upload(env.storage, 'uploads/again.csv', TITANIC);
    const body = { bucket: DATA_BUCKET, name: 'uploads/again.csv', generation };
    const first = await post(getTestServer('load'), body);
    const passengersBefore = await count(env.db, 'passengers');
    const second = await post(getTestServer('load'), body);
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ ...first.body, alreadyLoaded: true });
    expect(await count(env.db, 'passengers')).toBe(passengersBefore);
    expect(await datasets('uploads/again.csv')).toBe(1);
  });

  it('writes one dataset when two loads of the same generation run at the same time', async () => {
    const generation = await upload(env.storage, 'uploads/race.csv', bigCsv(5_000));
    const body = { bucket: DATA_BUCKET, name: 'uploads/race.csv', generation };
    const [a, b] = await Promise.all([post(getTestServer('load'), body), post(getTestServer('load'), body)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.datasetId).toBe(b.body.datasetId);
    expect([a.body.alreadyLoaded, b.body.alreadyLoaded].sort()).toEqual([false, true]);
    expect(await datasets('uploads/race.csv')).toBe(1);
    expect(await count(env.db, 'passengers', 'dataset_id = $1', [a.body.datasetId])).toBe(5_000);
  });

  it('treats an overwritten object as a new dataset', async () => {
    const g1 = await upload(env.storage, 'uploads/over.csv', TITANIC);
    const g2 = await upload(env.storage, 'uploads/over.csv', bigCsv(100));
    const res = await post(getTestServer('load'), { bucket: DATA_BUCKET, name: 'uploads/over.csv', generation: g2 });
    expect(res.body).toMatchObject({ rows: 100, alreadyLoaded: false });
    expect(res.body.datasetId).not.toBe(
      datasetIdFor({ bucket: DATA_BUCKET, object: 'uploads/over.csv', generation: g1 }),
    );
  });

  it('stores the rejected rows and their reasons when they stay under the allowed share', async () => {
    const lines = TITANIC_ROWS.slice(0, 100);
    lines[9] = '10,1,7,"Nasser, Mrs. Nicholas (Adele Achem)",female,14,1,0,237736,30.0708,,C';
    lines[19] = '20,1,3,"Masselmani, Mrs. Fatima",female,,0,0,2649,-7.225,,C';
    lines[29] = '30,0,3,"Todoroff, Mr. Lalio",male,,0,0,349216,7.8958,,S';
    const generation = await upload(env.storage, 'uploads/some-bad.csv', `${HEADER}${lines.join('\n')}\n${lines[0]}\n`);
    const res = await post(getTestServer('load'), { bucket: DATA_BUCKET, name: 'uploads/some-bad.csv', generation });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ rows: 98, rejected: 3 });
    const rejected = await readRejectedRows(env.db.pool, res.body.datasetId);
    expect(rejected.map((r) => ({ line: r.line, reason: r.reason }))).toMatchSnapshot();
    expect(rejected[0]!.raw).toBe(lines[9]);
  });

  it('stores the first 1,000 rejected rows with their reasons and only counts the rest', async () => {
    const bad = Array.from({ length: 1_200 }, (_, i) => `${i + 1},0,4,"X, Mr. Y",male,30,0,0,T,5,,S`);
    const generation = await upload(
      env.storage,
      'uploads/many-bad.csv',
      `${HEADER}${bad.join('\n')}\n${bigCsv(300)
        .slice(HEADER.length)
        .replace(/^(\d+)/gm, (id) => String(Number(id) + 1_200))}`,
    );
    const res = await post(getTestServer('load-lenient'), {
      bucket: DATA_BUCKET,
      name: 'uploads/many-bad.csv',
      generation,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ rows: 300, rejected: 1_200 });
    const { rows } = await env.db.pool.query('SELECT rejected_count FROM datasets WHERE id = $1', [res.body.datasetId]);
    expect(rows[0].rejected_count).toBe(1_200);
    const stored = await readRejectedRows(env.db.pool, res.body.datasetId);
    expect(stored).toHaveLength(1_000);
    expect(stored[0]).toEqual({ line: 2, reason: 'line 2: Pclass "4" is not 1, 2 or 3', raw: bad[0] });
    expect(stored.at(-1)!.line).toBe(1_001);
  });
});

/** Two whole-file refusals that depend on the load's own limits rather than on the file's content. */
const LIMIT_CASES: Array<{ file: string; content: string | Buffer; fn?: string }> = [
  {
    file: 'too-many-rejected.csv',
    content: `${HEADER}${TITANIC_ROWS.slice(0, 90).join('\n')}\n${Array.from({ length: 10 }, (_, i) => `${900 + i},2,3,"X, Mr. Y",male,30,0,0,T,5,,S`).join('\n')}\n`,
  },
  { file: 'too-large.csv', content: TITANIC, fn: 'load-small-limit' },
];

describe('load refuses a file over its limits with a 422 naming the cause', () => {
  for (const bad of LIMIT_CASES) {
    it(`refuses ${bad.file} and leaves no dataset`, async () => {
      const name = `bad/${bad.file}`;
      const generation = await upload(env.storage, name, bad.content);
      const res = await post(getTestServer(bad.fn ?? 'load'), { bucket: DATA_BUCKET, name, generation });
      expect(res.status).toBe(422);
      expect(res.body).toMatchSnapshot();
      expect(await datasets(name)).toBe(0);
    });
  }
});

const CORPUS = readCorpus();

describe('load on the bad-CSV corpus', () => {
  it('has the shared corpus to run', () => {
    expect(CORPUS.length).toBeGreaterThan(20);
  });
  for (const c of CORPUS.filter((x) => x.requireSurvived)) {
    const name = `corpus/${c.file}`;
    const content = () => fs.readFileSync(new URL(c.file, CORPUS_DIR));
    if (c.error) {
      it(`refuses ${c.file} (${c.case}) with 422 ${c.error.code} and leaves no dataset`, async () => {
        const generation = await upload(env.storage, name, content());
        const res = await post(getTestServer('load'), { bucket: DATA_BUCKET, name, generation });
        expect(res.status).toBe(422);
        expect(res.body.error).toMatchObject(c.error!);
        expect(await datasets(name)).toBe(0);
      });
      continue;
    }
    const rows = c.rows?.length ?? 0;
    const rejected = c.rejected ?? [];
    it(`loads ${c.file} (${c.case}): ${rows} rows, and stores its ${rejected.length} rejected rows with their reasons`, async () => {
      const generation = await upload(env.storage, name, content());
      const body = { bucket: DATA_BUCKET, name, generation };
      const total = rows + rejected.length;
      if (rejected.length / total > config.maxRejectedShare) {
        const strict = await post(getTestServer('load'), body);
        expect(strict.status).toBe(422);
        expect(strict.body.error).toMatchObject({
          code: 'CSV_TOO_MANY_REJECTED',
          message: `${rejected.length} of ${total} rows were rejected, more than the allowed share of 0.05`,
        });
        expect(await datasets(name)).toBe(0);
      }
      const res = await post(getTestServer('load-lenient'), body);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ rows, rejected: rejected.length, alreadyLoaded: false });
      const stored = await readRejectedRows(env.db.pool, res.body.datasetId);
      expect(stored.map((r) => ({ line: r.line, reason: r.reason }))).toEqual(rejected);
      const objects = (c.rows ?? []).filter((r) => typeof r === 'object');
      if (objects.length > 0) {
        const passengers = await readDatasetPassengers(env.db.pool, res.body.datasetId);
        const byId = new Map(passengers.map((p) => [p.passengerId, p]));
        for (const r of objects) expect(byId.get(r.passenger.passengerId as number)).toEqual(r.passenger);
      }
    });
  }
});

describe('load answers the caller and the retrier correctly', () => {
  it('answers 400 for a request without a generation', async () => {
    const res = await post(getTestServer('load'), { bucket: DATA_BUCKET, name: 'x.csv' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        code: 'BAD_REQUEST',
        message: 'generation must be a well-formed non-empty string',
        details: { field: 'generation' },
      },
    });
  });

  it('answers 404 for a generation that does not exist', async () => {
    const res = await post(getTestServer('load'), {
      bucket: DATA_BUCKET,
      name: 'uploads/titanic.csv',
      generation: '1',
    });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });

  it('answers 503 when Cloud Storage is unreachable, and writes nothing', async () => {
    const res = await post(getTestServer('load-gcs-down'), { bucket: DATA_BUCKET, name: 'gone.csv', generation: '5' });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'cloud storage is unavailable' } });
  });

  it('answers 503 when Postgres is unreachable', async () => {
    const res = await post(getTestServer('load-pg-down'), { bucket: DATA_BUCKET, name: 'x.csv', generation: '5' });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: { code: 'UNAVAILABLE', message: 'the database is unavailable' } });
  });

  it('answers 503 and leaves nothing when the connection is killed mid-COPY, and the retry succeeds', async () => {
    const name = 'uploads/killed.csv';
    const generation = await upload(env.storage, name, bigCsv(60_000));
    const body = { bucket: DATA_BUCKET, name, generation };
    const pending = post(getTestServer('load'), body).then((r) => r);
    const killer = new pg.Client(env.db.config);
    await killer.connect();
    let killed = 0;
    try {
      const deadline = Date.now() + 20_000;
      while (killed === 0 && Date.now() < deadline) {
        const { rows } = await killer.query(
          `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
           WHERE datname = current_database() AND query LIKE 'COPY passengers_%' AND state = 'active'`,
        );
        killed = rows.length;
        if (killed === 0) await new Promise((r) => setTimeout(r, 2));
      }
    } finally {
      await killer.end();
    }
    expect(killed).toBe(1);
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('UNAVAILABLE');
    expect(await datasets(name)).toBe(0);
    expect(
      await count(env.db, 'passengers', 'dataset_id = $1', [
        datasetIdFor({ bucket: DATA_BUCKET, object: name, generation }),
      ]),
    ).toBe(0);

    const retry = await post(getTestServer('load'), body);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ rows: 60_000, rejected: 0, alreadyLoaded: false });
  });
});
