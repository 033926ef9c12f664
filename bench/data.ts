/**
 * `npm run bench:data`: the data plane against baselines measured in the same run, on this machine.
 *
 * 1. Load: BENCH_ROWS (default 1,000,000) synthetic passengers, drawn from the Titanic distribution (a seeded
 *    bootstrap of the real rows with jittered Age and Fare), from the GCS emulator into Postgres through the `load`
 *    code path (download, validation, COPY to staging, one transaction), versus `psql -c "\copy ... csv header"` of
 *    the same file into a plain table: the floor for this machine. Target ratio <= 2.0.
 * 2. Feature store, BENCH_ENTITIES (default 100,000) entities: our pipelined write of a versioned feature set versus
 *    the seed's pattern (one SET of a JSON string per entity, awaited one by one), and our bulk read of the packed
 *    matrices versus the seed's (KEYS, then one GET per key). Target >= 20x for both. Online single-entity read
 *    p99 <= 1 ms.
 *
 * Medians of BENCH_RUNS runs (default 3); extra runs are skipped once BENCH_MAX_SECONDS (default 900) is spent.
 * BENCH_ONLY=load or BENCH_ONLY=feature-store runs one half.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { loadObject } from '../functions/load/handler.ts';
import { localStorageClient, startGcsEmulator } from '../local/gcs/gcs-emulator.ts';
import { migrate } from '../shared/adapters/db/migrations.ts';
import { bytes, keysFor, packLabels, packRows, SPLIT_CODES } from '../shared/adapters/feature-store/layout.ts';
import { createFeatureStore, type FeatureSetInput } from '../shared/adapters/feature-store/store.ts';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import type { FeatureRecipe } from '../shared/core/features.ts';
import { createRng, type Rng } from '../shared/core/rng.ts';
import { FEATURE_NAMES, type LabelledPassenger } from '../shared/core/schema.ts';
import { createLogger } from '../shared/log.ts';
import { createTestDatabase } from '../test/support/pg.ts';
import { startRedisServer } from '../test/support/redis.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ENTITIES = Number(process.env.BENCH_ENTITIES ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 900);
const started = performance.now();
const budgetLeft = (): boolean => (performance.now() - started) / 1000 < MAX_SECONDS;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const ms = (x: number): string => `${x.toFixed(x < 10 ? 3 : 0)} ms`;
const say = (line: string): void => console.log(line);

/** Runs `fn` up to RUNS times (at least once), stopping early when the time budget is spent. */
async function runs(label: string, fn: (i: number) => Promise<number>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS && (i === 0 || budgetLeft()); i++) {
    times.push(await fn(i));
  }
  say(`  ${label}: ${times.map((t) => ms(t)).join(', ')} -> median ${ms(median(times))}`);
  return median(times);
}

// ---------------------------------------------------------------------------------------------- synthetic data

const csvField = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const gauss = (rng: Rng): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

async function writeSyntheticCsv(file: string, n: number): Promise<number> {
  const titanic = await readPassengerCsv(fs.readFileSync(new URL('../data/titanic.csv', import.meta.url), 'utf8'), {
    requireSurvived: true,
  });
  const templates = titanic.rows.map((r) => r.passenger as LabelledPassenger);
  const rng = createRng(20_260_101);
  const out = fs.createWriteStream(file);
  let buf = 'PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n';
  for (let i = 0; i < n; i++) {
    const t = templates[rng.int(templates.length)]!;
    const age = t.age === null ? '' : String(Math.max(0.42, Math.round((t.age + 2 * gauss(rng)) * 2) / 2));
    const fare = t.fare === null ? '' : (t.fare * Math.exp(0.1 * gauss(rng))).toFixed(4);
    buf += `${i + 1},${t.survived},${t.pclass},${csvField(t.name)},${t.sex},${age},${t.sibSp},${t.parch},${csvField(t.ticket)},${fare},${csvField(t.cabin ?? '')},${t.embarked ?? ''}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise<void>((r) => out.once('finish', () => r()));
  return fs.statSync(file).size;
}

// ---------------------------------------------------------------------------------------------- load

async function benchLoad(): Promise<{ ratio: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-data-'));
  const file = path.join(dir, 'passengers.csv');
  const db = await createTestDatabase();
  const gcs = await startGcsEmulator({ buckets: ['bench-data'] });
  try {
    const size = await writeSyntheticCsv(file, ROWS);
    say(`load: ${ROWS.toLocaleString('en')} rows, ${(size / 1e6).toFixed(1)} MB`);
    await migrate(db.pool);
    const storage = localStorageClient(gcs.url);
    await storage.bucket('bench-data').upload(file, { destination: 'passengers.csv', resumable: true });
    const [meta] = await storage.bucket('bench-data').file('passengers.csv').getMetadata();
    const generation = String(meta.generation);

    await db.pool.query(`CREATE TABLE bench_plain (passenger_id int, survived smallint, pclass smallint, name text,
      sex text, age float8, sib_sp int, parch int, ticket text, fare float8, cabin text, embarked text)`);
    const psql = promisify(execFile);
    const baseline = await runs('psql \\copy into a plain table', async () => {
      await db.pool.query('TRUNCATE bench_plain');
      const t = performance.now();
      await psql('psql', [
        '-h',
        '127.0.0.1',
        '-U',
        'postgres',
        '-d',
        db.name,
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        `\\copy bench_plain from '${file}' csv header`,
      ]);
      return performance.now() - t;
    });

    const deps = {
      pool: db.pool,
      storage,
      logger: createLogger({ minSeverity: 'ERROR' }),
      config: { maxUploadBytes: 1 << 30, maxRejectedShare: 0.05 },
    };
    const ours = await runs('load function path (GCS emulator -> validate -> COPY -> transaction)', async (i) => {
      // Start each run from an empty store: drop the partitions a previous run attached.
      const { rows: parts } = await db.pool.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'passengers'::regclass`,
      );
      for (const { name } of parts) await db.pool.query(`DROP TABLE ${name}`);
      await db.pool.query('TRUNCATE datasets, rejected_rows, models CASCADE');
      const t = performance.now();
      const out = await loadObject(deps, { bucket: 'bench-data', name: 'passengers.csv', generation });
      const elapsed = performance.now() - t;
      if (out.rows + out.rejected !== ROWS || out.alreadyLoaded) throw new Error(`run ${i}: ${JSON.stringify(out)}`);
      return elapsed;
    });
    const ratio = ours / baseline;
    say(`  ratio load / psql: ${ratio.toFixed(2)} (target <= 2.0) -> ${ratio <= 2 ? 'MET' : 'NOT MET'}`);
    say(
      `  rows/s: ours ${Math.round(ROWS / (ours / 1000)).toLocaleString('en')}, psql ${Math.round(ROWS / (baseline / 1000)).toLocaleString('en')}`,
    );
    return { ratio };
  } finally {
    await gcs.close();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------- feature store

function featureSet(version: string, rng: Rng): FeatureSetInput {
  const nTest = Math.round(ENTITIES * 0.2);
  const nTrain = ENTITIES - nTest;
  const row = (): number[] => FEATURE_NAMES.map((_, j) => Math.round(rng.next() * 100 * (j + 1)) / 4);
  const part = (n: number, from: number) => ({
    ids: Array.from({ length: n }, (_, i) => from + i),
    X: Array.from({ length: n }, row),
    y: Array.from({ length: n }, () => (rng.next() < 0.38 ? 1 : 0)),
  });
  const nSynthetic = Math.round(nTrain * 0.23);
  return {
    version,
    datasetId: 'ds-bench',
    featureNames: [...FEATURE_NAMES],
    recipe: { version: 1, featureNames: [...FEATURE_NAMES] } as unknown as FeatureRecipe,
    train: part(nTrain, 1),
    test: part(nTest, nTrain + 1),
    synthetic: { X: Array.from({ length: nSynthetic }, row), y: Array.from({ length: nSynthetic }, () => 1) },
  };
}

/**
 * The floor for a feature-set write: the same keys and values as `writeFeatureSet` (the ids, one packed `v` field
 * per entity hash, the recipe, six matrices, the meta hash), packed the same way and sent as
 * plain pipelined commands (pipelines of 1,000 HSETs, 4 in flight, the matrices alongside), with none of the
 * store's versioning, ordering or pointer flip. (One pipeline of all 100,000 HSETs is 3x slower in ioredis.)
 */
async function rawPipelinedWrite(redis: Redis, input: FeatureSetInput): Promise<void> {
  const k = keysFor('raw', input.version);
  const cols = input.featureNames.length;
  const width = cols + 2;
  const check = (results: Array<[Error | null, unknown]> | null): void => {
    const failed = results?.find(([e]) => e);
    if (failed) throw failed[0];
  };
  const ids = new Int32Array([...Array.from(input.train.ids), ...Array.from(input.test.ids)]);
  const matrices = (async () => {
    const tx = redis.pipeline();
    tx.set(k.ids, bytes(ids));
    tx.set(k.recipe, JSON.stringify(input.recipe));
    tx.set(k.matrix('train', 'X'), bytes(packRows(input.train.X, cols)));
    tx.set(k.matrix('train', 'y'), bytes(packLabels(input.train.y)));
    tx.set(k.matrix('test', 'X'), bytes(packRows(input.test.X, cols)));
    tx.set(k.matrix('test', 'y'), bytes(packLabels(input.test.y)));
    tx.set(k.matrix('synthetic', 'X'), bytes(packRows(input.synthetic.X, cols)));
    tx.set(k.matrix('synthetic', 'y'), bytes(packLabels(input.synthetic.y)));
    check(await tx.exec());
  })();
  const entities: Array<{ id: number; row: ArrayLike<number>; label: number; split: number }> = [];
  for (const [rows, split] of [
    [input.train, SPLIT_CODES.train],
    [input.test, SPLIT_CODES.test],
  ] as const) {
    for (let i = 0; i < rows.X.length; i++)
      entities.push({ id: rows.ids[i]!, row: rows.X[i]!, label: rows.y[i]!, split });
  }
  const inFlight: Array<Promise<void>> = [];
  for (let start = 0; start < entities.length; start += 1_000) {
    const tx = redis.pipeline();
    for (const e of entities.slice(start, start + 1_000)) {
      const v = new Float64Array(width);
      v.set(e.row);
      v[cols] = e.label;
      v[cols + 1] = e.split;
      tx.hset(k.entity(e.id), 'v', bytes(v));
    }
    inFlight.push(tx.exec().then(check));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all([...inFlight, matrices]);
  await redis.hset(k.meta, { status: 'complete', entities: String(ids.length), dtype: 'f64le' });
}

async function benchFeatureStore(): Promise<{ write: number; read: number; p99: number; overRaw: number }> {
  const server = await startRedisServer();
  const redis = new Redis(server.url);
  try {
    const rng = createRng(7);
    const sets = Array.from({ length: RUNS }, (_, i) => featureSet(`fs-bench-${i}`, rng));
    const data = sets[0]!;
    const entities = Array.from(data.train.ids).map((id, i) => ({ id, x: data.train.X[i]!, y: data.train.y[i]! }));
    for (let i = 0; i < data.test.X.length; i++)
      entities.push({ id: data.test.ids[i]!, x: data.test.X[i]!, y: data.test.y[i]! });
    say(`feature store: ${ENTITIES.toLocaleString('en')} entities (private redis-server ${server.port})`);

    // Rounds alternate the two sides, so a change in the machine's load hits both alike. The seed's keys live in
    // database 1, ours in database 0.
    const seedRedis = new Redis(server.url, { db: 1 });
    const rawRedis = new Redis(server.url, { db: 2 });
    const store = createFeatureStore(redis, { prefix: 'fs', keep: RUNS + 1 });
    const times = {
      rawWrite: [] as number[],
      seedWrite: [] as number[],
      seedRead: [] as number[],
      oursWrite: [] as number[],
      oursRead: [] as number[],
    };
    for (let i = 0; i < RUNS && (i === 0 || budgetLeft()); i++) {
      await seedRedis.flushdb();
      let t = performance.now();
      for (const e of entities) {
        const record = Object.fromEntries(FEATURE_NAMES.map((name, j) => [name, e.x[j]]));
        await seedRedis.set(`passenger:${e.id}`, JSON.stringify({ PassengerId: e.id, ...record, Survived: e.y }));
      }
      times.seedWrite.push(performance.now() - t);
      t = performance.now();
      const keys = await seedRedis.keys('passenger:*');
      const rows: unknown[] = [];
      for (const k of keys) rows.push(JSON.parse((await seedRedis.get(k))!));
      times.seedRead.push(performance.now() - t);
      if (rows.length !== ENTITIES) throw new Error(`seed read ${rows.length} rows`);

      await rawRedis.flushdb();
      t = performance.now();
      await rawPipelinedWrite(rawRedis, sets[i]!);
      times.rawWrite.push(performance.now() - t);

      t = performance.now();
      const out = await store.writeFeatureSet(sets[i]!);
      times.oursWrite.push(performance.now() - t);
      if (!out.written) throw new Error('not written');
      const fresh = createFeatureStore(redis, { prefix: 'fs' });
      t = performance.now();
      const m = await fresh.readMatrices(out.version);
      times.oursRead.push(performance.now() - t);
      if (!m || m.train.rows + m.test.rows !== ENTITIES) throw new Error('bulk read incomplete');
    }
    const show = (label: string, xs: number[]): number => {
      say(`  ${label}: ${xs.map((x) => ms(x)).join(', ')} -> median ${ms(median(xs))}`);
      return median(xs);
    };
    const seedWrite = show('seed write (SET JSON per entity, no pipelining)', times.seedWrite);
    const seedRead = show('seed bulk read (KEYS, then GET each)', times.seedRead);
    const rawWrite = show('raw pipelined write of the same layout (plain HSETs, no versioning)', times.rawWrite);
    const oursWrite = show('feature store write (versioned, batched, atomic flip)', times.oursWrite);
    const oursRead = show('feature store bulk read (packed matrices)', times.oursRead);
    const seedLatencies: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const id = entities[rng.int(entities.length)]!.id;
      const t = performance.now();
      JSON.parse((await seedRedis.get(`passenger:${id}`))!);
      seedLatencies.push(performance.now() - t);
    }
    seedRedis.disconnect();
    rawRedis.disconnect();
    const version = (await store.currentVersion())!;
    const online = createFeatureStore(redis, { prefix: 'fs' });
    await online.readEntity(version, 1); // warms the per-version metadata cache, as a serving instance would
    const latencies: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const id = entities[rng.int(entities.length)]!.id;
      const t = performance.now();
      const e = await online.readEntity(version, id);
      latencies.push(performance.now() - t);
      if (!e) throw new Error(`entity ${id} missing`);
    }
    const p99 = quantile(latencies, 0.99);
    const overRaw = oursWrite / rawWrite;
    say(
      `  write / raw pipelined write of the same layout: ${overRaw.toFixed(2)} (target <= 1.25) -> ${overRaw <= 1.25 ? 'MET' : 'NOT MET'}`,
    );
    const write = seedWrite / oursWrite;
    const read = seedRead / oursRead;
    say(`  write speed-up: ${write.toFixed(1)}x (target >= 20x) -> ${write >= 20 ? 'MET' : 'NOT MET'}`);
    say(`  bulk read speed-up: ${read.toFixed(1)}x (target >= 20x) -> ${read >= 20 ? 'MET' : 'NOT MET'}`);
    say(
      `  online read (10,000 random entities): p50 ${ms(quantile(latencies, 0.5))}, p99 ${ms(p99)} (target <= 1 ms) -> ${p99 <= 1 ? 'MET' : 'NOT MET'}; seed GET p99 ${ms(quantile(seedLatencies, 0.99))}`,
    );
    return { write, read, p99, overRaw };
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

say(
  `bench:data on ${os.cpus().length} cores, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const only = process.env.BENCH_ONLY; // 'load' or 'feature-store' to run one half
const fsResult =
  only === 'load'
    ? { write: Number.NaN, read: Number.NaN, p99: Number.NaN, overRaw: Number.NaN }
    : await benchFeatureStore();
const loadResult = only === 'feature-store' ? { ratio: Number.NaN } : await benchLoad();
say(
  `summary: load ratio ${loadResult.ratio.toFixed(2)} (<= 2.0), write / raw pipelined ${fsResult.overRaw.toFixed(2)} (<= 1.25), write vs seed ${fsResult.write.toFixed(1)}x, bulk read ${fsResult.read.toFixed(1)}x (>= 20x), online p99 ${ms(fsResult.p99)} (<= 1 ms); ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
process.exit(0);
