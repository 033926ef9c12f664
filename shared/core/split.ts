/**
 * Stratified, seeded splits over label vectors. Both functions return row indices (ascending), never rows,
 * so the caller decides what a row is. Same labels + same seed -> same indices, on every machine.
 *
 * "Stratified" here means: each class's share of a test part is its exact proportional share rounded to a
 * neighbouring integer (never off by a whole row or more), which is what scikit-learn's
 * StratifiedShuffleSplit / StratifiedKFold guarantee too.
 */
import { AppError } from '../errors.ts';
import { createRng, type Rng, shuffleInPlace } from './rng.ts';

export interface IndexSplit {
  train: number[];
  test: number[];
}

/**
 * One train/test split. The test part has ceil(testSize * n) rows (scikit-learn's rounding: 891 rows at 0.2 ->
 * 179 test, 712 train); classes get their proportional share by the largest-remainder rule.
 */
export function stratifiedSplit(labels: readonly number[], opts: { testSize: number; seed: number }): IndexSplit {
  const { testSize, seed } = opts;
  if (!(testSize > 0 && testSize < 1)) throw new RangeError(`testSize must be in (0, 1), got ${testSize}`);
  const n = labels.length;
  const nTest = Math.ceil(testSize * n);
  if (nTest < 1 || nTest > n - 1) {
    throw new AppError(
      'TRAINING_DATA_UNUSABLE',
      `cannot split ${n} rows with testSize ${testSize}: a part would be empty`,
      {
        rows: n,
      },
    );
  }
  const rng = createRng(seed);
  const groups = groupByClass(labels, rng);
  const quotas = apportion(
    groups.map((g) => g.indices.length),
    nTest,
  );
  const test: number[] = [];
  const train: number[] = [];
  groups.forEach((group, g) => {
    const quota = quotas[g] as number;
    for (let i = 0; i < group.indices.length; i++) (i < quota ? test : train).push(group.indices[i] as number);
  });
  return { train: train.sort(ascending), test: test.sort(ascending) };
}

/**
 * k folds: every row is in exactly one test fold; each class is dealt round the folds in turn (after a seeded
 * shuffle), so every fold holds floor or ceil of its class's n/k and fold sizes differ by at most one row.
 */
export function stratifiedKFold(labels: readonly number[], k: number, seed: number): IndexSplit[] {
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`k must be an integer >= 2, got ${k}`);
  const n = labels.length;
  if (k > n) {
    throw new AppError('TRAINING_DATA_UNUSABLE', `cannot make ${k} folds from ${n} rows`, { rows: n, folds: k });
  }
  const rng = createRng(seed);
  const foldOf = new Int32Array(n);
  let dealt = 0;
  for (const group of groupByClass(labels, rng)) {
    for (const index of group.indices) foldOf[index] = dealt++ % k;
  }
  const folds: IndexSplit[] = [];
  for (let f = 0; f < k; f++) folds.push({ train: [], test: [] });
  for (let i = 0; i < n; i++) {
    const fold = foldOf[i] as number;
    folds.forEach((part, f) => {
      (f === fold ? part.test : part.train).push(i);
    });
  }
  return folds;
}

/** Classes in ascending label order, each with its row indices in a seeded random order. */
function groupByClass(labels: readonly number[], rng: Rng): Array<{ label: number; indices: number[] }> {
  const byLabel = new Map<number, number[]>();
  labels.forEach((label, index) => {
    if (!Number.isFinite(label)) throw new RangeError(`label at index ${index} is not a finite number: ${label}`);
    let indices = byLabel.get(label);
    if (indices === undefined) {
      indices = [];
      byLabel.set(label, indices);
    }
    indices.push(index);
  });
  return [...byLabel.keys()]
    .sort(ascending)
    .map((label) => ({ label, indices: shuffleInPlace(byLabel.get(label) as number[], rng) }));
}

/**
 * Integer shares of `total` proportional to `sizes` (largest remainder; remainder ties to the larger class,
 * then the smaller label), never more than a class has.
 */
function apportion(sizes: readonly number[], total: number): number[] {
  const n = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((size) => (size * total) / n);
  const quotas = exact.map(Math.floor);
  let left = total - quotas.reduce((a, b) => a + b, 0);
  const order = sizes
    .map((size, g) => ({ g, size, remainder: (exact[g] as number) - (quotas[g] as number) }))
    .sort((a, b) => b.remainder - a.remainder || b.size - a.size || a.g - b.g);
  for (const { g, size } of order) {
    if (left === 0) break;
    if ((quotas[g] as number) < size) {
      quotas[g] = (quotas[g] as number) + 1;
      left--;
    }
  }
  return quotas;
}

/**
 * How many rows of each class a stratified sample of `cap` rows takes, for class sizes `sizes`: each class its
 * proportional share (largest remainder). All of every class when there are no more than `cap` rows.
 */
export function stratifiedSampleSizes(sizes: readonly number[], cap: number): number[] {
  if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`cap must be a positive integer, got ${cap}`);
  const n = sizes.reduce((a, b) => a + b, 0);
  return n <= cap ? [...sizes] : apportion(sizes, cap);
}

function ascending(a: number, b: number): number {
  return a - b;
}

/**
 * A stratified, seeded sample of `cap` row indices (ascending): each class its proportional share of `cap`
 * (`stratifiedSampleSizes`), the rows of a class taken in a seeded random order. All rows when there are no more
 * than `cap`.
 */
export function stratifiedSample(labels: readonly number[], cap: number, seed: number): number[] {
  if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`cap must be a positive integer, got ${cap}`);
  if (labels.length <= cap) return labels.map((_, i) => i);
  const groups = groupByClass(labels, createRng(seed));
  const quotas = stratifiedSampleSizes(
    groups.map((g) => g.indices.length),
    cap,
  );
  return groups.flatMap((group, g) => group.indices.slice(0, quotas[g] as number)).sort(ascending);
}
