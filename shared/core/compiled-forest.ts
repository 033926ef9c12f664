/**
 * The serving form of a forest: every tree of an `ml-random-forest` JSON flattened into typed arrays, so one
 * row is predicted by walking index arrays (no objects, no matrices). It gives exactly the votes of
 * `RandomForestClassifier.predictionValues` (same comparisons `row[column] < splitValue`, same leaf
 * rule, same first-maximum tie break), which `compiled-forest.test.ts` checks on every row of the data.
 */
import { AppError } from '../errors.ts';

export interface CompiledForest {
  readonly nTrees: number;
  /** Number of nodes over all trees (leaves included). */
  readonly nNodes: number;
  /** Number of columns a row must have (the forest's training width). */
  readonly nFeatures: number;
  /** Number of trees voting for class 1 ("survived"). */
  votes(row: ArrayLike<number>): number;
  /** Share of trees voting for class 1: votes / nTrees (every tree counts, the first one included). */
  probability(row: ArrayLike<number>): number;
  /**
   * `votes` of every row, in order (identical counts). Walks tree by tree over all rows, so each tree's nodes
   * stay in cache while the rows pass through it: several times faster than row by row for large batches.
   */
  votesBatch(rows: readonly ArrayLike<number>[]): Int32Array;
  /** The flattened trees, read by the explainer (`tree-shap.ts`); never written to. */
  readonly nodes: ForestNodes;
}

/**
 * Every node of every tree, in typed arrays indexed by node. A split node `n` sends a row to `left[n]` when
 * `row[feature[n]] < threshold[n]` and to `left[n] + 1` otherwise; a leaf has `feature[n] === -1` and
 * `left[n]` = the class it votes for. Walking a tree from `roots[t]` and visiting the left child before the
 * right one meets its nodes in the depth-first pre-order of the tree JSON.
 */
export interface ForestNodes {
  readonly feature: Int32Array;
  readonly threshold: Float64Array;
  readonly left: Int32Array;
  readonly roots: Int32Array;
}

interface NodeJson {
  splitColumn?: unknown;
  splitValue?: unknown;
  distribution?: unknown;
  left?: unknown;
  right?: unknown;
}

function invalid(message: string): AppError {
  return new AppError('ARTIFACT_INVALID', `forest: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The class a leaf votes for: the first index of the largest share (as ml-matrix `maxRowIndex`). */
function leafClass(distribution: unknown): number {
  const row = Array.isArray(distribution) && Array.isArray(distribution[0]) ? (distribution[0] as unknown[]) : null;
  if (row === null || row.length === 0 || !row.every((v) => typeof v === 'number')) {
    throw invalid('a leaf has no class distribution');
  }
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}

export function compileForest(forestJson: unknown): CompiledForest {
  if (!isObject(forestJson) || forestJson.name !== 'RFClassifier' || !isObject(forestJson.baseModel)) {
    throw invalid('not an ml-random-forest classifier');
  }
  const base = forestJson.baseModel;
  const estimators = base.estimators;
  const indexes = base.indexes;
  if (!Array.isArray(estimators) || !Array.isArray(indexes) || estimators.length !== indexes.length) {
    throw invalid('estimators and indexes are missing or differ in length');
  }
  if (estimators.length === 0) throw invalid('the forest has no trees');

  const feature: number[] = [];
  const threshold: number[] = [];
  const left: number[] = [];
  const right: number[] = [];
  const roots: number[] = [];
  let nFeatures = 0;

  estimators.forEach((tree, t) => {
    const columns = indexes[t];
    if (!Array.isArray(columns) || !columns.every((c) => Number.isInteger(c) && c >= 0)) {
      throw invalid(`tree ${t} has no column index`);
    }
    for (const c of columns as number[]) nFeatures = Math.max(nFeatures, c + 1);
    if (!isObject(tree) || !isObject(tree.root)) throw invalid(`tree ${t} has no root`);
    // Depth-first, iteratively (a degenerate tree can be deeper than the call stack)
    const allocate = (): number => {
      feature.push(-1);
      threshold.push(0);
      left.push(-1);
      right.push(-1);
      return feature.length - 1;
    };
    const stack: Array<{ node: NodeJson; slot: number }> = [{ node: tree.root as NodeJson, slot: allocate() }];
    roots.push(stack[0]?.slot as number);
    while (stack.length > 0) {
      const { node, slot } = stack.pop() as { node: NodeJson; slot: number };
      if (node.distribution !== undefined) {
        // a leaf (the rule `DecisionTreeClassifier.load` uses); left holds the class it votes for
        left[slot] = leafClass(node.distribution);
        continue;
      }
      const local = node.splitColumn;
      const column = typeof local === 'number' ? (columns as number[])[local] : undefined;
      if (
        column === undefined ||
        typeof node.splitValue !== 'number' ||
        !isObject(node.left) ||
        !isObject(node.right)
      ) {
        throw invalid(`tree ${t} has a malformed split node`);
      }
      feature[slot] = column;
      threshold[slot] = node.splitValue;
      const l = allocate();
      const r = allocate();
      left[slot] = l;
      right[slot] = r;
      stack.push({ node: node.right as NodeJson, slot: r }, { node: node.left as NodeJson, slot: l });
    }
  });

  const featureA = Int32Array.from(feature);
  const thresholdA = Float64Array.from(threshold);
  const leftA = Int32Array.from(left);
  const rightA = Int32Array.from(right);
  const rootsA = Int32Array.from(roots);
  const nTrees = rootsA.length;

  // A split's two children are allocated together, so right = left + 1 for every split node: the walk steps
  // to left + (row[f] < threshold ? 0 : 1), which is the same comparison as `row[column] < splitValue`
  // (NaN and a missing column go right in both forms).
  for (let n = 0; n < featureA.length; n++) {
    if ((featureA[n] as number) >= 0 && rightA[n] !== (leftA[n] as number) + 1) throw invalid('unexpected node layout');
  }

  const votes = (row: ArrayLike<number>): number => {
    let count = 0;
    for (let t = 0; t < nTrees; t++) {
      let n = rootsA[t] as number;
      let f = featureA[n] as number;
      while (f >= 0) {
        n = (row[f] as number) < (thresholdA[n] as number) ? (leftA[n] as number) : (leftA[n] as number) + 1;
        f = featureA[n] as number;
      }
      if (leftA[n] === 1) count++;
    }
    return count;
  };

  const votesBatch = (rows: readonly ArrayLike<number>[]): Int32Array => {
    const nRows = rows.length;
    const width = nFeatures;
    // Row-major copy: rows may be plain arrays of any length (a missing column reads as NaN, which goes right
    // exactly as `undefined < splitValue` does).
    const flat = new Float64Array(nRows * width);
    for (let r = 0; r < nRows; r++) {
      const row = rows[r] as ArrayLike<number>;
      const base = r * width;
      for (let c = 0; c < width; c++) flat[base + c] = c < row.length ? (row[c] as number) : Number.NaN;
    }
    const counts = new Int32Array(nRows);
    for (let t = 0; t < nTrees; t++) {
      const root = rootsA[t] as number;
      const rootFeature = featureA[root] as number;
      for (let r = 0, base = 0; r < nRows; r++, base += width) {
        let n = root;
        let f = rootFeature;
        while (f >= 0) {
          n = (flat[base + f] as number) < (thresholdA[n] as number) ? (leftA[n] as number) : (leftA[n] as number) + 1;
          f = featureA[n] as number;
        }
        if (leftA[n] === 1) counts[r] = (counts[r] as number) + 1;
      }
    }
    return counts;
  };

  return {
    nTrees,
    nNodes: featureA.length,
    nFeatures,
    votes,
    probability: (row) => votes(row) / nTrees,
    votesBatch,
    nodes: { feature: featureA, threshold: thresholdA, left: leftA, roots: rootsA },
  };
}
