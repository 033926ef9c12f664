/**
 * `npm run bench:recipe-cv [-- --repeats 10 --folds 5 --seed 2026 --permute]`: repeated stratified k-fold
 * cross-validation of each feature recipe on data/titanic.csv, with the same folds for every recipe.
 *
 * `crossValidateRecipe` (test/support/cross-validation.ts): each fold fits the recipe on its training rows only,
 * and a forest with fixed parameters (`--trees`, `--depth`, `--features`: columns per tree, default 9, clipped to
 * the recipe's width; `--min-samples`, `--gain`). Prints, per recipe, the mean and sd of the per-repeat accuracies,
 * the per-repeat accuracies themselves (`perRepeat`, to pair two runs on the same folds), the paired difference of
 * v2 - v1 per repeat, and a drop-one ablation of v2's added features. `--permute` shuffles the labels first (the
 * leakage check: a leak-free recipe then scores near the majority-class rate).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import { mean, standardDeviation } from '../shared/core/evaluation.ts';
import type { ForestParams } from '../shared/core/forest.ts';
import { createRng } from '../shared/core/rng.ts';
import { type LabelledPassenger, RECIPE_FEATURES, type RecipeVersion } from '../shared/core/schema.ts';
import { crossValidateRecipe } from '../test/support/cross-validation.ts';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '10' },
    folds: { type: 'string', default: '5' },
    seed: { type: 'string', default: '2026' },
    trees: { type: 'string', default: '100' },
    depth: { type: 'string', default: '8' },
    'min-samples': { type: 'string', default: '3' },
    gain: { type: 'string', default: '0' },
    features: { type: 'string', default: '9' },
    permute: { type: 'boolean', default: false },
    ablate: { type: 'boolean', default: false },
  },
});
const repeats = Number(values.repeats);
const k = Number(values.folds);
const seed = Number(values.seed);

const { rows } = await readPassengerCsv(readFileSync(new URL('../data/titanic.csv', import.meta.url)), {
  requireSurvived: true,
});
let passengers = rows.map((r) => r.passenger as LabelledPassenger);
if (values.permute) {
  const rng = createRng(seed + 7);
  const labels = passengers.map((p) => p.survived);
  for (let i = labels.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [labels[i], labels[j]] = [labels[j] as 0 | 1, labels[i] as 0 | 1];
  }
  passengers = passengers.map((p, i) => ({ ...p, survived: labels[i] as 0 | 1 }));
}
const y = passengers.map((p) => p.survived);

type Variant = { name: string; version: RecipeVersion; drop: number[] };
const variants: Variant[] = [
  { name: 'v1', version: 1, drop: [] },
  { name: 'v2', version: 2, drop: [] },
];
if (values.ablate) {
  const names = RECIPE_FEATURES[2];
  for (let j = RECIPE_FEATURES[1].length; j < names.length; j++) {
    variants.push({ name: `v2 - ${names[j]}`, version: 2, drop: [j] });
  }
}

function params(nFeatures: number): ForestParams {
  const maxFeatures = values.features ? Number(values.features) : Math.max(2, Math.round(nFeatures * 0.6));
  return {
    nEstimators: Number(values.trees),
    maxFeatures: Math.min(maxFeatures, nFeatures),
    maxDepth: Number(values.depth),
    minNumSamples: Number(values['min-samples']),
    gainThreshold: Number(values.gain),
    seed: 42,
  };
}

const perRepeat = new Map<string, number[]>();
for (const variant of variants) {
  const result = crossValidateRecipe(passengers, {
    recipeVersion: variant.version,
    folds: k,
    repeats,
    seed,
    params,
    dropFeatures: variant.drop,
  });
  perRepeat.set(variant.name, result.perRepeat);
}

const majority = Math.max(mean(y), 1 - mean(y));
const out: Record<string, unknown> = { repeats, folds: k, seed, permuted: values.permute, majority };
const v1 = perRepeat.get('v1')!;
for (const [name, accs] of perRepeat) {
  const diffs = accs.map((a, i) => a - (v1[i] as number));
  out[name] = {
    mean: mean(accs),
    sd: standardDeviation(accs),
    perRepeat: accs,
    pairedVsV1: { mean: mean(diffs), sd: standardDeviation(diffs) },
  };
  process.stderr.write(
    `${name.padEnd(22)} ${mean(accs).toFixed(4)} ± ${standardDeviation(accs).toFixed(4)}   vs v1 ${mean(diffs) >= 0 ? '+' : ''}${mean(diffs).toFixed(4)} ± ${standardDeviation(diffs).toFixed(4)}\n`,
  );
}
process.stdout.write(`${JSON.stringify(out)}\n`);
