import { describe, expect, it } from 'vitest';
import { featureHistogram, histogramDistance, jensenShannon, lInfinity } from './drift-distance.ts';

describe('drift distances', () => {
  it('Jensen-Shannon is 0 for the same distribution, 1 bit for disjoint ones, and symmetric', () => {
    expect(jensenShannon([0.5, 0.5, 0], [0.5, 0.5, 0])).toBe(0);
    expect(jensenShannon([1, 0], [0, 1])).toBe(1);
    // p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4); JS = 1/2 KL(p||m) + 1/2 KL(q||m)
    const expected = 0.5 * (0.5 * Math.log2(0.5 / 0.75) + 0.5 * Math.log2(0.5 / 0.25)) + 0.5 * Math.log2(1 / 0.75);
    expect(jensenShannon([0.5, 0.5], [1, 0])).toBeCloseTo(expected, 15);
    expect(jensenShannon([1, 0], [0.5, 0.5])).toBeCloseTo(expected, 15);
  });

  it('L-infinity is the largest difference in the share of one category', () => {
    expect(lInfinity([0.72, 0.19, 0.09], [0.2, 0.1, 0.7])).toBeCloseTo(0.61, 15);
  });

  it('bins continuous features on common equal-width bins over both samples, and counts categories over their union', () => {
    const h = featureHistogram('continuous', [0, 1, 2, 3], [2, 3, 4, 5], 5);
    expect(h.edges).toEqual([0, 1, 2, 3, 4, 5]);
    expect(h.reference).toEqual([0.25, 0.25, 0.25, 0.25, 0]);
    expect(h.current).toEqual([0, 0, 0.25, 0.25, 0.5]); // the top edge falls in the last bin
    expect(histogramDistance(h).kind).toBe('jensen-shannon');
    const c = featureHistogram('categorical', [0, 0, 1, 2], [2, 2, 3]);
    expect(c.categories).toEqual([0, 1, 2, 3]);
    expect(c.reference).toEqual([0.5, 0.25, 0.25, 0]);
    expect(histogramDistance(c)).toEqual({ kind: 'l-infinity', value: 0.5 });
  });
});
