import { describe, expect, it } from 'vitest';
import { KdTree } from './kd-tree.ts';
import { createRng } from './rng.ts';
import { LazyNeighbours } from './smote.ts';

/** Every point's k nearest others by the tree and by the brute-force scan, as plain arrays. */
function bothWays(points: number[][], k: number): { tree: number[][]; brute: number[][] } {
  const width = points[0]?.length ?? 0;
  const flat = new Float64Array(points.flat());
  const tree = new KdTree(flat, width);
  const kUsed = Math.min(k, points.length - 1);
  const brute = new LazyNeighbours(points, kUsed, 'brute-force');
  return {
    tree: points.map((_, i) => Array.from(tree.neighboursOf(i, k))),
    brute: points.map((_, i) => Array.from(brute.of(i))),
  };
}

describe('KdTree.neighboursOf', () => {
  it('finds exactly the brute-force neighbours of every point of 3,000 random points in 11 dimensions', () => {
    const rng = createRng(1);
    const points = Array.from({ length: 3000 }, () => Array.from({ length: 11 }, (_, d) => rng.next() * 10 ** (d % 4)));
    const { tree, brute } = bothWays(points, 5);
    expect(tree).toEqual(brute);
  });

  it('breaks ties towards the earlier position on a small integer grid where most distances tie', () => {
    const rng = createRng(2);
    const points = Array.from({ length: 2000 }, () => Array.from({ length: 4 }, () => rng.int(4)));
    const { tree, brute } = bothWays(points, 7);
    expect(tree).toEqual(brute);
    // the case is real: many points have a neighbour list full of exact duplicates
    const dup = points.filter((p, i) => points.some((q, j) => j !== i && q.every((v, d) => v === p[d]))).length;
    expect(dup).toBeGreaterThan(1500);
  });

  it('handles duplicates of one point, constant dimensions and a k larger than the set', () => {
    const same = Array.from({ length: 40 }, () => [3, 1, 4]);
    expect(bothWays(same, 5).tree).toEqual(bothWays(same, 5).brute);
    const line = Array.from({ length: 50 }, (_, i) => [0, i % 7, 0]);
    expect(bothWays(line, 5).tree).toEqual(bothWays(line, 5).brute);
    const few = [[0], [2], [1]];
    expect(bothWays(few, 5).tree).toEqual([
      [2, 1],
      [2, 0],
      [0, 1],
    ]);
    expect(new KdTree(new Float64Array([5]), 1).neighboursOf(0, 3)).toEqual(new Int32Array(0));
  });

  it('is not a brute force in disguise: a query on 20,000 points reads a small share of them', () => {
    const rng = createRng(3);
    const points = Array.from({ length: 20_000 }, () => [rng.next(), rng.next(), rng.next()]);
    const flat = new Float64Array(points.flat());
    let reads = 0;
    const counting = new Proxy(flat, {
      get(target, prop) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) reads++;
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const tree = new KdTree(counting as Float64Array, 3);
    reads = 0;
    tree.neighboursOf(123, 5);
    expect(reads).toBeLessThan(flat.length / 20);
  });
});
