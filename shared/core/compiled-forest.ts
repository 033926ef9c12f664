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

  const votes = (row: ArrayLike<number>): number => {
    let count = 0;
    for (let t = 0; t < nTrees; t++) {
      let n = rootsA[t] as number;
      let f = featureA[n] as number;
      while (f >= 0) {
        n = (row[f] as number) < (thresholdA[n] as number) ? (leftA[n] as number) : (rightA[n] as number);
        f = featureA[n] as number;
      }
      if (leftA[n] === 1) count++;
    }
    return count;
  };

  return {
    nTrees,
    nNodes: featureA.length,
    nFeatures,
    votes,
    probability: (row) => votes(row) / nTrees,
  };
}
