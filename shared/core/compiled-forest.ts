/**
 * The serving form of a forest: every tree of an `ml-random-forest` JSON flattened into typed arrays, so one
 * row is predicted by walking index arrays (no objects, no matrices, no allocation). It gives exactly the votes of
 * `RandomForestClassifier.predictionValues` (same comparisons `row[column] < splitValue`, same leaf
 * rule, same first-maximum tie break), which `compiled-forest.test.ts` checks on every row of the data.
 */
import { AppError } from '../errors.ts';
import { FOREST_WALK_WASM } from './forest-walk-wasm.ts';

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
  const { x, walk } =
    servingLayout(featureA, thresholdA, leftA, rootsA, nFeatures) ??
    plainWalk(featureA, thresholdA, leftA, rootsA, nFeatures);
  // The row's columns as doubles (a missing column reads as NaN, which goes right exactly as
  // `undefined < splitValue` does): the walk then reads one typed array whatever the caller passed.
  const votes = (row: ArrayLike<number>): number => {
    const n = row.length;
    for (let c = 0; c < nFeatures; c++) x[c] = c < n ? (row[c] as number) : Number.NaN;
    return walk();
  };

  const votesBatch = (rows: readonly ArrayLike<number>[]): Int32Array => {
    const counts = new Int32Array(rows.length);
    // Row by row: the serving records (16 bytes a node) of a forest this product trains stay in L2 cache.
    for (let r = 0; r < rows.length; r++) counts[r] = votes(rows[r] as ArrayLike<number>);
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

/** Where a walk reads the row (`x`, one double per column) and the walk itself, which returns the votes for 1. */
interface Walk {
  x: Float64Array;
  walk: () => number;
}

/**
 * The part of the WebAssembly API the walk uses (the project's TypeScript libraries declare no WebAssembly value;
 * Node has had it since its first versions, and it is absent under `node --jitless`).
 */
interface WasmModule {
  readonly brand: 'WebAssembly.Module';
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
  Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The walk's WebAssembly module, compiled once per process (null where WebAssembly is not available). */
let walkModule: WasmModule | null | undefined;
function forestWalkModule(): WasmModule | null {
  if (walkModule === undefined) {
    try {
      walkModule = wasm ? new wasm.Module(Uint8Array.from(atob(FOREST_WALK_WASM), (c) => c.charCodeAt(0))) : null;
    } catch {
      walkModule = null;
    }
  }
  return walkModule;
}

/**
 * The forest laid out for the serving walk, and the walk (forest-walk.wat, in WebAssembly): one 16-byte record
 * per split node (the threshold as a Float64, the two children as Int32 references) in the walk's memory, so a
 * step touches one cache line, and a tree's nodes follow each other depth first (a left child right after its
 * parent).
 *
 * The walk takes no data-dependent branch. A step picks the child by address arithmetic on the comparison: a
 * branch on the row's values mispredicts on about every other node for a row the predictor has not seen, and the
 * walk would spend most of its time there. Leaves have no record of their own: every leaf is one of two shared
 * sink records, one per vote, whose children are themselves (their threshold slot holds the vote, 0 or 1), so
 * every tree is walked for exactly its depth without testing for leaves, and the forest takes half the memory
 * (between requests it falls out of the core's own cache, and each cache miss is a step's wait). Trees are walked
 * eight at a time (deepest first, so a group's depths are close): independent chains of loads keep the core busy
 * while one waits. The comparison is the same `row[column] < splitValue` (NaN goes right, and a sink ignores
 * it), so the votes are the same as walking `ForestNodes`.
 *
 * A reference carries its node's column in its low 8 bits (`record << 8 | column`), so the row's value is
 * loaded alongside the node's threshold rather than after it. In WebAssembly the walk has no bounds checks (the
 * memory's guard pages do that): for the 200-tree bench forest, in-process, a row takes 2.5-2.6 us against
 * 4.4-4.8 us for the same eight-tree walk in JavaScript. Null for a forest that does not fit (more than 256
 * columns, or 2^23 nodes or more) and where WebAssembly is not available: the plain walk then serves.
 */
function servingLayout(
  feature: Int32Array,
  threshold: Float64Array,
  left: Int32Array,
  roots: Int32Array,
  nFeatures: number,
): Walk | null {
  const nNodes = feature.length;
  if (nFeatures > 256 || nNodes >= 2 ** 23) return null;
  const module = forestWalkModule();
  if (module === null || wasm === undefined) return null;

  const depthOf = new Int32Array(nNodes); // filled bottom-up: children come after their parent in node order
  for (let n = nNodes - 1; n >= 0; n--) {
    const l = left[n] as number;
    if ((feature[n] as number) >= 0) depthOf[n] = 1 + Math.max(depthOf[l] as number, depthOf[l + 1] as number);
  }
  const order = Array.from(roots, (_, t) => t).sort(
    (a, b) => (depthOf[roots[b] as number] as number) - (depthOf[roots[a] as number] as number) || a - b,
  );
  // Record 0 is not used (see forest-walk.wat); records 1 and 2 are the sinks voting 0 and 1; split nodes follow,
  // tree by tree in walking order.
  const record = new Int32Array(nNodes);
  const splits: number[] = [];
  for (const t of order) {
    const stack = [roots[t] as number];
    while (stack.length > 0) {
      const n = stack.pop() as number;
      if ((feature[n] as number) < 0) continue;
      record[n] = 3 + splits.length;
      splits.push(n);
      stack.push((left[n] as number) + 1, left[n] as number);
    }
  }
  const ref = (n: number): number =>
    (feature[n] as number) < 0
      ? left[n] === 1
        ? 2 << 8
        : 1 << 8
      : ((record[n] as number) << 8) | (feature[n] as number);

  // The walk's memory: the records, then the row (256 doubles), then the trees' root references and depths.
  const nTrees = roots.length;
  const xAt = (3 + splits.length) * 16;
  const startAt = xAt + 256 * 8;
  const depthAt = startAt + 4 * nTrees;
  let memory: { readonly buffer: ArrayBuffer };
  try {
    memory = new wasm.Memory({ initial: Math.ceil((depthAt + 4 * nTrees) / 65536) });
  } catch {
    return null; // no address space left for another WebAssembly memory: the plain walk serves this forest
  }
  const buffer = memory.buffer;
  // Record r at byte 16 r.
  const values = new Float64Array(buffer);
  const refs = new Int32Array(buffer);
  values[4] = 1; // sink 2 votes 1, sink 1 votes 0; both sinks' children are themselves
  refs[6] = 1 << 8;
  refs[7] = 1 << 8;
  refs[10] = 2 << 8;
  refs[11] = 2 << 8;
  for (const n of splits) {
    const r = record[n] as number;
    const l = left[n] as number;
    values[2 * r] = threshold[n] as number;
    refs[4 * r + 2] = ref(l);
    refs[4 * r + 3] = ref(l + 1);
  }
  new Int32Array(buffer, startAt, nTrees).set(order.map((t) => ref(roots[t] as number)));
  new Int32Array(buffer, depthAt, nTrees).set(order.map((t) => depthOf[roots[t] as number] as number));

  const instance = new wasm.Instance(module, { env: { memory } });
  const run = instance.exports.walk as (n: number, x: number, start: number, depth: number) => number;
  return { x: new Float64Array(buffer, xAt, 256), walk: () => run(nTrees, xAt, startAt, depthAt) };
}

/** The walk over `ForestNodes` itself: left on `row[column] < threshold`, else right, until a leaf. */
function plainWalk(
  feature: Int32Array,
  threshold: Float64Array,
  left: Int32Array,
  roots: Int32Array,
  nFeatures: number,
): Walk {
  const x = new Float64Array(nFeatures);
  const walk = (): number => {
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
  return { x, walk };
}
