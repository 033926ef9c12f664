/**
 * The search sample: a training split of more than `maxRows` rows is searched (every candidate x fold x repeat of
 * the randomized search) on a stratified, seeded sample of `maxRows` of its rows; the refit of the chosen
 * parameters still uses the whole split and its SMOTE rows. The search's cost grows faster than linearly in its
 * rows (each of the 100 forests of the default search fits every fold's rows), the refit's is one forest, so
 * capping the search's rows is what keeps a capped dataset (MAX_TRAINING_ROWS) inside the fit and train timeouts.
 *
 * Below the cap nothing changes: the search sees the whole split, the model version is the one it always was, and
 * the artifact has no `searchSample`. Above it, the model version hashes the cap too (another search, another
 * model), and the artifact records the sample (`searchSample`). The `fit` and `train` functions both call
 * `searchRowsOf` with the same cap and seed, so a fanned-out search scores exactly the rows the single call would.
 */
import type { FeatureRecipe } from './features.ts';
import { foldViewFor } from './pipeline.ts';
import type { FoldView } from './search.ts';
import { stratifiedSample } from './split.ts';
import type { Matrices } from './training.ts';

/** SEARCH_MAX_ROWS by default: training rows the search runs on at most. */
export const DEFAULT_SEARCH_MAX_ROWS = 5_000;

/** What the artifact records when the search ran on a sample of the training split. */
export interface SearchSample {
  /** SEARCH_MAX_ROWS: the sample's size. */
  maxRows: number;
  /** Real rows of the training split it was drawn from (the refit's real rows). */
  trainRows: number;
  /** Rows of the sample per outcome (their sum is `maxRows`): each outcome's proportional share. */
  died: number;
  survived: number;
  /** Seeds the choice of rows (the search seed). */
  seed: number;
  /** How the rows were drawn. */
  method: 'stratified by outcome, seeded shuffle within each outcome';
}

/** The cap a search of `trainRows` rows runs under: `maxRows` when the split is larger, else null (the whole split). */
export function searchCapFor(trainRows: number, maxRows: number = DEFAULT_SEARCH_MAX_ROWS): number | null {
  if (!Number.isInteger(maxRows) || maxRows < 1)
    throw new RangeError(`search max rows must be a positive integer, got ${maxRows}`);
  return trainRows > maxRows ? maxRows : null;
}

export interface SearchRows extends Matrices {
  foldView?: FoldView;
  sample?: SearchSample;
}

/**
 * The rows the search runs on: the whole training split when it has no more than `maxRows` rows (the very arrays
 * given), else the stratified sample, with its own fold view (recipe v2: a fold's held-out sampled rows leave the
 * group table, as in the whole-split search).
 */
export function searchRowsOf(
  recipe: FeatureRecipe,
  trainIds: ArrayLike<number>,
  train: Matrices,
  maxRows: number | undefined,
  seed: number,
): SearchRows {
  const cap = searchCapFor(train.X.length, maxRows);
  if (cap === null) {
    const foldView = foldViewFor(recipe, trainIds, train.X);
    return { X: train.X, y: train.y, ...(foldView === undefined ? {} : { foldView }) };
  }
  const picked = stratifiedSample(train.y, cap, seed);
  const X = picked.map((i) => train.X[i] as number[]);
  const y = picked.map((i) => train.y[i] as number);
  const ids = picked.map((i) => trainIds[i] as number);
  const foldView = foldViewFor(recipe, ids, X);
  const survived = y.filter((label) => label === 1).length;
  return {
    X,
    y,
    ...(foldView === undefined ? {} : { foldView }),
    sample: {
      maxRows: cap,
      trainRows: train.X.length,
      died: y.length - survived,
      survived,
      seed,
      method: 'stratified by outcome, seeded shuffle within each outcome',
    },
  };
}
