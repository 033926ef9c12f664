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
import { buildArtifact } from '../shared/core/artifact.ts';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import { fitRecipe, transform } from '../shared/core/features.ts';
import type { LabelledPassenger } from '../shared/core/schema.ts';
import { DEFAULT_SPACE } from '../shared/core/search.ts';
import { smote } from '../shared/core/smote.ts';
import { stratifiedSplit } from '../shared/core/split.ts';
import { trainModel } from '../shared/core/training.ts';
import { runCli, UsageError } from './run.ts';

const USAGE =
  'usage: npm run train -- <csv> [--out model.json] [--seed N] [--candidates N] [--folds N] [--trees N] [--workers N]';

function integer(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
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
  const seed = integer('seed', values.seed, 42, 0);
  const candidates = integer('candidates', values.candidates, 10, 1);
  const folds = integer('folds', values.folds, 5, 2);
  const workers = integer('workers', values.workers, availableParallelism(), 0);
  const trees = values.trees === undefined ? undefined : integer('trees', values.trees, 0, 1);
  const space = trees === undefined ? DEFAULT_SPACE : { ...DEFAULT_SPACE, nEstimators: [trees] };

  const { rows, rejected } = await readPassengerCsv(createReadStream(csvPath), { requireSurvived: true });
  for (const r of rejected) process.stderr.write(`${csvPath}:${r.line}: skipped: ${r.reason}\n`);
  const passengers = rows.map((r) => r.passenger as LabelledPassenger);
  const y = passengers.map((p) => p.survived as number);

  const split = stratifiedSplit(y, { testSize: 0.2, seed });
  const trainRows = split.train.map((i) => passengers[i] as LabelledPassenger);
  const recipe = fitRecipe(trainRows);
  const trainX = transform(recipe, trainRows);
  const trainY = split.train.map((i) => y[i] as number);
  const test = {
    X: transform(
      recipe,
      split.test.map((i) => passengers[i] as LabelledPassenger),
    ),
    y: split.test.map((i) => y[i] as number),
  };

  const bar = new SingleBar({
    stream: process.stderr,
    format: 'training [{bar}] {value}/{total} fits | {duration}s',
    hideCursor: true,
  });
  let started = false;
  const training = await trainModel(
    {
      featureNames: [...recipe.featureNames],
      train: { X: trainX, y: trainY },
      synthetic: smote(trainX, trainY, { seed }),
      test,
    },
    {
      candidates,
      folds,
      seed,
      workers,
      space,
      onProgress: (done, total) => {
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
    },
  ).finally(() => bar.stop());

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
    cv: { folds: training.search.folds, mean: training.search.cvMean, sd: training.search.cvSd },
    params: training.params,
    seconds: training.seconds,
    modelBytes: Buffer.byteLength(json),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

runCli(import.meta.url, main);
