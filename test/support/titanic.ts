/** The Titanic data as the training code sees it (recipe v1, seeded 80/20 split), for the forest tests. */
import { readFileSync } from 'node:fs';
import { readPassengerCsv } from '../../shared/core/csv-stream.ts';
import { type FeatureRecipe, transform } from '../../shared/core/features.ts';
import { prepareFeatureSet, resolveFeatureSetOptions, trainingInputOf } from '../../shared/core/pipeline.ts';
import type { LabelledPassenger, RecipeVersion } from '../../shared/core/schema.ts';
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

export async function loadTitanic(seed = 42, recipeVersion: RecipeVersion = 1): Promise<TitanicData> {
  const { rows } = await readPassengerCsv(readFileSync(TITANIC_CSV, 'utf8'), { requireSurvived: true });
  const passengers = rows.map((r) => r.passenger as LabelledPassenger);
  const prepared = prepareFeatureSet(passengers, resolveFeatureSetOptions({ splitSeed: seed, recipeVersion }));
  const { recipe, train, synthetic } = prepared;
  return {
    passengers,
    recipe,
    X: transform(recipe, passengers),
    y: passengers.map((p) => p.survived),
    input: trainingInputOf(prepared),
    fit: { X: [...train.X, ...synthetic.X], y: [...train.y, ...synthetic.y] },
  };
}
