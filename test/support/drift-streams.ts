/**
 * Passenger streams for calibrating and testing the drift detectors: the reference a model trained on
 * data/titanic.csv carries (recipe v1 fitted on the seeded 80/20 split's training rows, as the process function
 * does; recipe v1 unless asked for v2), in-distribution passengers drawn at random from the whole file, and the four shifts of issue 12
 * applied to the raw passengers before the recipe turns them into features (as the service would see them).
 */
import { readFileSync } from 'node:fs';
import { readPassengerCsv } from '../../shared/core/csv-stream.ts';
import type { DriftReference } from '../../shared/core/drift.ts';
import { type FeatureRecipe, featurize, fitRecipe } from '../../shared/core/features.ts';
import type { Rng } from '../../shared/core/rng.ts';
import {
  FEATURE_KINDS,
  type FeatureName,
  type LabelledPassenger,
  type Passenger,
  type RecipeVersion,
} from '../../shared/core/schema.ts';
import { stratifiedSplit } from '../../shared/core/split.ts';

export const TITANIC_CSV = new URL('../../data/titanic.csv', import.meta.url);

export interface DriftWorld {
  passengers: LabelledPassenger[];
  recipe: FeatureRecipe;
  reference: DriftReference;
  /** Indices of the passengers that are not in the reference (the held-out split). */
  heldOut: number[];
  /** Features of every passenger, in recipe order. */
  features: number[][];
}

/** The reference of a model trained on data/titanic.csv with split seed `seed` (the pipeline's default is 42). */
export async function loadDriftWorld(seed = 42, recipeVersion: RecipeVersion = 1): Promise<DriftWorld> {
  const { rows } = await readPassengerCsv(readFileSync(TITANIC_CSV, 'utf8'), { requireSurvived: true });
  const passengers = rows.map((r) => r.passenger as LabelledPassenger);
  return driftWorldOf(passengers, seed, recipeVersion);
}

/** The world of split `seed` (test share 0.2) and recipe `recipeVersion` (v2's group features included). */
export function driftWorldOf(
  passengers: LabelledPassenger[],
  seed: number,
  recipeVersion: RecipeVersion = 1,
): DriftWorld {
  const split = stratifiedSplit(
    passengers.map((p) => p.survived),
    { testSize: 0.2, seed },
  );
  const recipe = fitRecipe(
    split.train.map((i) => passengers[i]!),
    recipeVersion,
  );
  const features = passengers.map((p) => featurize(recipe, p));
  const names = recipe.featureNames as FeatureName[];
  return {
    passengers,
    recipe,
    heldOut: split.test,
    features,
    reference: {
      featureNames: names,
      featureTypes: names.map((name) => FEATURE_KINDS[name]),
      columns: names.map((_, f) => split.train.map((i) => features[i]![f]!)),
    },
  };
}

export type ShiftName = 'age+25' | 'fare*3' | 'embarked-Q' | 'old-rich-first-class';
export const SHIFTS: readonly ShiftName[] = ['age+25', 'fare*3', 'embarked-Q', 'old-rich-first-class'];

/**
 * A shifted passenger made from an in-distribution one:
 * - `age+25`: ages 25 years older (a missing age stays missing, so the recipe fills it with the median);
 * - `fare*3`: fares three times higher (a missing fare stays missing);
 * - `embarked-Q`: everyone embarked at Queenstown;
 * - `old-rich-first-class`: first class, aged 55 to 80, paying a first-class fare (drawn from the file's
 *   first-class fares) doubled, with a cabin.
 */
export function shiftPassenger(world: DriftWorld, base: Passenger, shift: ShiftName, rng: Rng): Passenger {
  switch (shift) {
    case 'age+25':
      return { ...base, age: base.age === null ? null : base.age + 25 };
    case 'fare*3':
      return { ...base, fare: base.fare === null ? null : base.fare * 3 };
    case 'embarked-Q':
      return { ...base, embarked: 'Q' };
    case 'old-rich-first-class': {
      const firstClass = world.passengers.filter((p) => p.pclass === 1 && p.fare !== null);
      const fare = firstClass[rng.int(firstClass.length)]!.fare! * 2;
      return { ...base, pclass: 1, age: 55 + 25 * rng.next(), fare, cabin: base.cabin ?? 'C85' };
    }
  }
}

/** A stream of feature rows: in distribution (a random passenger of the file), or shifted. */
export function sampler(world: DriftWorld, rng: Rng): { normal(): number[]; shifted(shift: ShiftName): number[] } {
  const n = world.passengers.length;
  return {
    normal: () => world.features[rng.int(n)]!,
    shifted: (shift) => featurize(world.recipe, shiftPassenger(world, world.passengers[rng.int(n)]!, shift, rng)),
  };
}
