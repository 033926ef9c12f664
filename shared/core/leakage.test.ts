/**
 * The label-leakage guard of recipe v2. With the labels of data/titanic.csv randomly permuted there is nothing to
 * learn, so a leak-free recipe cannot beat the majority-class rate in cross-validation; a recipe whose group
 * outcomes leak labels (its own, or the held-out rows') scores far above it.
 *
 * Why the bound is one-sided: the training rows are SMOTE-balanced, so a model with no information predicts both
 * classes about equally often and scores about 0.5 on permuted labels, below the majority rate (0.616). Leakage
 * can only push the score up, so the guard is that it stays below the majority rate + 0.03.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crossValidateRecipe } from '../../test/support/cross-validation.ts';
import { compileForest } from './compiled-forest.ts';
import { readPassengerCsv } from './csv-stream.ts';
import { accuracy, mean, predictedLabel } from './evaluation.ts';
import { fitRecipe, transform } from './features.ts';
import { type ForestParams, trainForest } from './forest.ts';
import { createRng } from './rng.ts';
import type { LabelledPassenger } from './schema.ts';
import { smote } from './smote.ts';
import { stratifiedKFold } from './split.ts';

const { rows } = await readPassengerCsv(readFileSync(new URL('../../data/titanic.csv', import.meta.url)), {
  requireSurvived: true,
});
const passengers = rows.map((r) => r.passenger as LabelledPassenger);
const survivalRate = mean(passengers.map((p) => p.survived));
const MAJORITY = Math.max(survivalRate, 1 - survivalRate);

/** Small forests that see every column (so a leaking group column is always available to them). */
const params = (nFeatures: number): ForestParams => ({
  nEstimators: 25,
  maxFeatures: nFeatures,
  maxDepth: 8,
  minNumSamples: 3,
  gainThreshold: 0,
  seed: 42,
});

function permuted(seed: number): LabelledPassenger[] {
  const rng = createRng(seed);
  const labels = passengers.map((p) => p.survived);
  for (let i = labels.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [labels[i], labels[j]] = [labels[j] as 0 | 1, labels[i] as 0 | 1];
  }
  return passengers.map((p, i) => ({ ...p, survived: labels[i] as 0 | 1 }));
}

/**
 * A deliberately leaky recipe v2, as a control: the group table is fitted on every row (held-out rows included)
 * and no row is recognised as a member of its own group, so each row's group outcome counts its own label.
 */
function leakyCvAccuracy(data: readonly LabelledPassenger[], seed: number): number {
  const y = data.map((p) => p.survived);
  const recipe = fitRecipe(data, 2);
  const stranger = (p: LabelledPassenger): LabelledPassenger => ({ ...p, passengerId: -1 });
  let correct = 0;
  stratifiedKFold(y, 5, seed).forEach((fold, f) => {
    const fitRows = fold.train.map((i) => stranger(data[i] as LabelledPassenger));
    const heldOut = fold.test.map((i) => stranger(data[i] as LabelledPassenger));
    const X = transform(recipe, fitRows);
    const fitY = fitRows.map((p) => p.survived);
    const synthetic = smote(X, fitY, { seed: seed + f });
    const forest = compileForest(trainForest([...X, ...synthetic.X], [...fitY, ...synthetic.y], params(15)));
    const predicted = transform(recipe, heldOut).map((row) => predictedLabel(forest.probability(row)));
    correct +=
      accuracy(
        heldOut.map((p) => p.survived),
        predicted,
      ) * heldOut.length;
  });
  return correct / data.length;
}

// Five independent permutations, each cross-validated over two 5-fold passes: ten passes in all. One pass on
// permuted labels has an sd of about 0.02, so the mean of ten is known to about 0.007, well inside the 0.03 margin.
const PERMUTATIONS = [11, 12, 13, 14, 15];

describe('recipe v2 label-leakage guard (permuted labels)', () => {
  it('keeps the cross-validated accuracy of v2 within 0.03 of the majority-class rate', () => {
    const accuracies = PERMUTATIONS.flatMap(
      (seed) =>
        crossValidateRecipe(permuted(seed), { recipeVersion: 2, folds: 5, repeats: 2, seed: 2026, params }).perRepeat,
    );
    const cv = mean(accuracies);
    expect(accuracies).toHaveLength(10);
    expect(cv).toBeLessThan(MAJORITY + 0.03);
  });

  it('keeps it there with per-split column sampling too (every column per tree, 4 per split)', () => {
    const perSplit = (nFeatures: number): ForestParams => ({ ...params(nFeatures), maxFeaturesPerSplit: 4 });
    const accuracies = PERMUTATIONS.flatMap(
      (seed) =>
        crossValidateRecipe(permuted(seed), { recipeVersion: 2, folds: 5, repeats: 2, seed: 2026, params: perSplit })
          .perRepeat,
    );
    expect(accuracies).toHaveLength(10);
    expect(mean(accuracies)).toBeLessThan(MAJORITY + 0.03);
  });

  it('fails a recipe that leaks labels into its group outcomes (the control)', () => {
    const leaky = mean(PERMUTATIONS.map((seed) => leakyCvAccuracy(permuted(seed), 2026)));
    expect(leaky).toBeGreaterThan(MAJORITY + 0.03);
  });
});
