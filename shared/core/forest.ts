/**
 * The random forest: `ml-random-forest` 2.1 (with `ml-cart` 2.1 trees, whose split search is patched in
 * `patches/ml-cart+2.1.1.patch` to a presorted sweep that builds the same trees, much faster).
 *
 * Defects of the library that this module works around rather than inherits:
 * - `predictProbability` drops the first tree's vote: the probability here is the share of tree votes,
 *   counted from `predictionValues` (and by the compiled predictor, which matches it vote for vote).
 * - `maxFeatures: 1` means "all columns", and columns are drawn once per tree (not per split), with
 *   replacement by default, so a tree could get the same column twice. `ForestParams.maxFeatures` is
 *   therefore a column count in [2, nFeatures], and the columns are drawn without replacement.
 *   `ForestParams.maxFeaturesPerSplit` (optional) adds scikit-learn's per-split draw, which the patched
 *   `ml-cart` implements (`treeOptions.maxFeaturesPerSplit`); without it the trees are the library's.
 * - `featureImportance()` can be negative and is NaN after `load`: importances are computed here, as the
 *   mean decrease in Gini impurity of the trees (see `impurityImportances`).
 * - The out-of-bag pass runs a prediction per tree at training time and nobody reads it: it is off.
 */
import { RandomForestClassifier, type RandomForestClassifierOptions } from 'ml-random-forest';

export interface ForestParams {
  /** Number of trees. */
  nEstimators: number;
  /** Number of distinct columns each tree sees, in [2, nFeatures] (drawn once per tree, without replacement). */
  maxFeatures: number;
  /**
   * Optional: number of the tree's columns each split considers, in [1, maxFeatures], drawn afresh at every
   * split (scikit-learn's `max_features`; columns constant at the node do not count). Absent: every split
   * considers all of the tree's columns, exactly as the published library.
   */
  maxFeaturesPerSplit?: number;
  /** Deepest split level of a tree (the root is depth 0). */
  maxDepth: number;
  /** A node with this many rows or fewer becomes a leaf. */
  minNumSamples: number;
  /** A split must lower the Gini impurity by more than this. */
  gainThreshold: number;
  /** Seed of the bootstrap and column draws. */
  seed: number;
  /**
   * The recipe's columns the forest may use (indices, ascending), when a candidate of the search is restricted to a
   * subset of them; absent: every column. `maxFeatures` then counts within the subset. The fitted forest is still a
   * forest over every column (its per-tree column lists are mapped back), so it predicts from the recipe's rows.
   */
  columns?: number[];
}

/** The columns a forest with `params` is fitted on, out of `nFeatures`. */
export function fittedColumns(params: ForestParams, nFeatures: number): number[] {
  const columns = params.columns ?? Array.from({ length: nFeatures }, (_, j) => j);
  for (const [i, c] of columns.entries()) {
    if (!Number.isInteger(c) || c < 0 || c >= nFeatures || (i > 0 && c <= (columns[i - 1] as number))) {
      throw new RangeError(`columns must be ascending column indices in [0, ${nFeatures - 1}], got ${columns}`);
    }
  }
  return columns;
}

/** The rows of `X` restricted to `columns` (the rows themselves when `columns` is every column). */
export function projectColumns(X: readonly (readonly number[])[], columns: readonly number[]): number[][] {
  const width = X[0]?.length ?? 0;
  if (columns.length === width) return X as number[][];
  return X.map((row) => columns.map((c) => row[c] as number));
}

/** The exact `ml-random-forest` options a `ForestParams` stands for. */
export function forestOptions(params: ForestParams, nFeatures: number): RandomForestClassifierOptions {
  if (params.columns !== undefined) nFeatures = params.columns.length;
  if (!Number.isInteger(params.maxFeatures) || params.maxFeatures < 2 || params.maxFeatures > nFeatures) {
    // 1 would be read by the library as "100% of the columns"
    throw new RangeError(`maxFeatures must be an integer in [2, ${nFeatures}], got ${params.maxFeatures}`);
  }
  if (!Number.isInteger(params.nEstimators) || params.nEstimators < 1) {
    throw new RangeError(`nEstimators must be a positive integer, got ${params.nEstimators}`);
  }
  const perSplit = params.maxFeaturesPerSplit;
  if (perSplit !== undefined && (!Number.isInteger(perSplit) || perSplit < 1 || perSplit > params.maxFeatures)) {
    throw new RangeError(`maxFeaturesPerSplit must be an integer in [1, ${params.maxFeatures}], got ${perSplit}`);
  }
  return {
    nEstimators: params.nEstimators,
    maxFeatures: params.maxFeatures,
    replacement: false,
    seed: params.seed,
    useSampleBagging: true,
    noOOB: true,
    treeOptions: {
      gainFunction: 'gini',
      splitFunction: 'mean',
      minNumSamples: params.minNumSamples,
      maxDepth: params.maxDepth,
      gainThreshold: params.gainThreshold,
      // only when asked for: the default options (and the forest JSON) stay the library's
      ...(perSplit !== undefined ? { maxFeaturesPerSplit: perSplit } : {}),
    },
  };
}

/** Trains a forest and returns its `ml-random-forest` JSON (a plain object, as `RandomForestClassifier.load` takes). */
export function trainForest(X: readonly (readonly number[])[], y: readonly number[], params: ForestParams): object {
  const nFeatures = X[0]?.length ?? 0;
  const columns = fittedColumns(params, nFeatures);
  const forest = new RandomForestClassifier(forestOptions(params, nFeatures));
  forest.train(projectColumns(X, columns), y as number[]);
  const json = JSON.parse(JSON.stringify(forest.toJSON())) as { baseModel?: { indexes?: number[][] } };
  if (params.columns !== undefined && json.baseModel?.indexes !== undefined) {
    // each tree's columns, from positions in the subset back to the recipe's columns
    json.baseModel.indexes = json.baseModel.indexes.map((tree) => tree.map((j) => columns[j] as number));
  }
  return json;
}

/**
 * The forest of its first `k` trees, as `ml-random-forest` JSON. The library draws each tree's bootstrap rows and
 * columns from one seed chain, tree after tree, so this is the forest `trainForest` grows with `nEstimators: k` and
 * the same seed, tree for tree (the tests check it).
 */
export function firstTrees(forestJson: object, k: number): object {
  const json = forestJson as { baseModel: { estimators: unknown[]; indexes: unknown[]; nEstimators: number } };
  const base = json.baseModel;
  if (!Number.isInteger(k) || k < 1 || k > base.estimators.length) {
    throw new RangeError(`k must be an integer in [1, ${base.estimators.length}], got ${k}`);
  }
  return {
    ...json,
    baseModel: {
      ...base,
      nEstimators: k,
      estimators: base.estimators.slice(0, k),
      indexes: base.indexes.slice(0, k),
    },
  };
}

/**
 * Votes for class 1 per row, counted by `ml-random-forest` itself (`predictionValues`): the reference the
 * compiled predictor is tested against. Slow; serving uses `compileForest`.
 */
export function libraryVotes(forestJson: object, X: readonly (readonly number[])[]): number[] {
  const forest = RandomForestClassifier.load(forestJson);
  const values = forest.predictionValues(X as number[][]);
  const votes: number[] = [];
  for (let i = 0; i < values.rows; i++) {
    let v = 0;
    for (const label of values.getRow(i)) if (label === 1) v++;
    votes.push(v);
  }
  return votes;
}

interface TreeNodeJson {
  splitColumn?: number;
  gain?: number | null;
  numberSamples?: number;
  left?: TreeNodeJson;
  right?: TreeNodeJson;
}

/**
 * Mean decrease in impurity (scikit-learn's `feature_importances_` semantics): each split adds
 * `rows at the node x Gini gain` to its column; each tree is normalised to sum 1, trees are averaged and the
 * result normalised to sum 1. Every value is finite and >= 0 (a split's gain is above the threshold >= 0).
 * Returned in global column order (a tree's local columns are mapped back through the forest's `indexes`).
 */
export function impurityImportances(forestJson: object, nFeatures: number): number[] {
  const base = (forestJson as { baseModel?: { estimators?: unknown; indexes?: unknown } }).baseModel;
  const estimators = (base?.estimators ?? []) as Array<{ root: TreeNodeJson }>;
  const indexes = (base?.indexes ?? []) as number[][];
  const total = new Array<number>(nFeatures).fill(0);
  estimators.forEach((tree, t) => {
    const perTree = new Array<number>(nFeatures).fill(0);
    const columns = indexes[t] ?? [];
    const stack: TreeNodeJson[] = [tree.root];
    while (stack.length > 0) {
      const node = stack.pop() as TreeNodeJson;
      if (node.left === undefined || node.right === undefined) continue;
      const column = columns[node.splitColumn ?? -1];
      const decrease = (node.gain ?? 0) * (node.numberSamples ?? 0);
      if (column !== undefined && Number.isFinite(decrease) && decrease > 0)
        perTree[column] = (perTree[column] ?? 0) + decrease;
      stack.push(node.left, node.right);
    }
    const sum = perTree.reduce((a, b) => a + b, 0);
    if (sum > 0) for (let j = 0; j < nFeatures; j++) total[j] = (total[j] ?? 0) + (perTree[j] ?? 0) / sum;
  });
  const sum = total.reduce((a, b) => a + b, 0);
  return total.map((v) => (sum > 0 ? v / sum : 0));
}
