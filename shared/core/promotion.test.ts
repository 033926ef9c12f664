import { describe, expect, it } from 'vitest';
import {
  binomialUpperTailHalf,
  compareModels,
  decidePromotion,
  mcnemarWorsePValue,
  wilsonInterval,
} from './promotion.ts';
import { describeFailures, type ValidationReport } from './validation.ts';

/** scipy.stats.binomtest(k, n, 0.5, alternative='greater').pvalue, scipy 1.17.1. */
const SCIPY_BINOM_GREATER: Array<[number, number, number]> = [
  [0, 0, 1.0],
  [3, 3, 0.125],
  [5, 12, 0.80615234375],
  [20, 30, 0.049368573352694525],
  [40, 60, 0.00674464686559593],
  [7, 7, 0.0078125],
  [1, 10, 0.9990234375],
  [120, 200, 0.002842577998375153],
  [600, 1100, 0.0014097724957182142],
];

/** scipy.stats.binomtest(k, n).proportion_ci(method='wilson'). */
const SCIPY_WILSON: Array<[number, number, number, number]> = [
  [147, 179, 0.7585333917532752, 0.8704268054675107],
  [30, 40, 0.5980603857923197, 0.858128813609037],
  [0, 10, 0.0, 0.27753279986288926],
  [10, 10, 0.7224672001371109, 1.0],
];

const passed: ValidationReport = { passed: true, rows: 10, labelShare: 0.4, checks: [], failed: [] };
const policy = { minAccuracy: 0.75, alpha: 0.05 };

describe('the exact one-sided McNemar test', () => {
  it.each(SCIPY_BINOM_GREATER)('gives P(X >= %i) for X ~ Binomial(%i, 1/2) as scipy does', (k, n, expected) => {
    expect(binomialUpperTailHalf(k, n)).toBeCloseTo(expected, 10);
  });

  it('is the tail of the champion-only count among the discordant rows', () => {
    expect(mcnemarWorsePValue(20, 10)).toBeCloseTo(0.049368573352694525, 10);
    expect(mcnemarWorsePValue(10, 20)).toBeGreaterThan(0.9);
  });
});

describe('Wilson intervals', () => {
  it.each(SCIPY_WILSON)("give scipy's interval for %i of %i", (k, n, lo, hi) => {
    const [a, b] = wilsonInterval(k, n);
    expect(a).toBeCloseTo(lo, 4);
    expect(b).toBeCloseTo(hi, 4);
  });
});

describe('compareModels', () => {
  it('counts the discordant rows of two models on the same labels', () => {
    const labels = [1, 1, 0, 0, 1, 0];
    const champion = [1, 1, 0, 0, 0, 1];
    const challenger = [1, 0, 0, 1, 1, 0];
    const c = compareModels(labels, champion, challenger);
    expect(c).toMatchObject({ rows: 6, championOnly: 2, challengerOnly: 2, championAccuracy: 0.6667 });
    expect(c.pValue).toBeCloseTo(binomialUpperTailHalf(2, 4), 4);
  });
});

describe('decidePromotion', () => {
  const comparison = (championOnly: number, challengerOnly: number) =>
    compareModels(
      [...new Array(championOnly + challengerOnly).fill(1), ...new Array(100).fill(1)],
      [...new Array(championOnly).fill(1), ...new Array(challengerOnly).fill(0), ...new Array(100).fill(1)],
      [...new Array(championOnly).fill(0), ...new Array(challengerOnly).fill(1), ...new Array(100).fill(1)],
    );

  it('promotes the first model on the floor alone', () => {
    const d = decidePromotion({
      policy,
      testAccuracy: 0.8,
      testRows: 179,
      validation: null,
      comparison: null,
      describeValidation: describeFailures,
    });
    expect(d).toMatchObject({ promote: true, code: 'PROMOTED_FIRST_MODEL', reasons: [] });
  });

  it('refuses the first model below the floor', () => {
    const d = decidePromotion({
      policy,
      testAccuracy: 0.7,
      testRows: 179,
      validation: null,
      comparison: null,
      describeValidation: describeFailures,
    });
    expect(d).toMatchObject({ promote: false, code: 'BELOW_FLOOR' });
    expect(d.reasons[0]).toMatch(/0.7 below the floor MIN_ACCURACY 0.75/);
  });

  it('promotes a challenger that is not significantly worse', () => {
    const d = decidePromotion({
      policy,
      testAccuracy: 0.8,
      testRows: 179,
      validation: passed,
      comparison: comparison(12, 8),
      describeValidation: describeFailures,
    });
    expect(d).toMatchObject({ promote: true, code: 'PROMOTED' });
  });

  it('refuses a challenger that is significantly worse, with the p-value in the reason', () => {
    const d = decidePromotion({
      policy,
      testAccuracy: 0.8,
      testRows: 179,
      validation: passed,
      comparison: comparison(20, 5),
      describeValidation: describeFailures,
    });
    expect(d).toMatchObject({ promote: false, code: 'WORSE_THAN_CHAMPION' });
    expect(d.reasons[0]).toMatch(/McNemar one-sided p=0\.00\d+ < 0\.05/);
  });

  it('names a suspect dataset first, with every failed check', () => {
    const suspect: ValidationReport = {
      ...passed,
      passed: false,
      failed: [
        {
          check: 'label-share',
          statistic: 'absolute difference of the survived share',
          value: 0.6,
          threshold: 0.08,
          passed: false,
        },
        {
          check: 'distribution',
          feature: 'Fare',
          statistic: 'jensen-shannon',
          value: 0.2,
          threshold: 0.05,
          passed: false,
        },
      ],
    };
    const d = decidePromotion({
      policy,
      testAccuracy: 0.7,
      testRows: 179,
      validation: suspect,
      comparison: comparison(20, 5),
      describeValidation: describeFailures,
    });
    expect(d.code).toBe('DATASET_SUSPECT');
    expect(d.reasons).toHaveLength(4);
    expect(d.reasons[1]).toBe('distribution Fare: jensen-shannon 0.2 > 0.05');
  });
});
