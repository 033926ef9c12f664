/**
 * Binary classification metrics (class 1 = survived), with scikit-learn's definitions: precision and recall
 * are 0 when undefined (`zero_division=0`), ROC AUC is the Mann-Whitney statistic with tied scores counted
 * half, the Brier score is the mean squared difference between probability and label.
 */

export interface ConfusionMatrix {
  tn: number;
  fp: number;
  fn: number;
  tp: number;
}

export interface TestMetrics {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  /** 0.5 (no discrimination) when the labels hold a single class, where AUC is undefined. */
  rocAuc: number;
  brier: number;
  confusionMatrix: ConfusionMatrix;
  n: number;
  /** 95% Wilson score interval of the accuracy (absent from artifacts trained before it was recorded). */
  accuracyInterval?: [number, number];
  /** Reliability of the probabilities: ten equal-width bins of predicted probability, the non-empty ones. */
  calibration?: CalibrationBin[];
}

export interface CalibrationBin {
  /** The bin is [lower, upper) (the last one includes 1). */
  lower: number;
  upper: number;
  n: number;
  /** Mean predicted probability of survival of the bin's rows. */
  predicted: number;
  /** Share of the bin's rows that survived. */
  observed: number;
}

/**
 * The 95% Wilson score interval of a proportion of `k` successes in `n` trials (better behaved than the normal
 * approximation near 0 and 1 and for a few hundred rows), rounded to 4 decimals.
 */
export function wilsonInterval(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  const r = (x: number) => Number(Math.min(1, Math.max(0, x)).toFixed(4));
  return [r(centre - half), r(centre + half)];
}

/** Reliability bins (scikit-learn's `calibration_curve` with 10 uniform bins, empty bins left out). */
export function calibrationBins(y: readonly number[], probabilities: readonly number[], bins = 10): CalibrationBin[] {
  const n = new Array<number>(bins).fill(0);
  const predicted = new Array<number>(bins).fill(0);
  const observed = new Array<number>(bins).fill(0);
  probabilities.forEach((p, i) => {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
    n[b] = (n[b] as number) + 1;
    predicted[b] = (predicted[b] as number) + p;
    observed[b] = (observed[b] as number) + (y[i] as number);
  });
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    const count = n[b] as number;
    if (count === 0) continue;
    out.push({
      lower: b / bins,
      upper: (b + 1) / bins,
      n: count,
      predicted: (predicted[b] as number) / count,
      observed: (observed[b] as number) / count,
    });
  }
  return out;
}

/**
 * The one decision rule: survived when strictly more than half the trees say so (a tie, exactly 0.5, is "not
 * survived", as scikit-learn's argmax). Every place that turns a probability into a label calls this.
 */
export function predictedLabel(probability: number): 0 | 1 {
  return probability > 0.5 ? 1 : 0;
}

export function accuracy(y: readonly number[], predicted: readonly number[]): number {
  if (y.length === 0) return 0;
  let right = 0;
  for (let i = 0; i < y.length; i++) if (y[i] === predicted[i]) right++;
  return right / y.length;
}

export function confusionMatrix(y: readonly number[], predicted: readonly number[]): ConfusionMatrix {
  const m = { tn: 0, fp: 0, fn: 0, tp: 0 };
  for (let i = 0; i < y.length; i++) {
    const truth = y[i] === 1;
    const said = predicted[i] === 1;
    if (truth && said) m.tp++;
    else if (truth) m.fn++;
    else if (said) m.fp++;
    else m.tn++;
  }
  return m;
}

/** Area under the ROC curve from ranks (average ranks for ties). */
export function rocAuc(y: readonly number[], scores: readonly number[]): number | null {
  const order = scores.map((_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1] as number] === scores[order[i] as number]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k] as number] = rank;
    i = j + 1;
  }
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 1) {
      positives++;
      rankSum += ranks[i] as number;
    }
  }
  const negatives = y.length - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function brierScore(y: readonly number[], probabilities: readonly number[]): number {
  if (y.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += ((probabilities[i] as number) - (y[i] as number)) ** 2;
  return sum / y.length;
}

/** Every test metric from labels and the predicted probabilities of class 1. */
export function evaluate(y: readonly number[], probabilities: readonly number[]): TestMetrics {
  const predicted = probabilities.map(predictedLabel);
  const cm = confusionMatrix(y, predicted);
  const precision = cm.tp + cm.fp === 0 ? 0 : cm.tp / (cm.tp + cm.fp);
  const recall = cm.tp + cm.fn === 0 ? 0 : cm.tp / (cm.tp + cm.fn);
  return {
    accuracy: accuracy(y, predicted),
    precision,
    recall,
    f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    rocAuc: rocAuc(y, probabilities) ?? 0.5,
    brier: brierScore(y, probabilities),
    confusionMatrix: cm,
    n: y.length,
    accuracyInterval: wilsonInterval(cm.tn + cm.tp, y.length),
    calibration: calibrationBins(y, probabilities),
  };
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Population standard deviation (numpy's default, as scikit-learn's `std_test_score`). */
export function standardDeviation(values: readonly number[]): number {
  const m = mean(values);
  return Math.sqrt(mean(values.map((v) => (v - m) ** 2)));
}
