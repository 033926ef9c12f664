/**
 * COPY into Postgres: the text encoding of a passenger row and the stream that writes validated records into a
 * table. Tuned for the load function's throughput (`npm run bench:data`).
 */
import { once } from 'node:events';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { CsvRecord } from '../../core/csv-stream.ts';
import type { LabelledPassenger, Passenger } from '../../core/schema.ts';
import { AppError } from '../../errors.ts';

/** What a COPY of validated records may reject before it gives up (a subset of the load's options). */
export interface CopyLimits {
  /** Largest accepted share of rejected rows (0..1). */
  maxRejectedShare: number;
  /**
   * An upper bound on the valid rows still to come, asked after each rejected row: once even that many could not
   * bring the share under `maxRejectedShare`, the load stops there instead of reading the rest of the file.
   */
  maxRowsLeft?: () => number;
  /** Rejected rows stored with their reason and text, the first ones by line; the rest are only counted. */
  keepRejected?: { rows: number; bytes: number };
}

/**
 * By default the first 1,000 rejected rows (and at most 1 MiB of their reasons and text) are kept: enough to show
 * what is wrong with a file, while a file of bad rows costs no more memory than a file of good ones.
 */
export const KEEP_REJECTED = { rows: 1000, bytes: 1 << 20 };

export interface RejectedRow {
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

export const firstReasons = (rejected: readonly RejectedRow[]) =>
  rejected.slice(0, 5).map((r) => ({ line: r.line, reason: r.reason }));

/**
 * Streams the valid rows into the staging table with COPY; returns their count, the rejected rows kept (the first
 * ones, up to `options.keepRejected`) and the count of all rejected rows. Throws CSV_TOO_MANY_REJECTED as soon as
 * the rows still to come (`options.maxRowsLeft`) could no longer bring the rejected share under the limit.
 */
export async function copyRecords(
  client: pg.PoolClient,
  records: AsyncIterable<CsvRecord>,
  table: string,
  options: CopyLimits,
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
