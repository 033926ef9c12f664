/**
 * The load's fast path: a plain CSV (`shared/core/plain-csv.ts`) goes to Postgres as it is, `COPY ... (FORMAT csv)`
 * straight into the typed staging table, so Postgres' C parser does the parsing and casting that Node would
 * otherwise do at a fraction of its speed. Node only checks the bytes on their way through (one pass, no strings)
 * and stops the COPY at the first thing that is not plain; the caller then rolls back to its savepoint and loads the
 * file through `validatePassengerCsv`, which explains it.
 */
import { once } from 'node:events';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { PlainCsvScanner, type PlainHeader, readPlainHeader } from '../../core/plain-csv.ts';
import type { RawColumn } from '../../core/schema.ts';

const DB_COLUMN: Record<RawColumn, string> = {
  PassengerId: 'passenger_id',
  Survived: 'survived',
  Pclass: 'pclass',
  Name: 'name',
  Sex: 'sex',
  Age: 'age',
  SibSp: 'sib_sp',
  Parch: 'parch',
  Ticket: 'ticket',
  Fare: 'fare',
  Cabin: 'cabin',
  Embarked: 'embarked',
};

/** SQLSTATEs of a COPY that met data Postgres refuses (bad UTF-8, a repeated key...): the file is not plain. */
const DATA_ERROR = /^(22|23)/;

/**
 * COPYs the file into `table` (created in the current subtransaction, so the rows are written frozen), runs
 * `afterCopy` and builds its primary key. Returns the row count, or why the file is not plain; then the caller must roll back to a
 * savepoint taken before `table` was created. A failure of the connection or the source is thrown.
 */
export async function copyPlainCsv(
  client: pg.PoolClient,
  table: string,
  bytes: AsyncIterable<Buffer>,
  /** SQL run once the rows are in, before the primary key is built (the table's CHECK constraints). */
  afterCopy: string,
): Promise<{ rows: number } | { notPlain: string }> {
  const source = bytes[Symbol.asyncIterator]();
  try {
    // The header, from as many chunks as it takes.
    let start: Buffer = Buffer.alloc(0);
    let header: PlainHeader | undefined;
    while (header === undefined) {
      const next = await source.next();
      if (next.done) return { notPlain: 'the file ends in its first line' };
      start = start.length === 0 ? next.value : Buffer.concat([start, next.value]);
      const read = readPlainHeader(start);
      if (read === 'more') continue;
      if ('notPlain' in read) return read;
      header = read;
    }
    const scanner = new PlainCsvScanner(header);
    // Each row goes with its line number in front (`PlainCsvScanner.withLines`).
    const columns = ['line', ...header.columns.map((c) => DB_COLUMN[c])].join(', ');
    const copy = client.query(
      copyStreams.from(
        `COPY ${table} (${columns}) FROM STDIN (FORMAT csv, FREEZE, FORCE_NULL (age, fare, cabin, embarked), FORCE_NOT_NULL (name, ticket))`,
      ),
    );
    let copyError: Error | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      copy.on('finish', resolve);
      copy.on('error', (err: Error) => {
        copyError ??= err;
        reject(err);
      });
    });
    finished.catch(() => {});
    const abort = async (reason: string): Promise<{ notPlain: string }> => {
      copy.destroy(new Error(`not plain: ${reason}`));
      await finished.catch(() => {});
      return { notPlain: reason };
    };
    const send = async (chunk: Buffer): Promise<string | null> => {
      const reason = scanner.scan(chunk);
      if (reason !== null) return reason;
      if (copyError) throw copyError;
      if (!copy.write(scanner.withLines(chunk))) await Promise.race([once(copy, 'drain'), finished]);
      return null;
    };
    try {
      let reason = await send(start.subarray(header.bytes));
      for (let next = await source.next(); reason === null && !next.done; next = await source.next()) {
        reason = await send(next.value);
      }
      reason ??= scanner.finish();
      if (reason === null && scanner.rows === 0) reason = 'no rows';
      if (reason !== null) return await abort(reason);
      copy.end();
      await finished;
    } catch (err) {
      copy.destroy(err instanceof Error ? err : new Error(String(err)));
      await finished.catch(() => {});
      throw err;
    }
    if (copy.rowCount !== scanner.rows) {
      throw new Error(`COPY stored ${copy.rowCount} rows where the file has ${scanner.rows}`);
    }
    // One index build, sorted in memory, becomes the partition's primary key; a repeated PassengerId fails it.
    await client.query(
      `${afterCopy};
       SET LOCAL maintenance_work_mem = '256MB';
       ALTER TABLE ${table} ADD CONSTRAINT ${table}_pkey PRIMARY KEY (dataset_id, passenger_id);`,
    );
    return { rows: scanner.rows };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && DATA_ERROR.test(code)) return { notPlain: `Postgres refused it (${code})` };
    throw err;
  } finally {
    await source.return?.();
  }
}
