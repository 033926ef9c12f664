/**
 * Randomized hyper-parameter search with stratified k-fold cross-validation (scikit-learn's
 * `RandomizedSearchCV` with accuracy scoring, sampling the grid without replacement).
 *
 * - Seeded: the candidates, the folds, the SMOTE rows and every forest follow from `seed`, and a result
 *   does not depend on the number of workers or on the order in which they finish.
 * - SMOTE runs inside each training fold only; a fold's scored rows are always real rows of the training
 *   split, never synthetic ones (`planFolds` is where that is decided, and what the tests inspect).
 * - The candidate x fold fits are handed to a `SearchRunner`. The core's own (`inlineRunner`, the default) fits
 *   them one after another on the calling thread; the thread pool that spreads them over worker threads is a
 *   runtime concern and lives outside the core (shared/runtime/search-pool.ts). A task's votes depend only on
 *   the task, so the result does not depend on the runner.
 */
import { RandomForestClassifier, type RandomForestClassifierOptions } from 'ml-random-forest';
import { accuracy, mean, predictedLabel, standardDeviation } from './evaluation.ts';
import { type ForestParams, fittedColumns, forestOptions, projectColumns } from './forest.ts';
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
  /**
   * The column sets a candidate may be restricted to, by feature name; `null` is every column. A set naming a
   * feature the recipe does not have is not drawn (recipe v1 has no group columns). Absent: every column only.
   */
  columnSets?: readonly (readonly string[] | null)[];
  /**
   * Optional axis: columns each split considers (`ForestParams.maxFeaturesPerSplit`), clipped to the candidate's
   * `maxFeatures`. Absent (or empty): no per-split draw, and the same candidates as a space without the axis.
   */
  maxFeaturesPerSplit?: readonly number[];
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
  /** The recipe's feature names, in column order: what the space's `columnSets` are resolved against. */
  featureNames?: readonly string[];
  /**
   * The training split's rows as one fold sees them, given the indices of that fold's held-out rows. Needed when
   * features come from labels (recipe v2's group outcomes): a fold's features are then fitted on its training
   * rows only. Without it every fold sees `X`.
   */
  foldView?: FoldView;
  /** Who fits the candidate x fold forests. Default: `inlineRunner`, one after another on the calling thread. */
  runner?: SearchRunner;
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

/**
 * The space's column sets as column indices of the recipe's features (`undefined`: every column), the sets that
 * name a feature the recipe lacks left out. Without `featureNames` only "every column" can be resolved.
 */
export function resolveColumnSets(
  space: SearchSpace,
  nFeatures: number,
  featureNames?: readonly string[],
): (number[] | undefined)[] {
  const sets = space.columnSets ?? [null];
  const out: (number[] | undefined)[] = [];
  for (const set of sets) {
    if (set === null) {
      out.push(undefined);
      continue;
    }
    if (featureNames === undefined) {
      throw new RangeError('the search space restricts columns by name: the search needs the feature names');
    }
    if (featureNames.length !== nFeatures) {
      throw new RangeError(`${featureNames.length} feature names for ${nFeatures} columns`);
    }
    const indices = set.map((name) => featureNames.indexOf(name));
    if (indices.some((j) => j < 0)) continue;
    const sorted = [...new Set(indices)].sort((a, b) => a - b);
    if (sorted.length < 2) throw new RangeError(`a column set needs at least 2 columns, got ${set.join(', ')}`);
    out.push(sorted.length === nFeatures ? undefined : sorted);
  }
  return out;
}

/** Draws `count` distinct parameter sets from the grid (all of it if smaller), seeded. */
export function sampleCandidates(
  space: SearchSpace,
  count: number,
  seed: number,
  nFeatures: number,
  featureNames?: readonly string[],
): ForestParams[] {
  const maxFeatures = [...new Set(space.maxFeatures.map((m) => Math.min(Math.max(2, m), nFeatures)))];
  const columnSets = resolveColumnSets(space, nFeatures, featureNames);
  const perSplit = space.maxFeaturesPerSplit ?? [];
  const axes = [space.nEstimators, maxFeatures, space.maxDepth, space.minNumSamples, space.gainThreshold];
  // the optional axes come last (per-split, then column sets), so a space without them decodes its codes as before
  if (perSplit.length > 0) axes.push(perSplit);
  const size = axes.reduce((n, axis) => n * axis.length, 1) * columnSets.length;
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
    const [nEstimators, mf, maxDepth, minNumSamples, gainThreshold, split] = at as [
      number,
      number,
      number,
      number,
      number,
      number | undefined,
    ];
    const columns = columnSets[rest % columnSets.length];
    const params: ForestParams = { nEstimators, maxFeatures: mf, maxDepth, minNumSamples, gainThreshold, seed };
    if (columns !== undefined) {
      params.maxFeatures = Math.min(mf, columns.length);
      params.columns = columns;
    }
    if (split !== undefined) params.maxFeaturesPerSplit = Math.min(Math.max(1, split), params.maxFeatures);
    out.push(params);
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

/** One fit of the search: a forest with `options` fitted on fold `fold`, voting on that fold's scored rows. */
export interface FitTask {
  id: number;
  fold: number;
  options: RandomForestClassifierOptions;
}

/** A fold as a runner sees it: the fit matrix (real rows, then synthetic ones) and the scored rows. */
export interface FoldData {
  X: number[][];
  y: number[];
  testX: number[][];
}

/**
 * Fits the search's tasks and answers each task's votes, by task id, with the number of worker threads it
 * used besides the calling thread. `onDone` is called once per finished task (progress).
 */
export interface SearchRunner {
  run(
    folds: readonly FoldData[],
    tasks: readonly FitTask[],
    onDone: () => void,
  ): Promise<{ votes: Int32Array[]; workers: number }>;
}

/** The core's runner: every fit on the calling thread, in the order given. */
export const inlineRunner: SearchRunner = {
  async run(folds, tasks, onDone) {
    const votes: Int32Array[] = new Array(tasks.length);
    for (const task of tasks) {
      const fold = folds[task.fold] as FoldData;
      votes[task.id] = fitAndVote(fold.X, fold.y, fold.testX, task.options);
      onDone();
    }
    return { votes, workers: 0 };
  },
};

export async function randomizedSearch(
  X: readonly number[][],
  y: readonly number[],
  opts: SearchOptions,
): Promise<SearchResult> {
  const { folds, seed, repeats } = opts;
  const nFeatures = X[0]?.length ?? 0;
  const candidates = sampleCandidates(opts.space, opts.candidates, seed, nFeatures, opts.featureNames);
  const plans = planFolds(X, y, folds, seed, repeats, opts.foldView);
  const { scores, workers } = await scoreCandidates(plans, candidates, nFeatures, opts);
  return summarizeSearch(candidates, scores, { folds, repeats, seed, workers });
}

/**
 * The fold accuracies of each candidate (`scores[c][f]`), every candidate x fold fitted on the calling thread and
 * the worker threads of `opts.runner` (inline by default). `workers` in the answer is the number of worker threads
 * the runner started.
 */
export async function scoreCandidates(
  plans: FoldPlan[],
  candidates: readonly ForestParams[],
  nFeatures: number,
  opts: Pick<SearchOptions, 'runner' | 'onProgress'> = {},
): Promise<{ scores: number[][]; workers: number }> {
  // A candidate restricted to a column subset is fitted on the folds' rows projected to it: one copy of the
  // folds per distinct column set, shared by the candidates that use it.
  const folds: FoldData[] = [];
  const foldBase = new Map<string, number>();
  const baseOf = (params: ForestParams): number => {
    const columns = fittedColumns(params, nFeatures);
    const key = columns.join(',');
    let base = foldBase.get(key);
    if (base === undefined) {
      base = folds.length;
      foldBase.set(key, base);
      for (const p of plans) {
        folds.push({ X: projectColumns(p.X, columns), y: p.y, testX: projectColumns(p.testX, columns) });
      }
    }
    return base;
  };
  // Biggest forests first, so the last tasks to finish are short ones (balances the threads).
  const tasks: FitTask[] = [];
  candidates.forEach((params, c) => {
    const base = baseOf(params);
    for (let f = 0; f < plans.length; f++) {
      tasks.push({ id: c * plans.length + f, fold: base + f, options: forestOptions(params, nFeatures) });
    }
  });
  const ordered = [...tasks].sort((a, b) => (b.options.nEstimators ?? 0) - (a.options.nEstimators ?? 0) || a.id - b.id);

  let done = 0;
  const total = tasks.length;
  const onDone = (): void => {
    done++;
    opts.onProgress?.(done, total);
  };
  const { votes, workers } = await (opts.runner ?? inlineRunner).run(folds, ordered, onDone);

  const scores = candidates.map((params, c) =>
    plans.map((plan, f) => {
      const v = votes[c * plans.length + f] as Int32Array;
      const predicted = Array.from(v, (count) => predictedLabel(count / params.nEstimators));
      return accuracy(plan.testY, predicted);
    }),
  );
  return { scores, workers };
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
  const candidates = sampleCandidates(opts.space, opts.candidates, seed, nFeatures, opts.featureNames);
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
  opts: Omit<SearchOptions, 'onProgress' | 'runner' | 'foldView'>,
): SearchResult {
  const { seed } = opts;
  const candidates = sampleCandidates(opts.space, opts.candidates, seed, nFeatures, opts.featureNames);
  return summarizeSearch(candidates, scores, { folds: opts.folds, repeats: opts.repeats, seed, workers: 0 });
}
