/**
 * `npm run bench:columns [-- --repeats 10 --folds 5 --seed 2026 --depth 6 --trees 100]`: repeated stratified k-fold
 * cross-validation of recipe v2 on data/titanic.csv with a fixed forest restricted to column subsets, on the same
 * folds for every subset (`crossValidateRecipe`: each fold fits the recipe, group table included, on its own
 * training rows). What the search space's `columnSets` rest on. Prints each subset's mean and sd of the per-repeat
 * accuracies and its paired difference with every column; the last stdout line is JSON. `--permute` shuffles the
 * labels first (the leakage check).
 */
import { parseArgs } from 'node:util';
import { mean, standardDeviation } from '../shared/core/evaluation.ts';
import { FEATURE_NAMES_V2 } from '../shared/core/schema.ts';
import { crossValidateRecipe } from '../test/support/cross-validation.ts';
import { CV_OPTIONS, titanicPassengers } from './cv-common.ts';

const { values } = parseArgs({
  options: {
    ...CV_OPTIONS,
    depth: { type: 'string', default: '6' },
    permute: { type: 'boolean', default: false },
  },
});
const passengers = await titanicPassengers(values.permute ? Number(values.seed) + 7 : undefined);
const names: readonly string[] = FEATURE_NAMES_V2;

const SUBSETS: Record<string, readonly string[]> = {
  'every column': names,
  'Sex, Title, GroupWcOutcome': ['Sex', 'Title', 'GroupWcOutcome'],
  '+ Pclass': ['Pclass', 'Sex', 'Title', 'GroupWcOutcome'],
  '+ Pclass, Familysize, TicketSize': ['Pclass', 'Sex', 'Title', 'Familysize', 'TicketSize', 'GroupWcOutcome'],
};

const out: Record<string, unknown> = {
  repeats: Number(values.repeats),
  folds: Number(values.folds),
  depth: Number(values.depth),
};
let baseline: number[] | undefined;
for (const [label, keep] of Object.entries(SUBSETS)) {
  const drop = names.flatMap((n, j) => (keep.includes(n) ? [] : [j]));
  const result = crossValidateRecipe(passengers, {
    recipeVersion: 2,
    folds: Number(values.folds),
    repeats: Number(values.repeats),
    seed: Number(values.seed),
    dropFeatures: drop,
    params: (n) => ({
      nEstimators: Number(values.trees),
      maxFeatures: Math.min(Number(values.features), n),
      maxDepth: Number(values.depth),
      minNumSamples: Number(values['min-samples']),
      gainThreshold: 0,
      seed: 42,
    }),
  });
  baseline ??= result.perRepeat;
  const diffs = result.perRepeat.map((a, i) => a - (baseline as number[])[i]!);
  out[label] = {
    mean: result.mean,
    sd: result.sd,
    perRepeat: result.perRepeat,
    paired: { mean: mean(diffs), sd: standardDeviation(diffs) },
  };
  process.stderr.write(
    `${label.padEnd(36)} ${result.mean.toFixed(4)} ± ${result.sd.toFixed(4)}   vs every column ${mean(diffs) >= 0 ? '+' : ''}${mean(diffs).toFixed(4)} ± ${standardDeviation(diffs).toFixed(4)}\n`,
  );
}
process.stdout.write(`${JSON.stringify(out)}\n`);
