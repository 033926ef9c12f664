/**
 * SMOTE with imbalanced-learn's semantics (`sampling_strategy='auto'`, `k_neighbors=5`):
 * every class smaller than the majority is raised to the majority count with synthetic rows
 * `x + u * (neighbour - x)`, `u ~ U(0, 1)`, where `x` is a real row of the class drawn uniformly with
 * replacement and `neighbour` one of x's k nearest rows of the same class (Euclidean, x itself excluded,
 * distance ties going to the earlier row).
 *
 * Small classes: with fewer than k+1 members, the neighbours are all the other members (imbalanced-learn
 * raises instead). A class with a single member has no neighbour, so its synthetic rows are copies of it:
 * that is what the formula gives with neighbour = x, and a tiny class should not stop a training run.
 *
 * Returns only the synthetic rows (grouped by class, ascending label); the caller appends them to the real ones.
 */
import { KdTree } from './kd-tree.ts';
import { createRng } from './rng.ts';

export interface SmoteOptions {
  /** Neighbours per row (imbalanced-learn's `k_neighbors`), default 5. */
  k?: number;
  /** Default 42. */
  seed?: number;
  /**
   * How neighbours are found: through a k-d tree (default; n log n) or by the brute-force scan it replaced
   * (quadratic; kept as the reference the tree is tested against). Both give the same neighbours, so the same rows.
   */
  index?: 'kd-tree' | 'brute-force';
}

export function smote(
  X: readonly number[][],
  y: readonly number[],
  opts: SmoteOptions = {},
): { X: number[][]; y: number[] } {
  const { k = 5, seed = 42, index = 'kd-tree' } = opts;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  if (X.length !== y.length) throw new RangeError(`X has ${X.length} rows but y has ${y.length} labels`);
  const width = X[0]?.length ?? 0;
  X.forEach((row, i) => {
    if (row.length !== width) throw new RangeError(`row ${i} has ${row.length} values, row 0 has ${width}`);
  });

  const byLabel = new Map<number, number[]>();
  y.forEach((label, i) => {
    const members = byLabel.get(label);
    if (members === undefined) byLabel.set(label, [i]);
    else members.push(i);
  });
  const majority = Math.max(0, ...[...byLabel.values()].map((members) => members.length));

  const rng = createRng(seed);
  const outX: number[][] = [];
  const outY: number[] = [];
  for (const label of [...byLabel.keys()].sort((a, b) => a - b)) {
    const members = byLabel.get(label) as number[];
    const needed = majority - members.length;
    if (needed === 0) continue;
    const points = members.map((i) => X[i] as number[]);
    const kUsed = Math.min(k, points.length - 1);
    const neighbours = kUsed > 0 ? new LazyNeighbours(points, kUsed, index) : null;
    for (let s = 0; s < needed; s++) {
      let base: number[];
      let neighbour: number[];
      if (neighbours === null) {
        base = points[0] as number[];
        neighbour = base;
      } else {
        // One draw picks the (row, neighbour) pair, as imbalanced-learn does.
        const pick = rng.int(points.length * kUsed);
        const row = Math.floor(pick / kUsed);
        base = points[row] as number[];
        neighbour = points[neighbours.of(row)[pick % kUsed] as number] as number[];
      }
      const u = rng.next();
      const synthetic = new Array<number>(width);
      for (let d = 0; d < width; d++) {
        const x = base[d] as number;
        synthetic[d] = x + u * ((neighbour[d] as number) - x);
      }
      outX.push(synthetic);
      outY.push(label);
    }
  }
  return { X: outX, y: outY };
}

/**
 * The k nearest other points of each point (positions in `points`, nearest first, ties to the earlier
 * position), computed the first time a point is drawn as a base: when few synthetic rows are needed, most
 * points never are. Through a k-d tree (`kd-tree.ts`), or by brute force, O(n * d) per point. Points with a
 * non-finite value always take the brute force, whose comparisons define what NaN does.
 */
export class LazyNeighbours {
  private readonly flat: Float64Array;
  private readonly width: number;
  private readonly cache: Array<Int32Array | undefined>;
  private readonly bestDist: Float64Array;
  private readonly tree: KdTree | null;

  constructor(
    points: readonly (readonly number[])[],
    private readonly k: number,
    index: 'kd-tree' | 'brute-force' = 'kd-tree',
  ) {
    this.width = points[0]?.length ?? 0;
    this.flat = new Float64Array(points.length * this.width);
    points.forEach((point, i) => {
      this.flat.set(point, i * this.width);
    });
    this.cache = new Array(points.length);
    this.bestDist = new Float64Array(k);
    this.tree = index === 'kd-tree' && this.flat.every(Number.isFinite) ? new KdTree(this.flat, this.width) : null;
  }

  of(i: number): Int32Array {
    const cached = this.cache[i];
    if (cached !== undefined) return cached;
    if (this.tree !== null) {
      const found = this.tree.neighboursOf(i, this.k);
      this.cache[i] = found;
      return found;
    }
    const { flat, width, k, bestDist } = this;
    const n = flat.length / (width || 1);
    const best = new Int32Array(k);
    let found = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let dist = 0;
      for (let d = 0; d < width; d++) {
        const diff = (flat[i * width + d] as number) - (flat[j * width + d] as number);
        dist += diff * diff;
      }
      // Insertion into the sorted top-k; strict `<` keeps the earlier position on ties.
      if (found < k || dist < (bestDist[k - 1] as number)) {
        let pos = found < k ? found++ : k - 1;
        while (pos > 0 && dist < (bestDist[pos - 1] as number)) {
          bestDist[pos] = bestDist[pos - 1] as number;
          best[pos] = best[pos - 1] as number;
          pos--;
        }
        bestDist[pos] = dist;
        best[pos] = j;
      }
    }
    this.cache[i] = best;
    return best;
  }
}
