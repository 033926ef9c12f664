/**
 * RequestDrift against the direct computation it replaced: every row checked against each feature's sorted
 * reference by binary search, the tail p-values computed per row, and the answer's dictionaries assigned key by
 * key. The fast path (p-values per slot worked out at construction, bucketed slot search, category codes, compiled
 * records) must give the same answer, deep and key order alike, for every input.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type DriftWorld, loadDriftWorld, sampler } from '../../test/support/drift-streams.ts';
import {
  categoryOf,
  type DriftReference,
  type FeatureTest,
  type OutOfSupport,
  RequestDrift,
  type RequestDriftOptions,
  type RequestDriftResult,
  SlotIndex,
  type SupportReason,
  TabularDrift,
} from './drift.ts';
import { createRng, type Rng } from './rng.ts';

// ---------------------------------------------------------------------------------------------------------------
// The reference: RequestDrift.predict as it was before the per-slot tables (kept verbatim but for the names).

function referencePredict(
  tests: TabularDrift,
  opts: { minTestRows: number; rangeMargin: number },
  rows: readonly ArrayLike<number>[],
): RequestDriftResult {
  const nf = tests.featureNames.length;
  const lo = new Float64Array(nf);
  const hi = new Float64Array(nf);
  for (let f = 0; f < nf; f++) {
    const { min, max, sorted } = tests.feature(f);
    const counts = sorted.every((v) => Number.isInteger(v));
    const margin = Math.max(opts.rangeMargin * (max - min), counts ? 1 : 0);
    lo[f] = min - margin;
    hi[f] = max + margin;
  }
  const supportReason = (f: number, v: number): SupportReason | null => {
    if (Number.isNaN(v)) return 'not-a-number';
    const feature = tests.feature(f);
    if (feature.type === 'categorical') return feature.indexOf.has(v) ? null : 'unseen-category';
    if (v < lo[f]!) return 'below-range';
    if (v > hi[f]!) return 'above-range';
    return null;
  };
  const outOfSupport: OutOfSupport[] = [];
  const flagged = new Uint8Array(nf);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    for (let f = 0; f < nf; f++) {
      const reason = supportReason(f, row[f]!);
      if (reason !== null) {
        outOfSupport.push({ row: r, feature: tests.featureNames[f]!, value: row[f]!, reason });
        flagged[f] = 1;
      }
    }
  }
  if (rows.length >= opts.minTestRows) {
    const tested = tests.predict(rows);
    const drifted = tests.featureNames.filter((name, f) => flagged[f] === 1 || tested.drifted.includes(name));
    return {
      ...tested,
      isDrift: drifted.length > 0,
      drifted,
      driftedShare: drifted.length / nf,
      check: 'support+tests',
      outOfSupport,
    };
  }
  const n = tests.referenceSize;
  const features: FeatureTest[] = [];
  const drifted: string[] = [];
  const pValues: Record<string, number> = {};
  const statistics: Record<string, number> = {};
  for (let f = 0; f < nf; f++) {
    const feature = tests.feature(f);
    let p = 1;
    for (const row of rows) p = Math.min(p, tailPValue(feature, row[f]!, n));
    const outside = outOfSupport.filter((o) => o.feature === feature.name).length;
    pValues[feature.name] = p;
    statistics[feature.name] = outside;
    if (flagged[f] === 1) drifted.push(feature.name);
    features.push({
      name: feature.name,
      type: feature.type,
      test: feature.type === 'continuous' ? 'ks' : 'chi2',
      statistic: outside,
      pValue: p,
      threshold: Number.NaN,
      drifted: flagged[f] === 1,
    });
  }
  return {
    isDrift: drifted.length > 0,
    threshold: tests.threshold,
    correction: tests.correction,
    features,
    drifted,
    driftedShare: drifted.length / nf,
    pValues,
    statistics,
    check: 'support',
    outOfSupport: [...outOfSupport],
  };
}

function tailPValue(feature: ReturnType<TabularDrift['feature']>, v: number, n: number): number {
  if (Number.isNaN(v)) return Number.NaN;
  if (feature.type === 'categorical') {
    const k = feature.indexOf.get(v);
    return (1 + (k === undefined ? 0 : feature.counts[k]!)) / (n + 1);
  }
  const sorted = feature.sorted;
  const atMost = upperBound(sorted, v);
  const atLeast = n - lowerBound(sorted, v);
  return Math.min(1, (2 * (1 + Math.min(atMost, atLeast))) / (n + 1));
}

function upperBound(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs

const nextUp = (x: number): number => {
  if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return x;
  if (x === 0) return Number.MIN_VALUE;
  const b = new Float64Array([x]);
  const i = new BigInt64Array(b.buffer);
  i[0] = i[0]! + (x > 0 ? 1n : -1n);
  return b[0]!;
};
const nextDown = (x: number): number => -nextUp(-x);

interface FeatureRange {
  column: readonly number[];
  min: number;
  max: number;
  margin: number;
}

function rangesOf(reference: DriftReference, rangeMargin: number): FeatureRange[] {
  return reference.columns.map((column) => {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const v of column) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const counts = column.every((v) => Number.isInteger(v));
    return { column, min, max, margin: Math.max(rangeMargin * (max - min), counts ? 1 : 0) };
  });
}

/** A value for a feature: mostly near the reference (ties, neighbours, gaps), else an awkward one. */
function valueFor({ column, min, max, margin }: FeatureRange, rng: Rng): number {
  const at = column[rng.int(column.length)]!;
  const other = column[rng.int(column.length)]!;
  const usual = [
    () => at, // a reference value (ties)
    () => nextUp(at),
    () => nextDown(at),
    () => (at + other) / 2, // between two reference values, or on one
    () => min + rng.next() * (max - min),
  ];
  if (rng.int(4) !== 0) return usual[rng.int(usual.length)]!();
  const awkward = [
    () => min - margin, // the range's edges and just past them
    () => nextDown(min - margin),
    () => max + margin,
    () => nextUp(max + margin),
    () => min - 2 * margin - 1,
    () => max + 2 * margin + 1,
    () => Number.NaN,
    () => Number.POSITIVE_INFINITY,
    () => Number.NEGATIVE_INFINITY,
    () => -0,
    () => 0,
    () => [9, -1, 0.5, 1e10, 2 ** 32, 2 ** 31, -(2 ** 31), 1023, 1024, 1.5][rng.int(10)]!, // unseen categories
    () => -at,
  ];
  return awkward[rng.int(awkward.length)]!();
}

/** The same answer, keys in the same order (the JSON answer writes pValues and statistics in key order). */
function expectSame(fast: RequestDriftResult, direct: RequestDriftResult): void {
  expect(fast).toStrictEqual(direct);
  expect(Object.keys(fast)).toEqual(Object.keys(direct));
  expect(Object.keys(fast.pValues)).toEqual(Object.keys(direct.pValues));
  expect(Object.keys(fast.statistics)).toEqual(Object.keys(direct.statistics));
  expect(fast.features.map((f) => Object.keys(f))).toEqual(direct.features.map((f) => Object.keys(f)));
}

function compare(reference: DriftReference, opts: RequestDriftOptions, seed: number, requests: number): number {
  const detector = new RequestDrift(reference, opts);
  const direct = new TabularDrift(reference, opts);
  const settings = { minTestRows: detector.minTestRows, rangeMargin: detector.rangeMargin };
  const rng = createRng(seed);
  const ranges = rangesOf(reference, settings.rangeMargin);
  let flagged = 0;
  for (let i = 0; i < requests; i++) {
    // Mostly one row (the API's usual request); then every size below the test size, and a few at or above it.
    const size =
      i % 4 !== 0 ? 1 : i % 16 === 0 ? settings.minTestRows + rng.int(3) : 1 + rng.int(settings.minTestRows - 1);
    const rows = Array.from({ length: size }, () => ranges.map((range) => valueFor(range, rng)));
    const fast = detector.predict(rows);
    expectSame(fast, referencePredict(direct, settings, rows));
    if (fast.isDrift) flagged++;
  }
  return flagged;
}

let world: DriftWorld;
let v2: DriftWorld;
beforeAll(async () => {
  world = await loadDriftWorld(42);
  v2 = await loadDriftWorld(42, 2);
});

describe('RequestDrift against the direct computation', () => {
  it('gives the same answer on 3,000 random requests of the Titanic reference (recipe v1)', () => {
    const flagged = compare(world.reference, {}, 1, 3000);
    expect(flagged).toBeGreaterThan(1000); // the awkward values mostly fall out of support ...
    expect(flagged).toBeLessThan(3000); // ... but not always
  });

  it('gives the same answer on 2,000 random requests of recipe v2, with FDR and another margin and test size', () => {
    compare(v2.reference, { correction: 'fdr', rangeMargin: 0.3, minTestRows: 8 }, 2, 2000);
  });

  it('gives the same answer on in-distribution passengers, one by one and in small batches', () => {
    const detector = new RequestDrift(world.reference);
    const direct = new TabularDrift(world.reference);
    const settings = { minTestRows: 30, rangeMargin: 0.1 };
    for (const row of world.features) expectSame(detector.predict([row]), referencePredict(direct, settings, [row]));
    const stream = sampler(world, createRng(3));
    for (const size of [2, 5, 29, 30, 31, 45]) {
      const rows = Array.from({ length: size }, () => stream.normal());
      expectSame(detector.predict(rows), referencePredict(direct, settings, rows));
    }
  });

  it('gives the same answer for odd references: odd and repeated names, odd categories, one value, huge spans', () => {
    const rng = createRng(4);
    const size = 40;
    const column = (make: (i: number) => number) => Array.from({ length: size }, (_, i) => make(i));
    const reference: DriftReference = {
      featureNames: ['a b', '__proto__', 'toString', '1', 'A', 'A', 'Ties', 'Wide', 'Odd', 'Big'],
      featureTypes: [
        'continuous',
        'categorical',
        'continuous',
        'categorical',
        'continuous',
        'categorical',
        'continuous',
        'continuous',
        'categorical',
        'categorical',
      ],
      columns: [
        column(() => rng.next() * 10 - 5),
        column((i) => i % 3),
        column(() => 7), // a single value
        column((i) => [-1, 0.5, 2000][i % 3]!), // not small whole numbers: the map lookup
        column(() => rng.int(5)),
        column((i) => i % 2),
        column((i) => Math.floor(i / 8)), // heavy ties
        column((i) => (i % 2 === 0 ? -1e308 : 1e308) * (i / size)), // a span that overflows
        column((i) => [3, 1000, 1023][i % 3]!),
        column((i) => [0, 1024][i % 2]!), // a category past the array lookup
      ],
    };
    compare(reference, { minTestRows: 5 }, 5, 3000);
    compare(reference, { minTestRows: 2, rangeMargin: 0 }, 6, 1000);
  });

  it('writes pValues and statistics keys in feature order, as the JSON answer has always shown them', () => {
    const result = new RequestDrift(world.reference).predict([world.features[0]!]);
    expect(Object.keys(result.pValues)).toEqual(world.reference.featureNames);
    expect(Object.keys(result.statistics)).toEqual(world.reference.featureNames);
  });
});

describe('SlotIndex and categoryOf', () => {
  it('find the slot a binary search over all distinct values finds, for every awkward value', () => {
    const rng = createRng(7);
    const references = [
      world.reference.columns[world.reference.featureNames.indexOf('Fare')]!,
      world.reference.columns[world.reference.featureNames.indexOf('Age')]!,
      [5],
      [1, 1, 1, 2],
      [-1e308, 0, 1e308],
      [-3, -2.5, 0, 1e-300, 2e-300, 4, 4, 1e6],
      Array.from({ length: 3000 }, () => Math.exp(rng.next() * 20)),
    ];
    for (const values of references) {
      const sorted = Float64Array.from(values).sort();
      const distinct = Float64Array.from(new Set(sorted));
      const index = new SlotIndex(sorted);
      expect(index.distinct).toEqual(distinct);
      const probes = [
        ...distinct,
        ...Array.from(distinct, nextUp),
        ...Array.from(distinct, nextDown),
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        -0,
        0,
        ...Array.from(
          { length: 2000 },
          () => distinct[0]! + (rng.next() * 1.4 - 0.2) * (distinct.at(-1)! - distinct[0]!),
        ),
      ];
      for (const v of probes) {
        const below = lowerBound(distinct, v);
        const expected = below < distinct.length && distinct[below] === v ? 2 * below + 1 : 2 * below;
        if (index.slotOf(v) !== expected) expect({ v, slot: index.slotOf(v) }).toEqual({ v, slot: expected });
      }
    }
  });

  it('categoryOf gives the reference map lookup for every category, unseen or odd value', () => {
    const tests = new TabularDrift({
      featureNames: ['Small', 'Odd'],
      featureTypes: ['categorical', 'categorical'],
      columns: [
        [0, 2, 2, 5, 1023],
        [-1, 0.5, 3, 3, 4096],
      ],
    });
    const probes = [0, -0, 1, 2, 3, 5, 6, 1022, 1023, 1024, -1, 0.5, 2.5, 4096, 2 ** 32, 2 ** 32 + 2, -(2 ** 32) + 5];
    for (const f of [0, 1]) {
      const feature = tests.feature(f);
      expect(feature.codes === null).toBe(f === 1);
      for (const v of [...probes, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        expect({ v, k: categoryOf(feature, v) }).toEqual({ v, k: feature.indexOf.get(v) ?? -1 });
      }
    }
  });
});
