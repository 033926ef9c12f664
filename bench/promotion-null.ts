/**
 * `npm run bench:promotion [-- --resamples N]`: the null distributions behind the dataset-validation thresholds
 * (shared/core/validation.ts DEFAULT_VALIDATION), and what the label attacks score.
 *
 * A champion is trained on data/titanic.csv as `train` trains it (seeded 80/20 split, recipe fitted on the
 * training split, SMOTE, search, refit). Each null sample is a legitimate upload: a bootstrap resample of
 * data/titanic.csv with fresh ids (a new sample of the same population) at 891 rows and at 300 rows, and
 * data/titanic.csv plus 400 resampled passengers. For each statistic the 95th, 99th, 99.9th percentile and the
 * maximum over the resamples are printed, next to the threshold in force and the attacks' values.
 */
import { parseArgs } from 'node:util';
import { buildArtifact } from '../shared/core/artifact.ts';
import { readPassengerCsv } from '../shared/core/csv-stream.ts';
import { fitRecipe, transform } from '../shared/core/features.ts';
import { loadModel, type Predictor } from '../shared/core/model.ts';
import { resolveSearchOptions } from '../shared/core/pipeline.ts';
import { judgeChallenger } from '../shared/core/promotion.ts';
import type { LabelledPassenger } from '../shared/core/schema.ts';
import { stratifiedSplit } from '../shared/core/split.ts';
import { trainModel } from '../shared/core/training.ts';
import { DEFAULT_VALIDATION, type ValidationReport } from '../shared/core/validation.ts';
import {
  ATTACKS,
  attackedRows,
  bootstrapRows,
  largerLegitRows,
  TITANIC_CSV_TEXT,
  toCsv,
} from '../test/support/label-attacks.ts';

const { values } = parseArgs({ options: { resamples: { type: 'string', default: '300' } } });
const R = Number(values.resamples);

async function passengersOf(csv: string): Promise<LabelledPassenger[]> {
  const { rows } = await readPassengerCsv(csv, { requireSurvived: true });
  return rows.map((r) => r.passenger as LabelledPassenger);
}

async function trainChampion(): Promise<Predictor> {
  const passengers = await passengersOf(TITANIC_CSV_TEXT);
  const split = stratifiedSplit(
    passengers.map((p) => p.survived),
    { testSize: 0.2, seed: 42 },
  );
  const train = split.train.map((i) => passengers[i] as LabelledPassenger);
  const test = split.test.map((i) => passengers[i] as LabelledPassenger);
  const recipe = fitRecipe(train);
  const trainX = transform(recipe, train);
  const training = await trainModel(
    {
      featureNames: recipe.featureNames,
      train: { X: trainX, y: train.map((p) => p.survived) },
      test: { X: transform(recipe, test), y: test.map((p) => p.survived) },
    },
    resolveSearchOptions({ candidates: 3, folds: 3, repeats: 1, seed: 42 }),
  );
  return loadModel(
    buildArtifact({ modelVersion: 'champion', createdAt: new Date(0).toISOString(), recipe, training, trainX }),
  );
}

/** Every statistic of a report, keyed "check feature". */
function figures(report: ValidationReport): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of report.checks) {
    if (c.check === 'schema') continue;
    out.set(`${c.check}${c.feature ? ` ${c.feature}` : ''} (${c.statistic.split(' ')[0]})`, c.value);
  }
  return out;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;

async function main(): Promise<void> {
  const champion = await trainChampion();
  console.log(`champion test accuracy ${champion.artifact.metrics.accuracy} (n=${champion.artifact.metrics.n})`);
  const judge = async (csv: string) => {
    const passengers = await passengersOf(csv);
    return judgeChallenger(champion, champion, passengers).validation;
  };

  const nulls: Record<string, Map<string, number[]>> = {};
  const fails: Record<string, number> = {};
  for (const [label, make] of [
    ['bootstrap 891', (i: number) => toCsv(bootstrapRows(891, 1000 + i))],
    ['bootstrap 300', (i: number) => toCsv(bootstrapRows(300, 5000 + i))],
    ['titanic + 400 resampled', (i: number) => toCsv(largerLegitRows(400, 9000 + i))],
  ] as const) {
    const stats = new Map<string, number[]>();
    fails[label] = 0;
    for (let i = 0; i < R; i++) {
      const report = await judge(make(i));
      if (!report.passed) fails[label]++;
      for (const [k, v] of figures(report)) stats.set(k, [...(stats.get(k) ?? []), v]);
    }
    nulls[label] = stats;
  }
  const attacks = new Map<string, ValidationReport>();
  for (const a of ATTACKS) attacks.set(a, await judge(toCsv(attackedRows(a))));

  const threshold = (key: string): number | string => {
    if (key.startsWith('distribution'))
      return key.includes('jensen') ? DEFAULT_VALIDATION.maxJensenShannon : DEFAULT_VALIDATION.maxLInfinity;
    if (key.startsWith('range')) return DEFAULT_VALIDATION.maxOutOfRange;
    if (key.startsWith('label-share')) return DEFAULT_VALIDATION.maxLabelShareDelta;
    if (key.startsWith('label-consistency')) return DEFAULT_VALIDATION.consistencyMinDrop;
    return '';
  };
  console.log(`\n${R} resamples per null; columns: p95 / p99 / p99.9 / max of each null, threshold, attacks`);
  const keys = [...(nulls['bootstrap 891']?.keys() ?? [])];
  const header = ['statistic', ...Object.keys(nulls).map((n) => `${n} p95/p99/p99.9/max`), 'threshold', ...ATTACKS];
  console.log(header.join(' | '));
  for (const key of keys) {
    const cols = Object.values(nulls).map((m) => {
      const s = [...(m.get(key) ?? [])].sort((a, b) => a - b);
      return `${[0.95, 0.99, 0.999].map((q) => quantile(s, q).toFixed(4)).join('/')}/${(s.at(-1) ?? Number.NaN).toFixed(4)}`;
    });
    const attackCols = ATTACKS.map(
      (a) =>
        figures(attacks.get(a) as ValidationReport)
          .get(key)
          ?.toFixed(4) ?? '',
    );
    console.log([key, ...cols, String(threshold(key)), ...attackCols].join(' | '));
  }
  console.log('\nshare of null resamples that failed validation (false alarms):');
  for (const [label, n] of Object.entries(fails)) console.log(`  ${label}: ${n}/${R}`);
  console.log('\nattacks:');
  for (const [a, r] of attacks) {
    console.log(
      `  ${a}: passed=${r.passed}; failed: ${r.failed.map((c) => `${c.check}${c.feature ? ` ${c.feature}` : ''}=${c.value}`).join(', ')}`,
    );
  }
}

await main();
