/**
 * Offline training: `npm run train -- <csv> [--out model.json] [--seed N] [--candidates N] [--folds N]
 * [--trees N] [--workers N]`. `--trees` fixes the number of trees instead of searching it (a quick look).
 *
 * The same core as the `train` Cloud Function: CSV validation, seeded stratified 80/20 split, recipe fitted on
 * the training split, randomized search with 5-fold CV (SMOTE inside the training folds), refit with SMOTE,
 * test metrics, artifact. A progress bar goes to stderr; the last stdout line is a JSON summary.
 */
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { buildArtifact, DEFAULT_ARTIFACT_LIMITS, maxForestBytesOf } from '../shared/core/artifact.ts';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import {
  prepareFeatureSet,
  resolveFeatureSetOptions,
  resolveSearchOptions,
  SEARCH_DEFAULTS,
  trainingInputOf,
} from '../shared/core/pipeline.ts';
import { type LabelledPassenger, RECIPE_VERSIONS, type RecipeVersion } from '../shared/core/schema.ts';
import { trainModel } from '../shared/core/training.ts';
import { threadPoolRunner } from '../shared/runtime/search-pool.ts';
import { runCli, UsageError } from './run.ts';

const USAGE =
  'usage: npm run train -- <csv> [--out model.json] [--recipe 1|2] [--seed N] [--candidates N] [--folds N] [--repeats N] [--trees N] [--workers N]';

function integer(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', default: 'model.json' },
      seed: { type: 'string' },
      candidates: { type: 'string' },
      folds: { type: 'string' },
      repeats: { type: 'string' },
      recipe: { type: 'string' },
      trees: { type: 'string' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [csvPath, ...extra] = positionals;
  if (csvPath === undefined || extra.length > 0) throw new UsageError(USAGE);
  const seed = integer('seed', values.seed, 0);
  const recipeVersion = integer('recipe', values.recipe, 1);
  if (recipeVersion !== undefined && !(RECIPE_VERSIONS as readonly number[]).includes(recipeVersion)) {
    throw new UsageError(`--recipe must be one of ${RECIPE_VERSIONS.join(', ')}, got "${values.recipe}"`);
  }
  const workers = integer('workers', values.workers, 0) ?? availableParallelism();
  const trees = integer('trees', values.trees, 1);
  const search = resolveSearchOptions({
    seed,
    candidates: integer('candidates', values.candidates, 1),
    folds: integer('folds', values.folds, 2),
    repeats: integer('repeats', values.repeats, 1),
    ...(trees === undefined ? {} : { space: { ...SEARCH_DEFAULTS.space, nEstimators: [trees] } }),
  });
  // one --seed seeds the split as well as the search, as it always has
  const featureSet = resolveFeatureSetOptions({
    splitSeed: seed,
    recipeVersion: recipeVersion as RecipeVersion | undefined,
  });

  const { rows, rejected } = await readPassengerCsv(createReadStream(csvPath), { requireSurvived: true });
  for (const r of rejected) process.stderr.write(`${csvPath}:${r.line}: skipped: ${r.reason}\n`);
  const passengers = rows.map((r) => r.passenger as LabelledPassenger);
  const prepared = prepareFeatureSet(passengers, featureSet);
  const { recipe } = prepared;
  const trainX = prepared.train.X;
  const test = prepared.test;

  const bar = new SingleBar({
    stream: process.stderr,
    format: 'training [{bar}] {value}/{total} fits | {duration}s',
    hideCursor: true,
  });
  let started = false;
  const training = await trainModel(trainingInputOf(prepared), {
    ...search,
    runner: threadPoolRunner(workers),
    // what this CLI's own loaders (predict, evaluate, models) and the service accept by default
    maxForestBytes: maxForestBytesOf(DEFAULT_ARTIFACT_LIMITS.maxBytes, recipe, trainX),
    onProgress: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
  }).finally(() => bar.stop());

  const createdAt = new Date().toISOString();
  const artifact = buildArtifact({
    modelVersion: `local-${createdAt.replace(/[-:.]/g, '').replace('T', '-').slice(0, 15)}`,
    createdAt,
    recipe,
    training,
    trainX,
  });
  const json = JSON.stringify(artifact);
  await writeFile(values.out, json);

  const summary = {
    out: values.out,
    modelVersion: artifact.modelVersion,
    rows: passengers.length,
    rejected: rejected.length,
    trainRows: trainX.length,
    testRows: test.X.length,
    metrics: training.metrics,
    recipeVersion: recipe.version,
    cv: {
      folds: training.search.folds,
      repeats: training.search.repeats,
      mean: training.search.cvMean,
      sd: training.search.cvSd,
    },
    params: training.params,
    seconds: training.seconds,
    /** Worker threads the search ran on besides the calling thread (0: none started, e.g. no worker file). */
    searchWorkers: training.search.workers,
    modelBytes: Buffer.byteLength(json),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

runCli(import.meta.url, main);
