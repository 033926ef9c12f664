import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CORPUS_DIR, readCorpus } from '../../test/support/bad-csv.ts';
import { AppError } from '../errors.ts';
import { type CsvRecord, MAX_ROW_BYTES, readPassengerCsv, validatePassengerCsv } from './csv-stream.ts';
import type { LabelledPassenger } from './schema.ts';

const CORPUS = CORPUS_DIR;
const TITANIC = new URL('../../data/titanic.csv', import.meta.url);
const HEADER = 'PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked';

const corpus = readCorpus();

async function outcome(source: Parameters<typeof readPassengerCsv>[0], requireSurvived: boolean) {
  try {
    return { result: await readPassengerCsv(source, { requireSurvived }) };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { error: { code: err.code, message: err.message } };
  }
}

/** The same bytes as a stream of `size`-byte chunks (splitting BOMs, CRLFs and multi-byte characters). */
async function* inChunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe('the bad-CSV corpus (data/bad-csv/expected.json)', () => {
  it('has one table entry per file and one file per table entry', () => {
    const files = readdirSync(CORPUS)
      .filter((name) => name.endsWith('.csv'))
      .sort();
    expect(corpus.map((c) => c.file).sort()).toEqual(files);
  });

  it('covers every whole-file error code and every rejection reason', () => {
    const codes = new Set(corpus.flatMap((c) => (c.error ? [c.error.code] : [])));
    expect([...codes].sort()).toEqual(['CSV_EMPTY', 'CSV_HEADER_ONLY', 'CSV_MALFORMED', 'CSV_MISSING_COLUMN']);
    const reasons = corpus.flatMap((c) => (c.rejected ?? []).map((r) => r.reason)).join('\n');
    for (const pattern of [
      /Pclass ".*" is not 1, 2 or 3/,
      /Sex ".*" is not male or female/,
      /Age ".*" is not a number/,
      /Age ".*" is negative/,
      /Fare ".*" is not a number/,
      /Fare ".*" is negative/,
      /SibSp ".*" is not a whole number of 0 or more/,
      /Parch ".*" is not a whole number of 0 or more/,
      /Embarked ".*" is not C, Q, S or empty/,
      /Survived ".*" is not 0 or 1/,
      /PassengerId ".*" is not a whole number between 1 and 2147483647/,
      /PassengerId ".*" duplicates line \d+/,
      /has \d+ fields, the header has 12/,
    ]) {
      expect(reasons).toMatch(pattern);
    }
  });

  for (const entry of corpus) {
    it(`gives the exact expected outcome for ${entry.file} (${entry.case})`, async () => {
      const got = await outcome(readFileSync(new URL(entry.file, CORPUS)), entry.requireSurvived);
      if (entry.error) {
        expect(got).toEqual({ error: entry.error });
        return;
      }
      expect(got.error).toBeUndefined();
      const result = got.result as Awaited<ReturnType<typeof readPassengerCsv>>;
      expect(result.rejected.map(({ line, reason }) => ({ line, reason }))).toEqual(entry.rejected);
      const rows = entry.rows ?? [];
      if (typeof rows[0] === 'number') expect(result.rows.map((r) => r.line)).toEqual(rows);
      else expect(result.rows).toEqual(rows);
    });
  }

  it('gives the same outcome for every corpus file when it arrives in 1- and 7-byte chunks', async () => {
    for (const entry of corpus) {
      const bytes = readFileSync(new URL(entry.file, CORPUS));
      const whole = await outcome(bytes, entry.requireSurvived);
      for (const size of [1, 7]) {
        expect(
          await outcome(inChunks(bytes, size), entry.requireSurvived),
          `${entry.file} in ${size}-byte chunks`,
        ).toEqual(whole);
      }
    }
  });
});

describe('validatePassengerCsv on the Titanic data', () => {
  it('parses data/titanic.csv to 891 valid rows with 342 survivors and nothing rejected', async () => {
    const { rows, rejected } = await readPassengerCsv(readFileSync(TITANIC), { requireSurvived: true });
    expect(rejected).toEqual([]);
    expect(rows).toHaveLength(891);
    expect(rows.filter((r) => (r.passenger as LabelledPassenger).survived === 1)).toHaveLength(342);
    expect(rows[0]).toEqual({
      line: 2,
      passenger: {
        passengerId: 1,
        survived: 0,
        pclass: 3,
        name: 'Braund, Mr. Owen Harris',
        sex: 'male',
        age: 22,
        sibSp: 1,
        parch: 0,
        ticket: 'A/5 21171',
        fare: 7.25,
        cabin: null,
        embarked: 'S',
      },
    });
    expect(rows.at(-1)?.line).toBe(892);
    expect(rows.filter((r) => r.passenger.age === null)).toHaveLength(177);
    expect(rows.filter((r) => r.passenger.embarked === null).map((r) => r.passenger.passengerId)).toEqual([62, 830]);
  });

  it('reads the same rows from a string, a Buffer stream in odd-sized chunks, and a Node Readable', async () => {
    const bytes = readFileSync(TITANIC);
    const fromString = await readPassengerCsv(bytes.toString('utf8'), { requireSurvived: true });
    const fromChunks = await readPassengerCsv(inChunks(bytes, 4093), { requireSurvived: true });
    const fromReadable = await readPassengerCsv(Readable.from(inChunks(bytes, 65536)), { requireSurvived: true });
    expect(fromChunks).toEqual(fromString);
    expect(fromReadable).toEqual(fromString);
  });

  it('yields rows as they are parsed, so a consumer can stop early', async () => {
    const seen: CsvRecord[] = [];
    for await (const record of validatePassengerCsv(readFileSync(TITANIC), { requireSurvived: true })) {
      seen.push(record);
      if (seen.length === 3) break;
    }
    expect(seen.map((r) => r.line)).toEqual([2, 3, 4]);
  });

  it('passes an error of the source through unchanged', async () => {
    async function* failing(): AsyncGenerator<string> {
      yield `${HEADER}\n1,0,3,"A, Mr. B",male,22,1,0,T,7.25,,S\n`;
      throw new Error('socket hang up');
    }
    await expect(readPassengerCsv(failing(), { requireSurvived: true })).rejects.toThrow('socket hang up');
  });
});

describe('validatePassengerCsv edge cases', () => {
  const row = (id: number) => `${id},0,3,"A, Mr. B",male,22,1,0,T,7.25,,S`;

  it('rejects a row longer than MAX_ROW_BYTES as a malformed file naming its line', async () => {
    const long = `${HEADER}\n${row(1)}\n2,0,3,"${'x'.repeat(MAX_ROW_BYTES + 10)}",male,22,1,0,T,7.25,,S\n`;
    expect(await outcome(long, true)).toEqual({
      error: { code: 'CSV_MALFORMED', message: `line 3: the row is longer than ${MAX_ROW_BYTES} bytes` },
    });
  });

  it('names the line of a NUL byte that comes after valid rows', async () => {
    const text = `${HEADER}\n${row(1)}\n${row(2)}\n3,0,3,"A\u0000B",male,22,1,0,T,7.25,,S\n`;
    expect(await outcome(text, true)).toEqual({
      error: {
        code: 'CSV_MALFORMED',
        message: 'line 4: contains a NUL byte: this is binary data or UTF-16 text, not a UTF-8 CSV',
      },
    });
  });

  it('keeps counting lines past blank lines before the header', async () => {
    const { rows } = await readPassengerCsv(`\n\n${HEADER}\n${row(1)}\n`, { requireSurvived: true });
    expect(rows.map((r) => r.line)).toEqual([4]);
  });

  it('accepts PassengerIds above the dense range and still finds their duplicates', async () => {
    const big = 2_000_000_000;
    const { rows, rejected } = await readPassengerCsv(`${HEADER}\n${row(big)}\n${row(5)}\n${row(big)}\n`, {
      requireSurvived: true,
    });
    expect(rows.map((r) => r.passenger.passengerId)).toEqual([big, 5]);
    expect(rejected.map((r) => r.reason)).toEqual([`line 4: PassengerId "${big}" duplicates line 2`]);
  });

  it('gives a rejected row its content re-serialised as CSV', async () => {
    const { rejected } = await readPassengerCsv(`${HEADER}\n1,0,9,"A, ""B"" C",male,22,1,0,T,7.25,,S\n`, {
      requireSurvived: true,
    });
    expect(rejected).toEqual([
      { line: 2, reason: 'line 2: Pclass "9" is not 1, 2 or 3', raw: '1,0,9,"A, ""B"" C",male,22,1,0,T,7.25,,S' },
    ]);
  });
});
