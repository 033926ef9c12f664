/**
 * The serving form of a forest: every tree of an `ml-random-forest` JSON flattened into typed arrays, so one
 * row is predicted by walking index arrays (no objects, no matrices, no allocation). It gives exactly the votes of
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
  /** `votes` of every row, in order (identical counts). */
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

  // A split's two children are allocated together, so right = left + 1 for every split node (what `ForestNodes`
  // documents, and what lets the explainer and the serving layout read `left` alone).
  for (let n = 0; n < featureA.length; n++) {
    if ((featureA[n] as number) >= 0 && rightA[n] !== (leftA[n] as number) + 1) throw invalid('unexpected node layout');
  }

  // The serving layout when the forest fits it (always, for the forests this product trains), else the plain
  // walk over the nodes, which the serving walk is tested against.
  const walk =
    servingLayout(featureA, thresholdA, leftA, rootsA, nFeatures) ?? plainWalk(featureA, thresholdA, leftA, rootsA);
  const x = new Float64Array(nFeatures);
  // The row's columns as doubles (a missing column reads as NaN, which goes right exactly as
  // `undefined < splitValue` does): the walk then reads one typed array whatever the caller passed.
  const load = (row: ArrayLike<number>): Float64Array => {
    const n = row.length;
    for (let c = 0; c < nFeatures; c++) x[c] = c < n ? (row[c] as number) : Number.NaN;
    return x;
  };
  const votes = (row: ArrayLike<number>): number => walk(load(row));

  const votesBatch = (rows: readonly ArrayLike<number>[]): Int32Array => {
    const counts = new Int32Array(rows.length);
    // Row by row: the serving records (16 bytes a node) of a forest this product trains stay in L2 cache.
    for (let r = 0; r < rows.length; r++) counts[r] = walk(load(rows[r] as ArrayLike<number>));
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

/**
 * The forest laid out for the serving walk, and the walk: one 16-byte record per split node (the threshold as a
 * Float64, the two children as Int32 references) in one buffer, so a step touches one cache line, and a tree's
 * nodes follow each other depth first (a left child right after its parent).
 *
 * The walk takes no data-dependent branch. A step picks the child by index arithmetic on the comparison
 * (`3 - Number(x < threshold)`), which V8 compiles to a flag read instead of a jump: a branch on the row's values
 * mispredicts on about every other node for a row the predictor has not seen, and the old walk spent most of its
 * time there. Leaves have no record of their own: every leaf is one of two shared sink records, one per vote,
 * whose children are themselves (their threshold slot holds the vote, 0 or 1), so every tree is walked for
 * exactly its depth without testing for leaves, and the forest takes half the memory (between requests it falls
 * out of the core's own cache, and each cache miss is a step's wait). Trees are walked eight at a time (deepest
 * first, so a group's depths are close): independent chains of loads keep the core busy while one waits. The
 * comparison is the same `row[column] < splitValue` (NaN goes right, and a sink ignores it), so the votes are
 * the same as walking `ForestNodes`.
 *
 * A reference carries its node's column in its low 8 bits (`record << 8 | column`), so the row's value is
 * loaded alongside the node's threshold rather than after it; the shift is a constant (a variable one costs V8 a
 * register the walk needs). Null for a forest that does not fit: more than 256 columns, or 2^23 nodes or more.
 */
function servingLayout(
  feature: Int32Array,
  threshold: Float64Array,
  left: Int32Array,
  roots: Int32Array,
  nFeatures: number,
): ((x: Float64Array) => number) | null {
  const nNodes = feature.length;
  if (nFeatures > 256 || nNodes >= 2 ** 23) return null;

  const depthOf = new Int32Array(nNodes); // filled bottom-up: children come after their parent in node order
  for (let n = nNodes - 1; n >= 0; n--) {
    const l = left[n] as number;
    if ((feature[n] as number) >= 0) depthOf[n] = 1 + Math.max(depthOf[l] as number, depthOf[l + 1] as number);
  }
  const order = Array.from(roots, (_, t) => t).sort(
    (a, b) => (depthOf[roots[b] as number] as number) - (depthOf[roots[a] as number] as number) || a - b,
  );
  // Records 0 and 1 are the sinks voting 0 and 1; split nodes follow, tree by tree in walking order.
  const record = new Int32Array(nNodes);
  const splits: number[] = [];
  for (const t of order) {
    const stack = [roots[t] as number];
    while (stack.length > 0) {
      const n = stack.pop() as number;
      if ((feature[n] as number) < 0) continue;
      record[n] = 2 + splits.length;
      splits.push(n);
      stack.push((left[n] as number) + 1, left[n] as number);
    }
  }
  const ref = (n: number): number =>
    (feature[n] as number) < 0 ? (left[n] === 1 ? 1 << 8 : 0) : ((record[n] as number) << 8) | (feature[n] as number);
  const buffer = new ArrayBuffer((2 + splits.length) * 16);
  const values = new Float64Array(buffer);
  const refs = new Int32Array(buffer);
  values[2] = 1; // sink 1 votes 1; both sinks' children are themselves
  refs[6] = 1 << 8;
  refs[7] = 1 << 8;
  for (const n of splits) {
    const r = record[n] as number;
    const l = left[n] as number;
    values[2 * r] = threshold[n] as number;
    refs[4 * r + 2] = ref(l);
    refs[4 * r + 3] = ref(l + 1);
  }
  const start = Int32Array.from(order, (t) => ref(roots[t] as number));
  const depth = Int32Array.from(order, (t) => depthOf[roots[t] as number] as number);

  return (x) => walkTrees(refs, values, start, depth, x);
}

/**
 * The serving walk (see `servingLayout`); everything it reads is a parameter, so V8 keeps it in registers. Trees
 * go eight at a time, one step of each per turn: eight independent chains of loads, so the core has work while
 * each waits on memory (the forest of a 200-tree model is larger than the core's first cache). The trees left
 * over (fewer than eight) go two at a time, then one.
 */
function walkTrees(
  refs: Int32Array,
  values: Float64Array,
  start: Int32Array,
  depth: Int32Array,
  x: Float64Array,
): number {
  const nTrees = start.length;
  let count = 0;
  let t = 0;
  for (; t + 7 < nTrees; t += 8) {
    let a = start[t] as number;
    let b = start[t + 1] as number;
    let c = start[t + 2] as number;
    let d = start[t + 3] as number;
    let e = start[t + 4] as number;
    let f = start[t + 5] as number;
    let g = start[t + 6] as number;
    let h = start[t + 7] as number;
    // Trees are in decreasing depth, so the first of the eight is the deepest; the others stay in their sinks.
    for (let k = depth[t] as number; k > 0; k--) {
      const ia = a >> 8;
      const ib = b >> 8;
      const ic = c >> 8;
      const id = d >> 8;
      a = refs[4 * ia + 3 - Number((x[a & 255] as number) < (values[2 * ia] as number))] as number;
      b = refs[4 * ib + 3 - Number((x[b & 255] as number) < (values[2 * ib] as number))] as number;
      c = refs[4 * ic + 3 - Number((x[c & 255] as number) < (values[2 * ic] as number))] as number;
      d = refs[4 * id + 3 - Number((x[d & 255] as number) < (values[2 * id] as number))] as number;
      const ie = e >> 8;
      const jf = f >> 8;
      const ig = g >> 8;
      const ih = h >> 8;
      e = refs[4 * ie + 3 - Number((x[e & 255] as number) < (values[2 * ie] as number))] as number;
      f = refs[4 * jf + 3 - Number((x[f & 255] as number) < (values[2 * jf] as number))] as number;
      g = refs[4 * ig + 3 - Number((x[g & 255] as number) < (values[2 * ig] as number))] as number;
      h = refs[4 * ih + 3 - Number((x[h & 255] as number) < (values[2 * ih] as number))] as number;
    }
    count +=
      (values[2 * (a >> 8)] as number) +
      (values[2 * (b >> 8)] as number) +
      (values[2 * (c >> 8)] as number) +
      (values[2 * (d >> 8)] as number) +
      (values[2 * (e >> 8)] as number) +
      (values[2 * (f >> 8)] as number) +
      (values[2 * (g >> 8)] as number) +
      (values[2 * (h >> 8)] as number);
  }
  for (; t + 1 < nTrees; t += 2) {
    let a = start[t] as number;
    let b = start[t + 1] as number;
    for (let k = depth[t] as number; k > 0; k--) {
      const ia = a >> 8;
      const ib = b >> 8;
      a = refs[4 * ia + 3 - Number((x[a & 255] as number) < (values[2 * ia] as number))] as number;
      b = refs[4 * ib + 3 - Number((x[b & 255] as number) < (values[2 * ib] as number))] as number;
    }
    count += (values[2 * (a >> 8)] as number) + (values[2 * (b >> 8)] as number);
  }
  if (t < nTrees) {
    let a = start[t] as number;
    for (let k = depth[t] as number; k > 0; k--) {
      const ia = a >> 8;
      a = refs[4 * ia + 3 - Number((x[a & 255] as number) < (values[2 * ia] as number))] as number;
    }
    count += values[2 * (a >> 8)] as number;
  }
  return count;
}

/** The walk over `ForestNodes` itself: left on `row[column] < threshold`, else right, until a leaf. */
function plainWalk(
  feature: Int32Array,
  threshold: Float64Array,
  left: Int32Array,
  roots: Int32Array,
): (x: Float64Array) => number {
  return (x) => {
    let count = 0;
    for (let t = 0; t < roots.length; t++) {
      let n = roots[t] as number;
      let f = feature[n] as number;
      while (f >= 0) {
        n = (x[f] as number) < (threshold[n] as number) ? (left[n] as number) : (left[n] as number) + 1;
        f = feature[n] as number;
      }
      if (left[n] === 1) count++;
    }
    return count;
  };
}
