/**
 * How far a sample sits from the reference, per feature, as Vertex AI Model Monitoring reports it: the
 * Jensen-Shannon divergence of the two histograms for a continuous feature, the L-infinity distance (largest
 * difference in the share of one category) for a categorical one. The same histograms are what the drift page
 * draws. Pure functions over plain arrays.
 */
import type { FeatureKind } from './schema.ts';

export interface FeatureHistogram {
  type: FeatureKind;
  /** Continuous: bin edges, ascending (bins + 1 of them; the last bin includes its upper edge). */
  edges: number[];
  /** Categorical: the category values, ascending (the union of the reference's and the sample's). */
  categories: number[];
  /** Share of the reference in each bin or category (sums to 1). */
  reference: number[];
  /** Share of the sample in each bin or category (sums to 1). */
  current: number[];
}

export interface FeatureDistance {
  /** 'jensen-shannon' (base 2, in [0, 1]) for continuous features, 'l-infinity' (in [0, 1]) for categorical. */
  kind: 'jensen-shannon' | 'l-infinity';
  value: number;
}

/** Continuous histograms have this many equal-width bins over the range of both samples together. */
export const HISTOGRAM_BINS = 20;

/** Histograms of the reference and the sample on common bins or categories. */
export function featureHistogram(
  type: FeatureKind,
  reference: ArrayLike<number>,
  current: ArrayLike<number>,
  bins = HISTOGRAM_BINS,
): FeatureHistogram {
  if (type === 'categorical') {
    const refCounts = countValues(reference);
    const curCounts = countValues(current);
    const categories = [...new Set([...refCounts.keys(), ...curCounts.keys()])].sort((a, b) => a - b);
    return {
      type,
      edges: [],
      categories,
      reference: shares(categories.map((c) => refCounts.get(c) ?? 0)),
      current: shares(categories.map((c) => curCounts.get(c) ?? 0)),
    };
  }
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const xs of [reference, current]) {
    for (let i = 0; i < xs.length; i++) {
      const v = xs[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const nBins = hi > lo ? bins : 1;
  const width = hi > lo ? (hi - lo) / nBins : 1;
  const edges = Array.from({ length: nBins + 1 }, (_, i) => (i === nBins ? Math.max(hi, lo + width) : lo + i * width));
  const bin = (v: number) => Math.min(nBins - 1, Math.max(0, Math.floor((v - lo) / width)));
  const binned = (xs: ArrayLike<number>) => {
    const counts = new Array<number>(nBins).fill(0);
    for (let i = 0; i < xs.length; i++) if (!Number.isNaN(xs[i]!)) counts[bin(xs[i]!)]!++;
    return shares(counts);
  };
  return { type, edges, categories: [], reference: binned(reference), current: binned(current) };
}

/** The distance Vertex AI reports for a feature of this histogram's type. */
export function histogramDistance(h: FeatureHistogram): FeatureDistance {
  return h.type === 'continuous'
    ? { kind: 'jensen-shannon', value: jensenShannon(h.reference, h.current) }
    : { kind: 'l-infinity', value: lInfinity(h.reference, h.current) };
}

/** Jensen-Shannon divergence of two distributions on the same support, in bits (0 identical, 1 disjoint). */
export function jensenShannon(p: readonly number[], q: readonly number[]): number {
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]!;
    const b = q[i]!;
    const m = (a + b) / 2;
    if (a > 0) js += 0.5 * a * Math.log2(a / m);
    if (b > 0) js += 0.5 * b * Math.log2(b / m);
  }
  return Math.min(1, Math.max(0, js));
}

/** Largest absolute difference between two distributions on the same support. */
export function lInfinity(p: readonly number[], q: readonly number[]): number {
  let d = 0;
  for (let i = 0; i < p.length; i++) d = Math.max(d, Math.abs(p[i]! - q[i]!));
  return d;
}

function countValues(xs: ArrayLike<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]!;
    if (!Number.isNaN(v)) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}

function shares(counts: readonly number[]): number[] {
  let total = 0;
  for (const c of counts) total += c;
  return counts.map((c) => (total > 0 ? c / total : 0));
}
