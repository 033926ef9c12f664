/**
 * `npm run bench:served-groups [-- --repeats 10 --folds 5 --seed 2026 --depth 6]`: which labelled rows the served
 * model's group table should hold, estimated on passengers no variant has seen.
 *
 * Nested simulation on data/titanic.csv. Each outer fold of a repeated stratified k-fold plays the unseen
 * passengers (never used by any variant); the other rows play the uploaded dataset, which the pipeline splits as
 * it does (80% training split, 20% test split, `prepareFeatureSet`'s defaults). Three served models are scored on
 * the same unseen rows:
 * - `split`: recipe (fills and group table) and forest from the training split only (what was served before);
 * - `split+table`: the same forest; the group table from every labelled row of the dataset, test split included;
 * - `refit`: recipe and forest refitted on every labelled row of the dataset.
 * Forest parameters are fixed (`--trees`, `--depth`, `--features`, `--min-samples`, `--columns Sex,Title,...`), so
 * only the rows differ.
 * Prints each variant's mean and sd of the per-repeat accuracies, and the paired differences against `split`.
 */
import { parseArgs } from 'node:util';
import { compileForest } from '../shared/core/compiled-forest.ts';
import { mean, predictedLabel, standardDeviation } from '../shared/core/evaluation.ts';
import { type FeatureRecipe, fitRecipe, transform } from '../shared/core/features.ts';
import { type ForestParams, trainForest } from '../shared/core/forest.ts';
import { FEATURE_NAMES_V2, type LabelledPassenger } from '../shared/core/schema.ts';
import { smote } from '../shared/core/smote.ts';
import { stratifiedKFold, stratifiedSplit } from '../shared/core/split.ts';
import { CV_OPTIONS, titanicPassengers } from './cv-common.ts';

const { values } = parseArgs({
  options: {
    ...CV_OPTIONS,
    depth: { type: 'string', default: '6' },
    'test-size': { type: 'string', default: '0.2' },
    columns: { type: 'string' },
  },
});
const repeats = Number(values.repeats);
const k = Number(values.folds);
const seed = Number(values.seed);
const testSize = Number(values['test-size']);

const passengers = await titanicPassengers();
const y = passengers.map((p) => p.survived);

const columns = values.columns?.split(',').map((name) => FEATURE_NAMES_V2.indexOf(name as never));
if (columns?.some((j) => j < 0))
  throw new RangeError(`--columns: names of recipe v2's features, got ${values.columns}`);

function params(nFeatures: number): ForestParams {
  return {
    ...(columns ? { columns: [...columns].sort((a, b) => a - b) } : {}),
    nEstimators: Number(values.trees),
    maxFeatures: Math.min(Number(values.features), columns?.length ?? nFeatures),
    maxDepth: Number(values.depth),
    minNumSamples: Number(values['min-samples']),
    gainThreshold: 0,
    seed: 42,
  };
}

/** A forest fitted as training fits one: the rows' features, plus their SMOTE rows. */
function fitServed(recipe: FeatureRecipe, fitRows: readonly LabelledPassenger[], smoteSeed: number) {
  const X = transform(recipe, fitRows);
  const fitY = fitRows.map((p) => p.survived);
  const synthetic = smote(X, fitY, { k: 5, seed: smoteSeed });
  return compileForest(
    trainForest([...X, ...synthetic.X], [...fitY, ...synthetic.y], params((X[0] as number[]).length)),
  );
}

const VARIANTS = ['split', 'split+table', 'refit', 'rule', 'rule+table'] as const;
type Variant = (typeof VARIANTS)[number];
const perRepeat = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;

/**
 * The published woman-child-group rule, for reference: men die, women live, a boy lives if his group's women and
 * boys all lived, a woman dies if they all died (recipe v2's columns: Sex 1, Title 8 (Master 3), GroupWcOutcome 14).
 */
const COL = { sex: 1, title: 8, wc: 14 } as const;
function rule(row: readonly number[]): 0 | 1 {
  const female = row[COL.sex] === 1;
  const boy = row[COL.title] === 3;
  const wc = row[COL.wc];
  if (female) return wc === 0 ? 0 : 1;
  return boy && wc === 2 ? 1 : 0;
}

for (let r = 0; r < repeats; r++) {
  const correct = Object.fromEntries(VARIANTS.map((v) => [v, 0])) as Record<Variant, number>;
  stratifiedKFold(y, k, seed + r).forEach((fold, f) => {
    const dataset = fold.train.map((i) => passengers[i] as LabelledPassenger);
    const unseen = fold.test.map((i) => passengers[i] as LabelledPassenger);
    const split = stratifiedSplit(
      dataset.map((p) => p.survived),
      { testSize, seed: seed + r * k + f },
    );
    const trainRows = split.train.map((i) => dataset[i] as LabelledPassenger);
    const smoteSeed = seed + r * k + f;

    const recipeSplit = fitRecipe(trainRows, 2);
    const recipeAll = fitRecipe(dataset, 2);
    if (recipeSplit.version !== 2 || recipeAll.version !== 2) throw new Error('recipe v2 expected');
    const recipeSplitTable: FeatureRecipe = { ...recipeSplit, groups: recipeAll.groups };
    const splitForest = fitServed(recipeSplit, trainRows, smoteSeed);
    const refitForest = fitServed(recipeAll, dataset, smoteSeed);

    const score = (recipe: FeatureRecipe, forest: ReturnType<typeof fitServed>): number =>
      transform(recipe, unseen).reduce(
        (n, row, i) =>
          n + (predictedLabel(forest.probability(row)) === (unseen[i] as LabelledPassenger).survived ? 1 : 0),
        0,
      );
    correct.split += score(recipeSplit, splitForest);
    correct['split+table'] += score(recipeSplitTable, splitForest);
    correct.refit += score(recipeAll, refitForest);
    const byRule = (recipe: FeatureRecipe): number =>
      transform(recipe, unseen).reduce(
        (n, row, i) => n + (rule(row) === (unseen[i] as LabelledPassenger).survived ? 1 : 0),
        0,
      );
    correct.rule += byRule(recipeSplit);
    correct['rule+table'] += byRule(recipeSplitTable);
  });
  for (const v of VARIANTS) perRepeat[v].push(correct[v] / passengers.length);
  process.stderr.write(
    `repeat ${r + 1}/${repeats}: ${VARIANTS.map((v) => `${v} ${perRepeat[v].at(-1)?.toFixed(4)}`).join('  ')}\n`,
  );
}

const out: Record<string, unknown> = { repeats, folds: k, seed, testSize, params: params(16) };
for (const v of VARIANTS) {
  const diffs = perRepeat[v].map((a, i) => a - (perRepeat.split[i] as number));
  out[v] = {
    mean: mean(perRepeat[v]),
    sd: standardDeviation(perRepeat[v]),
    perRepeat: perRepeat[v],
    pairedVsSplit: { mean: mean(diffs), sd: standardDeviation(diffs) },
  };
  process.stderr.write(
    `${v.padEnd(12)} ${mean(perRepeat[v]).toFixed(4)} ± ${standardDeviation(perRepeat[v]).toFixed(4)}   vs split ${mean(diffs) >= 0 ? '+' : ''}${mean(diffs).toFixed(4)} ± ${standardDeviation(diffs).toFixed(4)}\n`,
  );
}
process.stdout.write(`${JSON.stringify(out)}\n`);
