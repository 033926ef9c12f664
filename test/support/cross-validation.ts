/**
 * Repeated stratified k-fold cross-validation of a whole feature recipe: what estimates how a recipe does on
 * passengers it has never seen, and what the recipes are compared with (same folds for every recipe, paired).
 *
 * Each fold does what training does, on the fold's training rows only: fit the recipe (fills, and for v2 the
 * group table from those rows' labels), featurize them (a row never sees its own label: leave one out), add their
 * SMOTE rows, fit a forest; the held-out rows are featurized with that fold's recipe (outsiders to its groups) and
 * scored. Nothing of a held-out row but its raw fields reaches the model.
 */
import { compileForest } from '../../shared/core/compiled-forest.ts';
import { accuracy, mean, predictedLabel, standardDeviation } from '../../shared/core/evaluation.ts';
import { fitRecipe, transform } from '../../shared/core/features.ts';
import { type ForestParams, trainForest } from '../../shared/core/forest.ts';
import type { LabelledPassenger, RecipeVersion } from '../../shared/core/schema.ts';
import { smote } from '../../shared/core/smote.ts';
import { stratifiedKFold } from '../../shared/core/split.ts';

export interface RecipeCvOptions {
  recipeVersion: RecipeVersion;
  folds: number;
  repeats: number;
  /** Pass `r` is shuffled with `seed + r`; so two recipes given the same seed are scored on the same folds. */
  seed: number;
  /** Forest parameters, given the recipe's feature count (after `dropFeatures`). */
  params: (nFeatures: number) => ForestParams;
  smoteK?: number;
  /** Column indices left out (a drop-one ablation). */
  dropFeatures?: readonly number[];
}

export interface RecipeCvResult {
  /** Accuracy over all rows of each pass (every row is scored once per pass). */
  perRepeat: number[];
  mean: number;
  /** Population standard deviation of `perRepeat`. */
  sd: number;
}

export function crossValidateRecipe(passengers: readonly LabelledPassenger[], opts: RecipeCvOptions): RecipeCvResult {
  const y = passengers.map((p) => p.survived);
  const drop = new Set(opts.dropFeatures ?? []);
  const keep = (row: number[]): number[] => (drop.size === 0 ? row : row.filter((_, j) => !drop.has(j)));
  const perRepeat: number[] = [];
  for (let r = 0; r < opts.repeats; r++) {
    let correct = 0;
    stratifiedKFold(y, opts.folds, opts.seed + r).forEach((fold, f) => {
      const fitRows = fold.train.map((i) => passengers[i] as LabelledPassenger);
      const heldOut = fold.test.map((i) => passengers[i] as LabelledPassenger);
      const recipe = fitRecipe(fitRows, opts.recipeVersion);
      const X = transform(recipe, fitRows).map(keep);
      const fitY = fitRows.map((p) => p.survived);
      const synthetic = smote(X, fitY, { k: opts.smoteK ?? 5, seed: opts.seed + r * opts.folds + f });
      const params = opts.params((X[0] as number[]).length);
      const forest = compileForest(trainForest([...X, ...synthetic.X], [...fitY, ...synthetic.y], params));
      const predicted = transform(recipe, heldOut)
        .map(keep)
        .map((row) => predictedLabel(forest.probability(row)));
      correct +=
        accuracy(
          heldOut.map((p) => p.survived),
          predicted,
        ) * heldOut.length;
    });
    perRepeat.push(correct / passengers.length);
  }
  return { perRepeat, mean: mean(perRepeat), sd: standardDeviation(perRepeat) };
}
