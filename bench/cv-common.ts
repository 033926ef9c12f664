/**
 * What the cross-validation benches (recipe-cv, columns, served-groups) share: their common command-line options
 * and the labelled passengers of data/titanic.csv, with the labels shuffled for the leakage check.
 */
import { readFileSync } from 'node:fs';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import { createRng } from '../shared/core/rng.ts';
import type { LabelledPassenger } from '../shared/core/schema.ts';

/** `--repeats --folds --seed` of the repeated k-fold, `--trees --min-samples --features` of the fixed forest. */
export const CV_OPTIONS = {
  repeats: { type: 'string', default: '10' },
  folds: { type: 'string', default: '5' },
  seed: { type: 'string', default: '2026' },
  trees: { type: 'string', default: '100' },
  'min-samples': { type: 'string', default: '3' },
  features: { type: 'string', default: '9' },
} as const;

/**
 * The passengers of data/titanic.csv; with `permuteSeed`, their labels shuffled (Fisher-Yates, seeded): a
 * leak-free recipe then scores near chance.
 */
export async function titanicPassengers(permuteSeed?: number): Promise<LabelledPassenger[]> {
  const { rows } = await readPassengerCsv(readFileSync(new URL('../data/titanic.csv', import.meta.url)), {
    requireSurvived: true,
  });
  const passengers = rows.map((r) => r.passenger as LabelledPassenger);
  if (permuteSeed === undefined) return passengers;
  const rng = createRng(permuteSeed);
  const labels = passengers.map((p) => p.survived);
  for (let i = labels.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [labels[i], labels[j]] = [labels[j] as 0 | 1, labels[i] as 0 | 1];
  }
  return passengers.map((p, i) => ({ ...p, survived: labels[i] as 0 | 1 }));
}
