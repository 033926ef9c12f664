/**
 * The promotion decision: a new model (the challenger) replaces the current one (the champion) unless its data
 * failed validation, it is worse than the champion with statistical significance on rows neither trained on
 * (one-sided exact McNemar test), or it is below the absolute accuracy floor. The first model has no champion
 * and meets the floor alone. Every outcome has a stable reason code (docs/errors.md, "Promotion outcomes").
 */
import { driftReferenceOf, type ModelArtifact } from './artifact.ts';
import { predictedLabel, wilsonInterval } from './evaluation.ts';
import type { Predictor } from './model.ts';
import type { LabelledPassenger } from './schema.ts';
import { DEFAULT_VALIDATION, type ValidationReport, type ValidationThresholds, validateDataset } from './validation.ts';

/** The Wilson interval lives with the other metrics; promotion's callers keep importing it from here. */
export { wilsonInterval };

export interface PromotionPolicy {
  /** MIN_ACCURACY: the absolute floor on the challenger's test accuracy. */
  minAccuracy: number;
  /** PROMOTION_ALPHA: one-sided level of "the challenger is worse than the champion". */
  alpha: number;
}

export const PROMOTION_REASON_CODES = [
  'PROMOTED',
  'PROMOTED_FIRST_MODEL',
  'DATASET_SUSPECT',
  'WORSE_THAN_CHAMPION',
  'BELOW_FLOOR',
  'NEWER_MODEL_SERVING',
] as const;
export type PromotionReasonCode = (typeof PROMOTION_REASON_CODES)[number];

/** Paired outcomes of two models on the same labelled rows. */
export interface Comparison {
  rows: number;
  championAccuracy: number;
  challengerAccuracy: number;
  /** Rows the champion got right and the challenger wrong. */
  championOnly: number;
  /** Rows the challenger got right and the champion wrong. */
  challengerOnly: number;
  /** One-sided exact McNemar p-value of "the challenger is worse". */
  pValue: number;
  championInterval: [number, number];
  challengerInterval: [number, number];
}

export interface PromotionDecision {
  promote: boolean;
  code: PromotionReasonCode;
  /** Human words: each failed check with its figure. */
  reasons: string[];
  figures: {
    testAccuracy: number;
    testRows: number;
    testInterval: [number, number];
    minAccuracy: number;
    alpha: number;
    comparison: Comparison | null;
    validation: { passed: boolean; failed: ValidationReport['failed'] } | null;
  };
}

/** log(n!) by summation for small n, Stirling series beyond (relative error < 1e-12 for n > 30). */
function logFactorial(n: number): number {
  if (n < 2) return 0;
  if (n <= 30) {
    let s = 0;
    for (let i = 2; i <= n; i++) s += Math.log(i);
    return s;
  }
  const x = n + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3);
}

/** P(X >= k) for X ~ Binomial(n, 1/2): the exact one-sided tail. */
export function binomialUpperTailHalf(k: number, n: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  const logHalfN = n * Math.log(0.5);
  const lfN = logFactorial(n);
  let sum = 0;
  for (let i = k; i <= n; i++) sum += Math.exp(lfN - logFactorial(i) - logFactorial(n - i) + logHalfN);
  return Math.min(1, sum);
}

/**
 * One-sided exact McNemar test of "the challenger is worse": under the null the discordant rows split evenly,
 * so the p-value is P(X >= championOnly) for X ~ Binomial(championOnly + challengerOnly, 1/2).
 */
export function mcnemarWorsePValue(championOnly: number, challengerOnly: number): number {
  return binomialUpperTailHalf(championOnly, championOnly + challengerOnly);
}

export function compareModels(
  labels: readonly number[],
  champion: readonly number[],
  challenger: readonly number[],
): Comparison {
  let a = 0;
  let b = 0;
  let championRight = 0;
  let challengerRight = 0;
  labels.forEach((y, i) => {
    const c0 = champion[i] === y;
    const c1 = challenger[i] === y;
    if (c0) championRight++;
    if (c1) challengerRight++;
    if (c0 && !c1) a++;
    if (c1 && !c0) b++;
  });
  const n = labels.length;
  return {
    rows: n,
    championAccuracy: n === 0 ? Number.NaN : Number((championRight / n).toFixed(4)),
    challengerAccuracy: n === 0 ? Number.NaN : Number((challengerRight / n).toFixed(4)),
    championOnly: a,
    challengerOnly: b,
    pValue: Number(mcnemarWorsePValue(a, b).toPrecision(4)),
    championInterval: wilsonInterval(championRight, n),
    challengerInterval: wilsonInterval(challengerRight, n),
  };
}

export function decidePromotion(input: {
  policy: PromotionPolicy;
  testAccuracy: number;
  testRows: number;
  validation: ValidationReport | null;
  comparison: Comparison | null;
  describeValidation: (report: ValidationReport) => string[];
}): PromotionDecision {
  const { policy, testAccuracy, testRows, validation, comparison } = input;
  const figures: PromotionDecision['figures'] = {
    testAccuracy,
    testRows,
    testInterval: wilsonInterval(Math.round(testAccuracy * testRows), testRows),
    minAccuracy: policy.minAccuracy,
    alpha: policy.alpha,
    comparison,
    validation: validation ? { passed: validation.passed, failed: validation.failed } : null,
  };
  const reasons: string[] = [];
  let code: PromotionReasonCode | null = null;
  if (validation && !validation.passed) {
    code = 'DATASET_SUSPECT';
    reasons.push(...input.describeValidation(validation));
  }
  if (comparison && comparison.pValue < policy.alpha) {
    code ??= 'WORSE_THAN_CHAMPION';
    reasons.push(
      `worse than the champion: accuracy ${comparison.challengerAccuracy} vs ${comparison.championAccuracy} on ${comparison.rows} rows neither trained on, McNemar one-sided p=${comparison.pValue} < ${policy.alpha}`,
    );
  }
  if (!(testAccuracy >= policy.minAccuracy)) {
    code ??= 'BELOW_FLOOR';
    reasons.push(`test accuracy ${testAccuracy} below the floor MIN_ACCURACY ${policy.minAccuracy}`);
  }
  if (code) return { promote: false, code, reasons, figures };
  return { promote: true, code: comparison || validation ? 'PROMOTED' : 'PROMOTED_FIRST_MODEL', reasons, figures };
}

/**
 * Features computed from training labels (recipe v2's group outcome: leave-one-out for a training row, the full
 * group for any other) differ between a training row and the same passenger scored later, so they are left out of
 * a row's identity.
 */
const LABEL_DERIVED_FEATURES: ReadonlySet<string> = new Set(['GroupWcOutcome']);

/** The identity of a feature row for "was this model trained on it": its values, label-derived ones left out. */
function rowKeyOf(featureNames: readonly string[]): (row: ArrayLike<number>) => string {
  const kept = featureNames.flatMap((name, j) => (LABEL_DERIVED_FEATURES.has(name) ? [] : [j]));
  return (row) => kept.map((j) => row[j]).join(',');
}

/** Keys of the rows a model was trained on (its drift reference is its training split's real rows). */
export function trainedRows(artifact: ModelArtifact): Set<string> {
  const { columns, featureNames } = artifact.driftReference;
  const key = rowKeyOf(featureNames);
  const n = columns[0]?.length ?? 0;
  const keys = new Set<string>();
  for (let i = 0; i < n; i++) keys.add(key(columns.map((c) => c[i] as number)));
  return keys;
}

/** Validation of the new dataset and the paired comparison, both against the champion. */
export function judgeChallenger(
  champion: Predictor,
  challenger: Predictor,
  passengers: readonly LabelledPassenger[],
  thresholds: ValidationThresholds = DEFAULT_VALIDATION,
): { validation: ValidationReport; comparison: Comparison } {
  const labels = passengers.map((p) => p.survived);
  const byChampion = champion.predict(passengers);
  const byChallenger = challenger.predict(passengers);
  const championTrained = trainedRows(champion.artifact);
  const challengerTrained = trainedRows(challenger.artifact);
  const championKey = rowKeyOf(champion.artifact.driftReference.featureNames);
  const challengerKey = rowKeyOf(challenger.artifact.driftReference.featureNames);
  const seenByChampion = byChampion.map((p) => championTrained.has(championKey(p.features)));
  const seenByChallenger = byChallenger.map((p) => challengerTrained.has(challengerKey(p.features)));

  const cm = champion.artifact.metrics.confusionMatrix;
  const testRows = cm.tn + cm.fp + cm.fn + cm.tp;
  const reference = driftReferenceOf(champion.artifact);
  const validation = validateDataset(
    {
      featureNames: reference.featureNames,
      featureTypes: reference.featureTypes,
      columns: reference.columns,
      labelShare: testRows === 0 ? 0 : (cm.tp + cm.fn) / testRows,
      testAccuracy: champion.artifact.metrics.accuracy,
      testRows,
    },
    {
      featureNames: champion.artifact.recipe.featureNames,
      rows: byChampion.map((p) => p.features),
      labels,
      championPredictions: byChampion.map((p) => predictedLabel(p.probability)),
      seenByChampion,
    },
    thresholds,
  );

  // Rows neither model was trained on (an identical feature row counts as trained on).
  const fresh = labels.flatMap((_, i) => (seenByChampion[i] || seenByChallenger[i] ? [] : [i]));
  const comparison = compareModels(
    fresh.map((i) => labels[i] as number),
    fresh.map((i) => predictedLabel((byChampion[i] as { probability: number }).probability)),
    fresh.map((i) => predictedLabel((byChallenger[i] as { probability: number }).probability)),
  );
  return { validation, comparison };
}
