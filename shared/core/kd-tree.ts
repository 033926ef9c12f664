/**
 * Exact k nearest neighbours through a k-d tree, with the brute-force scan's exact answer: the same squared
 * Euclidean distances (summed in dimension order, bit for bit), and ties going to the earlier position.
 *
 * Why not a package: the maintained n-dimensional k-d trees on npm (mnemonist's `KDTree`, @thi.ng/geom-accel)
 * return k neighbours with ties broken by traversal order and offer no range query to recover the tied ones,
 * while SMOTE on real data meets many exact ties (Titanic rows share fares, ages and classes). Parity with the
 * brute force, which the synthetic rows depend on, needs the (distance, position) order below.
 *
 * Why it is exact: a node is skipped only when the squared distance to its bounding box, summed in dimension
 * order, is strictly greater than the current k-th distance. Every term of that sum is at most the matching term
 * of any point's distance (rounding is monotone), so the sum is at most the point's distance, computed the same
 * way: no point of a skipped node could enter the list, not even on a tie.
 *
 * Cost: building is O(n log n) (median splits on the widest dimension); a query visits O(log n) leaves on
 * typical data, more where many points tie at the k-th distance.
 */

const LEAF_SIZE = 12;

export class KdTree {
  /** Point positions, permuted so every node's points are a contiguous range. */
  private readonly order: Int32Array;
  /** Per node: range start, range end, left child, right child (-1 for a leaf). */
  private readonly start: number[] = [];
  private readonly end: number[] = [];
  private readonly left: number[] = [];
  private readonly right: number[] = [];
  /** Per node: bounding box, `width` lows then `width` highs. */
  private readonly boxes: number[] = [];
  private readonly n: number;

  /**
   * @param flat the points, row-major (`n * width` finite values)
   * @param width the number of dimensions
   */
  constructor(
    private readonly flat: Float64Array,
    private readonly width: number,
  ) {
    this.n = width === 0 ? 0 : flat.length / width;
    this.order = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) this.order[i] = i;
    if (this.n > 0) this.build();
  }

  private build(): void {
    const stack: Array<[node: number, from: number, to: number]> = [[this.addNode(0, this.n), 0, this.n]];
    while (stack.length > 0) {
      const [node, from, to] = stack.pop() as [number, number, number];
      if (to - from <= LEAF_SIZE) continue;
      const dim = this.widestDimension(node);
      if (dim < 0) continue; // every point of the node is the same: a leaf
      const mid = (from + to) >> 1;
      this.select(from, to - 1, mid, dim);
      const l = this.addNode(from, mid);
      const r = this.addNode(mid, to);
      this.left[node] = l;
      this.right[node] = r;
      stack.push([l, from, mid], [r, mid, to]);
    }
  }

  private addNode(from: number, to: number): number {
    const { flat, width, order } = this;
    const id = this.start.length;
    this.start.push(from);
    this.end.push(to);
    this.left.push(-1);
    this.right.push(-1);
    const base = this.boxes.length;
    for (let d = 0; d < 2 * width; d++) this.boxes.push(d < width ? Infinity : -Infinity);
    for (let p = from; p < to; p++) {
      const o = (order[p] as number) * width;
      for (let d = 0; d < width; d++) {
        const v = flat[o + d] as number;
        if (v < (this.boxes[base + d] as number)) this.boxes[base + d] = v;
        if (v > (this.boxes[base + width + d] as number)) this.boxes[base + width + d] = v;
      }
    }
    return id;
  }

  /** The dimension of largest spread, or -1 when the box is a single point. */
  private widestDimension(node: number): number {
    const { width, boxes } = this;
    const base = node * 2 * width;
    let best = -1;
    let spread = 0;
    for (let d = 0; d < width; d++) {
      const s = (boxes[base + width + d] as number) - (boxes[base + d] as number);
      if (s > spread) {
        spread = s;
        best = d;
      }
    }
    return best;
  }

  /** Quickselect on `order[lo..hi]` by the value in `dim`, so position `k` holds its order statistic. */
  private select(lo: number, hi: number, k: number, dim: number): void {
    const { flat, width, order } = this;
    const value = (p: number): number => flat[(order[p] as number) * width + dim] as number;
    const swap = (a: number, b: number): void => {
      const t = order[a] as number;
      order[a] = order[b] as number;
      order[b] = t;
    };
    while (hi > lo) {
      // median of three as the pivot, so sorted or constant runs stay linear
      const m = (lo + hi) >> 1;
      if (value(m) < value(lo)) swap(m, lo);
      if (value(hi) < value(lo)) swap(hi, lo);
      if (value(hi) < value(m)) swap(hi, m);
      const pivot = value(m);
      let i = lo;
      let j = hi;
      while (i <= j) {
        while (value(i) < pivot) i++;
        while (value(j) > pivot) j--;
        if (i <= j) {
          swap(i, j);
          i++;
          j--;
        }
      }
      if (k <= j) hi = j;
      else if (k >= i) lo = i;
      else return;
    }
  }

  /**
   * The `k` nearest points to point `i`, itself excluded: positions, nearest first, ties to the earlier position.
   * Fewer than `k` when there are fewer other points.
   */
  neighboursOf(i: number, k: number): Int32Array {
    const { flat, width, order, boxes, start, end, left, right } = this;
    const count = Math.min(k, this.n - 1);
    const best = new Int32Array(Math.max(0, count));
    if (count <= 0) return best;
    const bestDist = new Float64Array(count);
    let found = 0;
    const qi = i * width;

    const boxDistance = (node: number): number => {
      const base = node * 2 * width;
      let sum = 0;
      for (let d = 0; d < width; d++) {
        const q = flat[qi + d] as number;
        const lo = boxes[base + d] as number;
        const hi = boxes[base + width + d] as number;
        const gap = q < lo ? lo - q : q > hi ? q - hi : 0;
        sum += gap * gap;
      }
      return sum;
    };

    const stack: number[] = [0];
    const bounds: number[] = [boxDistance(0)];
    while (stack.length > 0) {
      const node = stack.pop() as number;
      const bound = bounds.pop() as number;
      if (found === count && bound > (bestDist[count - 1] as number)) continue;
      const l = left[node] as number;
      if (l >= 0) {
        const r = right[node] as number;
        const dl = boxDistance(l);
        const dr = boxDistance(r);
        // nearer child last, so it is visited first
        if (dl <= dr) {
          stack.push(r, l);
          bounds.push(dr, dl);
        } else {
          stack.push(l, r);
          bounds.push(dl, dr);
        }
        continue;
      }
      for (let p = start[node] as number; p < (end[node] as number); p++) {
        const j = order[p] as number;
        if (j === i) continue;
        const qj = j * width;
        let dist = 0;
        for (let d = 0; d < width; d++) {
          const diff = (flat[qi + d] as number) - (flat[qj + d] as number);
          dist += diff * diff;
        }
        if (found === count) {
          const worst = bestDist[count - 1] as number;
          if (dist > worst || (dist === worst && j > (best[count - 1] as number))) continue;
        }
        // insertion into the list sorted by (distance, position)
        let pos = found < count ? found++ : count - 1;
        while (
          pos > 0 &&
          (dist < (bestDist[pos - 1] as number) ||
            (dist === (bestDist[pos - 1] as number) && j < (best[pos - 1] as number)))
        ) {
          bestDist[pos] = bestDist[pos - 1] as number;
          best[pos] = best[pos - 1] as number;
          pos--;
        }
        bestDist[pos] = dist;
        best[pos] = j;
      }
    }
    return best;
  }
}
