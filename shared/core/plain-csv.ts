/**
 * Recognises a "plain" passenger CSV: one that Postgres' own CSV parser (`COPY ... (FORMAT csv)`) reads into the
 * typed passenger columns with exactly the result `validatePassengerCsv` would give, so the load can hand the bytes
 * to Postgres instead of parsing them in Node (`npm run bench:data`: Node's parse is several times Postgres').
 *
 * Plain means every row is valid in its simplest spelling, so no row is rejected and no value needs the
 * validator's leniency:
 * - the header names the twelve columns (any case and order, quoted or not), nothing else, no BOM but UTF-8's;
 * - every row is one physical line (no quoted line break, no blank line, one kind of line end: LF or CRLF), has as
 *   many fields as the header, and is under PLAIN_MAX_ROW_BYTES;
 * - quotes only around a whole field, a closing quote followed by a comma or the line end;
 * - PassengerId 1 to 9 digits and not 0, SibSp and Parch 1 to 9 digits, Survived `0`/`1`, Pclass `1`/`2`/`3`, Sex
 *   `male`/`female`, Age and Fare empty or digits with at most one dot, Embarked empty or `C`/`Q`/`S`, Cabin empty
 *   or not starting with a space or tab; no NUL byte and no U+FFFD anywhere.
 *
 * Postgres reads those spellings exactly as the validator does (digits as integers; a plain decimal to the nearest
 * double, both correctly rounded; text as is), and still checks what only it can: UTF-8 validity, and repeated
 * PassengerIds through the primary key. Anything else (a row that would be rejected, " 3 ", "MALE", "1e3", a
 * quoted line break...) is not plain, and the load falls back to `validatePassengerCsv`, which names the problem.
 * So the fast path can only ever take a file that the validator accepts whole, with the same values and lines.
 */
import { parse } from 'csv-parse/sync';
import { RAW_COLUMNS, type RawColumn } from './schema.ts';

/** A row at least this long is left to the validator (which refuses rows over 1 MiB). */
export const PLAIN_MAX_ROW_BYTES = 1 << 16;

export interface PlainHeader {
  /** The columns in file order. */
  columns: RawColumn[];
  /** Bytes before the first data row: an optional BOM and the header line with its line end. */
  bytes: number;
  /** The header's line end, which every row must share. */
  crlf: boolean;
}

/**
 * Reads the header from the start of a file. Returns the header, `'more'` when `start` does not yet hold the whole
 * first line, or a reason why the file is not plain.
 */
export function readPlainHeader(start: Buffer): PlainHeader | 'more' | { notPlain: string } {
  const bom = start[0] === 0xef && start[1] === 0xbb && start[2] === 0xbf ? 3 : 0;
  const end = start.indexOf(LF, bom);
  if (end === -1) {
    return start.length - bom > PLAIN_MAX_ROW_BYTES ? { notPlain: 'the header line is too long' } : 'more';
  }
  const crlf = end > bom && start[end - 1] === CR;
  const line = start.subarray(bom, crlf ? end - 1 : end);
  if (line.indexOf(CR) !== -1 || line.indexOf(0) !== -1) return { notPlain: 'the header line holds a CR or NUL' };
  let fields: string[];
  try {
    fields = (parse(line, { relax_column_count: true }) as string[][])[0] ?? [];
  } catch {
    return { notPlain: 'the header line is not plain CSV' };
  }
  const columns: RawColumn[] = [];
  for (const name of fields) {
    const column = COLUMN_BY_LOWER.get(name.trim().toLowerCase());
    if (column === undefined || columns.includes(column)) return { notPlain: `header field ${JSON.stringify(name)}` };
    columns.push(column);
  }
  if (columns.length !== RAW_COLUMNS.length) return { notPlain: 'the header lacks a column' };
  return { columns, bytes: end + 1, crlf };
}

/**
 * Checks the data rows chunk by chunk, in order, carrying its state across chunk boundaries. `scan` returns null
 * while everything seen is plain, else the reason (then stop: the state is undefined). `finish` checks the last row.
 */
export class PlainCsvScanner {
  /** Data rows seen complete. */
  rows = 0;
  private readonly kinds: Uint8Array;
  private readonly width: number;
  private readonly crlf: boolean;
  // Where the scan is: the field of the current row, and within it.
  private field = 0;
  private fieldBytes = 0;
  private rowBytes = 0;
  private quoted = false;
  private inQuote = false;
  /** Just saw a quote inside a quoted field: it closes the field unless another quote follows. */
  private quoteSeen = false;
  private crSeen = false;
  private digits = 0;
  private dots = 0;
  private value = 0;
  private first = 0;
  /** The last bytes of the previous chunk, to find a U+FFFD split across two chunks. */
  private tail = Buffer.alloc(0);
  /** Where rows start in the chunk last scanned, and how many do. */
  private starts = new Int32Array(1024);
  private nStarts = 0;
  /** The line of the next row to start: the header is line 1, and a plain row is one line. */
  private nextLine = 2;

  constructor(header: PlainHeader) {
    this.kinds = Uint8Array.from(header.columns, (c) => KIND[c]);
    this.width = header.columns.length;
    this.crlf = header.crlf;
  }

  scan(chunk: Buffer): string | null {
    if (chunk.indexOf(0) !== -1) return 'a NUL byte';
    if (chunk.indexOf(REPLACEMENT) !== -1) return 'a U+FFFD character';
    if (this.tail.length > 0 && Buffer.concat([this.tail, chunk.subarray(0, 2)]).indexOf(REPLACEMENT) !== -1) {
      return 'a U+FFFD character';
    }
    this.tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - 2)));
    const kinds = this.kinds;
    const width = this.width;
    const crlf = this.crlf;
    let field = this.field;
    let kind = kinds[field] as number;
    let fieldBytes = this.fieldBytes;
    let quoted = this.quoted;
    let inQuote = this.inQuote;
    let quoteSeen = this.quoteSeen;
    let crSeen = this.crSeen;
    let digits = this.digits;
    let dots = this.dots;
    let value = this.value;
    let first = this.first;
    /** Bytes of the current row in earlier chunks, and where it started in this one. */
    let carried = this.rowBytes;
    let rowStart = 0;
    const n = chunk.length;
    this.nStarts = 0;
    if (carried === 0 && n > 0) this.#rowStartsAt(0);
    let reason: string | null = null;
    for (let i = 0; i < n; i++) {
      const c = chunk[i] as number;
      if (crSeen && c !== LF) {
        reason = 'a carriage return inside a row';
        break;
      }
      if (inQuote) {
        if (c === QUOTE) {
          if (!quoteSeen) {
            quoteSeen = true;
            continue;
          }
          // A doubled quote: a quote in the value.
          quoteSeen = false;
          if (kind !== FREE) {
            reason = 'a quote inside a value';
            break;
          }
          fieldBytes++;
          continue;
        }
        if (quoteSeen) {
          // The quote closed the field; `c` must end it.
          quoteSeen = false;
          inQuote = false;
          if (c !== COMMA && c !== LF && c !== CR) {
            reason = 'text after a closing quote';
            break;
          }
        } else if (c === LF || c === CR) {
          reason = 'a line break inside a quoted field';
          break;
        }
      }
      if (!inQuote) {
        if (c === CR) {
          if (!crlf) {
            reason = 'a carriage return in a file whose header ends in LF';
            break;
          }
          crSeen = true;
          continue;
        }
        if (c === COMMA || c === LF) {
          if (c === LF && !crSeen && crlf) {
            reason = 'a row ending in LF in a file whose header ends in CRLF';
            break;
          }
          crSeen = false;
          const bad = checkField(kind, fieldBytes, digits, dots, value, first);
          if (bad !== null) {
            reason = bad;
            break;
          }
          field++;
          if (c === LF) {
            if (field !== width) {
              reason = field === 1 && fieldBytes === 0 && !quoted ? 'a blank line' : 'a row of another width';
              break;
            }
            if (carried + (i - rowStart) > PLAIN_MAX_ROW_BYTES) {
              reason = 'a long row';
              break;
            }
            this.rows++;
            field = 0;
            carried = 0;
            rowStart = i + 1;
            if (rowStart < n) this.#rowStartsAt(rowStart);
          } else if (field === width) {
            reason = 'a row of another width';
            break;
          }
          kind = kinds[field] as number;
          fieldBytes = 0;
          quoted = false;
          digits = 0;
          dots = 0;
          value = 0;
          first = 0;
          continue;
        }
        if (c === QUOTE) {
          if (fieldBytes !== 0 || quoted) {
            reason = 'a quote inside an unquoted field';
            break;
          }
          quoted = true;
          inQuote = true;
          continue;
        }
      }
      // A byte of the value.
      if (fieldBytes === 0) first = c;
      fieldBytes++;
      if (kind === FREE || kind === CABIN) {
        // Free text (Name, Ticket, Cabin) is judged by its length and first byte alone: skip to the next byte the
        // loop above must see (a quote, a line end, or outside quotes a comma). The bytes skipped are exactly those
        // it would count as value bytes, so the state and the first reason found are the same.
        let j = i + 1;
        if (inQuote) {
          while (j < n) {
            const d = chunk[j] as number;
            if (d === QUOTE || d === LF || d === CR) break;
            j++;
          }
        } else {
          while (j < n) {
            const d = chunk[j] as number;
            if (d === COMMA || d === LF || d === CR || d === QUOTE) break;
            j++;
          }
        }
        fieldBytes += j - i - 1;
        i = j - 1;
        continue;
      }
      if (kind === SEX) {
        if (fieldBytes <= 6) value = value * 256 + c;
      } else if (c >= 48 && c <= 57) {
        digits++;
        value = value * 10 + (c - 48);
      } else if (c === DOT) {
        dots++;
      }
    }
    if (reason === null && carried + (n - rowStart) > PLAIN_MAX_ROW_BYTES) reason = 'a long row';
    this.field = field;
    this.fieldBytes = fieldBytes;
    this.quoted = quoted;
    this.inQuote = inQuote;
    this.quoteSeen = quoteSeen;
    this.crSeen = crSeen;
    this.digits = digits;
    this.dots = dots;
    this.value = value;
    this.first = first;
    this.rowBytes = carried + (n - rowStart);
    return reason;
  }

  /**
   * The chunk last scanned (and found plain) with each row's line number put before it as a first field, so COPY
   * can store it (`COPY t (line, ...)`): cheaper here than a sequence default evaluated by Postgres for every row.
   */
  withLines(chunk: Buffer): Buffer {
    const n = this.nStarts;
    if (n === 0) return chunk;
    const out = Buffer.allocUnsafe(chunk.length + n * 11);
    let pos = 0;
    let from = 0;
    for (let k = 0; k < n; k++) {
      const at = this.starts[k] as number;
      pos += chunk.copy(out, pos, from, at);
      let line = this.nextLine++;
      let digits = 1;
      for (let v = line; v >= 10; v = Math.floor(v / 10)) digits++;
      for (let d = digits - 1; d >= 0; d--) {
        out[pos + d] = 48 + (line % 10);
        line = Math.floor(line / 10);
      }
      out[pos + digits] = COMMA;
      pos += digits + 1;
      from = at;
    }
    pos += chunk.copy(out, pos, from, chunk.length);
    return out.subarray(0, pos);
  }

  #rowStartsAt(at: number): void {
    if (this.nStarts === this.starts.length) {
      const grown = new Int32Array(this.starts.length * 2);
      grown.set(this.starts);
      this.starts = grown;
    }
    this.starts[this.nStarts++] = at;
  }

  finish(): string | null {
    if (this.crSeen) return 'a carriage return at the end of the file';
    if (this.inQuote && !this.quoteSeen) return 'a quoted field never closed';
    if (this.field === 0 && this.fieldBytes === 0 && !this.quoted) return null; // the file ended with a line end
    const bad = checkField(
      this.kinds[this.field] as number,
      this.fieldBytes,
      this.digits,
      this.dots,
      this.value,
      this.first,
    );
    if (bad !== null) return bad;
    if (this.field + 1 !== this.width) return 'a row of another width';
    this.rows++;
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------

const LF = 10;
const CR = 13;
const QUOTE = 34;
const COMMA = 44;
const DOT = 46;
const REPLACEMENT = Buffer.from('\uFFFD', 'utf8');

/** What a column's plain spelling is. */
const FREE = 0;
const ID = 1;
const COUNT = 2;
const SURVIVED = 3;
const PCLASS = 4;
const SEX = 5;
const DECIMAL = 6;
const PORT = 7;
const CABIN = 8;

const KIND: Record<RawColumn, number> = {
  PassengerId: ID,
  Survived: SURVIVED,
  Pclass: PCLASS,
  Name: FREE,
  Sex: SEX,
  Age: DECIMAL,
  SibSp: COUNT,
  Parch: COUNT,
  Ticket: FREE,
  Fare: DECIMAL,
  Cabin: CABIN,
  Embarked: PORT,
};
const COLUMN_BY_LOWER = new Map<string, RawColumn>(RAW_COLUMNS.map((column) => [column.toLowerCase(), column]));

const bytesValue = (text: string): number => [...Buffer.from(text)].reduce((v, c) => v * 256 + c, 0);
const MALE = bytesValue('male');
const FEMALE = bytesValue('female');

/**
 * Whether one finished field is plain for its column: `bytes` of value, of which `digits` digits and `dots` dots;
 * `value` is the digits read as a number or, for Sex, the bytes themselves; `first` the first byte.
 */
function checkField(
  kind: number,
  bytes: number,
  digits: number,
  dots: number,
  value: number,
  first: number,
): string | null {
  switch (kind) {
    case FREE:
      return null;
    case ID:
      return bytes >= 1 && bytes <= 9 && digits === bytes && value >= 1 ? null : 'a PassengerId not in plain digits';
    case COUNT:
      return bytes >= 1 && bytes <= 9 && digits === bytes ? null : 'a SibSp or Parch not in plain digits';
    case SURVIVED:
      return bytes === 1 && digits === 1 && value <= 1 ? null : 'a Survived other than 0 or 1';
    case PCLASS:
      return bytes === 1 && digits === 1 && value >= 1 && value <= 3 ? null : 'a Pclass other than 1, 2 or 3';
    case SEX:
      return (bytes === 4 && value === MALE) || (bytes === 6 && value === FEMALE)
        ? null
        : 'a Sex other than male or female';
    case DECIMAL:
      return bytes === 0 || (digits > 0 && dots <= 1 && digits + dots === bytes && bytes <= 300)
        ? null
        : 'an Age or Fare other than plain digits';
    case PORT:
      return bytes === 0 || (bytes === 1 && (first === 67 || first === 81 || first === 83))
        ? null
        : 'an Embarked other than C, Q, S or empty';
    case CABIN:
      return bytes === 0 || (first !== 32 && first !== 9) ? null : 'a Cabin starting with a space';
    default:
      return 'an unknown column';
  }
}
