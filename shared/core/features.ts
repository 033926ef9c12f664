/**
 * Feature recipe v1 (the seed's): raw `Passenger` -> 11 numbers in FEATURE_NAMES order.
 *
 * `fitRecipe` learns the fills (Age median, Fare median, Embarked mode) from the training rows it is given and
 * nothing else; `featurize` applies a fitted recipe to any passenger. Training and serving both call `featurize`
 * with the recipe stored in the model artifact, so the two can never compute features differently.
 */
import { AppError } from '../errors.ts';
import { FEATURE_NAMES, type FeatureName, type Passenger, type Port, type Sex } from './schema.ts';

export interface FeatureRecipe {
  version: 1;
  featureNames: FeatureName[];
  fills: { age: number; fare: number; embarked: Port };
  encoders: {
    sex: Record<Sex, number>;
    embarked: Record<Port, number>;
    title: Record<string, number>;
    titleOther: number;
  };
}

const SEX_CODES: Record<Sex, number> = { male: 0, female: 1 };
const PORT_CODES: Record<Port, number> = { C: 0, Q: 1, S: 2 };
const TITLE_CODES: Record<string, number> = { Mr: 0, Miss: 1, Mrs: 2, Master: 3 };
const TITLE_OTHER = 4;
const PORTS: readonly Port[] = ['C', 'Q', 'S'];

/** The seed's pattern, first match wins: "Duff Gordon, Lady. (Lucille ...)" -> "Lady". */
const TITLE_PATTERN = / ([A-Za-z]+)\./;

export function extractTitle(name: string): string | null {
  const match = TITLE_PATTERN.exec(name);
  return match?.[1] ?? null;
}

/**
 * Learns the fills from `rows` (the training split only: fitting on test or serving rows would leak).
 * Throws TRAINING_DATA_UNUSABLE when a fill cannot be learned (no rows, or no row has an Age, a Fare or a port).
 */
export function fitRecipe(rows: readonly Passenger[]): FeatureRecipe {
  const ages: number[] = [];
  const fares: number[] = [];
  const portCounts: Record<Port, number> = { C: 0, Q: 0, S: 0 };
  for (const row of rows) {
    if (row.age !== null) ages.push(row.age);
    if (row.fare !== null) fares.push(row.fare);
    if (row.embarked !== null) portCounts[row.embarked]++;
  }
  const missing = [
    ages.length === 0 ? 'Age' : null,
    fares.length === 0 ? 'Fare' : null,
    PORTS.every((port) => portCounts[port] === 0) ? 'Embarked' : null,
  ].filter((column) => column !== null);
  if (missing.length > 0) {
    throw new AppError(
      'TRAINING_DATA_UNUSABLE',
      rows.length === 0
        ? 'cannot fit the feature recipe on zero rows'
        : `cannot fit the feature recipe: no training row has a value for ${missing.join(', ')}`,
      { rows: rows.length, missing },
    );
  }
  return {
    version: 1,
    featureNames: [...FEATURE_NAMES],
    fills: { age: median(ages), fare: median(fares), embarked: modePort(portCounts) },
    encoders: {
      sex: { ...SEX_CODES },
      embarked: { ...PORT_CODES },
      title: { ...TITLE_CODES },
      titleOther: TITLE_OTHER,
    },
  };
}

/** The 11 features of one passenger, in `recipe.featureNames` order (= FEATURE_NAMES). */
export function featurize(recipe: FeatureRecipe, p: Passenger): number[] {
  const { fills, encoders } = recipe;
  const age = p.age ?? fills.age;
  const fare = p.fare ?? fills.fare;
  const familySize = p.sibSp + p.parch + 1;
  const title = extractTitle(p.name);
  const titleCode =
    title !== null && Object.hasOwn(encoders.title, title) ? (encoders.title[title] as number) : encoders.titleOther;
  return [
    p.pclass,
    encoders.sex[p.sex],
    age,
    fare,
    encoders.embarked[p.embarked ?? fills.embarked],
    familySize,
    familySize === 1 ? 1 : 0,
    p.cabin !== null && p.cabin !== '' ? 1 : 0,
    titleCode,
    p.pclass * fare,
    age * fare,
  ];
}

export function transform(recipe: FeatureRecipe, rows: readonly Passenger[]): number[][] {
  return rows.map((row) => featurize(recipe, row));
}

/** numpy/pandas median: the middle value, or the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** pandas `mode()[0]`: the most frequent port, ties going to the alphabetically first. */
function modePort(counts: Record<Port, number>): Port {
  let best: Port = 'C';
  for (const port of PORTS) if (counts[port] > counts[best]) best = port;
  return best;
}
