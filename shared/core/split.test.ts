import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readPassengerCsv } from './csv-stream.ts';
import type { LabelledPassenger } from './schema.ts';
import { stratifiedKFold, stratifiedSample, stratifiedSplit } from './split.ts';

const { rows } = await readPassengerCsv(readFileSync(new URL('../../data/titanic.csv', import.meta.url)), {
  requireSurvived: true,
});
const survived = rows.map((r) => (r.passenger as LabelledPassenger).survived as number);

const countOf = (labels: readonly number[], indices: readonly number[], label: number) =>
  indices.filter((i) => labels[i] === label).length;

/** Every index 0..n-1 exactly once across the parts. */
function expectPartition(n: number, ...parts: number[][]) {
  const all = parts.flat().sort((a, b) => a - b);
  expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe('stratifiedSplit', () => {
  it('splits the Titanic rows 712/179 with survivors in the test part within one row of 20%', () => {
    const { train, test } = stratifiedSplit(survived, { testSize: 0.2, seed: 42 });
    expect(train).toHaveLength(712);
    expect(test).toHaveLength(179);
    expectPartition(891, train, test);
    const exact = (179 * 342) / 891; // 68.7
    expect(Math.abs(countOf(survived, test, 1) - exact)).toBeLessThan(1);
    expect(Math.abs(countOf(survived, train, 1) - (342 - exact))).toBeLessThan(1);
  });

  it('gives the same indices for the same seed and different ones for another seed', () => {
    const a = stratifiedSplit(survived, { testSize: 0.2, seed: 42 });
    expect(stratifiedSplit(survived, { testSize: 0.2, seed: 42 })).toEqual(a);
    expect(stratifiedSplit(survived, { testSize: 0.2, seed: 43 }).test).not.toEqual(a.test);
  });

  it('returns indices in ascending order', () => {
    const { train, test } = stratifiedSplit(survived, { testSize: 0.2, seed: 7 });
    expect(train).toEqual([...train].sort((x, y) => x - y));
    expect(test).toEqual([...test].sort((x, y) => x - y));
  });

  it('keeps every class of a three-class problem within one row of its share', () => {
    const labels = [...Array(50).fill(0), ...Array(30).fill(1), ...Array(7).fill(2)];
    for (const seed of [1, 2, 3]) {
      const { test } = stratifiedSplit(labels, { testSize: 0.25, seed });
      expect(test).toHaveLength(Math.ceil(0.25 * 87));
      for (const [label, size] of [
        [0, 50],
        [1, 30],
        [2, 7],
      ] as const) {
        expect(Math.abs(countOf(labels, test, label) - (size * test.length) / 87)).toBeLessThan(1);
      }
    }
  });

  it('refuses a split that would leave a part empty', () => {
    expect(() => stratifiedSplit([1], { testSize: 0.2, seed: 1 })).toThrowError(
      expect.objectContaining({ code: 'TRAINING_DATA_UNUSABLE' }),
    );
    expect(() => stratifiedSplit([0, 1, 0], { testSize: 1, seed: 1 })).toThrow(RangeError);
  });
});

describe('stratifiedKFold', () => {
  it('puts every Titanic row in exactly one test fold, with train the complement', () => {
    const folds = stratifiedKFold(survived, 5, 42);
    expect(folds).toHaveLength(5);
    expectPartition(891, ...folds.map((f) => f.test));
    for (const fold of folds) expectPartition(891, fold.train, fold.test);
  });

  it('gives every fold floor or ceil of each class count / k, and fold sizes within one row', () => {
    const folds = stratifiedKFold(survived, 5, 42);
    const sizes = folds.map((f) => f.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const [label, total] of [
      [0, 549],
      [1, 342],
    ] as const) {
      for (const fold of folds) {
        expect([Math.floor(total / 5), Math.ceil(total / 5)]).toContain(countOf(survived, fold.test, label));
      }
    }
  });

  it('is deterministic given the seed and changes with it', () => {
    expect(stratifiedKFold(survived, 5, 3)).toEqual(stratifiedKFold(survived, 5, 3));
    expect(stratifiedKFold(survived, 5, 3)[0]?.test).not.toEqual(stratifiedKFold(survived, 5, 4)[0]?.test);
  });

  it('rejects k below 2 and more folds than rows', () => {
    expect(() => stratifiedKFold(survived, 1, 1)).toThrow(RangeError);
    expect(() => stratifiedKFold([0, 1, 0], 4, 1)).toThrowError(
      expect.objectContaining({ code: 'TRAINING_DATA_UNUSABLE', message: 'cannot make 4 folds from 3 rows' }),
    );
  });
});

describe('stratifiedSample', () => {
  const labels = Array.from({ length: 1000 }, (_, i) => (i % 5 < 2 ? 1 : 0)); // 400 of class 1, 600 of class 0

  it('takes each class its proportional share, distinct rows in ascending order, the same for the same seed', () => {
    const picked = stratifiedSample(labels, 101, 7);
    expect(picked).toHaveLength(101);
    expect(new Set(picked).size).toBe(101);
    expect(picked).toEqual([...picked].sort((a, b) => a - b));
    const ones = picked.filter((i) => labels[i] === 1).length;
    expect(Math.abs(ones - (400 * 101) / 1000)).toBeLessThan(1);
    expect(stratifiedSample(labels, 101, 7)).toEqual(picked);
    expect(stratifiedSample(labels, 101, 8)).not.toEqual(picked);
  });

  it('keeps every row within the cap and refuses a cap below 1', () => {
    expect(stratifiedSample(labels, 1000, 7)).toEqual(labels.map((_, i) => i));
    expect(() => stratifiedSample(labels, 0, 7)).toThrow(RangeError);
  });
});
