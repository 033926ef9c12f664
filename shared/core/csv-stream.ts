/**
 * The CSV contract: a stream of bytes in, a stream of validated passengers and rejected rows out. The field
 * rules themselves (shared with JSON records) are in passenger-validation.ts; this module is the byte stream,
 * the header, line numbers and per-file checks (width, duplicate ids, UTF-8).
 *
 * What is accepted: the Kaggle `train.csv` shape, or the `test.csv` shape (no Survived) unless
 * `requireSurvived`; a UTF-8 BOM; LF or CRLF; quoted fields with commas, line breaks and doubled quotes;
 * header names in any case and order; unknown extra columns (ignored); blank lines (skipped).
 *
 * Two kinds of problem:
 * - a bad row is yielded as `{ kind: 'rejected', line, reason, raw }` and the stream goes on. The reason
 *   names the line, every bad column and its value: `line 7: Pclass "4" is not 1, 2 or 3`.
 * - a bad file throws an AppError: CSV_EMPTY, CSV_HEADER_ONLY, CSV_MISSING_COLUMN, CSV_MALFORMED (unclosed or
 *   stray quote, binary data, text that is not UTF-8). Rows before the problem may already have been yielded,
 *   so a consumer writing rows somewhere must treat a throw as "discard the whole file".
 *
 * Line numbers are physical lines of the file, 1-based (the header is line 1), and a row's line is the one
 * it starts on. They are counted here, not taken from csv-parse's `info` option: `info` builds a large object
 * per record (it halves throughput) and counts a CRLF inside a quoted field as two lines.
 * Likewise `raw` is the rejected row re-serialised as CSV from its parsed fields, not csv-parse's `raw` option
 * (which costs about 20% of throughput on every row, valid or not, and keeps a stray CR of CRLF files): it is
 * the row's content with quoting normalised, built only for rejected rows.
 *
 * Speed matters (uploads stream through here into Postgres COPY; `npm run bench:csv` measures it against
 * csv-parse alone): the valid-row path allocates only the passenger and its record, reads plain digits with
 * char loops before falling back to anchored patterns, and keeps no per-row closures. csv-parse itself is
 * patched (patches/csv-parse+6.2.0.patch) to decode each field straight from its buffer instead of through
 * a Buffer view per field: the same strings, about 17% less parse CPU.
 */
import { CsvError, type Parser, parse } from 'csv-parse';
import { AppError } from '../errors.ts';
import {
  COLUMN_BY_LOWER,
  type ColumnIndex,
  checkPassengerFields,
  isBlank,
  quoted,
  readCount,
  readPassengerId,
} from './passenger-validation.ts';
import { type LabelledPassenger, type Passenger, RAW_COLUMNS } from './schema.ts';

export type CsvRecord =
  | { kind: 'row'; line: number; passenger: Passenger | LabelledPassenger }
  | { kind: 'rejected'; line: number; reason: string; raw: string };

export interface CsvOptions {
  /** True for training data: the header must have Survived and every row a 0 or 1 in it. */
  requireSurvived: boolean;
  /** Updated as the input is read, so a consumer can bound what is still to come (see `CsvProgress`). */
  progress?: CsvProgress;
}

/**
 * How far validation has got. When a consumer receives a record, every record that starts within the first
 * `bytes` bytes of the input, except those of the last `PIECE_BYTES` and one unfinished row, has been yielded.
 * So the input's remaining bytes bound the valid rows still to come: see `maxRowsLeft`.
 */
export interface CsvProgress {
  /** Bytes of input handed to the parser so far. */
  bytes: number;
  /** Bytes of the shortest row that can be valid under the header read (0 until the header is read). */
  minRowBytes: number;
}

/**
 * An upper bound on the valid rows that can still follow, for an input of `totalBytes` bytes: every row not yet
 * yielded lies in the unread bytes, the piece being read, or the one unfinished row.
 */
export function maxRowsLeft(progress: CsvProgress, totalBytes: number): number {
  if (progress.minRowBytes === 0) return Number.POSITIVE_INFINITY;
  const unread = Math.max(0, totalBytes - progress.bytes);
  return Math.floor((unread + PIECE_BYTES) / progress.minRowBytes) + 1;
}

/** A whole file (string or Buffer) or its chunks in order (a Node Readable, a GCS download stream...). */
export type CsvSource = AsyncIterable<Buffer | string> | Iterable<Buffer | string> | string | Buffer;

/** Rows longer than this are not passenger rows: the file is treated as malformed (binary, runaway quote). */
export const MAX_ROW_BYTES = 1 << 20;
/** Input is fed to the parser in pieces of at most this size, so a large string or buffer streams too. */
const PIECE_BYTES = 1 << 16;

export async function* validatePassengerCsv(source: CsvSource, opts: CsvOptions): AsyncGenerator<CsvRecord> {
  const parser = parse({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: false,
    max_record_size: MAX_ROW_BYTES,
  });
  // Errors are read from `parser.errored` after each write; this listener only keeps them from being unhandled.
  parser.on('error', () => {});

  let line = 1; // the line the next record starts on
  let columns: ColumnIndex | null = null;
  let width = 0;
  let freeText: number[] = [];
  let dataRows = 0;
  let headerLine = 1;
  const firstLineOfId = new IdRegistry();
  // Problems of the row being validated: one array per file, reset per row, keeps the valid-row path free of
  // allocations (validation of a row is synchronous).
  const problems: string[] = [];

  /** Validates one parsed record; returns null for a blank line or the header. */
  const handle = (fields: string[]): CsvRecord | null => {
    const start = line;
    if (columns === null || (fields.length === 1 && isBlank(fields[0] as string))) {
      line += 1 + countLineBreaks(fields, null);
      if (fields.length === 1 && isBlank(fields[0] as string)) return null;
      columns = readHeader(fields, start, opts);
      headerLine = start;
      width = fields.length;
      freeText = freeTextPositions(columns, width);
      if (opts.progress) opts.progress.minRowBytes = minValidRowBytes(width);
      return null;
    }
    dataRows++;
    const record = validateRow(fields, start, columns, width, opts, firstLineOfId, problems);
    // A valid row can only hold a line break in a free-text field: the others matched exact patterns.
    line += 1 + countLineBreaks(fields, record.kind === 'row' ? freeText : null);
    return record;
  };

  const fail = (err: unknown): never => {
    throw csvParseError(err, line);
  };

  try {
    for await (const chunk of typeof source === 'string' || Buffer.isBuffer(source) ? [source] : source) {
      for (const piece of pieces(chunk)) {
        const nul = piece.indexOf(0);
        parser.write(nul === -1 ? piece : piece.subarray(0, nul));
        if (opts.progress) opts.progress.bytes += piece.length;
        for (let fields = parser.read(); fields !== null; fields = parser.read()) {
          const record = handle(fields);
          if (record !== null) yield record;
        }
        if (parser.errored) fail(parser.errored);
        if (nul !== -1) {
          const message = `line ${line}: contains a NUL byte: this is binary data or UTF-16 text, not a UTF-8 CSV`;
          throw new AppError('CSV_MALFORMED', message, { line });
        }
      }
    }
    parser.end();
    for (;;) {
      for (let fields = parser.read(); fields !== null; fields = parser.read()) {
        const record = handle(fields);
        if (record !== null) yield record;
      }
      if (parser.errored) fail(parser.errored);
      if (parser.readableEnded || parser.destroyed) break;
      await nextEvent(parser);
    }
  } finally {
    parser.destroy();
  }

  if (columns === null) throw new AppError('CSV_EMPTY', 'the file is empty: it has no header and no rows');
  if (dataRows === 0) {
    throw new AppError('CSV_HEADER_ONLY', `the file has a header (line ${headerLine}) but no rows`, {
      line: headerLine,
    });
  }
}

/** Collects `validatePassengerCsv` into arrays (tests, the CLI, small uploads). */
export async function readPassengerCsv(
  source: CsvSource,
  opts: CsvOptions,
): Promise<{
  rows: Array<{ line: number; passenger: Passenger | LabelledPassenger }>;
  rejected: Array<{ line: number; reason: string; raw: string }>;
}> {
  const rows: Array<{ line: number; passenger: Passenger | LabelledPassenger }> = [];
  const rejected: Array<{ line: number; reason: string; raw: string }> = [];
  for await (const record of validatePassengerCsv(source, opts)) {
    if (record.kind === 'row') rows.push({ line: record.line, passenger: record.passenger });
    else rejected.push({ line: record.line, reason: record.reason, raw: record.raw });
  }
  return { rows, rejected };
}

function readHeader(fields: string[], line: number, opts: CsvOptions): ColumnIndex {
  const index = Object.fromEntries(RAW_COLUMNS.map((column) => [column, -1])) as ColumnIndex;
  fields.forEach((name, position) => {
    if (name.includes('\uFFFD')) throw notUtf8(line, 'the header');
    const column = COLUMN_BY_LOWER.get(name.trim().toLowerCase());
    if (column === undefined) return;
    if (index[column] !== -1) {
      throw new AppError(
        'CSV_MALFORMED',
        `line ${line}: column ${column} appears twice in the header (fields ${index[column] + 1} and ${position + 1})`,
        { line, column },
      );
    }
    index[column] = position;
  });
  const required = RAW_COLUMNS.filter((column) => column !== 'Survived' || opts.requireSurvived);
  const missing = required.filter((column) => index[column] === -1);
  if (missing.length === required.length) {
    throw new AppError(
      'CSV_MISSING_COLUMN',
      `line ${line} is not a header: none of the columns ${required.join(', ')} is there`,
      { line, missing },
    );
  }
  if (missing.length > 0) {
    const list = missing.length === 1 ? `column ${missing[0]}` : `columns ${missing.join(', ')}`;
    throw new AppError('CSV_MISSING_COLUMN', `line ${line}: the header lacks ${list}`, { line, missing });
  }
  return index;
}

function validateRow(
  fields: string[],
  line: number,
  columns: ColumnIndex,
  width: number,
  opts: CsvOptions,
  firstLineOfId: IdRegistry,
  problems: string[],
): CsvRecord {
  if (fields.length !== width) {
    return {
      kind: 'rejected',
      line,
      reason: `line ${line}: has ${fields.length} fields, the header has ${width}`,
      raw: toCsvLine(fields),
    };
  }
  problems.length = 0;

  // Survived: required and 0/1 for training data; optional (empty = unknown) otherwise.
  let survived = -1;
  if (columns.Survived !== -1) {
    const text = fields[columns.Survived] as string;
    survived = text === '0' ? 0 : text === '1' ? 1 : readCount(text);
    if (survived !== 0 && survived !== 1) {
      survived = -1;
      if (opts.requireSurvived || !isBlank(text)) problems.push(`Survived ${quoted(text)} is not 0 or 1`);
    }
  }

  const passenger = checkPassengerFields(fields, columns, survived, problems);

  // Every row with a readable id claims it, rejected or not: two rows with one id is one mistake in the file.
  const idText = fields[columns.PassengerId] as string;
  const id = passenger !== null ? passenger.passengerId : readPassengerId(idText);
  if (id !== -1) {
    const first = firstLineOfId.claim(id, line);
    if (first !== 0) problems.push(`PassengerId ${quoted(idText)} duplicates line ${first}`);
  }

  if (passenger === null || problems.length > 0) {
    return { kind: 'rejected', line, reason: `line ${line}: ${problems.join('; ')}`, raw: toCsvLine(fields) };
  }
  if (passenger.name.includes('\uFFFD')) throw notUtf8(line, 'Name');
  if (passenger.ticket.includes('\uFFFD')) throw notUtf8(line, 'Ticket');
  if (passenger.cabin?.includes('\uFFFD')) throw notUtf8(line, 'Cabin');
  return { kind: 'row', line, passenger };
}

/**
 * The line each PassengerId was first seen on. Ids are usually dense (1..n), so small ids live in a typed array
 * that grows by doubling (4 bytes per id, at most 16 MiB); only ids above that go to a Map. A Map alone costs
 * more than the whole CSV parse at a million rows.
 */
class IdRegistry {
  static readonly DENSE_LIMIT = 1 << 22;
  private dense = new Int32Array(1024);
  private sparse = new Map<number, number>();

  /** Records `id` on `line` if it is new and returns 0; otherwise returns the line it was first seen on. */
  claim(id: number, line: number): number {
    if (id < IdRegistry.DENSE_LIMIT) {
      if (id >= this.dense.length) {
        let size = this.dense.length * 2;
        while (size <= id) size *= 2;
        const grown = new Int32Array(Math.min(size, IdRegistry.DENSE_LIMIT));
        grown.set(this.dense);
        this.dense = grown;
      }
      const first = this.dense[id] as number;
      if (first === 0) this.dense[id] = line;
      return first;
    }
    const first = this.sparse.get(id);
    if (first !== undefined) return first;
    this.sparse.set(id, line);
    return 0;
  }
}

/** Line breaks inside the fields (of `positions` only, if given): quoted fields may span lines. */
function countLineBreaks(fields: readonly string[], positions: readonly number[] | null): number {
  let breaks = 0;
  const n = positions === null ? fields.length : positions.length;
  for (let k = 0; k < n; k++) {
    const text = fields[positions === null ? k : (positions[k] as number)] as string;
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) breaks++;
  }
  return breaks;
}

/**
 * The fewest bytes a valid row of `width` fields can take: a comma between fields, one digit each for
 * PassengerId, Survived, Pclass, SibSp and Parch, "male" for Sex, and every other field empty.
 */
function minValidRowBytes(width: number): number {
  return width - 1 + 5 + 4;
}

/** Positions of the fields a valid row may hold anything in: Name, Ticket, Cabin and the unknown columns. */
function freeTextPositions(columns: ColumnIndex, width: number): number[] {
  const known = new Set(Object.values(columns));
  const positions = [columns.Name, columns.Ticket, columns.Cabin];
  for (let i = 0; i < width; i++) if (!known.has(i)) positions.push(i);
  return positions;
}

function toCsvLine(fields: string[]): string {
  return fields.map((f) => (/[",\r\n]/.test(f) || f !== f.trim() ? `"${f.replaceAll('"', '""')}"` : f)).join(',');
}

function notUtf8(line: number, what: string): AppError {
  return new AppError(
    'CSV_MALFORMED',
    `line ${line}: ${what} is not valid UTF-8 text; save the file as UTF-8 and upload it again`,
    { line },
  );
}

/** Maps csv-parse's errors to CSV_MALFORMED naming the line the broken row starts on. */
function csvParseError(err: unknown, line: number): unknown {
  if (!(err instanceof CsvError)) return err;
  switch (err.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new AppError('CSV_MALFORMED', `line ${line}: a quoted field opened in this row is never closed`, {
        line,
        parserCode: err.code,
      });
    case 'INVALID_OPENING_QUOTE':
      return new AppError(
        'CSV_MALFORMED',
        `line ${line}: a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"" c")`,
        { line, parserCode: err.code },
      );
    case 'CSV_INVALID_CLOSING_QUOTE':
      return new AppError(
        'CSV_MALFORMED',
        `line ${line}: a quoted field is followed by text instead of a comma or the end of the line (an unbalanced quote?)`,
        { line, parserCode: err.code },
      );
    case 'CSV_MAX_RECORD_SIZE':
      return new AppError('CSV_MALFORMED', `line ${line}: the row is longer than ${MAX_ROW_BYTES} bytes`, {
        line,
        parserCode: err.code,
      });
    default:
      return new AppError('CSV_MALFORMED', `line ${line}: ${err.message}`, { line, parserCode: err.code });
  }
}

/** Splits a chunk into Buffers of at most PIECE_BYTES, so the parser never holds more than that many rows. */
function* pieces(chunk: Buffer | string): Generator<Buffer> {
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
  if (bytes.length <= PIECE_BYTES) {
    yield bytes;
    return;
  }
  for (let at = 0; at < bytes.length; at += PIECE_BYTES) yield bytes.subarray(at, at + PIECE_BYTES);
}

/** Resolves on the parser's next 'readable', 'end', 'error' or 'close'. */
function nextEvent(parser: Parser): Promise<void> {
  return new Promise((resolve) => {
    const events = ['readable', 'end', 'error', 'close'] as const;
    const done = () => {
      for (const event of events) parser.off(event, done);
      resolve();
    };
    for (const event of events) parser.on(event, done);
  });
}
