/**
 * Datasets in Postgres: the load (COPY into a staging table, then one transaction) and the passengers read for
 * feature processing. Every function takes its pool.
 *
 * Identity: a dataset is (bucket, object, generation); its id is derived from that triple, so the same object
 * generation always maps to the same id in every environment, and the unique constraint plus an advisory lock
 * on the triple make two concurrent loads of it write one dataset.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { CsvRecord } from '../../core/csv-stream.ts';
import type { LabelledPassenger, Pclass, Port, Sex } from '../../core/schema.ts';
import { AppError } from '../../errors.ts';
import { type CopyLimits, copyRecords, firstReasons, type RejectedRow } from './copy.ts';
import { copyPlainCsv } from './plain-copy.ts';
import { dbFailure, isTransientDbError } from './pool.ts';

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
  try {
    const { rows } = await db.query<DatasetRow>(
      `SELECT ${DATASET_COLUMNS} FROM datasets WHERE bucket = $1 AND object = $2 AND generation = $3`,
      [source.bucket, source.object, source.generation],
    );
    return rows[0] ?? null;
  } catch (err) {
    throw dbFailure(err);
  }
}

export async function getDataset(db: pg.Pool, datasetId: string): Promise<DatasetRow | null> {
  try {
    const { rows } = await db.query<DatasetRow>(`SELECT ${DATASET_COLUMNS} FROM datasets WHERE id = $1`, [datasetId]);
    return rows[0] ?? null;
  } catch (err) {
    throw dbFailure(err);
  }
}

export interface LoadOptions extends CopyLimits {
  /** When the load started (recorded as the dataset's `created_at`). */
  startedAt: Date;
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
  try {
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
      const datasetCheck = `CONSTRAINT ${staging}_dataset CHECK (dataset_id = '${datasetId}')`;
      const createStaging = (checks: boolean) =>
        client.query(
          `CREATE TABLE ${staging} (LIKE passengers INCLUDING DEFAULTS${checks ? ` INCLUDING CONSTRAINTS, ${datasetCheck}` : ''});
           ALTER TABLE ${staging} ALTER COLUMN dataset_id SET DEFAULT '${datasetId}';`,
        );
      let filled: { rows: number; rejected: RejectedRow[]; rejectedCount: number; indexed: boolean } | undefined;
      if (isCsvFile(input)) {
        // Postgres parses a plain file itself; anything else rolls back to here and goes through the validator.
        await client.query('SAVEPOINT plain_copy');
        // The CHECKs (the parent's, by name, as ATTACH wants them, and the dataset's) are added after the COPY: one
        // scan checks them all, a third of what checking each row as it arrives costs.
        const { rows: checks } = await client.query<{ name: string; def: string }>(
          `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
           WHERE conrelid = 'passengers'::regclass AND contype = 'c'`,
        );
        const addChecks = [
          ...checks.map((c) => `ADD CONSTRAINT "${c.name.replaceAll('"', '""')}" ${c.def}`),
          `ADD ${datasetCheck}`,
        ].join(', ');
        await createStaging(false);
        const plain = await copyPlainCsv(client, staging, input.bytes(), `ALTER TABLE ${staging} ${addChecks}`);
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
        await createStaging(true);
        const records = isCsvFile(input) ? input.records() : input;
        filled = { ...(await copyRecords(client, records, staging, options)), indexed: false };
      }
      const { rows, rejected, rejectedCount } = filled;

      // The id is a hash of the source triple, so locking on it serialises loads of the same generation.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [datasetId]);
      const existing = await findDatasetBySource(client, source);
      if (existing) {
        await client.query('ROLLBACK');
        return {
          datasetId: existing.id,
          rows: existing.rowCount,
          rejected: existing.rejectedCount,
          alreadyLoaded: true,
        };
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
  } catch (err) {
    throw dbFailure(err);
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

/** How many labelled passengers of each outcome a dataset has: `[died, survived]`. */
export async function countDatasetLabels(db: pg.Pool, datasetId: string): Promise<[number, number]> {
  try {
    const { rows } = await db.query<{ survived: number; n: string }>(
      `SELECT survived, count(*) AS n FROM passengers
       WHERE dataset_id = $1 AND survived IS NOT NULL GROUP BY survived`,
      [datasetId],
    );
    const counts: [number, number] = [0, 0];
    for (const r of rows) counts[r.survived === 1 ? 1 : 0] = Number(r.n);
    return counts;
  } catch (err) {
    throw dbFailure(err);
  }
}

/**
 * A seeded sample of a dataset's passengers: `perLabel[l]` passengers of outcome `l`, chosen by the order of
 * md5(passenger id + seed) within each outcome (so the same seed picks the same rows, and Postgres does the choosing
 * without sending the other rows), returned in PassengerId order.
 */
export interface PassengerSample {
  perLabel: readonly [number, number];
  seed: number;
  /**
   * Names another draw with the same seed (md5 of `id:seed:salt`): the train step's validation sample takes rows
   * independently of the process step's training sample. Unset: `id:seed`, the training sample's order.
   */
  salt?: string;
}

/** The passengers of a dataset in PassengerId order (the order every downstream step relies on). */
export async function readDatasetPassengers(
  db: pg.Pool,
  datasetId: string,
  sample?: PassengerSample,
): Promise<LabelledPassenger[]> {
  try {
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
      sample === undefined
        ? `SELECT passenger_id, survived, pclass, name, sex, age, sib_sp, parch, ticket, fare, cabin, embarked
           FROM passengers WHERE dataset_id = $1 AND survived IS NOT NULL ORDER BY passenger_id`
        : `SELECT passenger_id, survived, pclass, name, sex, age, sib_sp, parch, ticket, fare, cabin, embarked
           FROM (SELECT *, row_number() OVER (
                   PARTITION BY survived ORDER BY md5(passenger_id::text || ':' || $2::text), passenger_id) AS pick
                 FROM passengers WHERE dataset_id = $1 AND survived IS NOT NULL) s
           WHERE pick <= CASE WHEN survived = 1 THEN $4::bigint ELSE $3::bigint END
           ORDER BY passenger_id`,
      sample === undefined
        ? [datasetId]
        : [
            datasetId,
            sample.salt === undefined ? String(sample.seed) : `${sample.seed}:${sample.salt}`,
            sample.perLabel[0],
            sample.perLabel[1],
          ],
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
  } catch (err) {
    throw dbFailure(err);
  }
}

export async function readRejectedRows(
  db: pg.Pool,
  datasetId: string,
): Promise<Array<{ line: number; reason: string; raw: string }>> {
  try {
    const { rows } = await db.query<{ line: number; reason: string; raw: string }>(
      'SELECT line, reason, raw FROM rejected_rows WHERE dataset_id = $1 ORDER BY line',
      [datasetId],
    );
    return rows;
  } catch (err) {
    throw dbFailure(err);
  }
}
