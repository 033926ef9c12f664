/**
 * Validation of a new labelled dataset against the data the current model (the champion) was trained on, in the
 * manner of TensorFlow Data Validation and Vertex AI skew detection: schema, value ranges, a distribution
 * distance per feature (Jensen-Shannon divergence for continuous features, L-infinity distance for categorical
 * ones), the label share, and label consistency (the champion's accuracy on the new rows against its known test
 * accuracy). Both sides are compared in the champion's feature space: the new rows go through the champion's own
 * recipe, and the reference is the champion's training split (its drift reference).
 *
 * Pure: the caller passes the rows and the champion's predictions; nothing here reads a clock or a socket.
 */
import type { FeatureKind } from './schema.ts';

export interface ValidationThresholds {
  /** Largest Jensen-Shannon divergence (base 2, in [0, 1]) allowed for a continuous feature. */
  maxJensenShannon: number;
  /** Largest L-infinity distance between category shares allowed for a categorical feature. */
  maxLInfinity: number;
  /** Largest share of new rows outside the reference range (continuous) or in an unseen category. */
  maxOutOfRange: number;
  /** Largest absolute difference between the new and the reference label share. */
  maxLabelShareDelta: number;
  /** One-sided significance level of "the champion is less accurate on the new rows than on its test split". */
  consistencyAlpha: number;
  /** ...and by at least this much (a practically relevant drop). */
  consistencyMinDrop: number;
  /** Fewer unseen rows than this: label consistency is measured on every new row instead. */
  consistencyMinRows: number;
}

/** Defaults chosen from measured null distributions (docs/training.md, "Promotion"). */
export const DEFAULT_VALIDATION: ValidationThresholds = {
  maxJensenShannon: 0.05,
  maxLInfinity: 0.1,
  maxOutOfRange: 0.02,
  maxLabelShareDelta: 0.08,
  consistencyAlpha: 0.01,
  consistencyMinDrop: 0.05,
  consistencyMinRows: 50,
};

export type CheckName = 'schema' | 'range' | 'distribution' | 'label-share' | 'label-consistency';

export interface CheckResult {
  check: CheckName;
  feature?: string;
  /** What `value` measures, e.g. "jensen-shannon", "l-infinity", "out-of-range share". */
  statistic: string;
  value: number;
  threshold: number;
  passed: boolean;
  /** Extra figures (p-value, rows, accuracies). */
  figures?: Record<string, number | string>;
}

export interface ValidationReport {
  passed: boolean;
  rows: number;
  labelShare: number;
  checks: CheckResult[];
  /** The failed checks, each with its figure: the reason a dataset is suspect. */
  failed: CheckResult[];
}

export interface ValidationReference {
  featureNames: readonly string[];
  /** Each feature's type (the artifact's drift reference types): Jensen-Shannon or L-infinity, range or category. */
  featureTypes: readonly FeatureKind[];
  /** The champion's training split, one array per feature (its drift reference). */
  columns: readonly (readonly number[])[];
  /** Share of "survived" in the champion's data. */
  labelShare: number;
  /** The champion's accuracy on its own test split, and that split's size. */
  testAccuracy: number;
  testRows: number;
}

export interface ValidationSample {
  featureNames: readonly string[];
  /** The new rows in the champion's feature space, row-major. */
  rows: readonly (readonly number[])[];
  labels: readonly number[];
  /** The champion's predicted label (0/1) for each new row. */
  championPredictions: readonly number[];
  /** True for a row identical (in the champion's features) to one it was trained on. */
  seenByChampion: readonly boolean[];
}

/** Base-2 Jensen-Shannon divergence of two discrete distributions given as counts over the same bins. */
export function jensenShannon(p: readonly number[], q: readonly number[]): number {
  const sp = p.reduce((a, b) => a + b, 0);
  const sq = q.reduce((a, b) => a + b, 0);
  if (sp === 0 || sq === 0) return sp === sq ? 0 : 1;
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const a = (p[i] ?? 0) / sp;
    const b = (q[i] ?? 0) / sq;
    const m = (a + b) / 2;
    if (a > 0) js += 0.5 * a * Math.log2(a / m);
    if (b > 0) js += 0.5 * b * Math.log2(b / m);
  }
  return Math.max(0, Math.min(1, js));
}

/** Bin edges at the reference's deciles (duplicates dropped): bins hold about equal reference mass. */
export function quantileEdges(reference: readonly number[], bins = 10): number[] {
  const sorted = [...reference].sort((a, b) => a - b);
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const v = sorted[Math.min(sorted.length - 1, Math.floor((k * sorted.length) / bins))] as number;
    if (edges.length === 0 || v > (edges.at(-1) as number)) edges.push(v);
  }
  return edges;
}

/** Counts per bin: bin i holds values v with edges[i-1] <= v < edges[i] (open-ended at both ends). */
export function histogram(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) {
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v < (edges[mid] as number)) hi = mid;
      else lo = mid + 1;
    }
    counts[lo] = (counts[lo] as number) + 1;
  }
  return counts;
}

/** Largest absolute difference between the category shares of two samples. */
export function lInfinity(a: readonly number[], b: readonly number[]): number {
  const share = (xs: readonly number[]) => {
    const m = new Map<number, number>();
    for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
    return m;
  };
  const sa = share(a);
  const sb = share(b);
  let worst = 0;
  for (const key of new Set([...sa.keys(), ...sb.keys()])) {
    worst = Math.max(worst, Math.abs((sa.get(key) ?? 0) / a.length - (sb.get(key) ?? 0) / b.length));
  }
  return worst;
}

/** Standard normal upper tail, via the complementary error function (Numerical Recipes' erfc, |error| < 1.2e-7). */
export function normalSf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/**
 * One-sided two-proportion z-test of "p1 < p2" (pooled variance). Returns the p-value; 1 when either sample is
 * empty.
 */
export function proportionLowerPValue(k1: number, n1: number, k2: number, n2: number): number {
  if (n1 === 0 || n2 === 0) return 1;
  const p1 = k1 / n1;
  const p2 = k2 / n2;
  const pooled = (k1 + k2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return p1 < p2 ? 0 : 1;
  return normalSf((p2 - p1) / se);
}

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

export function validateDataset(
  reference: ValidationReference,
  sample: ValidationSample,
  thresholds: ValidationThresholds = DEFAULT_VALIDATION,
): ValidationReport {
  const checks: CheckResult[] = [];
  const n = sample.rows.length;
  const labelShare = n === 0 ? 0 : sample.labels.reduce((a, b) => a + b, 0) / n;

  const sameSchema =
    sample.featureNames.length === reference.featureNames.length &&
    sample.featureNames.every((name, j) => name === reference.featureNames[j]);
  checks.push({
    check: 'schema',
    statistic: 'features differing from the champion',
    value: sameSchema ? 0 : 1,
    threshold: 0,
    passed: sameSchema,
    ...(sameSchema
      ? {}
      : { figures: { expected: reference.featureNames.join(','), got: sample.featureNames.join(',') } }),
  });

  if (sameSchema && n > 0) {
    reference.featureNames.forEach((name, j) => {
      const ref = reference.columns[j] as readonly number[];
      const cur = sample.rows.map((row) => row[j] as number);
      const kind = reference.featureTypes[j] ?? 'continuous';
      let outside: number;
      if (kind === 'continuous') {
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (const v of ref) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        outside = cur.filter((v) => !(v >= lo && v <= hi)).length / n;
        const edges = quantileEdges(ref);
        const js = jensenShannon(histogram(ref, edges), histogram(cur, edges));
        checks.push({
          check: 'distribution',
          feature: name,
          statistic: 'jensen-shannon',
          value: round(js),
          threshold: thresholds.maxJensenShannon,
          passed: js <= thresholds.maxJensenShannon,
        });
      } else {
        const seen = new Set(ref);
        outside = cur.filter((v) => !seen.has(v)).length / n;
        const linf = lInfinity(ref, cur);
        checks.push({
          check: 'distribution',
          feature: name,
          statistic: 'l-infinity',
          value: round(linf),
          threshold: thresholds.maxLInfinity,
          passed: linf <= thresholds.maxLInfinity,
        });
      }
      checks.push({
        check: 'range',
        feature: name,
        statistic: kind === 'continuous' ? 'share outside the reference range' : 'share in unseen categories',
        value: round(outside),
        threshold: thresholds.maxOutOfRange,
        passed: outside <= thresholds.maxOutOfRange,
      });
    });
  }

  const shareDelta = Math.abs(labelShare - reference.labelShare);
  checks.push({
    check: 'label-share',
    statistic: 'absolute difference of the survived share',
    value: round(shareDelta),
    threshold: thresholds.maxLabelShareDelta,
    passed: shareDelta <= thresholds.maxLabelShareDelta,
    figures: { share: round(labelShare), referenceShare: round(reference.labelShare) },
  });

  // Label consistency on the rows the champion never saw (comparable with its test accuracy); on every row when
  // too few are unseen (then the accuracy is optimistic, which only makes the check more lenient).
  const unseen = sample.seenByChampion.flatMap((seen, i) => (seen ? [] : [i]));
  const scope = unseen.length >= thresholds.consistencyMinRows ? 'unseen rows' : 'all rows';
  const idx = scope === 'unseen rows' ? unseen : sample.labels.map((_, i) => i);
  const correct = idx.filter((i) => sample.championPredictions[i] === sample.labels[i]).length;
  const accuracy = idx.length === 0 ? Number.NaN : correct / idx.length;
  const expectedCorrect = Math.round(reference.testAccuracy * reference.testRows);
  const pValue = proportionLowerPValue(correct, idx.length, expectedCorrect, reference.testRows);
  const drop = reference.testAccuracy - accuracy;
  const inconsistent = idx.length > 0 && pValue < thresholds.consistencyAlpha && drop >= thresholds.consistencyMinDrop;
  checks.push({
    check: 'label-consistency',
    statistic: "drop of the champion's accuracy below its test accuracy",
    value: round(drop),
    threshold: thresholds.consistencyMinDrop,
    passed: !inconsistent,
    figures: {
      accuracy: round(accuracy),
      testAccuracy: round(reference.testAccuracy),
      rows: idx.length,
      scope,
      pValue: Number(pValue.toPrecision(3)),
      alpha: thresholds.consistencyAlpha,
    },
  });

  const failed = checks.filter((c) => !c.passed);
  return { passed: failed.length === 0, rows: n, labelShare: round(labelShare), checks, failed };
}

/** One line per failed check: "distribution Fare jensen-shannon 0.21 > 0.05". */
export function describeFailures(report: ValidationReport): string[] {
  return report.failed.map(
    (c) => `${c.check}${c.feature ? ` ${c.feature}` : ''}: ${c.statistic} ${c.value} > ${c.threshold}`,
  );
}
