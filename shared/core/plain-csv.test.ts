/**
 * PlainCsvScanner on its own: the reason it gives for a byte that is not plain inside the free-text fields (Name,
 * Ticket, Cabin, which the scan skips through in one go), whatever the chunks the file arrives in.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PlainCsvScanner, readPlainHeader } from './plain-csv.ts';

const TITANIC = readFileSync(new URL('../../data/titanic.csv', import.meta.url), 'latin1');
const LINES = TITANIC.split('\n').slice(0, 40);

/** Scans `csv` in chunks of `size` bytes: the first reason (with the rows seen before it), or the row count. */
function scan(csv: string, size: number): { reason: string | null; rows: number; bytesWithLines: number } {
  const buf = Buffer.from(csv, 'latin1');
  const header = readPlainHeader(buf);
  if (header === 'more' || 'notPlain' in header) throw new Error(`header: ${JSON.stringify(header)}`);
  const scanner = new PlainCsvScanner(header);
  let bytesWithLines = 0;
  for (let at = header.bytes; at < buf.length; at += size) {
    const chunk = buf.subarray(at, Math.min(buf.length, at + size));
    const reason = scanner.scan(chunk);
    if (reason !== null) return { reason, rows: scanner.rows, bytesWithLines };
    bytesWithLines += scanner.withLines(chunk).length;
  }
  return { reason: scanner.finish(), rows: scanner.rows, bytesWithLines };
}

/** The file with row `row` (1-based data row) edited. */
function edited(row: number, edit: (line: string) => string, lines = LINES): string {
  return lines.map((line, i) => (i === row ? edit(line) : line)).join('\n');
}

const CRLF = LINES.map((l) => `${l}\r`);

const CASES: Array<[string, string, string | null]> = [
  ['the file as it is', LINES.join('\n'), null],
  [
    'a quoted line break in a Name',
    edited(2, (l) => l.replace('Mrs.', 'Mrs.\nX')),
    'a line break inside a quoted field',
  ],
  ['a CR in a quoted Name', edited(2, (l) => l.replace('Mrs.', 'Mrs.\rX')), 'a line break inside a quoted field'],
  ['a stray quote in a Name', edited(2, (l) => l.replace('Mrs.', 'Mrs"')), 'text after a closing quote'],
  ['a doubled quote in a Name', edited(2, (l) => l.replace('Mrs.', 'Mrs ""Lily""')), null],
  ['a quote inside a Ticket', edited(3, (l) => l.replace('STON/O2.', 'STON"O2.')), 'a quote inside an unquoted field'],
  [
    'a bare CR in a Ticket',
    edited(3, (l) => l.replace('STON/O2.', 'STON\rO2.')),
    'a carriage return in a file whose header ends in LF',
  ],
  ['an extra comma in a Cabin', edited(2, (l) => l.replace('C85', 'C8,5')), 'an Embarked other than C, Q, S or empty'],
  ['a Cabin starting with a space', edited(2, (l) => l.replace('C85', ' C85')), 'a Cabin starting with a space'],
  ['a quoted Ticket with a comma', edited(3, (l) => l.replace('STON/O2. 3101282', '"STON, O2"')), null],
  ['a long Name', edited(5, (l) => l.replace('Mr.', `Mr. ${'x'.repeat(70_000)}`)), 'a long row'],
  ['a CRLF file', `${CRLF.join('\n')}\n`, null],
  [
    'an LF row in a CRLF file',
    edited(9, (l) => l.slice(0, -1), CRLF),
    'a row ending in LF in a file whose header ends in CRLF',
  ],
  [
    'a CR inside a Name of a CRLF file',
    edited(2, (l) => l.replace('Mrs.', 'Mrs.\rX'), CRLF),
    'a line break inside a quoted field',
  ],
  [
    'a CR inside a Ticket of a CRLF file',
    edited(3, (l) => l.replace('STON/O2.', 'STON\rO2.'), CRLF),
    'a carriage return inside a row',
  ],
];

describe('PlainCsvScanner', () => {
  it.each(CASES)('%s', (_what, csv, reason) => {
    const whole = scan(csv, 1 << 20);
    expect(whole.reason).toBe(reason);
    // the same answer, at the same row (and for a plain file the same bytes sent), however the bytes are split
    for (const size of [1, 2, 3, 7, 64, 1000]) {
      const split = scan(csv, size);
      expect({ reason: split.reason, rows: split.rows }).toEqual({ reason: whole.reason, rows: whole.rows });
      if (reason === null) expect(split.bytesWithLines).toBe(whole.bytesWithLines);
    }
  });

  it('puts each row line number in front of it', () => {
    const csv = `${LINES.slice(0, 4).join('\n')}\n`;
    const buf = Buffer.from(csv, 'latin1');
    const header = readPlainHeader(buf);
    if (header === 'more' || 'notPlain' in header) throw new Error('header');
    const scanner = new PlainCsvScanner(header);
    const rows = buf.subarray(header.bytes);
    expect(scanner.scan(rows)).toBeNull();
    expect(scanner.withLines(rows).toString('latin1')).toBe(
      LINES.slice(1, 4)
        .map((line, i) => `${i + 2},${line}\n`)
        .join(''),
    );
  });
});
