/**
 * Randomized hyper-parameter search with stratified k-fold cross-validation (scikit-learn's
 * `RandomizedSearchCV` with accuracy scoring, sampling the grid without replacement).
 *
 * - Seeded: the candidates, the folds, the SMOTE rows and every forest follow from `seed`, and a result
 *   does not depend on the number of workers or on the order in which they finish.
 * - SMOTE runs inside each training fold only; a fold's scored rows are always real rows of the training
 *   split, never synthetic ones (`planFolds` is where that is decided, and what the tests inspect).
 * - The candidate x fold fits are spread over the calling thread and `workers - 1` worker threads
 *   (node:worker_threads): the calling thread would otherwise sit idle while each worker isolate pays its own
 *   start-up and JIT warm-up. The worker entry is the plain-JS module `search-worker.mjs`, found next to this
 *   module through `import.meta.url`, so it runs unchanged under node, tsx and vitest; a bundle (esbuild, for a
 *   Cloud Function) must emit it as a second entry point beside the bundle (`search-worker.mjs` or
 *   `search-worker.js`). When it is not there, or `workers` is 0 or 1, every fit runs on the calling thread,
 *   with the same results.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RandomForestClassifier, type RandomForestClassifierOptions } from 'ml-random-forest';
import { accuracy, mean, predictedLabel, standardDeviation } from './evaluation.ts';
import { type ForestParams, forestOptions } from './forest.ts';
import { createRng } from './rng.ts';
import { smote } from './smote.ts';
import { stratifiedKFold } from './split.ts';

/** The values each option is drawn from. */
export interface SearchSpace {
  nEstimators: readonly number[];
  maxFeatures: readonly number[];
  maxDepth: readonly number[];
  minNumSamples: readonly number[];
  gainThreshold: readonly number[];
}

/**
 * What the search does, every field given: the defaults are resolved once, in `pipeline.ts`
 * (`resolveSearchOptions`), so the values that decide a result are the values a model version is hashed from.
 */
export interface SearchOptions {
  /** Number of candidates drawn. */
  candidates: number;
  /** Number of folds of one stratified k-fold pass. */
  folds: number;
  /** Stratified k-fold passes, each with its own shuffle (repeat `r` is seeded `seed + r`). */
  repeats: number;
  seed: number;
  space: SearchSpace;
  /**
   * The training split's rows as one fold sees them, given the indices of that fold's held-out rows. Needed when
   * features come from labels (recipe v2's group outcomes): a fold's features are then fitted on its training
   * rows only. Without it every fold sees `X`.
   */
  foldView?: FoldView;
  /**
   * Threads fitting forests, the calling thread included (so 2 = the calling thread + 1 worker thread; 0 or 1 =
   * the calling thread alone). Default: the machine's available parallelism.
   */
  workers?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface CandidateResult {
  params: ForestParams;
  /** Accuracy on each fold's scored rows. */
  scores: number[];
  mean: number;
  /** Population standard deviation of the fold scores. */
  sd: number;
}

/** The training split's rows as the fold holding out `heldOut` (indices into the split) sees them. */
export type FoldView = (heldOut: readonly number[]) => number[][];

export interface SearchResult {
  scoring: 'accuracy';
  folds: number;
  /** Stratified k-fold passes; each candidate has `folds x repeats` scores. */
  repeats: number;
  seed: number;
  candidates: CandidateResult[];
  /** Index into `candidates` of the best mean score (the first one on a tie). */
  bestIndex: number;
  best: ForestParams;
  cvMean: number;
  cvSd: number;
  /** Worker threads actually started besides the calling thread (0 = all fits ran on the calling thread). */
  workers: number;
}

/** One cross-validation fold, ready to fit: real training-fold rows + their SMOTE rows, and the scored rows. */
export interface FoldPlan {
  /** Indices (into the training split) of the real rows the forest is fitted on. */
  fitIndices: number[];
  /** Indices (into the training split) of the scored rows: always real rows. */
  scoredIndices: number[];
  /** Fit matrix: the real fit rows, then the synthetic rows. */
  X: number[][];
  y: number[];
  syntheticCount: number;
  testX: number[][];
  testY: number[];
}

/**
 * The folds of `repeats` stratified k-fold passes (pass `r` shuffled with `seed + r`; pass 0 is the single pass
 * of a non-repeated search). The SMOTE rows of fold `f` of pass `r` are seeded `seed + r * k + f`.
 */
export function planFolds(
  X: readonly number[][],
  y: readonly number[],
  k: number,
  seed: number,
  repeats = 1,
  foldView?: FoldView,
): FoldPlan[] {
  const plans: FoldPlan[] = [];
  for (let r = 0; r < repeats; r++) {
    stratifiedKFold(y, k, seed + r).forEach((fold, f) => {
      const seen = foldView === undefined ? X : foldView(fold.test);
      const fitX = fold.train.map((i) => seen[i] as number[]);
      const fitY = fold.train.map((i) => y[i] as number);
      const synthetic = smote(fitX, fitY, { seed: seed + r * k + f });
      plans.push({
        fitIndices: fold.train,
        scoredIndices: fold.test,
        X: [...fitX, ...synthetic.X],
        y: [...fitY, ...synthetic.y],
        syntheticCount: synthetic.X.length,
        testX: fold.test.map((i) => seen[i] as number[]),
        testY: fold.test.map((i) => y[i] as number),
      });
    });
  }
  return plans;
}

/** Draws `count` distinct parameter sets from the grid (all of it if smaller), seeded. */
export function sampleCandidates(space: SearchSpace, count: number, seed: number, nFeatures: number): ForestParams[] {
  const maxFeatures = [...new Set(space.maxFeatures.map((m) => Math.min(Math.max(2, m), nFeatures)))];
  const axes = [space.nEstimators, maxFeatures, space.maxDepth, space.minNumSamples, space.gainThreshold];
  const size = axes.reduce((n, axis) => n * axis.length, 1);
  const rng = createRng(seed);
  const picked = new Set<number>();
  const out: ForestParams[] = [];
  while (out.length < Math.min(count, size)) {
    const code = rng.int(size);
    if (picked.has(code)) continue;
    picked.add(code);
    let rest = code;
    const at = axes.map((axis) => {
      const v = axis[rest % axis.length] as number;
      rest = Math.floor(rest / axis.length);
      return v;
    });
    const [nEstimators, mf, maxDepth, minNumSamples, gainThreshold] = at as [number, number, number, number, number];
    out.push({ nEstimators, maxFeatures: mf, maxDepth, minNumSamples, gainThreshold, seed });
  }
  return out;
}

/** Votes for class 1 of a forest fitted on (X, y), on testX: what a worker computes. */
export function fitAndVote(
  X: number[][],
  y: number[],
  testX: number[][],
  options: RandomForestClassifierOptions,
): Int32Array {
  const forest = new RandomForestClassifier(options);
  forest.train(X, y);
  const values = forest.predictionValues(testX);
  const votes = new Int32Array(values.rows);
  for (let i = 0; i < values.rows; i++) {
    let v = 0;
    for (const label of values.getRow(i)) if (label === 1) v++;
    votes[i] = v;
  }
  return votes;
}

interface Task {
  id: number;
  fold: number;
  options: RandomForestClassifierOptions;
}

function workerEntry(): URL | null {
  for (const file of ['search-worker.mjs', 'search-worker.js']) {
    try {
      const url = new URL(`./${file}`, import.meta.url);
      if (url.protocol === 'file:' && existsSync(url)) return url;
    } catch {
      // no usable import.meta.url (e.g. a CommonJS bundle): run inline
    }
  }
  return null;
}

/**
 * Runs the tasks on the calling thread and on `workerThreads` worker threads, all taking from one queue
 * (biggest first). A worker always has a second task queued, so it never waits while the calling thread is busy
 * with a fit. Resolves with each task's votes, by task id.
 */
async function runTasks(
  entry: URL | null,
  workerThreads: number,
  plans: FoldPlan[],
  tasks: Task[],
  onDone: () => void,
): Promise<Int32Array[]> {
  const results: Int32Array[] = new Array(tasks.length);
  const queue = [...tasks];
  const folds = plans.map((p) => ({ X: p.X, y: p.y, testX: p.testX }));
  const pool =
    entry === null ? [] : Array.from({ length: workerThreads }, () => new Worker(entry, { workerData: { folds } }));
  let failed: unknown = null;
  try {
    const lanes = pool.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          let inFlight = 0;
          const feed = (): void => {
            while (inFlight < 2 && queue.length > 0 && failed === null) {
              worker.postMessage(queue.shift());
              inFlight++;
            }
            if (inFlight === 0) resolve();
          };
          worker.on('message', (msg: { id: number; votes?: Int32Array; error?: string }) => {
            inFlight--;
            if (msg.error !== undefined || msg.votes === undefined) {
              failed = new Error(`search worker failed: ${msg.error ?? 'no votes'}`);
              reject(failed);
              return;
            }
            results[msg.id] = msg.votes;
            onDone();
            feed();
          });
          worker.on('error', (err) => {
            failed = err;
            reject(err);
          });
          worker.on('exit', (code) => {
            if (inFlight > 0) reject(new Error(`search worker exited with code ${code}`));
          });
          feed();
        }),
    );
    const callingThread = (async () => {
      for (let task = queue.shift(); task !== undefined && failed === null; task = queue.shift()) {
        const plan = plans[task.fold] as FoldPlan;
        results[task.id] = fitAndVote(plan.X, plan.y, plan.testX, task.options);
        onDone();
        // let the workers' results in (and hand them their next tasks) between two fits
        if (pool.length > 0) await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await Promise.all([...lanes, callingThread]);
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}

export async function randomizedSearch(
  X: readonly number[][],
  y: readonly number[],
  opts: SearchOptions,
): Promise<SearchResult> {
  const { folds, seed, repeats } = opts;
  const nFeatures = X[0]?.length ?? 0;
  const candidates = sampleCandidates(opts.space, opts.candidates, seed, nFeatures);
  const plans = planFolds(X, y, folds, seed, repeats, opts.foldView);
  const { scores, workers } = await scoreCandidates(plans, candidates, nFeatures, opts);
  return summarizeSearch(candidates, scores, { folds, repeats, seed, workers });
}

/**
 * The fold accuracies of each candidate (`scores[c][f]`), fitting every candidate x fold on the calling thread and
 * the worker threads. `workers` in the answer is the number of worker threads actually started.
 */
export async function scoreCandidates(
  plans: FoldPlan[],
  candidates: readonly ForestParams[],
  nFeatures: number,
  opts: Pick<SearchOptions, 'workers' | 'onProgress'> = {},
): Promise<{ scores: number[][]; workers: number }> {
  // Biggest forests first, so the last tasks to finish are short ones (balances the threads).
  const tasks: Task[] = [];
  candidates.forEach((params, c) => {
    for (let f = 0; f < plans.length; f++) {
      tasks.push({ id: c * plans.length + f, fold: f, options: forestOptions(params, nFeatures) });
    }
  });
  const ordered = [...tasks].sort((a, b) => (b.options.nEstimators ?? 0) - (a.options.nEstimators ?? 0) || a.id - b.id);

  let done = 0;
  const total = tasks.length;
  const onDone = (): void => {
    done++;
    opts.onProgress?.(done, total);
  };
  const entry = workerEntry();
  // `workers` counts the threads that fit forests, the calling thread included
  const threads = Math.max(1, Math.min(opts.workers ?? availableParallelism(), tasks.length));
  const workerThreads = entry === null ? 0 : threads - 1;
  const votes = await runTasks(entry, workerThreads, plans, ordered, onDone);

  const scores = candidates.map((params, c) =>
    plans.map((plan, f) => {
      const v = votes[c * plans.length + f] as Int32Array;
      const predicted = Array.from(v, (count) => predictedLabel(count / params.nEstimators));
      return accuracy(plan.testY, predicted);
    }),
  );
  return { scores, workers: workerThreads };
}

/** The search result from every candidate's fold scores: the best mean accuracy wins, the first one on a tie. */
export function summarizeSearch(
  candidates: readonly ForestParams[],
  scores: readonly (readonly number[])[],
  info: { folds: number; repeats: number; seed: number; workers: number },
): SearchResult {
  if (scores.length !== candidates.length)
    throw new RangeError(`${candidates.length} candidates but ${scores.length} score lists`);
  const results: CandidateResult[] = candidates.map((params, c) => {
    const fold = [...(scores[c] as readonly number[])];
    if (fold.length !== info.folds * info.repeats)
      throw new RangeError(`candidate ${c} has ${fold.length} fold scores, expected ${info.folds * info.repeats}`);
    return { params, scores: fold, mean: mean(fold), sd: standardDeviation(fold) };
  });
  let bestIndex = 0;
  results.forEach((r, i) => {
    if (r.mean > (results[bestIndex] as CandidateResult).mean) bestIndex = i;
  });
  const best = results[bestIndex] as CandidateResult;
  return {
    scoring: 'accuracy',
    folds: info.folds,
    repeats: info.repeats,
    seed: info.seed,
    candidates: results,
    bestIndex,
    best: best.params,
    cvMean: best.mean,
    cvSd: best.sd,
    workers: info.workers,
  };
}

/**
 * One candidate of the search, scored on every fold: what a fanned-out search runs per branch (the fit function).
 * The candidates and folds follow from the same options and seed as `randomizedSearch`, so the scores of candidate
 * `index` are exactly the ones the single-call search computes for it.
 */
export async function scoreOneCandidate(
  X: readonly number[][],
  y: readonly number[],
  index: number,
  opts: Omit<SearchOptions, 'onProgress'>,
): Promise<{ params: ForestParams; scores: number[] }> {
  const nFeatures = X[0]?.length ?? 0;
  const { seed } = opts;
  const candidates = sampleCandidates(opts.space, opts.candidates, seed, nFeatures);
  const params = candidates[index];
  if (!Number.isInteger(index) || params === undefined)
    throw new RangeError(`candidate ${index} does not exist: the search has ${candidates.length} candidates`);
  const plans = planFolds(X, y, opts.folds, seed, opts.repeats, opts.foldView);
  const { scores } = await scoreCandidates(plans, [params], nFeatures, opts);
  return { params, scores: scores[0] as number[] };
}

/**
 * The search result of a fanned-out search, from the fold scores each branch returned (`scores[c]` for candidate
 * `c`): the same candidates as `randomizedSearch` with the same options, and the same selection.
 */
export function searchFromScores(
  nFeatures: number,
  scores: readonly (readonly number[])[],
  opts: Omit<SearchOptions, 'onProgress' | 'workers' | 'foldView'>,
): SearchResult {
  const { seed } = opts;
  const candidates = sampleCandidates(opts.space, opts.candidates, seed, nFeatures);
  return summarizeSearch(candidates, scores, { folds: opts.folds, repeats: opts.repeats, seed, workers: 0 });
}
