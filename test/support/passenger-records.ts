/**
 * Passenger records as callers could send them, for the tests that hold a fast reader to the full one: Titanic
 * passengers in the API's form, then changed one to three ways each (wrong types, numbers as text, spaces, the
 * case and spacing of keys, extra, missing and repeated keys, negative, -0, fractional, huge and non-finite
 * numbers, long strings).
 */
import { passengerRecord } from '../../shared/core/passenger-validation.ts';
import { createRng, type Rng } from '../../shared/core/rng.ts';
import { type Passenger, RAW_COLUMNS } from '../../shared/core/schema.ts';

const FIELDS = RAW_COLUMNS;

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)] as T;

/** Values of every kind: the generator sets fields to these, or to a changed form of their own value. */
const ODD_VALUES: readonly unknown[] = [
  null,
  undefined,
  true,
  false,
  {},
  [],
  [1],
  '',
  ' ',
  '\t',
  0,
  -0,
  1,
  2,
  3,
  4,
  -1,
  0.5,
  -0.5,
  1.5,
  22,
  -22,
  1e21,
  -1e21,
  2_147_483_647,
  2_147_483_648,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  '1',
  '3',
  ' 3 ',
  '3.0',
  '+3',
  '-3',
  '1e3',
  '-1e3',
  '0x10',
  '22.5',
  '-7.25',
  ' -5 ',
  'NaN',
  'Infinity',
  'male',
  'female',
  'Male',
  ' female ',
  'S',
  'C',
  'Q',
  's',
  ' Q ',
  'X',
  'x'.repeat(10_000),
  'Smith, Mr. John',
];

/** A changed form of a value: as text, padded, re-cased, negated, halved. */
function variant(rng: Rng, value: unknown): unknown {
  const text = value === null || value === undefined ? '' : String(value);
  switch (rng.int(8)) {
    case 0:
      return text;
    case 1:
      return ` ${text}\t`;
    case 2:
      return text.toUpperCase();
    case 3:
      return text.toLowerCase();
    case 4:
      return typeof value === 'number' ? -value : Number(text);
    case 5:
      return typeof value === 'number' ? value / 2 : `${text}${text}`;
    case 6:
      return typeof value === 'number' ? value * 1e300 : text.repeat(50);
    default:
      return typeof value === 'number' ? value + 0.25 : Number.NaN;
  }
}

/** A key spelled another way: lower or upper case, padded. */
function respelled(rng: Rng, key: string): string {
  return pick(rng, [key.toLowerCase(), key.toUpperCase(), ` ${key}`, `${key} `, `\t${key.toLowerCase()}`]);
}

/** One changed record (the input is not modified). */
function changed(rng: Rng, base: Record<string, unknown>): Record<string, unknown> {
  let entries = Object.entries(base);
  const changes = 1 + rng.int(3);
  for (let c = 0; c < changes; c++) {
    const i = rng.int(entries.length);
    const [key, value] = entries[i] as [string, unknown];
    switch (rng.int(9)) {
      case 0:
      case 1:
        entries[i] = [key, pick(rng, ODD_VALUES)];
        break;
      case 2:
      case 3:
        entries[i] = [key, variant(rng, value)];
        break;
      case 4:
        entries[i] = [respelled(rng, key), value];
        break;
      case 5:
        entries = entries.filter((_, j) => j !== i);
        break;
      case 6:
        entries.push([pick(rng, ['extra', 'survived', 'Survived', 'notes', '']), pick(rng, ODD_VALUES)]);
        break;
      case 7:
        // the same column twice, under another spelling
        entries.push([respelled(rng, pick(rng, FIELDS)), value]);
        break;
      default:
        entries.push([pick(rng, FIELDS), pick(rng, ODD_VALUES)]);
        break;
    }
  }
  if (rng.int(4) === 0) entries.reverse();
  return Object.fromEntries(entries);
}

/**
 * `n` records from `passengers` (a fifth as they are, some with Age, Fare, Cabin or Embarked null or absent, or
 * Survived added; the rest changed), the same for a seed.
 */
export function generatedRecords(passengers: readonly Passenger[], n: number, seed: number): Record<string, unknown>[] {
  const rng = createRng(seed);
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const base = passengerRecord(pick(rng, passengers));
    const kind = rng.int(10);
    if (kind === 0) out.push(base);
    else if (kind === 1) {
      const optional = pick(rng, ['Age', 'Fare', 'Cabin', 'Embarked']);
      if (rng.int(2) === 0) base[optional] = null;
      else delete base[optional];
      out.push(base);
    } else if (kind === 2) out.push({ ...base, Survived: pick(rng, [0, 1, null, 'yes', {}]) });
    else if (kind === 3) out.push({ ...base, Age: -(rng.int(100) + 0.5), Fare: pick(rng, [-500, -0, 0, 1e6]) });
    else out.push(changed(rng, base));
  }
  return out;
}

/** What a reader made of a record: the passenger (with its key order), or the error's code, message and details. */
export function outcome(read: () => unknown): unknown {
  try {
    const value = read();
    return { value, keys: Object.keys(value as object) };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; details?: unknown };
    return { code: e.code, message: e.message, details: e.details };
  }
}
