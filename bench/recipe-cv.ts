/**
 * `npm run bench:recipe-cv [-- --repeats 10 --folds 5 --seed 2026 --permute]`: repeated stratified k-fold
 * cross-validation of each feature recipe on data/titanic.csv, with the same folds for every recipe.
 *
 * `crossValidateRecipe` (test/support/cross-validation.ts): each fold fits the recipe on its training rows only,
 * and a forest with fixed parameters (`--trees`, `--depth`, `--features`: columns per tree, default 9, clipped to
 * the recipe's width; `--min-samples`, `--gain`; `--per-split K`: each split considers K of the tree's columns, drawn
 * afresh per split, clipped to the tree's columns; absent: every split considers all of them). `--recipes v2` runs
 * only the listed recipes (default `v1,v2`; the paired difference is then taken to the first one listed).
 * `--split-variants 4,6` adds, per K, v2 with every column in every tree and K columns drawn per split. Prints, per recipe, the mean and sd of the per-repeat accuracies,
 * the per-repeat accuracies themselves (`perRepeat`, to pair two runs on the same folds), the paired difference of
 * v2 - v1 per repeat, and a drop-one ablation of v2's added features. `--permute` shuffles the labels first (the
 * leakage check: a leak-free recipe then scores near the majority-class rate).
 */
import { parseArgs } from 'node:util';
import { mean, standardDeviation } from '../shared/core/evaluation.ts';
import type { ForestParams } from '../shared/core/forest.ts';
import { RECIPE_FEATURES, type RecipeVersion } from '../shared/core/schema.ts';
import { crossValidateRecipe } from '../test/support/cross-validation.ts';
import { CV_OPTIONS, titanicPassengers } from './cv-common.ts';

const { values } = parseArgs({
  options: {
    ...CV_OPTIONS,
    depth: { type: 'string', default: '8' },
    gain: { type: 'string', default: '0' },
    'per-split': { type: 'string' },
    'split-variants': { type: 'string' },
    recipes: { type: 'string', default: 'v1,v2' },
    permute: { type: 'boolean', default: false },
    ablate: { type: 'boolean', default: false },
  },
});
const repeats = Number(values.repeats);
const k = Number(values.folds);
const seed = Number(values.seed);

const passengers = await titanicPassengers(values.permute ? seed + 7 : undefined);
const y = passengers.map((p) => p.survived);

/** `perSplit`: columns each split considers; `allColumns`: every tree gets all of the recipe's columns. */
type Variant = { name: string; version: RecipeVersion; drop: number[]; perSplit?: number; allColumns?: boolean };
const recipes = values.recipes.split(',').map((name) => name.trim());
for (const name of recipes) {
  if (name !== 'v1' && name !== 'v2') throw new RangeError(`--recipes: unknown recipe "${name}" (v1 or v2)`);
}
const variants: Variant[] = recipes.map((name) => ({ name, version: name === 'v1' ? 1 : 2, drop: [] }));
if (values.ablate) {
  const names = RECIPE_FEATURES[2];
  for (let j = RECIPE_FEATURES[1].length; j < names.length; j++) {
    variants.push({ name: `v2 - ${names[j]}`, version: 2, drop: [j] });
  }
}

function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${flag} must list positive integers, got "${text}"`);
  return n;
}
const perSplit = values['per-split'] === undefined ? undefined : positiveInteger('per-split', values['per-split']);
if (perSplit !== undefined) for (const variant of variants) variant.perSplit = perSplit;
for (const text of values['split-variants']?.split(',') ?? []) {
  const k = positiveInteger('split-variants', text.trim());
  variants.push({ name: `v2 all columns, split ${k}`, version: 2, drop: [], perSplit: k, allColumns: true });
}

function paramsFor(variant: Variant): (nFeatures: number) => ForestParams {
  return (nFeatures) => params(nFeatures, variant);
}

function params(nFeatures: number, variant: Variant): ForestParams {
  const maxFeatures = variant.allColumns
    ? nFeatures
    : Math.min(values.features ? Number(values.features) : Math.max(2, Math.round(nFeatures * 0.6)), nFeatures);
  return {
    ...(variant.perSplit !== undefined ? { maxFeaturesPerSplit: Math.min(variant.perSplit, maxFeatures) } : {}),
    nEstimators: Number(values.trees),
    maxFeatures,
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
    params: paramsFor(variant),
    dropFeatures: variant.drop,
  });
  perRepeat.set(variant.name, result.perRepeat);
}

const majority = Math.max(mean(y), 1 - mean(y));
const out: Record<string, unknown> = {
  repeats,
  folds: k,
  seed,
  permuted: values.permute,
  majority,
  perSplit: perSplit ?? null,
  splitVariants: values['split-variants'] ?? null,
};
const v1 = perRepeat.get(recipes[0] as string)!;
for (const [name, accs] of perRepeat) {
  const diffs = accs.map((a, i) => a - (v1[i] as number));
  out[name] = {
    mean: mean(accs),
    sd: standardDeviation(accs),
    perRepeat: accs,
    pairedVsFirst: { mean: mean(diffs), sd: standardDeviation(diffs) },
  };
  process.stderr.write(
    `${name.padEnd(22)} ${mean(accs).toFixed(4)} ± ${standardDeviation(accs).toFixed(4)}   vs ${recipes[0]} ${mean(diffs) >= 0 ? '+' : ''}${mean(diffs).toFixed(4)} ± ${standardDeviation(diffs).toFixed(4)}\n`,
  );
}
process.stdout.write(`${JSON.stringify(out)}\n`);
