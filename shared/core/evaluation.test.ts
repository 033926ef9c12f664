import { describe, expect, it } from 'vitest';
import { calibrationBins, evaluate, rocAuc, standardDeviation, wilsonInterval } from './evaluation.ts';

describe('evaluate', () => {
  it('computes the confusion matrix and the scores of a hand-checked example', () => {
    const y = [1, 1, 1, 0, 0, 0, 0, 1];
    const p = [0.9, 0.6, 0.2, 0.1, 0.7, 0.5, 0.3, 0.8];
    // predicted 1 when p > 0.5: [1,1,0,0,1,0,0,1]
    const m = evaluate(y, p);
    expect(m.confusionMatrix).toEqual({ tp: 3, fn: 1, fp: 1, tn: 3 });
    expect(m.accuracy).toBe(6 / 8);
    expect(m.precision).toBe(3 / 4);
    expect(m.recall).toBe(3 / 4);
    expect(m.f1).toBeCloseTo(0.75, 15);
    expect(m.brier).toBeCloseTo((0.01 + 0.16 + 0.64 + 0.01 + 0.49 + 0.25 + 0.09 + 0.04) / 8, 15);
    // 16 positive/negative pairs, 12 ranked right: 0.9 and 0.8 beat all 4, 0.6 beats 3 (not 0.7), 0.2 beats 1
    expect(m.rocAuc).toBe(12 / 16);
    expect(m.n).toBe(8);
  });

  it('counts a half-half vote as "not survived" (strict majority)', () => {
    expect(evaluate([1], [0.5]).confusionMatrix).toEqual({ tp: 0, fn: 1, fp: 0, tn: 0 });
  });

  it('gives 0 precision and F1 (not NaN) when nothing is predicted positive', () => {
    const m = evaluate([1, 0], [0.1, 0.2]);
    expect(m.precision).toBe(0);
    expect(m.f1).toBe(0);
  });
});

describe('rocAuc', () => {
  it('counts tied scores as half a correct ranking, and is undefined for a single class', () => {
    expect(rocAuc([0, 1], [0.5, 0.5])).toBe(0.5);
    expect(rocAuc([1, 1], [0.2, 0.3])).toBeNull();
  });
});

describe('standardDeviation', () => {
  it('is the population standard deviation (numpy default, as scikit-learn reports CV spread)', () => {
    expect(standardDeviation([1, 3])).toBe(1);
  });
});

describe('wilsonInterval', () => {
  it('gives the Wilson interval of 81 successes in 100, (0.7222, 0.8749)', () => {
    // (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) with z = 1.959964, computed independently in Python
    expect(wilsonInterval(81, 100)).toEqual([0.7222, 0.8749]);
    expect(wilsonInterval(0, 0)).toEqual([0, 1]);
  });
});

describe('calibrationBins', () => {
  it('puts each probability in its tenth (1 in the last), and reports mean predicted and observed share per bin', () => {
    const bins = calibrationBins([0, 1, 1, 0, 1], [0.05, 0.12, 0.18, 0.95, 1]);
    expect(bins).toHaveLength(3);
    expect(bins[0]).toEqual({ lower: 0, upper: 0.1, n: 1, predicted: 0.05, observed: 0 });
    expect(bins[1]).toMatchObject({ lower: 0.1, upper: 0.2, n: 2, observed: 1 });
    expect(bins[1]!.predicted).toBeCloseTo(0.15, 12);
    expect(bins[2]).toEqual({ lower: 0.9, upper: 1, n: 2, predicted: 0.975, observed: 0.5 });
  });
});
