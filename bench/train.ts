/**
 * `npm run bench:train [-- --runs N --candidates N]`: our default training run against the seed's
 * scikit-learn recipe, in the same run on the same machine, on the same features and the same 80% split.
 *
 * Ours: trainModel with the default search (10 candidates x 5 folds, SMOTE inside the training folds, worker
 * threads), then the refit. Theirs (bench/sklearn_recipe.py, Debian's python3-sklearn):
 * RandomizedSearchCV(RandomForestClassifier(random_state=42), n_iter=10, cv=3) over the seed's grid, fitted on
 * the training split plus its SMOTE rows (the seed applied SMOTE before the search). Each run times both, the
 * first one alternating; the ratio reported is the median of the per-run ratios (ours / scikit-learn), wall
 * time and CPU time (ours counts its worker threads).
 * Then the compiled single-row prediction time of our final forest (p50 over many calls, microseconds).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compileForest } from '../shared/core/compiled-forest.ts';
import { FEATURE_SET_DEFAULTS, resolveSearchOptions } from '../shared/core/pipeline.ts';
import { trainModel } from '../shared/core/training.ts';
import { threadPoolRunner } from '../shared/runtime/search-pool.ts';
import { loadTitanic } from '../test/support/titanic.ts';

const PYTHON = '/usr/bin/python3';
const RECIPE = new URL('./sklearn_recipe.py', import.meta.url);

interface SklearnRun {
  seconds: number;
  cpu_seconds: number;
  accuracy: number;
  cv_mean: number;
  cv_sd: number;
  best_params: Record<string, number>;
  sklearn: string;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function runSklearn(matricesPath: string): SklearnRun {
  const out = spawnSync(PYTHON, [RECIPE.pathname, matricesPath], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`scikit-learn recipe failed (${out.status}): ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').at(-1) as string) as SklearnRun;
}

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, candidates: { type: 'string', default: '10' } },
});
const runs = Number(values.runs);
const candidates = Number(values.candidates);

// the default feature recipe, as `npm run train` uses it (scikit-learn gets the same matrices)
const data = await loadTitanic(42, FEATURE_SET_DEFAULTS.recipeVersion);
const dir = mkdtempSync(join(tmpdir(), 'bench-train-'));
const matricesPath = join(dir, 'matrices.json');
writeFileSync(
  matricesPath,
  JSON.stringify({
    trainX: data.fit.X,
    trainY: data.fit.y,
    testX: data.input.test.X,
    testY: data.input.test.y,
    seed: 42,
  }),
);

const ours: Array<{ seconds: number; cpuSeconds: number; accuracy: number; cvMean: number; cvSd: number }> = [];
const theirs: SklearnRun[] = [];
const ratios: number[] = [];
let finalForest: object | null = null;
let finalParams: object | null = null;
try {
  for (let r = 0; r < runs; r++) {
    // alternate who goes first, so a change in machine load does not always favour the same side
    const skFirst = r % 2 === 1 ? runSklearn(matricesPath) : null;
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    const result = await trainModel(data.input, {
      ...resolveSearchOptions({ candidates, seed: 42 }),
      runner: threadPoolRunner(),
    });
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStarted);
    // CPU of this process, worker threads included
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    ours.push({
      seconds,
      cpuSeconds,
      accuracy: result.metrics.accuracy,
      cvMean: result.search.cvMean,
      cvSd: result.search.cvSd,
    });
    finalForest = result.forest;
    finalParams = result.params;
    const sk = skFirst ?? runSklearn(matricesPath);
    theirs.push(sk);
    ratios.push(seconds / sk.seconds);
    process.stderr.write(
      `run ${r + 1}/${runs}: ours ${seconds.toFixed(2)} s (cpu ${cpuSeconds.toFixed(2)} s, acc ${result.metrics.accuracy.toFixed(4)}), ` +
        `scikit-learn ${sk.seconds.toFixed(2)} s (cpu ${sk.cpu_seconds.toFixed(2)} s, acc ${sk.accuracy.toFixed(4)}), ratio ${(seconds / sk.seconds).toFixed(3)}\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Single-row prediction with the compiled forest: every call timed, p50 and p99.
const compiled = compileForest(finalForest as object);
const rows = data.X;
for (let i = 0; i < 20_000; i++) compiled.probability(rows[i % rows.length] as number[]);
const samples: number[] = [];
for (let i = 0; i < 50_000; i++) {
  const row = rows[i % rows.length] as number[];
  const t0 = process.hrtime.bigint();
  compiled.probability(row);
  samples.push(Number(process.hrtime.bigint() - t0) / 1000);
}
const p50 = median(samples);
const p99 = [...samples].sort((a, b) => a - b)[Math.floor(samples.length * 0.99)] as number;

const last = theirs.at(-1) as SklearnRun;
const ratio = median(ratios);
const oursAccuracy = (ours.at(-1) as (typeof ours)[number]).accuracy;
const summary = {
  runs,
  ours: {
    seconds: ours.map((o) => Number(o.seconds.toFixed(3))),
    medianSeconds: median(ours.map((o) => o.seconds)),
    cpuSeconds: ours.map((o) => Number(o.cpuSeconds.toFixed(3))),
    testAccuracy: oursAccuracy,
    cvMean: ours.at(-1)?.cvMean,
    cvSd: ours.at(-1)?.cvSd,
    search: `${candidates} candidates x 5 folds`,
    params: finalParams,
    nTrees: compiled.nTrees,
  },
  sklearn: {
    version: last.sklearn,
    seconds: theirs.map((t) => Number(t.seconds.toFixed(3))),
    medianSeconds: median(theirs.map((t) => t.seconds)),
    cpuSeconds: theirs.map((t) => Number(t.cpu_seconds.toFixed(3))),
    testAccuracy: last.accuracy,
    cvMean: last.cv_mean,
    cvSd: last.cv_sd,
    search: '10 candidates x 3 folds',
    params: last.best_params,
  },
  ratio,
  cpuRatio: median(ours.map((o, i) => o.cpuSeconds / (theirs[i] as SklearnRun).cpu_seconds)),
  loadAverage: loadavg(),
  cores: availableParallelism(),
  predictMicros: { p50, p99 },
  targets: {
    ratioAtMost1: ratio <= 1,
    accuracyAtLeastSklearn: oursAccuracy >= last.accuracy,
    predictP50AtMost20us: p50 <= 20,
  },
};
process.stdout.write(
  [
    `ours:         ${summary.ours.medianSeconds.toFixed(2)} s median (${summary.ours.seconds.join(', ')}), test accuracy ${oursAccuracy.toFixed(4)}`,
    `scikit-learn: ${summary.sklearn.medianSeconds.toFixed(2)} s median (${summary.sklearn.seconds.join(', ')}), test accuracy ${last.accuracy.toFixed(4)}`,
    `ratio ours/scikit-learn (median of ${runs} paired runs): ${ratio.toFixed(3)} wall, ${summary.cpuRatio.toFixed(3)} cpu ` +
      `(${summary.cores} cores, load average ${summary.loadAverage.map((l) => l.toFixed(1)).join(' ')})`,
    `compiled single-row predict: p50 ${p50.toFixed(2)} us, p99 ${p99.toFixed(2)} us (${compiled.nTrees} trees)`,
    JSON.stringify(summary),
    '',
  ].join('\n'),
);
