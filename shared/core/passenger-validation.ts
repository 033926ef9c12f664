/**
 * Passenger validation: the field rules of the passenger contract, shared by CSV rows (csv-stream.ts) and JSON
 * records (the API and the CLI). One problem per bad field, worded the same for both:
 * `Pclass "4" is not 1, 2 or 3`.
 *
 * The row path runs once per CSV row at upload speed, so the readers here are char loops before anchored
 * patterns, and `checkPassengerFields` pushes into an array its caller owns (a CSV stream reuses one per file).
 */
import { AppError } from '../errors.ts';
import {
  type LabelledPassenger,
  type Passenger,
  type Pclass,
  type Port,
  RAW_COLUMNS,
  type RawColumn,
  type Sex,
} from './schema.ts';

/** Largest PassengerId, SibSp or Parch accepted: they must fit a Postgres `integer`. */
export const MAX_INT = 2_147_483_647;
const DECIMAL = /^[ \t]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t]*$/;
const INTEGER = /^[ \t]*\+?\d+(?:\.0*)?[ \t]*$/;
const BLANK = /^[ \t]*$/;
const SPACES = /^[ \t]+|[ \t]+$/g;

/** Column positions in the file; -1 for an absent optional column (Survived when not required). */
export type ColumnIndex = Record<RawColumn, number>;

/** Column names by their lower-case spelling (headers and JSON keys match in any case). */
export const COLUMN_BY_LOWER = new Map<string, RawColumn>(RAW_COLUMNS.map((column) => [column.toLowerCase(), column]));
const OPTIONAL_VALUES: ReadonlySet<RawColumn> = new Set(['Age', 'Fare', 'Cabin', 'Embarked']);
/** Positions of the columns in RAW_COLUMNS order (how `parsePassengerRecord` lays out a JSON record). */
const CANONICAL_COLUMNS = Object.fromEntries(RAW_COLUMNS.map((column, i) => [column, i])) as ColumnIndex;

/** A caller's key as it is echoed in a message: JSON-quoted, cut to 40 characters. */
const quotedKey = (key: string): string => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);

/** A passenger as the JSON API takes it (CSV header names): what `parsePassengerRecord` reads back to `p`. */
export function passengerRecord(p: Passenger): Record<string, unknown> {
  return {
    PassengerId: p.passengerId,
    Pclass: p.pclass,
    Name: p.name,
    Sex: p.sex,
    Age: p.age,
    SibSp: p.sibSp,
    Parch: p.parch,
    Ticket: p.ticket,
    Fare: p.fare,
    Cabin: p.cabin,
    Embarked: p.embarked,
  };
}

/**
 * Validates one raw passenger given as JSON (the API and the CLI): keys are CSV header names in any case,
 * values numbers or numeric strings, Age/Fare/Cabin/Embarked may be null, empty or absent.
 * Survived, if present, is ignored: this is a passenger to predict. Throws BAD_REQUEST naming `where` and the field.
 */
export function parsePassengerRecord(record: Record<string, unknown>, where: string): Passenger {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new AppError('BAD_REQUEST', `${where}: expected an object with passenger fields`, { where });
  }
  return readWellTypedPassenger(record, false) ?? readPassengerRecord(record, where);
}

/**
 * The passenger of a record in the form nearly every API call takes (exact header names, numbers as numbers,
 * codes as the contract spells them), without going through text; null for anything else, which the caller
 * then gives to the full reader (`parsePassengerRecord`), so messages and edge cases have one home. Whatever
 * this accepts, the full reader accepts too and reads to an equal passenger (`passenger-validation.test.ts`
 * checks it on many generated records): a number is what its text would read back to, the one exception
 * being -0, whose text "0" reads as 0.
 *
 * `negativeAmounts`: a finite negative Age or Fare is kept as it is (the serving rule, see the service's
 * `parseServingPassenger`) instead of being left to the full reader, which refuses it.
 */
export function readWellTypedPassenger(record: object, negativeAmounts: boolean): Passenger | null {
  let passengerId = -1;
  let pclass = -1;
  let name: string | null = null;
  let sex: Sex | null = null;
  let age: number | null = null;
  let sibSp = -1;
  let parch = -1;
  let ticket: string | null = null;
  let fare: number | null = null;
  let cabin: string | null = null;
  let embarked: Port | null = null;
  const fields = record as Record<string, unknown>;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const value = fields[key];
    switch (key) {
      case 'PassengerId':
        passengerId = wellTypedCount(value, 1);
        if (passengerId === -1) return null;
        break;
      case 'Pclass':
        if (value !== 1 && value !== 2 && value !== 3) return null;
        pclass = value;
        break;
      case 'Name':
        if (typeof value !== 'string') return null;
        name = value;
        break;
      case 'Sex':
        if (value !== 'male' && value !== 'female') return null;
        sex = value;
        break;
      case 'Age':
        if (value !== null && value !== undefined) {
          age = wellTypedAmount(value, negativeAmounts);
          if (age === null) return null;
        }
        break;
      case 'SibSp':
        sibSp = wellTypedCount(value, 0);
        if (sibSp === -1) return null;
        break;
      case 'Parch':
        parch = wellTypedCount(value, 0);
        if (parch === -1) return null;
        break;
      case 'Ticket':
        if (typeof value !== 'string') return null;
        ticket = value;
        break;
      case 'Fare':
        if (value !== null && value !== undefined) {
          fare = wellTypedAmount(value, negativeAmounts);
          if (fare === null) return null;
        }
        break;
      case 'Cabin':
        if (typeof value === 'string') cabin = isBlank(value) ? null : value;
        else if (value !== null && value !== undefined) return null;
        break;
      case 'Embarked':
        if (value === 'S' || value === 'C' || value === 'Q') embarked = value;
        else if (value !== null && value !== undefined && value !== '') return null;
        break;
      case 'Survived':
        break; // ignored, as the full reader ignores it
      default:
        return null;
    }
  }
  if (passengerId === -1 || pclass === -1 || name === null || sex === null || sibSp === -1 || parch === -1) {
    return null;
  }
  if (ticket === null) return null;
  return {
    passengerId,
    pclass: pclass as Pclass,
    name,
    sex,
    age,
    sibSp,
    parch,
    ticket,
    fare,
    cabin,
    embarked,
  };
}

/** A whole number from `min` to MAX_INT given as a number (-0 as 0); else -1. */
function wellTypedCount(value: unknown, min: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= MAX_INT ? value + 0 : -1;
}

/** A finite Age or Fare given as a number (-0 as 0), negative only when `negative` allows it; else null. */
function wellTypedAmount(value: unknown, negative: boolean): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  if (value < 0) return negative ? value : null;
  return value + 0;
}

/**
 * The full reader behind `parsePassengerRecord`: any spelling, any value, one problem per bad field (exported for
 * the test that holds `readWellTypedPassenger` to it).
 */
export function readPassengerRecord(record: Record<string, unknown>, where: string): Passenger {
  const byColumn = new Map<RawColumn, unknown>();
  const keyOf = new Map<RawColumn, string>();
  const found: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    const column = COLUMN_BY_LOWER.get(key.trim().toLowerCase());
    if (column === undefined) continue;
    const earlier = keyOf.get(column);
    // Two spellings of one column (`Pclass` and `pclass`) are ambiguous, as a header naming a column twice is.
    if (earlier !== undefined) found.push(`${column} appears twice (keys ${quotedKey(earlier)} and ${quotedKey(key)})`);
    keyOf.set(column, key);
    byColumn.set(column, value);
  }
  const fields: string[] = [];
  for (const column of RAW_COLUMNS) {
    const value = byColumn.get(column);
    if (column === 'Survived' || value === undefined || value === null) {
      if (column === 'Survived' || OPTIONAL_VALUES.has(column)) fields.push('');
      else found.push(`${column} is missing`);
    } else if (typeof value === 'number') {
      fields.push(String(value));
    } else if (typeof value === 'string') {
      fields.push(value);
    } else {
      found.push(`${column} must be a string or a number, got ${typeof value}`);
    }
  }
  if (found.length === 0) {
    const passenger = checkPassengerFields(fields, CANONICAL_COLUMNS, -1, found);
    if (passenger !== null) return passenger;
  }
  throw new AppError('BAD_REQUEST', `${where}: ${found.join('; ')}`, { where, problems: found });
}

/**
 * The checks shared by CSV rows and JSON records (all columns but Survived). Pushes one problem per bad field
 * (`Pclass "4" is not 1, 2 or 3`) and returns null if there was any; otherwise the passenger, labelled with
 * `survived` unless it is -1.
 */
export function checkPassengerFields(
  fields: readonly string[],
  columns: ColumnIndex,
  survived: number,
  problems: string[],
): Passenger | LabelledPassenger | null {
  const before = problems.length;

  const idText = fields[columns.PassengerId] as string;
  const passengerId = readPassengerId(idText);
  if (passengerId === -1) {
    problems.push(`PassengerId ${quoted(idText)} is not a whole number between 1 and ${MAX_INT}`);
  }

  const pclassText = fields[columns.Pclass] as string;
  const pclass = pclassText === '1' ? 1 : pclassText === '2' ? 2 : pclassText === '3' ? 3 : readCount(pclassText);
  if (pclass !== 1 && pclass !== 2 && pclass !== 3) problems.push(`Pclass ${quoted(pclassText)} is not 1, 2 or 3`);

  const sexText = fields[columns.Sex] as string;
  const sex = sexText === 'male' || sexText === 'female' ? sexText : normalise(sexText).toLowerCase();
  if (sex !== 'male' && sex !== 'female') problems.push(`Sex ${quoted(sexText)} is not male or female`);

  const age = readAmount('Age', fields[columns.Age] as string, problems);
  const sibSp = readCountField('SibSp', fields[columns.SibSp] as string, problems);
  const parch = readCountField('Parch', fields[columns.Parch] as string, problems);
  const fare = readAmount('Fare', fields[columns.Fare] as string, problems);

  const embarkedText = fields[columns.Embarked] as string;
  let embarked: Port | null = null;
  if (embarkedText === 'S' || embarkedText === 'C' || embarkedText === 'Q') embarked = embarkedText;
  else if (!isBlank(embarkedText)) {
    const port = normalise(embarkedText).toUpperCase();
    if (port === 'S' || port === 'C' || port === 'Q') embarked = port;
    else problems.push(`Embarked ${quoted(embarkedText)} is not C, Q, S or empty`);
  }

  if (problems.length > before) return null;
  const cabinText = fields[columns.Cabin] as string;
  const cabin = isBlank(cabinText) ? null : cabinText;
  const name = fields[columns.Name] as string;
  const ticket = fields[columns.Ticket] as string;
  // Two literals, not a spread: each keeps one hidden class, and this runs once per row.
  if (survived === -1) {
    return {
      passengerId,
      pclass: pclass as Pclass,
      name,
      sex: sex as Sex,
      age,
      sibSp,
      parch,
      ticket,
      fare,
      cabin,
      embarked,
    };
  }
  return {
    passengerId,
    pclass: pclass as Pclass,
    name,
    sex: sex as Sex,
    age,
    sibSp,
    parch,
    ticket,
    fare,
    cabin,
    embarked,
    survived: survived as 0 | 1,
  };
}

/** The id, or -1 unless it is a whole number in 1..MAX_INT. */
export function readPassengerId(text: string): number {
  const id = readCount(text);
  return id >= 1 ? id : -1;
}

/**
 * A whole number 0..MAX_INT, or -1. Plain digits are read with a char loop (the common case, several times a
 * row); anything else ("+3", " 3 ", "3.0") goes through the INTEGER pattern.
 */
export function readCount(text: string): number {
  const n = text.length;
  if (n > 0 && n <= 9) {
    let value = 0;
    let i = 0;
    for (; i < n; i++) {
      const digit = text.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
    }
    if (i === n) return value;
  }
  if (!INTEGER.test(text)) return -1;
  const value = Number(text);
  return value <= MAX_INT ? value : -1;
}

function readCountField(column: 'SibSp' | 'Parch', text: string, problems: string[]): number {
  const value = readCount(text);
  if (value === -1) problems.push(`${column} ${quoted(text)} is not a whole number of 0 or more`);
  return value;
}

/** Age and Fare: blank means unknown (null); otherwise a finite decimal number of 0 or more. */
function readAmount(column: 'Age' | 'Fare', text: string, problems: string[]): number | null {
  if (isBlank(text)) return null;
  const value = isPlainDecimal(text) || DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value)) problems.push(`${column} ${quoted(text)} is not a number`);
  else if (value < 0) problems.push(`${column} ${quoted(text)} is negative`);
  return value;
}

/** Digits with at most one dot and at least one digit ("22", "7.25", ".5"): Number() reads it exactly. */
function isPlainDecimal(text: string): boolean {
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46) dots++;
    else return false;
  }
  return digits > 0 && dots <= 1;
}

/** Empty or only spaces and tabs. */
export function isBlank(text: string): boolean {
  if (text === '') return true;
  const first = text.charCodeAt(0);
  return (first === 32 || first === 9) && BLANK.test(text);
}

/** Trims spaces and tabs (not line breaks: a value with a line break in it is never a valid code). */
function normalise(text: string): string {
  return text.replace(SPACES, '');
}

/** A value as it appears in a reason: JSON-quoted (control characters visible), long values cut. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
}
