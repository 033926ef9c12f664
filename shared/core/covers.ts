/**
 * Node covers, the weights path-dependent TreeSHAP needs: how many training rows reached each node of each
 * tree. Two sources:
 *
 * - `bootstrap` (recorded at training time, artifact format 4): the rows each tree was grown on, that is its own
 *   bootstrap sample of the training matrix (real rows + SMOTE rows), counted with multiplicity, as
 *   scikit-learn's `weighted_n_node_samples` counts a bagged tree. `ml-random-forest` does not keep the sample,
 *   so `bootstrapCovers` replays its draws (random-js MT19937, the same seed chain: rows, then columns, per
 *   tree) and refuses to answer unless the replay reproduces every tree's columns and the row count
 *   (`numberSamples`) the library stored at every split node.
 * - `reference`: any rows pushed through every tree (`rowCovers`). For an artifact written before covers were
 *   recorded, the drift reference (the training split's real rows, no SMOTE rows, no bootstrap) is the best
 *   sample left: the explanation is then exact Shapley values of the forest's output, but with the expectation
 *   taken over the real training rows instead of over each tree's bootstrap sample. A node that none of those
 *   rows reaches (grown on SMOTE rows only) has cover 0; the explainer splits the weight of such a node evenly
 *   between its children.
 *
 * Covers are listed per tree in the depth-first pre-order of the tree JSON (a node, its left subtree, its right
 * subtree), which is also the order `ForestNodes` meets them, so they do not depend on how a build lays
 * nodes out.
 */
import { integer, MersenneTwister19937 } from 'random-js';
import type { CompiledForest, ForestNodes } from './compiled-forest.ts';
import type { ForestParams } from './forest.ts';

export type CoverSource = 'bootstrap' | 'reference';

export interface NodeCovers {
  source: CoverSource;
  /** `trees[t][k]`: rows that reached the k-th node (pre-order) of tree t. */
  trees: number[][];
}

/** The slots of tree `t` in pre-order (left before right). */
export function preorder(nodes: ForestNodes, t: number): number[] {
  const order: number[] = [];
  const stack = [nodes.roots[t] as number];
  while (stack.length > 0) {
    const n = stack.pop() as number;
    order.push(n);
    if ((nodes.feature[n] as number) >= 0) {
      const l = nodes.left[n] as number;
      stack.push(l + 1, l);
    }
  }
  return order;
}

/** Adds 1 to every node row `row` passes through in tree `t` (indexed by slot). */
function countPath(nodes: ForestNodes, t: number, row: ArrayLike<number>, counts: Float64Array): void {
  let n = nodes.roots[t] as number;
  for (;;) {
    counts[n] = (counts[n] as number) + 1;
    const f = nodes.feature[n] as number;
    if (f < 0) return;
    n = (row[f] as number) < (nodes.threshold[n] as number) ? (nodes.left[n] as number) : (nodes.left[n] as number) + 1;
  }
}

function toPreorder(nodes: ForestNodes, t: number, counts: Float64Array): number[] {
  return preorder(nodes, t).map((n) => counts[n] as number);
}

/** Covers from any rows pushed through every tree (see `reference` above). */
export function rowCovers(forest: CompiledForest, rows: readonly ArrayLike<number>[]): number[][] {
  const { nodes } = forest;
  const trees: number[][] = [];
  for (let t = 0; t < forest.nTrees; t++) {
    const counts = new Float64Array(nodes.feature.length);
    for (const row of rows) countPath(nodes, t, row, counts);
    trees.push(toPreorder(nodes, t, counts));
  }
  return trees;
}

interface TreeJson {
  root?: NodeJson;
}
interface NodeJson {
  numberSamples?: number;
  distribution?: unknown;
  left?: NodeJson;
  right?: NodeJson;
}

function jsonPreorder(root: NodeJson): NodeJson[] {
  const out: NodeJson[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop() as NodeJson;
    out.push(node);
    if (node.distribution === undefined && node.left !== undefined && node.right !== undefined) {
      stack.push(node.right, node.left);
    }
  }
  return out;
}

/**
 * The rows each tree was grown on, counted per node (see `bootstrap` above). `X` is the exact matrix the forest
 * was trained on (training split + SMOTE rows, in that order) and `params` the forest's parameters.
 * Throws when the replayed draws do not reproduce the forest (a different library version or matrix).
 */
export function bootstrapCovers(
  forestJson: object,
  forest: CompiledForest,
  X: readonly ArrayLike<number>[],
  params: ForestParams,
): NodeCovers {
  const base = (forestJson as { baseModel?: { estimators?: TreeJson[]; indexes?: number[][] } }).baseModel;
  const estimators = base?.estimators ?? [];
  const indexes = base?.indexes ?? [];
  const nRows = X.length;
  // a forest restricted to a column subset drew its columns among the subset's positions (`ForestParams.columns`)
  const subset = params.columns;
  const nColumns = subset?.length ?? X[0]?.length ?? 0;
  if (nRows === 0 || estimators.length !== forest.nTrees) throw new Error('bootstrap covers: no rows or no trees');
  const { nodes } = forest;
  const drawRow = integer(0, nRows - 1);
  const drawColumn = integer(0, nColumns - 1);
  let seed = params.seed;
  const trees: number[][] = [];
  for (let t = 0; t < forest.nTrees; t++) {
    // examplesBaggingWithReplacement: nRows draws, then the next seed
    let engine = MersenneTwister19937.seed(seed);
    const counts = new Float64Array(nodes.feature.length);
    for (let i = 0; i < nRows; i++) countPath(nodes, t, X[drawRow(engine)] as ArrayLike<number>, counts);
    seed = engine.next();
    // featureBagging without replacement: draw until maxFeatures distinct columns, then the next seed
    engine = MersenneTwister19937.seed(seed);
    const columns = new Set<number>();
    let column = drawColumn(engine);
    for (let i = 0; i < params.maxFeatures; i++) {
      while (columns.has(column)) column = drawColumn(engine);
      columns.add(column);
    }
    seed = engine.next();

    const stored = indexes[t] ?? [];
    const drawn = [...columns].map((c) => (subset === undefined ? c : (subset[c] as number)));
    if (drawn.length !== stored.length || drawn.some((c, i) => c !== stored[i])) {
      throw new Error(`bootstrap covers: the replayed columns of tree ${t} differ from the forest's`);
    }
    const covers = toPreorder(nodes, t, counts);
    const jsonNodes = jsonPreorder(estimators[t]?.root ?? {});
    if (jsonNodes.length !== covers.length) throw new Error(`bootstrap covers: tree ${t} has a different shape`);
    jsonNodes.forEach((node, k) => {
      if (node.numberSamples !== undefined && node.numberSamples !== covers[k]) {
        throw new Error(
          `bootstrap covers: node ${k} of tree ${t} holds ${node.numberSamples} rows, the replay counts ${covers[k]}`,
        );
      }
    });
    if (covers[0] !== nRows) throw new Error(`bootstrap covers: tree ${t} root does not hold every drawn row`);
    trees.push(covers);
  }
  return { source: 'bootstrap', trees };
}
