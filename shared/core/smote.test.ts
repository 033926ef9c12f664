import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { syntheticPassengers } from '../../test/support/synthetic.ts';
import { readPassengerCsv } from './csv-stream.ts';
import { fitRecipe, transform } from './features.ts';
import type { LabelledPassenger } from './schema.ts';
import { smote } from './smote.ts';
import { stratifiedSplit } from './split.ts';

/** The Titanic training split, featurized: what the pipeline hands to SMOTE. */
const { rows } = await readPassengerCsv(readFileSync(new URL('../../data/titanic.csv', import.meta.url)), {
  requireSurvived: true,
});
const passengers = rows.map((r) => r.passenger as LabelledPassenger);
const split = stratifiedSplit(
  passengers.map((p) => p.survived),
  { testSize: 0.2, seed: 42 },
);
const trainRows = split.train.map((i) => passengers[i] as LabelledPassenger);
const X = transform(fitRecipe(trainRows), trainRows);
const y = trainRows.map((p) => p.survived as number);

const count = (labels: readonly number[], label: number) => labels.filter((l) => l === label).length;

/** The k nearest same-class rows of row i (itself excluded), by a plain sort: independent of smote.ts. */
function nearest(points: readonly number[][], i: number, k: number): number[][] {
  const origin = points[i] as number[];
  return points
    .map((p, j) => ({ j, d: p.reduce((sum, v, dim) => sum + (v - (origin[dim] as number)) ** 2, 0) }))
    .filter(({ j }) => j !== i)
    .sort((a, b) => a.d - b.d || a.j - b.j)
    .slice(0, k)
    .map(({ j }) => points[j] as number[]);
}

/** Whether s = x + u * (n - x) for one u in [0, 1] shared by every coordinate. */
function onSegment(s: readonly number[], x: readonly number[], n: readonly number[]): boolean {
  let u: number | null = null;
  for (let d = 0; d < s.length; d++) {
    const span = (n[d] as number) - (x[d] as number);
    const offset = (s[d] as number) - (x[d] as number);
    const scale = Math.max(1, Math.abs(x[d] as number), Math.abs(n[d] as number));
    if (Math.abs(span) <= 1e-12 * scale) {
      if (Math.abs(offset) > 1e-9 * scale) return false;
      continue;
    }
    const ud = offset / span;
    if (ud < -1e-12 || ud > 1 + 1e-12) return false;
    if (u === null) u = ud;
    else if (Math.abs(ud - u) > 1e-9) return false;
  }
  return true;
}

describe('smote on the Titanic training split', () => {
  const synthetic = smote(X, y, { seed: 42 });

  it('adds exactly enough survivor rows to balance the classes (439 - 273 = 166)', () => {
    expect(count(y, 0)).toBe(439);
    expect(count(y, 1)).toBe(273);
    expect(synthetic.X).toHaveLength(166);
    expect(synthetic.y).toEqual(Array(166).fill(1));
    const all = [...y, ...synthetic.y];
    expect(count(all, 1)).toBe(count(all, 0));
  });

  it('puts every synthetic row on a segment from a real survivor to one of its 5 nearest survivors', () => {
    const survivors = X.filter((_, i) => y[i] === 1);
    const neighbours = survivors.map((_, i) => nearest(survivors, i, 5));
    const offSegment = synthetic.X.filter(
      (s) => !survivors.some((x, i) => (neighbours[i] as number[][]).some((n) => onSegment(s, x, n))),
    );
    expect(offSegment).toEqual([]);
  });

  it('does not place synthetic rows on segments to farther neighbours (the check above can fail)', () => {
    const survivors = X.filter((_, i) => y[i] === 1);
    const x = survivors[0] as number[];
    const far = nearest(survivors, 0, survivors.length - 1).at(-1) as number[];
    const midway = x.map((v, d) => v + 0.5 * ((far[d] as number) - v));
    const neighbours = survivors.map((_, i) => nearest(survivors, i, 5));
    expect(survivors.some((p, i) => (neighbours[i] as number[][]).some((n) => onSegment(midway, p, n)))).toBe(false);
  });

  it('gives the same rows for the same seed and different rows for another seed', () => {
    expect(smote(X, y, { seed: 42 })).toEqual(synthetic);
    const other = smote(X, y, { seed: 7 });
    expect(other.X).toHaveLength(166);
    expect(other.X).not.toEqual(synthetic.X);
  });

  it('never returns a real row unchanged or modifies its input', () => {
    const before = JSON.stringify(X);
    smote(X, y, { seed: 1 });
    expect(JSON.stringify(X)).toBe(before);
  });
});

describe('smote on small hand-made sets', () => {
  it('raises every non-majority class of a three-class set to the majority count', () => {
    const points = [
      ...Array.from({ length: 9 }, (_, i) => [i, 0]),
      ...Array.from({ length: 4 }, (_, i) => [i, 10]),
      ...Array.from({ length: 6 }, (_, i) => [i, 20]),
    ];
    const labels = [...Array(9).fill(0), ...Array(4).fill(1), ...Array(6).fill(2)];
    const out = smote(points, labels, { seed: 3 });
    expect(out.y).toEqual([...Array(5).fill(1), ...Array(3).fill(2)]);
    out.X.forEach((row, i) => {
      expect(row[1]).toBe(out.y[i] === 1 ? 10 : 20); // stays inside its class's line
    });
  });

  it('returns nothing when the classes are already balanced', () => {
    expect(smote([[0], [1], [2], [3]], [0, 1, 0, 1])).toEqual({ X: [], y: [] });
  });

  it('uses all the other members as neighbours when a class has fewer than k+1 of them', () => {
    const points = [
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 0],
      [5, 0],
      [0, 5],
      [1, 6],
      [2, 9],
    ];
    const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1];
    const out = smote(points, labels, { seed: 11 });
    expect(out.X).toHaveLength(3);
    const minority = points.slice(6);
    for (const s of out.X) {
      expect(minority.some((x) => minority.some((n) => n !== x && onSegment(s, x, n)))).toBe(true);
    }
  });

  it('copies the single member of a one-row class (documented choice: no neighbour to move towards)', () => {
    const out = smote([[0], [1], [2], [7.5]], [0, 0, 0, 1], { seed: 5 });
    expect(out).toEqual({ X: [[7.5], [7.5]], y: [1, 1] });
  });

  it('rejects mismatched inputs', () => {
    expect(() => smote([[1], [2]], [0])).toThrow('X has 2 rows but y has 1 labels');
    expect(() => smote([[1], [2, 3]], [0, 1])).toThrow('row 1 has 2 values, row 0 has 1');
    expect(() => smote([[1], [2]], [0, 1], { k: 0 })).toThrow(RangeError);
  });
});

describe('smote through the k-d tree', () => {
  it('gives rows identical to the brute-force neighbours on 5,000 synthetic passengers, for two seeds', async () => {
    const many = await syntheticPassengers(5000);
    const manyX = transform(fitRecipe(many), many);
    const manyY = many.map((p) => p.survived as number);
    for (const seed of [42, 7]) {
      const tree = smote(manyX, manyY, { seed, index: 'kd-tree' });
      const brute = smote(manyX, manyY, { seed, index: 'brute-force' });
      expect(tree.X.length).toBeGreaterThan(1000);
      expect(tree).toEqual(brute);
    }
  });
});
