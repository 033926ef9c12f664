/**
 * The training pipeline's sequence and its options, in one place.
 *
 * - `prepareFeatureSet`: stratified split -> recipe fitted on the training split -> transform -> SMOTE on the
 *   training split. The `process` function, the `train` CLI, the service's test kits and the core's test data
 *   all call it, so the sequence is written once.
 * - `resolveFeatureSetOptions` / `resolveSearchOptions`: every option resolved into a `Required<...>` object, once.
 *   The defaults live here and nowhere else; the search and training take resolved options only.
 * - `featureSetVersionFor` / `modelVersionFor`: versions hashed from the resolved options (the search space
 *   included), so changing a default changes the version instead of returning a model trained before the change.
 */
import { createHash } from 'node:crypto';
import { excludeMembers, type FeatureRecipe, fitRecipe, transform, usesLabels } from './features.ts';
import type { LabelledPassenger, RecipeVersion } from './schema.ts';
import type { FoldView, SearchSpace } from './search.ts';
import { smote } from './smote.ts';
import { stratifiedSplit } from './split.ts';
import type { Matrices, TrainingInput } from './training.ts';

// ---------------------------------------------------------------------------------------------- options

export interface FeatureSetOptions {
  /** Feature recipe version. */
  recipeVersion?: RecipeVersion;
  /** Share of rows held out for testing (TEST_SIZE). */
  testSize?: number;
  /** Seeds the split and the SMOTE rows (SPLIT_SEED). */
  splitSeed?: number;
  /** SMOTE neighbours (imbalanced-learn's default 5). */
  smoteK?: number;
}
export type ResolvedFeatureSetOptions = Required<FeatureSetOptions>;

export const FEATURE_SET_DEFAULTS: Readonly<ResolvedFeatureSetOptions> = {
  recipeVersion: 2,
  testSize: 0.2,
  splitSeed: 42,
  smoteK: 5,
};

export interface SearchSettings {
  /** Number of candidates drawn from the space (SEARCH_CANDIDATES). */
  candidates?: number;
  /** Folds of one stratified k-fold pass. */
  folds?: number;
  /** Stratified k-fold passes, each shuffled with its own seed. */
  repeats?: number;
  /** SEARCH_SEED: seeds the candidates, the folds, the fold SMOTE rows and the forests. */
  seed?: number;
  space?: SearchSpace;
}
export type ResolvedSearchSettings = Required<SearchSettings>;

/**
 * The default space. Tree counts of 100-150: on the Titanic training split, candidates with 200 trees scored no
 * better in CV than those with 100-150, and cost a third more (likewise depth 16 against depth <= 12);
 * `maxFeatures` is a per-tree column count (the library draws columns per tree, not per split; values above a
 * recipe's feature count are clipped to it); `gainThreshold` and `minNumSamples` are what mostly decide the tree
 * size, so both are searched. No `maxFeaturesPerSplit` axis: per-split column draws (every column per tree, 4, 6
 * or 9 per split) gained nothing beyond the sd of the paired differences in 10 x 5-fold CV (docs/training.md).
 *
 * `columnSets`: a candidate uses every column, or only sex, title and the woman-child group outcome (the inputs of
 * the published woman-child-group rule). In 10 x 5 repeated CV on data/titanic.csv (same folds, same fixed
 * forest, `npm run bench:columns`), that subset scored above every column; the search decides per upload.
 * Recipe v1 has no group outcome, so its candidates all use every column (and are the ones they always were).
 */
export const DEFAULT_SPACE: SearchSpace = {
  nEstimators: [100, 120, 150],
  maxFeatures: [4, 5, 6, 7, 8, 9],
  maxDepth: [6, 8, 10, 12],
  minNumSamples: [2, 3, 5, 8],
  gainThreshold: [0, 0.001, 0.005, 0.01],
  columnSets: [null, ['Sex', 'Title', 'GroupWcOutcome']],
};

export const SEARCH_DEFAULTS: Readonly<ResolvedSearchSettings> = {
  candidates: 10,
  folds: 5,
  repeats: 2,
  seed: 42,
  space: DEFAULT_SPACE,
};

/** Drops the keys whose value is `undefined`, so they do not hide a default when spread. */
function given<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function resolveFeatureSetOptions(
  options: FeatureSetOptions = {},
  defaults: Readonly<ResolvedFeatureSetOptions> = FEATURE_SET_DEFAULTS,
): ResolvedFeatureSetOptions {
  return { ...defaults, ...given(options) };
}

export function resolveSearchOptions(
  options: SearchSettings = {},
  defaults: Readonly<ResolvedSearchSettings> = SEARCH_DEFAULTS,
): ResolvedSearchSettings {
  return { ...defaults, ...given(options) };
}

// ---------------------------------------------------------------------------------------------- versions

function shortHash(value: unknown, length: number): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, length);
}

/** `fs-<datasetId>-r<recipe>-<hash of the resolved feature-set options>`: same inputs, same version. */
export function featureSetVersionFor(
  datasetId: string,
  options: FeatureSetOptions = {},
  defaults?: Readonly<ResolvedFeatureSetOptions>,
): string {
  const resolved = resolveFeatureSetOptions(options, defaults);
  const { recipeVersion, testSize, splitSeed, smoteK } = resolved;
  // recipe v1 keeps the hash its feature sets always had (seed, testSize, smoteK), so their versions stay stable
  const hashed =
    recipeVersion === 1 ? { seed: splitSeed, testSize, smoteK } : { recipeVersion, splitSeed, testSize, smoteK };
  return `fs-${datasetId}-r${recipeVersion}-${shortHash(hashed, 8)}`;
}

/**
 * `m-<hash of the feature set and the resolved search options, space included>`; `searchCap` is the search sample's
 * size when the search ran on a sample of the training split (search-sample.ts), hashed only then, so a split within
 * the cap keeps the version it always had.
 */
export function modelVersionFor(
  featureSetVersion: string,
  options: SearchSettings = {},
  defaults?: Readonly<ResolvedSearchSettings>,
  searchCap: number | null = null,
): string {
  const { candidates, folds, repeats, seed, space } = resolveSearchOptions(options, defaults);
  const hashed = { featureSetVersion, candidates, folds, repeats, seed, space };
  return `m-${shortHash(searchCap === null ? hashed : { ...hashed, searchCap }, 16)}`;
}

// ---------------------------------------------------------------------------------------------- the sequence

export interface PreparedRows extends Matrices {
  ids: number[];
}

export interface PreparedFeatureSet {
  options: ResolvedFeatureSetOptions;
  recipe: FeatureRecipe;
  /** The training split's passengers (the rows the recipe was fitted on). */
  trainPassengers: LabelledPassenger[];
  testPassengers: LabelledPassenger[];
  train: PreparedRows;
  test: PreparedRows;
  /** SMOTE rows of the training split only. */
  synthetic: Matrices;
}

/** Split -> fit the recipe on the training split -> transform both splits -> SMOTE the training split. */
export function prepareFeatureSet(
  passengers: readonly LabelledPassenger[],
  options: ResolvedFeatureSetOptions,
): PreparedFeatureSet {
  const split = stratifiedSplit(
    passengers.map((p) => p.survived),
    { testSize: options.testSize, seed: options.splitSeed },
  );
  const trainPassengers = split.train.map((i) => passengers[i] as LabelledPassenger);
  const testPassengers = split.test.map((i) => passengers[i] as LabelledPassenger);
  const recipe = fitRecipe(trainPassengers, options.recipeVersion);
  const rows = (ps: LabelledPassenger[]): PreparedRows => ({
    ids: ps.map((p) => p.passengerId),
    X: transform(recipe, ps),
    y: ps.map((p) => p.survived),
  });
  const train = rows(trainPassengers);
  const test = rows(testPassengers);
  const synthetic = smote(train.X, train.y, { k: options.smoteK, seed: options.splitSeed });
  return { options, recipe, trainPassengers, testPassengers, train, test, synthetic };
}

/**
 * The training split as each cross-validation fold sees it, for a recipe whose features come from labels: the
 * fold's held-out rows are taken out of the group table (they become outsiders, as unseen passengers are), and
 * every row's group columns are recomputed. `undefined` for a recipe without label-derived features.
 */
export function foldViewFor(
  recipe: FeatureRecipe,
  trainIds: ArrayLike<number>,
  trainX: readonly (readonly number[])[],
): FoldView | undefined {
  if (!usesLabels(recipe)) return undefined;
  return (heldOut) => {
    const exclude = new Set(heldOut.map((i) => trainIds[i] as number));
    return excludeMembers(recipe, trainIds, trainX, exclude);
  };
}

/** What `trainModel` takes, from a prepared feature set. */
export function trainingInputOf(prepared: PreparedFeatureSet): TrainingInput {
  const foldView = foldViewFor(prepared.recipe, prepared.train.ids, prepared.train.X);
  return {
    featureNames: [...prepared.recipe.featureNames],
    train: { X: prepared.train.X, y: prepared.train.y },
    synthetic: prepared.synthetic,
    test: { X: prepared.test.X, y: prepared.test.y },
    ...(foldView === undefined ? {} : { foldView }),
  };
}
