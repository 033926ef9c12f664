/**
 * `npm run bench:train [-- --runs N --candidates N]`: our default training run against the seed's
 * scikit-learn recipe, in the same run on the same machine, on the same features and the same 80% split.
 *
 * Ours: trainModel with the default search (10 candidates x 2 x 5 folds, SMOTE inside the training folds, worker
 * threads), then the refit. Theirs (bench/sklearn_recipe.py, Debian's python3-sklearn):
 * RandomizedSearchCV(RandomForestClassifier(random_state=42), n_iter=10, cv=3) over the seed's grid, fitted on
 * the training split plus its SMOTE rows (the seed applied SMOTE before the search). Each run times both, the
 * first one alternating; the ratio reported is the median of the per-run ratios (ours / scikit-learn), wall
 * time and CPU time (ours counts its worker threads).
 * Then the compiled single-row prediction time of our final forest (p50 over many calls, microseconds).
 *
 * `--process` times whole processes instead, start-up included, as a user sees them: `npm run train` on
 * data/titanic.csv (the CLI bundle, cli/launch.mjs) and `python3 bench/sklearn_recipe.py` (interpreter and
 * scikit-learn imports included), wall and CPU (children included, from /usr/bin/time); with `--baseline DIR`,
 * also `npm run train` in DIR (another checkout, e.g. `git archive <commit> | tar -x -C DIR` with a node_modules
 * link, to compare two versions in the same run). Each CLI's outside-the-search time is
 * its wall time minus the `seconds` of its summary (the search and the refit). `--repeats` and `--folds` are
 * passed to both CLIs: `--repeats 1 --folds 3` makes our search the same 30 fits as scikit-learn's 10 x 3.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileForest } from '../shared/core/compiled-forest.ts';
import { FEATURE_SET_DEFAULTS, resolveSearchOptions, SEARCH_DEFAULTS } from '../shared/core/pipeline.ts';
import { trainModel } from '../shared/core/training.ts';
import { threadPoolRunner } from '../shared/runtime/search-pool.ts';
import { loadTitanic } from '../test/support/titanic.ts';

const PYTHON = '/usr/bin/python3';
const RECIPE = new URL('./sklearn_recipe.py', import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

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
  options: {
    runs: { type: 'string', default: '3' },
    candidates: { type: 'string', default: '10' },
    process: { type: 'boolean', default: false },
    repeats: { type: 'string' },
    folds: { type: 'string' },
    baseline: { type: 'string' },
  },
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

if (values.process) {
  await wholeProcesses();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

interface Timed {
  wall: number;
  cpu: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time: wall and CPU seconds (user + system, children included). */
function timed(command: string, args: string[], opts: { cwd?: string } = {}): Timed {
  const out = spawnSync('/usr/bin/time', ['-f', 'TIMED %e %U %S', command, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd ?? ROOT,
    maxBuffer: 64 << 20,
  });
  if (out.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${out.status}): ${out.stderr}`);
  const line = out.stderr.split('\n').find((l) => l.startsWith('TIMED ')) as string;
  const [wall, user, sys] = line.slice(6).split(' ').map(Number) as [number, number, number];
  return { wall, cpu: user + sys, stdout: out.stdout };
}

async function wholeProcesses(): Promise<void> {
  const extra = [
    '--candidates',
    String(candidates),
    ...(values.repeats === undefined ? [] : ['--repeats', values.repeats]),
    ...(values.folds === undefined ? [] : ['--folds', values.folds]),
  ];
  const csv = join(ROOT, 'data', 'titanic.csv');
  const variants: Record<string, () => Timed> = {
    'npm run train': () =>
      timed('npm', ['run', '--silent', 'train', '--', csv, '--out', join(dir, 'a.json'), ...extra]),
    ...(values.baseline === undefined
      ? {}
      : {
          [`npm run train in ${values.baseline}`]: () =>
            timed('npm', ['run', '--silent', 'train', '--', csv, '--out', join(dir, 'b.json'), ...extra], {
              cwd: values.baseline as string,
            }),
        }),
    'scikit-learn': () => timed(PYTHON, [RECIPE.pathname, matricesPath]),
  };
  const names = Object.keys(variants);
  const results: Record<string, Array<{ wall: number; cpu: number; search?: number; fitSeconds?: number }>> = {};
  for (const name of names) results[name] = [];
  const loads: number[][] = [];
  for (let r = 0; r < runs; r++) {
    // rotate who goes first, so a change in machine load does not always favour the same one
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length] as string;
      const t = (variants[name] as () => Timed)();
      const last = JSON.parse(t.stdout.trim().split('\n').at(-1) as string) as { seconds: number };
      results[name]?.push(
        name === 'scikit-learn' ? { ...t, fitSeconds: last.seconds } : { ...t, search: last.seconds },
      );
    }
    loads.push(loadavg());
    process.stderr.write(
      `run ${r + 1}/${runs}: ${names.map((n) => `${n} ${results[n]?.at(-1)?.wall.toFixed(2)} s`).join(', ')}\n`,
    );
  }
  const sk = results['scikit-learn'] as Array<{ wall: number; cpu: number }>;
  const summary = Object.fromEntries(
    names.map((name) => {
      const rs = results[name] as Array<{ wall: number; cpu: number; search?: number }>;
      return [
        name,
        {
          wall: rs.map((x) => x.wall),
          cpu: rs.map((x) => Number(x.cpu.toFixed(2))),
          medianWall: median(rs.map((x) => x.wall)),
          medianCpu: median(rs.map((x) => x.cpu)),
          ...(name === 'scikit-learn'
            ? {}
            : {
                outsideSearch: rs.map((x) => Number((x.wall - (x.search as number)).toFixed(2))),
                medianOutsideSearch: median(rs.map((x) => x.wall - (x.search as number))),
                wallRatio: median(rs.map((x, i) => x.wall / (sk[i] as { wall: number }).wall)),
                cpuRatio: median(rs.map((x, i) => x.cpu / (sk[i] as { cpu: number }).cpu)),
              }),
        },
      ];
    }),
  );
  const lines = names.map((name) => {
    const s = summary[name] as (typeof summary)[string] & { wallRatio?: number; cpuRatio?: number };
    const ratio =
      s.wallRatio === undefined
        ? ''
        : `; / scikit-learn (median of ${runs} paired runs): ${s.wallRatio.toFixed(3)} wall, ${(s.cpuRatio as number).toFixed(3)} cpu; outside the search ${(s as { medianOutsideSearch: number }).medianOutsideSearch.toFixed(2)} s median`;
    return `${name.padEnd(17)} wall ${s.medianWall.toFixed(2)} s median (${s.wall.join(', ')}), cpu ${s.medianCpu.toFixed(2)} s median (${s.cpu.join(', ')})${ratio}`;
  });
  process.stdout.write(
    [
      `whole processes, ours: ${extra.join(' ')}; scikit-learn: 10 candidates x 3 folds; ${availableParallelism()} cores`,
      ...lines,
      `load average after each run: ${loads.map((l) => l.map((x) => x.toFixed(1)).join(' ')).join(' | ')}`,
      JSON.stringify({ runs, args: extra, results: summary, loadAverages: loads }),
      '',
    ].join('\n'),
  );
}

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
    search: `${candidates} candidates x ${SEARCH_DEFAULTS.repeats} x ${SEARCH_DEFAULTS.folds} folds, recipe v${FEATURE_SET_DEFAULTS.recipeVersion}`,
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
