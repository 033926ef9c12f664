/**
 * The load's fast path (Postgres parses a plain CSV itself) against the validator's path, on real Postgres: for
 * every file, both must store the same passengers on the same lines, the same rejected rows, or fail with the same
 * error. The files are the Titanic CSV in many spellings and with one field or one byte changed.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/pg.ts';
import { validatePassengerCsv } from '../../core/csv-stream.ts';
import { createRng } from '../../core/rng.ts';
import { AppError } from '../../errors.ts';
import { type CsvFile, loadDataset, readRejectedRows } from './datasets.ts';
import { migrate } from './migrations.ts';

const TITANIC = readFileSync(new URL('../../../data/titanic.csv', import.meta.url), 'utf8');
const [HEADER, ...ROWS] = TITANIC.trimEnd().split('\n') as [string, ...string[]];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await migrate(db.pool);
});
afterAll(async () => {
  await db?.drop();
});

let generation = 0;
const options = { maxRejectedShare: 1, startedAt: new Date('2026-01-01T00:00:00Z') };

async function* chunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** Loads `csv` one way and returns what was stored (or the error), and which parser read it. */
async function load(csv: string | Buffer, fast: boolean, chunkSize = 1 << 16) {
  const bytes = Buffer.isBuffer(csv) ? csv : Buffer.from(csv, 'utf8');
  const source = { bucket: 'b', object: 'o.csv', generation: String(++generation) };
  const records = () => validatePassengerCsv(chunks(bytes, chunkSize), { requireSurvived: true });
  const file: CsvFile = { bytes: () => chunks(bytes, chunkSize), records };
  let parser = 'node';
  let notPlain: string | undefined;
  try {
    const out = await loadDataset(db.pool, source, fast ? file : records(), {
      ...options,
      onParser: (name, why) => {
        parser = name;
        notPlain = why;
      },
    });
    const { rows } = await db.pool.query(
      `SELECT passenger_id, line, survived, pclass, name, sex, age, sib_sp, parch, ticket, fare, cabin, embarked
       FROM passengers WHERE dataset_id = $1 ORDER BY passenger_id`,
      [out.datasetId],
    );
    const rejected = await readRejectedRows(db.pool, out.datasetId);
    return {
      parser,
      notPlain,
      stored: { rows: out.rows, rejected: out.rejected, passengers: rows, rejectedRows: rejected },
    };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { parser, notPlain, stored: { error: { code: err.code, message: err.message } } };
  }
}

const csvOf = (rows: string[], header = HEADER, eol = '\n') => `${header}${eol}${rows.join(eol)}${eol}`;

describe('the plain-CSV fast path of the load', () => {
  it('loads the Titanic CSV through Postgres with exactly the passengers and lines of the validator', async () => {
    const fast = await load(TITANIC, true);
    const slow = await load(TITANIC, false);
    expect(fast.parser).toBe('postgres');
    expect(fast.stored).toEqual(slow.stored);
    expect(fast.stored).toMatchObject({ rows: 891, rejected: 0 });
  });

  it('takes CRLF, a BOM, quoted numbers, reordered and lower-case headers and 1-byte chunks the same way', async () => {
    const cols = HEADER.split(',');
    const order = [3, 0, 11, 1, 2, 4, 5, 6, 7, 8, 9, 10];
    const reordered = ROWS.slice(0, 60).map((row) => {
      const fields = row.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((f) => f.replace(/,$/, ''));
      return order.map((i) => fields[i]).join(',');
    });
    const variants: Array<[string, string | Buffer, number?]> = [
      ['CRLF', csvOf(ROWS.slice(0, 60), HEADER, '\r\n')],
      ['BOM', `\uFEFF${csvOf(ROWS.slice(0, 60))}`],
      ['no final line end', csvOf(ROWS.slice(0, 60)).trimEnd()],
      ['quoted numbers', csvOf(ROWS.slice(0, 60).map((r) => r.replace(/^(\d+),(\d),(\d)/, '"$1","$2","$3"')))],
      ['reordered lower-case header', csvOf(reordered, order.map((i) => cols[i]!.toLowerCase()).join(','))],
      ['1-byte chunks', csvOf(ROWS.slice(0, 60)), 1],
      ['3-byte chunks with a BOM and CRLF', `\uFEFF${csvOf(ROWS.slice(0, 60), HEADER, '\r\n')}`, 3],
    ];
    for (const [what, csv, size] of variants) {
      const fast = await load(csv, true, size);
      const slow = await load(csv, false, size);
      expect({ what, parser: fast.parser, notPlain: fast.notPlain }).toEqual({
        what,
        parser: 'postgres',
        notPlain: undefined,
      });
      expect({ what, ...fast.stored }).toEqual({ what, ...slow.stored });
    }
  });

  it('stores what the validator stores for Titanic rows with one field or one byte changed', async () => {
    const tricky: Record<number, string[]> = {
      0: ['0', '007', ' 7', '+7', '7.0', '-7', '1e1', '0x1f', '2147483648', '12345678901', '', '"9"', '1'],
      1: ['2', ' 1', '1.0', '', '"0"', 'yes', '-0'],
      2: ['4', '0', ' 2', '2.0', '"3"', '+1', 'III'],
      4: ['MALE', ' male', 'female ', 'f', '"female"', ''],
      5: ['', '""', '-0', '0x10', '1e2', 'NaN', 'Infinity', '22.', '.5', '.', '1.2.3', ' 22', '22 ', '1e400', '"22"'],
      6: ['-0', '0x1', '1.0', ' 1', '', '"2"', '+1'],
      9: ['', '""', '7,25', '$7', '-7.25', '0x10', '7.2500', '00.5'],
      10: ['', '""', ' ', ' C85', 'C85 ', '"B5, B6"', '\t'],
      11: ['', '""', 's', ' S', 'X', '"Q"', 'SC'],
    };
    const rng = createRng(14);
    const base = ROWS.slice(0, 30);
    const files: Array<[string, string | Buffer]> = [];
    for (const [column, values] of Object.entries(tricky)) {
      for (const value of values) {
        const rows = [...base];
        const at = 1 + rng.int(rows.length - 1);
        const fields = rows[at]!.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((f) => f.replace(/,$/, ''));
        fields[Number(column)] = value.includes(',') && !value.startsWith('"') ? `"${value}"` : value;
        rows[at] = fields.slice(0, 12).join(',');
        files.push([`column ${column} = ${JSON.stringify(value)}`, csvOf(rows)]);
      }
    }
    const rows = (edit: (r: string[]) => void) => {
      const r = [...base];
      edit(r);
      return csvOf(r);
    };
    files.push(
      ['a repeated PassengerId', rows((r) => r.push(r[3]!))],
      ['a blank line', rows((r) => r.splice(5, 0, ''))],
      ['a trailing blank line', `${csvOf(base)}\n`],
      ['an extra field', rows((r) => (r[4] += ',x'))],
      ['a missing field', rows((r) => (r[4] = r[4]!.slice(0, r[4]!.lastIndexOf(','))))],
      ['a stray quote', rows((r) => (r[4] = r[4]!.replace('Mr.', 'Mr"')))],
      ['text after a closing quote', rows((r) => (r[4] = r[4]!.replace('",', '"x,')))],
      ['a quoted line break', rows((r) => (r[4] = r[4]!.replace('Mr.', 'Mr.\nJr')))],
      ['a bare CR', rows((r) => (r[4] = r[4]!.replace('Mr.', 'Mr.\r')))],
      ['a CRLF row in an LF file', rows((r) => (r[4] += '\r'))],
      ['an unterminated quote', `${csvOf(base)}1000,0,3,"Open`],
      ['U+FFFD in a name', rows((r) => (r[4] = r[4]!.replace('Mr.', 'Mr.\uFFFD')))],
      ['a NUL byte', rows((r) => (r[4] = r[4]!.replace('Mr.', 'Mr.\0')))],
      [
        'an unknown column',
        csvOf(
          base.map((r) => `${r},x`),
          `${HEADER},Extra`,
        ),
      ],
      ['a header only', `${HEADER}\n`],
      ['a row of 70,000 bytes', rows((r) => (r[4] = r[4]!.replace('Mr.', `Mr.${'x'.repeat(70_000)}`)))],
    );
    const bad = Buffer.from(csvOf(base));
    bad[bad.indexOf('Mr.') + 1] = 0xff;
    files.push(['a byte that is not UTF-8', bad]);

    const parsers: Record<string, number> = {};
    for (const [what, csv] of files) {
      const fast = await load(csv, true);
      const slow = await load(csv, false);
      parsers[fast.parser] = (parsers[fast.parser] ?? 0) + 1;
      expect({ what, ...fast.stored }).toEqual({ what, ...slow.stored });
    }
    // Both paths were exercised: plain spellings such as "007" or "22." go through Postgres.
    expect(parsers.postgres).toBeGreaterThanOrEqual(10);
    expect(parsers.node).toBeGreaterThanOrEqual(60);
  }, 120_000);
});
