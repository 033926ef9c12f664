import { describe, expect, it } from 'vitest';
import { KSDrift, WindowDrift } from './drift.ts';
import { FEATURE_NAMES } from './schema.ts';
import { ks2samp } from './stats/index.ts';

/** mulberry32: a tiny seeded generator, so the synthetic passengers are the same on every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function pick(u: number, weights: readonly number[]): number {
  let acc = 0;
  for (const [i, w] of weights.entries()) {
    acc += w;
    if (u < acc) return i;
  }
  return weights.length - 1;
}

/**
 * Feature rows (FEATURE_NAMES order) shaped like data/titanic.csv after recipe v1: class shares 24/21/55%,
 * 35% women, ages around 30, fares log-normal by class, 72% embarked at S. `shift` moves the population the
 * way a broken upstream feed might: older passengers, five-fold fares, everyone in first class.
 */
function titanicLikeRows(count: number, seed: number, shift = false): number[][] {
  const u = seeded(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const rows: number[][] = [];
  for (let i = 0; i < count; i++) {
    const pclass = shift ? 1 : pick(u(), [0.24, 0.21, 0.55]) + 1;
    const sex = u() < 0.35 ? 1 : 0;
    const age = Math.max(0.42, Math.round((29.7 + 13.5 * normal() + (shift ? 25 : 0)) * 2) / 2);
    const fareMedian = [0, 60, 14, 8][pclass]!;
    const fare = Math.round(fareMedian * Math.exp(0.6 * normal()) * (shift ? 5 : 1) * 100) / 100;
    const embarked = pick(u(), [0.19, 0.09, 0.72]);
    const familySize = 1 + pick(u(), [0.6, 0.23, 0.1, 0.04, 0.03]);
    const hasCabin = u() < [0, 0.8, 0.1, 0.03][pclass]! ? 1 : 0;
    const title = sex === 1 ? (age < 18 || u() < 0.45 ? 1 : 2) : age < 13 ? 3 : u() < 0.96 ? 0 : 4;
    rows.push([
      pclass,
      sex,
      age,
      fare,
      embarked,
      familySize,
      familySize === 1 ? 1 : 0,
      hasCabin,
      title,
      pclass * fare,
      age * fare,
    ]);
  }
  return rows;
}

function columnsOf(rows: readonly number[][]): number[][] {
  return FEATURE_NAMES.map((_, f) => rows.map((r) => r[f]!));
}

const reference = { featureNames: [...FEATURE_NAMES], columns: columnsOf(titanicLikeRows(712, 1)) };
describe('KSDrift', () => {
  it('flags drift only when a p-value is below pVal / nFeatures (Bonferroni)', () => {
    const batch = titanicLikeRows(60, 2).map((r, i) => (i < 25 ? [...r.slice(0, 2), r[2]! + 12, ...r.slice(3)] : r));
    const probe = new KSDrift(reference).predict(batch);
    const minP = Math.min(...Object.values(probe.pValues));
    expect(minP).toBe(probe.pValues.Age);
    expect(minP).toBeLessThan(0.05);

    // Significant at pVal, but not at pVal / 11: no drift.
    const lenient = new KSDrift(reference, { pVal: minP * 11 * 0.99 }).predict(batch);
    expect(lenient.threshold).toBeCloseTo((minP * 11 * 0.99) / 11, 15);
    expect(minP).toBeLessThan(minP * 11 * 0.99);
    expect(lenient.isDrift).toBe(false);
    expect(lenient.drifted).toEqual([]);

    const strict = new KSDrift(reference, { pVal: minP * 11 * 1.01 }).predict(batch);
    expect(strict.isDrift).toBe(true);
    expect(strict.drifted).toEqual(['Age']);
    expect(new KSDrift(reference).threshold).toBe(0.05 / 11);
  });

  it('uses the asymptotic p-value by default, like Alibi-Detect, and the method it is given', () => {
    const batch = titanicLikeRows(40, 4);
    const ageColumn = batch.map((r) => r[2]!);
    const byDefault = new KSDrift(reference).predict(batch);
    const exact = new KSDrift(reference, { method: 'exact' }).predict(batch);
    expect(byDefault.pValues.Age).toBe(ks2samp(ageColumn, reference.columns[2]!, 'asymp').pValue);
    expect(exact.pValues.Age).toBe(ks2samp(ageColumn, reference.columns[2]!, 'exact').pValue);
    expect(byDefault.statistics.Age).toBe(ks2samp(ageColumn, reference.columns[2]!, 'asymp').statistic);
  });

  it('flags a clearly shifted batch of passengers and not an in-distribution one', () => {
    const detector = new KSDrift(reference);
    const same = detector.predict(titanicLikeRows(150, 5));
    expect(same.isDrift).toBe(false);
    expect(Math.min(...Object.values(same.pValues))).toBeGreaterThan(0.01);

    const shifted = detector.predict(titanicLikeRows(150, 6, true));
    expect(shifted.isDrift).toBe(true);
    expect(shifted.drifted).toEqual(expect.arrayContaining(['Pclass', 'Age', 'Fare', 'Pclass_Fare', 'Age_Fare']));
    expect(shifted.drifted).not.toContain('Sex');
  });

  it('tests a single row cheaply and flags one far outside every reference value', () => {
    const detector = new KSDrift(reference);
    const typical = detector.predict([[3, 0, 28, 8, 2, 1, 1, 0, 0, 24, 224]]);
    expect(typical.isDrift).toBe(false);
    const absurd = detector.predict([[3, 0, 250, 8, 2, 1, 1, 0, 0, 24, 2000]]);
    expect(absurd.statistics.Age).toBe(1);
    expect(absurd.pValues.Age).toBe(0);
    expect(absurd.drifted).toEqual(['Age']);
    // The fast path agrees with the general function.
    expect(typical.pValues.Fare).toBe(ks2samp([8], reference.columns[3]!, 'asymp').pValue);
  });

  it('gives the same answer for rows and for the same data by columns', () => {
    const rows = titanicLikeRows(30, 7);
    const detector = new KSDrift(reference, { method: 'auto' });
    expect(detector.predictColumns(columnsOf(rows))).toEqual(detector.predict(rows));
  });

  it('rejects rows of the wrong width and a reference without one column per feature', () => {
    const detector = new KSDrift(reference);
    expect(() => detector.predict([[1, 2, 3]])).toThrow(/expected 11/);
    expect(() => detector.predict([])).toThrow(/no rows/);
    expect(() => new KSDrift({ featureNames: ['a', 'b'], columns: [[1]] })).toThrow(/one column per feature/);
  });
});

describe('WindowDrift', () => {
  it('evaluates every evaluateEvery rows over the last windowSize rows', () => {
    const window = new WindowDrift(reference, { windowSize: 100, evaluateEvery: 40 });
    const rows = titanicLikeRows(130, 8);
    expect(window.add(rows.slice(0, 39))).toBeNull();
    expect(window.state()).toMatchObject({ windowRows: 39, rowsSeen: 39, rowsUntilEvaluation: 1, last: null });
    const first = window.add(rows.slice(39, 40));
    expect(first).toMatchObject({ windowRows: 40, rowsSeen: 40, transition: null, isDrift: false });
    // One batch crossing the interval gives one evaluation, over the most recent 100 rows only.
    const second = window.add(rows.slice(40, 130));
    expect(second).toMatchObject({ windowRows: 100, rowsSeen: 130 });
    expect(second!.pValues).toEqual(new KSDrift(reference).predict(rows.slice(30, 130)).pValues);
    expect(window.state().rowsUntilEvaluation).toBe(40);
  });

  it("reports 'entered' when drift starts and 'cleared' when the window is clean again", () => {
    const window = new WindowDrift(reference); // 200 rows, every 50
    const normal = titanicLikeRows(400, 9);
    const shifted = titanicLikeRows(100, 10, true);
    const feed = (rows: number[][]) => {
      const results = [];
      for (let i = 0; i < rows.length; i += 10) {
        const r = window.add(rows.slice(i, i + 10));
        if (r) results.push(r);
      }
      return results;
    };

    const warmUp = feed(normal.slice(0, 200));
    expect(warmUp.map((r) => [r.isDrift, r.transition])).toEqual([
      [false, null],
      [false, null],
      [false, null],
      [false, null],
    ]);

    const during = feed(shifted);
    expect(during.map((r) => r.transition)).toEqual(['entered', null]);
    expect(window.state().isDrift).toBe(true);

    const after = feed(normal.slice(200, 400));
    const cleared = after.findIndex((r) => r.transition === 'cleared');
    expect(cleared).toBeGreaterThanOrEqual(0);
    expect(after.slice(0, cleared).every((r) => r.isDrift && r.transition === null)).toBe(true);
    expect(after.slice(cleared).every((r) => !r.isDrift)).toBe(true);
    expect(after.filter((r) => r.transition !== null)).toHaveLength(1);
    expect(window.state()).toMatchObject({ isDrift: false, windowRows: 200, rowsSeen: 500 });
  });
});
