/** The Titanic data as the training code sees it (recipe v1, seeded 80/20 split), for the forest tests. */
import { readFileSync } from 'node:fs';
import { readPassengerCsv } from '../../shared/core/csv-stream.ts';
import { type FeatureRecipe, fitRecipe, transform } from '../../shared/core/features.ts';
import type { LabelledPassenger } from '../../shared/core/schema.ts';
import { smote } from '../../shared/core/smote.ts';
import { stratifiedSplit } from '../../shared/core/split.ts';
import type { TrainingInput } from '../../shared/core/training.ts';

export const TITANIC_CSV = new URL('../../data/titanic.csv', import.meta.url);

export interface TitanicData {
  passengers: LabelledPassenger[];
  recipe: FeatureRecipe;
  /** Every row, featurized with the recipe fitted on the training split. */
  X: number[][];
  y: number[];
  input: TrainingInput;
  /** Training split + its SMOTE rows (what the refit sees). */
  fit: { X: number[][]; y: number[] };
}

export async function loadTitanic(seed = 42): Promise<TitanicData> {
  const { rows } = await readPassengerCsv(readFileSync(TITANIC_CSV, 'utf8'), { requireSurvived: true });
  const passengers = rows.map((r) => r.passenger as LabelledPassenger);
  const y = passengers.map((p) => p.survived as number);
  const split = stratifiedSplit(y, { testSize: 0.2, seed });
  const recipe = fitRecipe(split.train.map((i) => passengers[i] as LabelledPassenger));
  const X = transform(recipe, passengers);
  const pick = (idx: number[]) => ({ X: idx.map((i) => X[i] as number[]), y: idx.map((i) => y[i] as number) });
  const train = pick(split.train);
  const synthetic = smote(train.X, train.y, { seed });
  return {
    passengers,
    recipe,
    X,
    y,
    input: { featureNames: [...recipe.featureNames], train, synthetic, test: pick(split.test) },
    fit: { X: [...train.X, ...synthetic.X], y: [...train.y, ...synthetic.y] },
  };
}
