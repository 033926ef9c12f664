/**
 * Datasets that attack the labels of data/titanic.csv, and a legitimately larger one, as CSV text: what issue 11's
 * closing note uploads. Seeded, so every run builds the same files.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { createRng, shuffleInPlace } from '../../shared/core/rng.ts';
import { RAW_COLUMNS } from '../../shared/core/schema.ts';

export const TITANIC_CSV_TEXT = readFileSync(new URL('../../data/titanic.csv', import.meta.url), 'utf8');

type Row = Record<string, string>;

const HEADER = RAW_COLUMNS;

function rows(): Row[] {
  return parse(TITANIC_CSV_TEXT, { columns: true, bom: true }) as Row[];
}

const cell = (v: string): string => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

export function toCsv(data: readonly Row[]): string {
  return `${[HEADER.join(','), ...data.map((r) => HEADER.map((h) => cell(r[h] ?? '')).join(','))].join('\n')}\n`;
}

export type AttackName = 'flipped' | 'shuffled' | 'all-survived' | 'sexes-swapped';

export const ATTACKS: readonly AttackName[] = ['flipped', 'shuffled', 'all-survived', 'sexes-swapped'];

/** data/titanic.csv with its labels attacked. */
export function attackedRows(attack: AttackName, seed = 11): Row[] {
  const data = rows();
  switch (attack) {
    case 'flipped':
      return data.map((r) => ({ ...r, Survived: r.Survived === '1' ? '0' : '1' }));
    case 'shuffled': {
      const labels = shuffleInPlace(
        data.map((r) => r.Survived as string),
        createRng(seed),
      );
      return data.map((r, i) => ({ ...r, Survived: labels[i] as string }));
    }
    case 'all-survived':
      return data.map((r) => ({ ...r, Survived: '1' }));
    case 'sexes-swapped': {
      // Each man gets the label of a woman and each woman of a man (drawn with replacement, seeded).
      const rng = createRng(seed);
      const bySex = (sex: string) => data.filter((r) => r.Sex === sex).map((r) => r.Survived as string);
      const men = bySex('male');
      const women = bySex('female');
      const draw = (from: string[]) => from[rng.int(from.length)] as string;
      return data.map((r) => ({ ...r, Survived: r.Sex === 'male' ? draw(women) : draw(men) }));
    }
  }
}

/**
 * data/titanic.csv plus `extra` passengers resampled from it (with replacement, seeded) under fresh PassengerIds:
 * more correctly labelled rows from the same population.
 */
export function largerLegitRows(extra = 400, seed = 5): Row[] {
  const data = rows();
  const rng = createRng(seed);
  let nextId = Math.max(...data.map((r) => Number(r.PassengerId))) + 1;
  const added = Array.from({ length: extra }, () => ({
    ...(data[rng.int(data.length)] as Row),
    PassengerId: String(nextId++),
  }));
  return [...data, ...added];
}

/** A bootstrap resample of data/titanic.csv with fresh ids (a new sample of the same population). */
export function bootstrapRows(n: number, seed: number): Row[] {
  const data = rows();
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, i) => ({
    ...(data[rng.int(data.length)] as Row),
    PassengerId: String(100_000 + i),
  }));
}
