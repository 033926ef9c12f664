/**
 * One training run, the same for the `train` Cloud Function and the offline CLI: randomized search with
 * cross-validation on the training split, a refit of the best parameters on the whole training split plus
 * its SMOTE rows, then test metrics (on real, held-out rows) and feature importances.
 */
import { AppError } from '../errors.ts';
import { compileForest } from './compiled-forest.ts';
import { bootstrapCovers, type NodeCovers } from './covers.ts';
import { evaluate, type TestMetrics } from './evaluation.ts';
import { type ForestParams, firstTrees, impurityImportances, trainForest } from './forest.ts';
import type { FeatureName } from './schema.ts';
import { type FoldView, randomizedSearch, type SearchOptions, type SearchResult } from './search.ts';
import { smote } from './smote.ts';
import { stratifiedSample } from './split.ts';
import { createExplainer, meanAbsoluteShap } from './tree-shap.ts';

export type { TestMetrics } from './evaluation.ts';
export type { ForestParams } from './forest.ts';

export interface Matrices {
  X: number[][];
  y: number[];
}

export interface TrainingInput {
  featureNames: FeatureName[];
  /** The training split: real rows only. */
  train: Matrices;
  /** SMOTE rows of the whole training split, if already computed (else computed here with the search seed). */
  synthetic?: Matrices;
  test: Matrices;
  /**
   * The rows the search runs on when they are not the whole training split (a search sample, see
   * search-sample.ts); the refit uses the whole split either way.
   */
  searchRows?: Matrices;
  /**
   * The search's rows (`searchRows`, else the training split) as each cross-validation fold sees them, when their
   * features come from labels (recipe v2).
   */
  foldView?: FoldView;
  /** A search already run elsewhere (the fanned-out fits of the same options); when given, no search runs here. */
  search?: SearchResult;
}

/**
 * The search's options, passed through; `onProgress` here also counts the refit (candidates x folds + 1).
 */
export type TrainingOptions = Omit<SearchOptions, 'foldView'> & {
  /** Test rows the mean |SHAP| is computed over at most (default SHAP_MAX_ROWS). */
  shapMaxRows?: number;
  /**
   * Bytes the refitted forest's JSON, its node covers and the search result may take together in the artifact (the
   * train step passes MODEL_MAX_BYTES less the artifact's other parts, `maxForestBytesOf`). A refit beyond keeps its
   * first trees that fit, which is the forest the same parameters grow with fewer trees, and records it (`treeCap`).
   * Absent: no bound.
   */
  maxForestBytes?: number;
};

/** Present when the refit had more trees than fit in the artifact's byte budget: it keeps its first `keptTrees`. */
export interface TreeCap {
  /** The forest's and covers' byte budget: `maxForestBytes` less the search result's JSON. */
  maxBytes: number;
  /** The chosen candidate's tree count (`search.best.nEstimators`). */
  searchedTrees: number;
  /** The trees kept (`params.nEstimators`): the most whose JSON and covers fit `maxBytes`. */
  keptTrees: number;
  /** Bytes of the whole refitted forest and its covers, which did not fit. */
  refitBytes: number;
}

export interface TrainingResult {
  /** The refitted forest, as `ml-random-forest` JSON. */
  forest: object;
  params: ForestParams;
  search: SearchResult;
  metrics: TestMetrics;
  /** Mean decrease in impurity per feature, summing to 1. */
  importances: Record<FeatureName, number>;
  /** Rows of each tree's bootstrap sample that reached each node, for TreeSHAP. */
  covers: NodeCovers;
  /**
   * Mean |SHAP| of each feature over the test split (or its `shapSample` above SHAP_MAX_ROWS): how far it moves the
   * served probability, on average.
   */
  shapImportances: Record<FeatureName, number>;
  /** Present when the test split had more than SHAP_MAX_ROWS rows: the mean |SHAP| is over this sample of them. */
  shapSample?: ShapSample;
  /** Present when the refit was cut to its first trees to fit `maxForestBytes`. */
  treeCap?: TreeCap;
  seconds: number;
}

/** UTF-8 bytes of `value` as JSON. */
const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/**
 * The most leading trees of `forest` whose JSON and covers take at most `maxBytes` together, and the bytes of the
 * whole forest and covers. The JSON of the first `k` trees is the forest's fixed part plus each kept tree's JSON and
 * column list, comma-separated (likewise the covers), so the count is exact up to the digits of `nEstimators`, which
 * only shrink as trees are dropped.
 */
export function treesWithin(forest: object, covers: NodeCovers, maxBytes: number): { kept: number; bytes: number } {
  const base = (forest as { baseModel: { estimators: unknown[]; indexes: unknown[] } }).baseModel;
  let bytes =
    jsonBytes({ ...forest, baseModel: { ...base, estimators: [], indexes: [] } }) + jsonBytes({ ...covers, trees: [] });
  let kept = 0;
  for (let t = 0; t < base.estimators.length; t++) {
    const tree = jsonBytes(base.estimators[t]) + jsonBytes(base.indexes[t]) + jsonBytes(covers.trees[t] ?? []);
    const next = bytes + tree + (t === 0 ? 0 : 3);
    if (next > maxBytes) break;
    bytes = next;
    kept = t + 1;
  }
  return { kept, bytes: jsonBytes(forest) + jsonBytes(covers) };
}

/**
 * Test rows the mean |SHAP| is computed over at most. TreeSHAP costs each row O(trees x leaves x depth^2): a forest
 * refitted on 40,000 rows explains a row in a large fraction of a second, so the 10,000 test rows of a capped
 * million-row upload would take longer than the train timeout. The mean over 1,000 rows is an estimate whose standard
 * error is at most sd/sqrt(1000) per feature. Smaller test splits are explained whole, as before.
 */
export const SHAP_MAX_ROWS = 1000;

export interface ShapSample {
  /** SHAP_MAX_ROWS: the sample's size. */
  maxRows: number;
  /** Rows of the test split it was drawn from. */
  testRows: number;
  /** Seeds the choice (stratified by outcome, `stratifiedSample`): the search seed. */
  seed: number;
}

export async function trainModel(input: TrainingInput, opts: TrainingOptions): Promise<TrainingResult> {
  const started = performance.now();
  const { seed } = opts;
  const { train, test, featureNames } = input;
  if (train.X.length === 0 || test.X.length === 0) throw new RangeError('training and test splits must not be empty');

  let searchTotal = 0;
  const search =
    input.search ??
    (await randomizedSearch((input.searchRows ?? train).X, (input.searchRows ?? train).y, {
      ...opts,
      featureNames,
      ...(input.foldView === undefined ? {} : { foldView: input.foldView }),
      onProgress: (done, total) => {
        searchTotal = total;
        opts.onProgress?.(done, total + 1);
      },
    }));

  const synthetic = input.synthetic ?? smote(train.X, train.y, { seed });
  let params = search.best;
  const fitX = [...train.X, ...synthetic.X];
  let forest = trainForest(fitX, [...train.y, ...synthetic.y], params);
  opts.onProgress?.(searchTotal + 1, searchTotal + 1);

  let compiled = compileForest(forest);
  let covers = bootstrapCovers(forest, compiled, fitX, params);
  let treeCap: TreeCap | undefined;
  if (opts.maxForestBytes !== undefined) {
    const budget = Math.max(0, opts.maxForestBytes - jsonBytes(search));
    const { kept, bytes } = treesWithin(forest, covers, budget);
    if (kept === 0) {
      throw new AppError(
        'ARTIFACT_INVALID',
        `model artifact: not one tree of the refit fits the ${budget} bytes left for the forest (MODEL_MAX_BYTES)`,
        { maxForestBytes: budget, refitBytes: bytes },
      );
    }
    if (kept < params.nEstimators) {
      treeCap = {
        maxBytes: budget,
        searchedTrees: params.nEstimators,
        keptTrees: kept,
        refitBytes: bytes,
      };
      params = { ...params, nEstimators: kept };
      forest = firstTrees(forest, kept);
      compiled = compileForest(forest);
      covers = { ...covers, trees: covers.trees.slice(0, kept) };
    }
  }
  const metrics = evaluate(
    test.y,
    test.X.map((row) => compiled.probability(row)),
  );
  const weights = impurityImportances(forest, featureNames.length);
  const importances = Object.fromEntries(featureNames.map((name, j) => [name, weights[j] ?? 0])) as Record<
    FeatureName,
    number
  >;
  const shapMaxRows = opts.shapMaxRows ?? SHAP_MAX_ROWS;
  const shapRows = test.X.length > shapMaxRows ? stratifiedSample(test.y, shapMaxRows, seed) : null;
  const meanAbs = meanAbsoluteShap(
    createExplainer(compiled, covers.trees),
    shapRows === null ? test.X : shapRows.map((i) => test.X[i] as number[]),
  );
  const shapImportances = Object.fromEntries(featureNames.map((name, j) => [name, meanAbs[j] ?? 0])) as Record<
    FeatureName,
    number
  >;
  return {
    forest,
    params,
    search,
    metrics,
    importances,
    covers,
    shapImportances,
    ...(shapRows === null ? {} : { shapSample: { maxRows: shapMaxRows, testRows: test.X.length, seed } }),
    ...(treeCap ? { treeCap } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}
