/**
 * Postgres adapter: schema migrations, the dataset load (COPY into a staging table, then one transaction),
 * the passengers read for feature processing, and the model registry. Every function takes its pool.
 *
 * Identity: a dataset is (bucket, object, generation); its id is derived from that triple, so the same object
 * generation always maps to the same id in every environment, and the unique constraint plus an advisory lock
 * on the triple make two concurrent loads of it write one dataset.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { CsvRecord } from '../core/csv.ts';
import type { LabelledPassenger, Passenger, Pclass, Port, Sex } from '../core/schema.ts';
import { AppError } from '../errors.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';
import { copyPlainCsv } from './plain-copy.ts';

export type Pool = pg.Pool;

export interface PgConfig {
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  database: string;
  /** Pool size per instance; a function instance serves one request at a time, so a few suffice. */
  max?: number;
}

export function createPool(config: PgConfig): pg.Pool {
  return new pg.Pool({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    max: config.max ?? 4,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
}

// ---------------------------------------------------------------------------------------------- migrations

/** A fixed advisory-lock key (the ASCII of "schemamg") serialising migrations across instances. */
const MIGRATION_LOCK_KEY = '7308044230282929511';

/**
 * Applies the migrations not yet recorded in `schema_migrations`, in order, in one transaction under a
 * transaction-scoped advisory lock: two instances starting at once apply each migration exactly once.
 * Returns the versions applied by this call.
 */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

// ---------------------------------------------------------------------------------------------- errors

const TRANSIENT_SQLSTATES = new Set([
  '08000',
  '08001',
  '08003',
  '08004',
  '08006', // connection exceptions
  '40001',
  '40P01', // serialization failure, deadlock
  '53300', // too many connections
  '57P01',
  '57P02',
  '57P03', // admin / crash shutdown, cannot connect now
]);
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);

/** True for a database failure that a retry can fix: the connection went away or the server is busy. */
export function isTransientDbError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code))) return true;
  return /Connection terminated|terminating connection|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    err.message,
  );
}

// ---------------------------------------------------------------------------------------------- datasets

export interface DatasetSource {
  bucket: string;
  object: string;
  generation: string;
  md5Hash?: string | undefined;
  crc32c?: string | undefined;
  sizeBytes?: number | undefined;
}

export interface DatasetRow {
  id: string;
  bucket: string;
  object: string;
  generation: string;
  md5Hash: string | null;
  crc32c: string | null;
  sizeBytes: number | null;
  rowCount: number;
  rejectedCount: number;
  status: 'loaded';
  createdAt: Date;
  finishedAt: Date;
}

export interface LoadOutcome {
  datasetId: string;
  rows: number;
  rejected: number;
  alreadyLoaded: boolean;
}

/** The dataset id of an object generation: stable across environments and reloads. */
export function datasetIdFor(source: Pick<DatasetSource, 'bucket' | 'object' | 'generation'>): string {
  const digest = createHash('sha256').update(`${source.bucket}\0${source.object}\0${source.generation}`).digest('hex');
  return `ds-${digest.slice(0, 16)}`;
}

const DATASET_COLUMNS = `id, bucket, object, generation, md5_hash AS "md5Hash", crc32c, size_bytes::float8 AS "sizeBytes",
  row_count AS "rowCount", rejected_count AS "rejectedCount", status, created_at AS "createdAt", finished_at AS "finishedAt"`;

export async function findDatasetBySource(
  db: pg.Pool | pg.PoolClient,
  source: Pick<DatasetSource, 'bucket' | 'object' | 'generation'>,
): Promise<DatasetRow | null> {
  const { rows } = await db.query<DatasetRow>(
    `SELECT ${DATASET_COLUMNS} FROM datasets WHERE bucket = $1 AND object = $2 AND generation = $3`,
    [source.bucket, source.object, source.generation],
  );
  return rows[0] ?? null;
}

export async function getDataset(db: pg.Pool, datasetId: string): Promise<DatasetRow | null> {
  const { rows } = await db.query<DatasetRow>(`SELECT ${DATASET_COLUMNS} FROM datasets WHERE id = $1`, [datasetId]);
  return rows[0] ?? null;
}

export interface LoadOptions {
  /** Largest accepted share of rejected rows (0..1); above it the whole file is refused. */
  maxRejectedShare: number;
  /** When the load started (recorded as the dataset's `created_at`). */
  startedAt: Date;
  /**
   * An upper bound on the valid rows still to come, asked after each rejected row: once even that many could not
   * bring the share under `maxRejectedShare`, the load stops there instead of reading the rest of the file.
   */
  maxRowsLeft?: () => number;
  /** Rejected rows stored with their reason and text, the first ones by line; the rest are only counted. */
  keepRejected?: { rows: number; bytes: number };
  /** Told which parser read the file, and why the fast one could not. */
  onParser?: (parser: 'postgres' | 'node', notPlain?: string) => void;
}

/**
 * A CSV file offered both ways: its bytes, tried first with Postgres' own parser when the file is plain
 * (`copyPlainCsv`), and its validated records, read when it is not. Each call opens the file afresh.
 */
export interface CsvFile {
  bytes(): AsyncIterable<Buffer>;
  records(): AsyncIterable<CsvRecord>;
}

/**
 * By default the first 1,000 rejected rows (and at most 1 MiB of their reasons and text) are kept: enough to show
 * what is wrong with a file, while a file of bad rows costs no more memory than a file of good ones.
 */
export const KEEP_REJECTED = { rows: 1000, bytes: 1 << 20 };

interface RejectedRow {
  line: number;
  reason: string;
  raw: string;
}

/** COPY text format: backslash, tab, newline and carriage return escaped; `\N` is NULL. */
function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
    : value;
}
const copyNumber = (value: number | null): string => (value === null ? '\\N' : decimalText(value));

const ZEROS = ['', '0', '00', '000'];
/**
 * A number as COPY text, fast for the usual ages and fares (at most 4 decimals): `String` of a fractional double
 * costs more than the rest of a row's COPY line. Exact: when `n / 10^4 === value` for an integer `n`, `value` is the
 * double nearest the decimal `n / 10^4`, which is what Postgres reads back from the digits written here.
 */
function decimalText(value: number): string {
  if (value >= 0 && value < 1e9) {
    const scaled = Math.round(value * 10_000);
    if (scaled / 10_000 === value) {
      const whole = Math.floor(scaled / 10_000);
      let fraction = scaled - whole * 10_000;
      if (fraction === 0) return String(whole);
      let digits = 4;
      while (fraction % 10 === 0) {
        fraction /= 10;
        digits--;
      }
      const text = String(fraction);
      return `${whole}.${ZEROS[digits - text.length]}${text}`;
    }
  }
  return String(value);
}

function copyLine(line: number, p: Passenger | LabelledPassenger): string {
  const survived = 'survived' in p ? String(p.survived) : '\\N';
  return `${line}\t${p.passengerId}\t${survived}\t${p.pclass}\t${copyText(p.name)}\t${p.sex}\t${copyNumber(p.age)}\t${p.sibSp}\t${p.parch}\t${copyText(p.ticket)}\t${copyNumber(p.fare)}\t${copyText(p.cabin)}\t${p.embarked ?? '\\N'}\n`;
}

const PASSENGER_COLUMNS =
  'line, passenger_id, survived, pclass, name, sex, age, sib_sp, parch, ticket, fare, cabin, embarked';

/**
 * COPY data is encoded row by row into Buffers of this size, each handed to the COPY stream whole: few large
 * writes, and no large concatenated string for the stream to flatten and encode again (that alone cost more
 * CPU than the index build).
 */
const COPY_CHUNK_BYTES = 1 << 20;

/**
 * Loads one dataset: streams the validated records with COPY into a staging table, then, under an advisory lock
 * on the source triple, records the dataset, moves the rows into place (the staging table becomes the dataset's
 * partition of `passengers`) and stores the rejected rows, all in one transaction. A failure anywhere (bad file, too many rejected rows, a cut connection) rolls everything back,
 * so no partial dataset is ever visible. The records come from `validatePassengerCsv`, which already rejects a
 * repeated PassengerId; the primary key is the backstop.
 */
export async function loadDataset(
  pool: pg.Pool,
  source: DatasetSource,
  input: AsyncIterable<CsvRecord> | CsvFile,
  options: LoadOptions,
): Promise<LoadOutcome> {
  const datasetId = datasetIdFor(source);
  const client = await pool.connect();
  let clientBroken: Error | undefined;
  // A connection killed while idle in the pool (or mid-query) emits 'error' on the client; without a
  // listener that would crash the process. The failing query rejects on its own.
  const onClientError = (err: Error): void => {
    clientBroken = err;
  };
  client.on('error', onClientError);
  try {
    await client.query('BEGIN');
    // The staging table is the dataset's future partition: created in this transaction (so COPY may FREEZE its
    // rows and a rollback removes it), filled by COPY, indexed once, then attached. Moving a million rows is then
    // a catalogue change, not a second copy. The random suffix keeps concurrent attempts apart.
    const staging = `${partitionName(datasetId)}_s${randomBytes(4).toString('hex')}`;
    // The CHECK, declared before the COPY, is verified row by row as rows arrive and lets ATTACH skip its scan.
    const createStaging = () =>
      client.query(
        `CREATE TABLE ${staging} (LIKE passengers INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
           CONSTRAINT ${staging}_dataset CHECK (dataset_id = '${datasetId}'));
         ALTER TABLE ${staging} ALTER COLUMN dataset_id SET DEFAULT '${datasetId}';`,
      );
    let filled: { rows: number; rejected: RejectedRow[]; rejectedCount: number; indexed: boolean } | undefined;
    if (isCsvFile(input)) {
      // Postgres parses a plain file itself; anything else rolls back to here and goes through the validator.
      await client.query('SAVEPOINT plain_copy');
      await createStaging();
      const plain = await copyPlainCsv(client, staging, input.bytes());
      if ('rows' in plain) {
        await client.query('RELEASE SAVEPOINT plain_copy');
        filled = { rows: plain.rows, rejected: [], rejectedCount: 0, indexed: true };
        options.onParser?.('postgres');
      } else {
        await client.query('ROLLBACK TO SAVEPOINT plain_copy');
        options.onParser?.('node', plain.notPlain);
      }
    }
    if (filled === undefined) {
      await createStaging();
      const records = isCsvFile(input) ? input.records() : input;
      filled = { ...(await copyRecords(client, records, staging, options)), indexed: false };
    }
    const { rows, rejected, rejectedCount } = filled;

    // The id is a hash of the source triple, so locking on it serialises loads of the same generation.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [datasetId]);
    const existing = await findDatasetBySource(client, source);
    if (existing) {
      await client.query('ROLLBACK');
      return { datasetId: existing.id, rows: existing.rowCount, rejected: existing.rejectedCount, alreadyLoaded: true };
    }

    const total = rows + rejectedCount;
    if (rows === 0 || rejectedCount / total > options.maxRejectedShare) {
      await client.query('ROLLBACK');
      throw new AppError(
        'CSV_TOO_MANY_REJECTED',
        `${rejectedCount} of ${total} rows were rejected, more than the allowed share of ${options.maxRejectedShare}`,
        {
          rejected: rejectedCount,
          total,
          maxRejectedShare: options.maxRejectedShare,
          firstReasons: firstReasons(rejected),
        },
      );
    }

    await client.query(
      `INSERT INTO datasets (id, bucket, object, generation, md5_hash, crc32c, size_bytes, row_count, rejected_count, status, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'loaded', $10)`,
      [
        datasetId,
        source.bucket,
        source.object,
        source.generation,
        source.md5Hash ?? null,
        source.crc32c ?? null,
        source.sizeBytes ?? null,
        rows,
        rejectedCount,
        options.startedAt,
      ],
    );
    // One index build (sorted in memory) becomes the partition's primary key. It must be a PRIMARY KEY, not just
    // a unique index: ATTACH matches the parent's primary key only to a child's primary key, and would otherwise
    // build a second, identical index (as long again as the first).
    await client.query(
      `SET LOCAL maintenance_work_mem = '256MB';
       ${filled.indexed ? '' : `ALTER TABLE ${staging} ADD CONSTRAINT ${staging}_pkey PRIMARY KEY (dataset_id, passenger_id);`}
       ALTER TABLE passengers ATTACH PARTITION ${staging} FOR VALUES IN ('${datasetId}');
       ALTER TABLE ${staging} RENAME TO ${partitionName(datasetId)};`,
    );
    if (rejected.length > 0) {
      await client.query(
        `INSERT INTO rejected_rows (dataset_id, line, reason, raw)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[])`,
        [datasetId, rejected.map((r) => r.line), rejected.map((r) => r.reason), rejected.map((r) => r.raw)],
      );
    }
    await client.query('COMMIT');
    return { datasetId, rows, rejected: rejectedCount, alreadyLoaded: false };
  } catch (err) {
    if (isTransientDbError(err)) clientBroken ??= err as Error;
    if (!clientBroken) await client.query('ROLLBACK').catch(() => {});
    // Another load of the same generation committed first: the unique constraint is the last line of defence.
    if ((err as { code?: unknown }).code === '23505') {
      const existing = await findDatasetBySource(pool, source);
      if (existing)
        return {
          datasetId: existing.id,
          rows: existing.rowCount,
          rejected: existing.rejectedCount,
          alreadyLoaded: true,
        };
    }
    throw err;
  } finally {
    client.off('error', onClientError);
    // A broken connection is destroyed instead of going back to the pool.
    client.release(clientBroken);
  }
}

function isCsvFile(input: AsyncIterable<CsvRecord> | CsvFile): input is CsvFile {
  return typeof (input as Partial<CsvFile>).bytes === 'function';
}

/** The partition of `passengers` holding one dataset (ids are `ds-` + 16 hex digits, so the name is safe). */
function partitionName(datasetId: string): string {
  if (!/^ds-[0-9a-f]{16}$/.test(datasetId)) throw new Error(`unexpected dataset id ${datasetId}`);
  return `passengers_${datasetId.slice(3)}`;
}

const firstReasons = (rejected: readonly RejectedRow[]) =>
  rejected.slice(0, 5).map((r) => ({ line: r.line, reason: r.reason }));

/**
 * Streams the valid rows into the staging table with COPY; returns their count, the rejected rows kept (the first
 * ones, up to `options.keepRejected`) and the count of all rejected rows. Throws CSV_TOO_MANY_REJECTED as soon as
 * the rows still to come (`options.maxRowsLeft`) could no longer bring the rejected share under the limit.
 */
async function copyRecords(
  client: pg.PoolClient,
  records: AsyncIterable<CsvRecord>,
  table: string,
  options: LoadOptions,
): Promise<{ rows: number; rejected: RejectedRow[]; rejectedCount: number }> {
  const keep = options.keepRejected ?? KEEP_REJECTED;
  let rows = 0;
  const rejected: RejectedRow[] = [];
  let rejectedCount = 0;
  let keptBytes = 0;
  const copy = client.query(copyStreams.from(`COPY ${table} (${PASSENGER_COLUMNS}) FROM STDIN (FREEZE)`));
  // The COPY's own failure (a cut connection, a rejected row): once it happened the stream has no connection left,
  // and a write would throw a TypeError of its own instead.
  let copyError: Error | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    copy.on('finish', resolve);
    copy.on('error', (err: Error) => {
      copyError ??= err;
      reject(err);
    });
  });
  // Surface a COPY failure even while we are waiting on the source.
  finished.catch(() => {});
  // A fresh Buffer per chunk: the stream may still hold the previous one until the socket has taken it.
  let buffer = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
  let used = 0;
  const send = async (chunk: Buffer): Promise<void> => {
    if (copyError) throw copyError;
    if (!copy.write(chunk)) {
      await Promise.race([once(copy, 'drain'), finished]);
    }
  };
  const flush = async (): Promise<void> => {
    const chunk = buffer.subarray(0, used);
    buffer = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
    used = 0;
    await send(chunk);
  };
  try {
    for await (const record of records) {
      if (record.kind === 'row') {
        const text = copyLine(record.line, record.passenger);
        rows++;
        // A UTF-16 code unit is at most 3 bytes of UTF-8.
        if (used + 3 * text.length > COPY_CHUNK_BYTES) {
          if (used > 0) await flush();
          if (3 * text.length > COPY_CHUNK_BYTES) {
            await send(Buffer.from(text, 'utf8'));
            continue;
          }
        }
        used += buffer.write(text, used, 'utf8');
      } else {
        rejectedCount++;
        const size = 2 * (record.reason.length + record.raw.length);
        if (rejected.length < keep.rows && keptBytes + size <= keep.bytes) {
          rejected.push({ line: record.line, reason: record.reason, raw: record.raw });
          keptBytes += size;
        }
        if (options.maxRowsLeft !== undefined) {
          const seen = rows + rejectedCount;
          // Even if every row still to come were valid, the share would stay above the limit.
          if (rejectedCount / (seen + options.maxRowsLeft()) > options.maxRejectedShare) {
            throw new AppError(
              'CSV_TOO_MANY_REJECTED',
              `${rejectedCount} of the first ${seen} rows were rejected (up to line ${record.line}): more than the allowed share of ${options.maxRejectedShare} whatever the rest of the file holds`,
              {
                rejected: rejectedCount,
                checked: seen,
                line: record.line,
                maxRejectedShare: options.maxRejectedShare,
                firstReasons: firstReasons(rejected),
              },
            );
          }
        }
      }
    }
    if (used > 0) await flush();
    copy.end();
    await finished;
    return { rows, rejected, rejectedCount };
  } catch (err) {
    // Abort the COPY (the server gets CopyFail) and surface the source's error, not the abort's.
    copy.destroy(err instanceof Error ? err : new Error(String(err)));
    await finished.catch(() => {});
    throw err;
  }
}

/** The passengers of a dataset in PassengerId order (the order every downstream step relies on). */
export async function readDatasetPassengers(db: pg.Pool, datasetId: string): Promise<LabelledPassenger[]> {
  const { rows } = await db.query<{
    passenger_id: number;
    survived: number;
    pclass: number;
    name: string;
    sex: string;
    age: number | null;
    sib_sp: number;
    parch: number;
    ticket: string;
    fare: number | null;
    cabin: string | null;
    embarked: string | null;
  }>(
    `SELECT passenger_id, survived, pclass, name, sex, age, sib_sp, parch, ticket, fare, cabin, embarked
     FROM passengers WHERE dataset_id = $1 AND survived IS NOT NULL ORDER BY passenger_id`,
    [datasetId],
  );
  return rows.map((r) => ({
    passengerId: r.passenger_id,
    survived: r.survived === 1 ? 1 : 0,
    pclass: r.pclass as Pclass,
    name: r.name,
    sex: r.sex as Sex,
    age: r.age,
    sibSp: r.sib_sp,
    parch: r.parch,
    ticket: r.ticket,
    fare: r.fare,
    cabin: r.cabin,
    embarked: r.embarked as Port | null,
  }));
}

export async function readRejectedRows(
  db: pg.Pool,
  datasetId: string,
): Promise<Array<{ line: number; reason: string; raw: string }>> {
  const { rows } = await db.query<{ line: number; reason: string; raw: string }>(
    'SELECT line, reason, raw FROM rejected_rows WHERE dataset_id = $1 ORDER BY line',
    [datasetId],
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------- model registry

export interface ModelRecord {
  version: string;
  datasetId: string | null;
  featureSetVersion: string;
  uri: string;
  metrics: Record<string, unknown>;
  params: Record<string, unknown>;
  promoted: boolean;
  createdAt: Date;
}

const MODEL_COLUMNS = `version, dataset_id AS "datasetId", feature_set_version AS "featureSetVersion", uri, metrics, params,
  promoted, created_at AS "createdAt"`;

/** Registers a model; registering the same version again keeps the first record and returns it. */
export async function registerModel(db: pg.Pool, model: Omit<ModelRecord, 'promoted'>): Promise<ModelRecord> {
  await db.query(
    `INSERT INTO models (version, dataset_id, feature_set_version, uri, metrics, params, created_at)
     SELECT $1, (SELECT id FROM datasets WHERE id = $2), $3, $4, $5, $6, $7
     ON CONFLICT (version) DO NOTHING`,
    [
      model.version,
      model.datasetId,
      model.featureSetVersion,
      model.uri,
      JSON.stringify(model.metrics),
      JSON.stringify(model.params),
      model.createdAt,
    ],
  );
  const stored = await getModel(db, model.version);
  if (!stored) throw new AppError('INTERNAL', 'model registration did not persist');
  return stored;
}

export async function getModel(db: pg.Pool, version: string): Promise<ModelRecord | null> {
  const { rows } = await db.query<ModelRecord>(`SELECT ${MODEL_COLUMNS} FROM models WHERE version = $1`, [version]);
  return rows[0] ?? null;
}

export async function markModelPromoted(db: pg.Pool, version: string): Promise<void> {
  await db.query('UPDATE models SET promoted = true WHERE version = $1', [version]);
}

export async function listModels(db: pg.Pool): Promise<ModelRecord[]> {
  const { rows } = await db.query<ModelRecord>(`SELECT ${MODEL_COLUMNS} FROM models ORDER BY created_at, version`);
  return rows;
}
