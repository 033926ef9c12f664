/**
 * The two-sample, two-sided Kolmogorov-Smirnov test.
 *
 * `ks2samp` reproduces scipy's `scipy.stats.ks_2samp(a, b, alternative='two-sided', method=...)` (checked against
 * vectors produced by scipy 1.17 in fixtures/ks2samp-scipy.json): the statistic is computed the way scipy computes
 * it (empirical CDFs by `searchsorted(side='right')` over the pooled data, so ties are handled), the exact p-value
 * by Hodges' lattice-path counting, and the asymptotic one by the distribution of the one-sample statistic
 * `kstwo.sf(D, round(n1*n2/(n1+n2)))` with the same choice of algorithm as scipy (Simard & L'Ecuyer 2011, in
 * kstwo.ts), because the approximations that choice switches between differ from each other by more than the
 * tolerance we keep.
 */
import { assertUnreachable } from '../../errors.ts';
import { InvalidInputError } from '../invalid-input.ts';
import { kstwoSf } from './kstwo.ts';
import { clip01, gcd, roundHalfEven } from './numeric.ts';

export type KsMethod = 'auto' | 'exact' | 'asymp';

export interface KsResult {
  statistic: number;
  pValue: number;
}

/** scipy switches 'auto' from the exact to the asymptotic p-value above this sample size. */
const MAX_AUTO_N = 10000;
const INT32_MAX = 2147483647;

/**
 * Two-sided two-sample KS test with scipy `ks_2samp` semantics. NaN anywhere in the input gives NaN results
 * (scipy's default `nan_policy='propagate'`); an empty sample is an error, as in scipy.
 */
export function ks2samp(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = 'auto'): KsResult {
  if (a.length === 0 || b.length === 0) throw new InvalidInputError('ks2samp needs two non-empty samples');
  const sa = sortedCopy(a);
  const sb = sortedCopy(b);
  if (sa === null || sb === null) return { statistic: Number.NaN, pValue: Number.NaN };
  return ks2sampSorted(sa, sb, method);
}

/** `ks2samp` for samples already sorted ascending and free of NaN (the detectors' fast path). */
export function ks2sampSorted(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = 'auto'): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new InvalidInputError('ks2samp needs two non-empty samples');
  const d = n1 <= n2 ? ksStatisticSorted(a, b) : ksStatisticSorted(b, a);
  return ksPValue(d, n1, n2, method);
}

/** The p-value of a two-sided statistic `d` for sample sizes n1, n2, choosing the method as scipy does. */
export function ksPValue(d: number, n1: number, n2: number, method: KsMethod = 'auto'): KsResult {
  let mode: 'exact' | 'asymp';
  switch (method) {
    case 'auto':
      mode = Math.max(n1, n2) <= MAX_AUTO_N ? 'exact' : 'asymp';
      break;
    case 'exact': {
      const g = gcd(n1, n2);
      // scipy falls back when lcm(n1, n2) would not fit in an int32.
      mode = n1 / g >= INT32_MAX / (n2 / g) ? 'asymp' : 'exact';
      break;
    }
    case 'asymp':
      mode = 'asymp';
      break;
    default:
      return assertUnreachable(method);
  }
  let statistic = d;
  if (mode === 'exact') {
    const exact = exactTwoSided(n1, n2, d);
    statistic = exact.d;
    if (exact.ok) return { statistic, pValue: clip01(exact.p) };
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  return { statistic, pValue: clip01(kstwoSf(statistic, roundHalfEven(en))) };
}

// ---------------------------------------------------------------------------------------------------------------
// The statistic

/** Sorted copy as a Float64Array, or null if the sample holds a NaN. */
export function sortedCopy(x: ArrayLike<number>): Float64Array | null {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (Number.isNaN(v)) return null;
    out[i] = v;
  }
  return out.sort();
}

/** Number of elements of sorted `xs` that are <= v (numpy searchsorted side='right'). */
function countAtMost(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of elements of sorted `xs` that are < v (numpy searchsorted side='left'). */
function countBelow(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * max |F_small - F_large| over the pooled data points, both samples sorted, `small` the shorter one.
 *
 * scipy evaluates cdf1 - cdf2 = i/n1 - j/n2 at every pooled point; that difference is largest at a point of the
 * small sample and smallest just before the next one, so visiting the small sample's distinct values with two
 * binary searches in the large one finds the same extremes, computed with the same floating-point operations
 * (so the statistic is bit-identical), in O(n_small log n_large).
 */
export function ksStatisticSorted(small: ArrayLike<number>, large: ArrayLike<number>): number {
  const ns = small.length;
  const nl = large.length;
  // The largest pooled point always has difference 0, so both extremes start there.
  let above = 0; // max(F_small - F_large)
  let below = countBelow(large, small[0]!) / nl; // max(F_large - F_small), first over the points before small[0]
  let k = 0;
  while (k < ns) {
    const v = small[k]!;
    while (k < ns && small[k] === v) k++;
    const fs = k / ns;
    const up = fs - countAtMost(large, v) / nl;
    if (up > above) above = up;
    const jNext = k < ns ? countBelow(large, small[k]!) : nl;
    const down = jNext / nl - fs;
    if (down > below) below = down;
  }
  return above >= below ? above : Math.min(below, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Exact p-value (scipy `_attempt_exact_2kssamp`, two-sided)

function exactTwoSided(n1: number, n2: number, d: number): { ok: boolean; d: number; p: number } {
  const g = gcd(n1, n2);
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  const dRounded = h / lcm;
  if (h === 0) return { ok: true, d: dRounded, p: 1 };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInsideMethod(n1, n2, g, h);
  // scipy gives up on the exact value (and uses the asymptotic one) when it is not a probability.
  return { ok: p >= 0 && p <= 1, d: dRounded, p };
}

/**
 * P(D_{n,n} >= h/n) = 2 * sum_k (-1)^(k+1) binom(2n, n-kh) / binom(2n, n), evaluated Horner-like on ratios to
 * avoid cancellation (scipy `_compute_prob_outside_square`).
 */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
  }
  return 2 * P;
}

/**
 * Share of lattice paths from (0,0) to (m,n) that leave the band |x/m - y/n| < h/lcm(m,n), computed directly as
 * 1 - p (Hodges' inside method with Viehmann's stable recursion; scipy `_compute_outer_prob_inside_method`).
 */
function outerProbInsideMethod(m0: number, n0: number, g: number, h: number): number {
  const m = Math.max(m0, n0);
  const n = Math.min(m0, n0);
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return A[maxj - minj - 1]!;
}
