/**
 * Data drift by the two-sample, two-sided Kolmogorov-Smirnov test.
 *
 * `ks2samp` reproduces scipy's `scipy.stats.ks_2samp(a, b, alternative='two-sided', method=...)` (checked against
 * vectors produced by scipy 1.17 in fixtures/ks2samp-scipy.json): the statistic is computed the way scipy computes
 * it (empirical CDFs by `searchsorted(side='right')` over the pooled data, so ties are handled), the exact p-value
 * by Hodges' lattice-path counting, and the asymptotic one by the distribution of the one-sample statistic
 * `kstwo.sf(D, round(n1*n2/(n1+n2)))` with the same choice of algorithm as scipy (Simard & L'Ecuyer 2011), because
 * the approximations that choice switches between differ from each other by more than the tolerance we keep.
 *
 * `KSDrift` is Alibi-Detect's KSDrift (per-feature tests, Bonferroni correction); `WindowDrift` applies it to a
 * sliding window of recent rows and reports when drift starts and stops. The service calls `KSDrift.predict` on
 * every request, so the reference is sorted once and a test costs O(n log m) for n test rows and m reference rows.
 */
import { AppError, assertUnreachable } from '../errors.ts';

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
  if (a.length === 0 || b.length === 0) throw new AppError('BAD_REQUEST', 'ks2samp needs two non-empty samples');
  const sa = sortedCopy(a);
  const sb = sortedCopy(b);
  if (sa === null || sb === null) return { statistic: Number.NaN, pValue: Number.NaN };
  return ks2sampSorted(sa, sb, method);
}

/** `ks2samp` for samples already sorted ascending and free of NaN (the detectors' fast path). */
export function ks2sampSorted(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = 'auto'): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new AppError('BAD_REQUEST', 'ks2samp needs two non-empty samples');
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
function sortedCopy(x: ArrayLike<number>): Float64Array | null {
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
function ksStatisticSorted(small: ArrayLike<number>, large: ArrayLike<number>): number {
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

// ---------------------------------------------------------------------------------------------------------------
// Asymptotic p-value: survival function of the one-sample two-sided statistic D_n (scipy `kstwo.sf`)

/** scipy `kstwo.sf(d, n)`: support (0.5/n, 1); n must be a positive integer. */
export function kstwoSf(d: number, n: number): number {
  if (Number.isNaN(d) || !(n >= 1) || !Number.isInteger(n)) return Number.NaN;
  if (d <= 0.5 / n) return 1;
  if (d >= 1) return 0;
  return kolmogornSf(n, d);
}

const SQRT2PI = Math.sqrt(2 * Math.PI);
const LOG_2PI = Math.log(2 * Math.PI);
const MIN_LOG = -708;
const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;
const E128 = 128;
const P2_128 = 2 ** 128;
const P2_M128 = 2 ** -128;
// Stirling series coefficients B_{2j}/(2j)/(2j-1), j = 8..1.
const STIRLING = [
  -0.029550653594771242, 0.00641025641025641, -0.0019175269175269176, 0.0008417508417508417, -0.0005952380952380953,
  0.0007936507936507937, -0.002777777777777778, 0.08333333333333333,
];

function clip01(p: number): number {
  return Math.min(Math.max(p, 0), 1); // NaN stays NaN, as with np.clip
}

/** log(n! / n^n) by Stirling's series with n log n removed up front. */
function logNFactorialDivNPowN(n: number): number {
  const rn = 1 / n;
  let poly = 0;
  for (const c of STIRLING) poly = poly * (rn / n) + c;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * poly;
}

/** P(D_n >= x) for 0 < x < 1 (scipy `_kolmogn(n, x, cdf=False)`), choosing the algorithm as scipy does. */
function kolmogornSf(n: number, x: number): number {
  const t = n * x;
  if (t <= 1) {
    // Ruben-Gambino: 1/2n <= x <= 1/n
    if (t <= 0.5) return 1;
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      const inv = 1 / n;
      const f = 2 * t - 1;
      for (let i = 1; i <= n; i++) cdf *= i * inv * f;
    } else {
      cdf = Math.exp(logNFactorialDivNPowN(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - cdf);
  }
  if (t >= n - 1) return clip01(2 * (1 - x) ** n); // Ruben-Gambino
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x)); // exact: D_n+ and D_n- cannot both exceed 1/2
  const nxSquared = t * x;
  if (n <= 140) {
    if (nxSquared <= 0.754693) return clip01(1 - durbinMatrixCdf(n, x));
    if (nxSquared <= 4) return clip01(1 - pomeranzCdf(n, x));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nxSquared >= 370) return 0;
  if (nxSquared >= 2.2) return clip01(2 * smirnovSf(n, x));
  let cdf: number;
  if (nxSquared >= 18) cdf = 1;
  else if (n <= 100000 && n * x ** 1.5 <= 1.4) cdf = durbinMatrixCdf(n, x);
  else cdf = pelzGoodCdf(n, x);
  return clip01(1 - cdf);
}

/** x * 2^e without overflowing or underflowing the power of two on the way. */
function ldexp(x: number, e: number): number {
  let r = x;
  let k = e;
  while (k > 1000) {
    r *= 2 ** 1000;
    k -= 1000;
  }
  while (k < -1000) {
    r *= 2 ** -1000;
    k += 1000;
  }
  return r * 2 ** k;
}

function matmul(A: Float64Array, B: Float64Array, m: number): Float64Array {
  const C = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let l = 0; l < m; l++) {
      const a = A[i * m + l]!;
      if (a === 0) continue;
      for (let j = 0; j < m; j++) C[i * m + j] = C[i * m + j]! + a * B[l * m + j]!;
    }
  }
  return C;
}

/** P(D_n <= d) by Durbin's matrix method as organised by Marsaglia, Tsang & Wang (scipy `_kolmogn_DMTW`). */
function durbinMatrixCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  let H: Float64Array = new Float64Array(m * m);
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - h ** j) * fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;
  for (let i = 1; i < m; i++) {
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)]!;
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let Hpwr: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) Hpwr[i * m + i] = 1;
  let nn = n;
  let expnt = 0;
  let hExpnt = 0;
  while (nn > 0) {
    if (nn % 2) {
      Hpwr = matmul(Hpwr, H, m);
      expnt += hExpnt;
    }
    H = matmul(H, H, m);
    hExpnt *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)]!) > P2_128) {
      for (let i = 0; i < H.length; i++) H[i] = H[i]! / P2_128;
      hExpnt += E128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = Hpwr[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < P2_M128) {
      p *= P2_128;
      expnt -= E128;
    }
  }
  if (expnt !== 0) p = ldexp(p, expnt);
  return clip01(p);
}

/** Row endpoints for the Pomeranz recursion (scipy `_pomeranz_compute_j1j2`). */
function pomeranzJ1J2(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    const ip1mod2 = (i + 1) % 2;
    if (ip1mod2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** P(D_n <= x) by the Pomeranz recursion (scipy `_kolmogn_Pomeranz`). */
function pomeranzCdf(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  let expnt = 0;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let k = 1; k < npwrs; k++) {
    gpower[k] = (gpower[k - 1]! * gOverN) / k;
    twogpower[k] = (twogpower[k - 1]! * twoGOverN) / k;
    onem2gpower[k] = (onem2gpower[k - 1]! * oneMinusTwoGOverN) / k;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let [j1, j2] = pomeranzJ1J2(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzJ1J2(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // conv = np.convolve(V0[k1 - V0s : k1 - V0s + ln2], pwrs[:ln2]); V1[:len] = conv[j1 - k1 : j2 - k1 + 1]
      const start = k1 - V0s;
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      for (let c = 0; c < convLen; c++) {
        const idx = convStart + c;
        let s = 0;
        for (let q = Math.max(0, idx - ln2 + 1); q <= Math.min(idx, ln2 - 1); q++) s += V0[start + q]! * pwrs[idx - q]!;
        V1[c] = s;
      }
      let vmax = 0;
      for (let c = 0; c < convLen; c++) if (V1[c]! > vmax) vmax = V1[c]!;
      if (vmax > 0 && vmax < P2_M128) {
        for (let c = 0; c < npwrs; c++) V1[c] = V1[c]! * P2_128;
        expnt -= E128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s]!;
  for (let k = 1; k <= n; k++) {
    if (Math.abs(ans) > P2_128) {
      ans *= P2_M128;
      expnt += E128;
    }
    ans *= k;
  }
  if (expnt !== 0) ans = ldexp(ans, expnt);
  return clip01(ans);
}

/** Pelz-Good approximation of P(D_n <= x) (scipy `_kolmogn_PelzGood`), used for large n and small D. */
function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z ** 2;
  const z3 = z ** 3;
  const z4 = z ** 4;
  const z6 = z ** 6;
  const qlog = -PI2 / 8 / z2;
  if (qlog < MIN_LOG) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m ** 2;
    const m4 = m ** 4;
    const m6 = m ** 6;
    const qpower = q ** (8 * k);
    const coeffs = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i]! * qpower + coeffs[i]!;
  }
  const divisors = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i]! * q * SQRT2PI) / divisors[i]!;
  q = Math.exp(-PI2 / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const k2 = k ** 2;
    const qp = q ** k2;
    const kpi = Math.PI * k;
    k2extra += k2 * qp;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp;
  }
  K[2] = K[2]! + (k2extra * PI2 * SQRT2PI) / (-36 * z3);
  K[3] = K[3]! + (k3extra * PI2 * SQRT2PI) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i]! / n ** (i / 2);
  return sum;
}

// ---------------------------------------------------------------------------------------------------------------
// One-sided Smirnov survival function P(D_n+ >= x) (scipy.special.smirnov), by the Birnbaum-Tingey sum

/** floor(n*x) and its fractional part, from the exact product (Dekker's two-product). */
function floorAndFraction(n: number, x: number): { floor: number; alpha: number; nx: number } {
  const p = n * x;
  const err = twoProductError(n, x, p);
  let fl = Math.floor(p);
  let alpha = p - fl + err;
  if (alpha < 0) {
    fl -= 1;
    alpha += 1;
  }
  if (alpha >= 1) {
    fl += 1;
    alpha -= 1;
  }
  return { floor: fl, alpha, nx: p };
}

function split(a: number): [number, number] {
  const c = 134217729 * a; // 2^27 + 1
  const hi = c - (c - a);
  return [hi, a - hi];
}

function twoProductError(a: number, b: number, p: number): number {
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

const SMIRNOV_MAX_COMPUTE_N = 1000000;
const SM_UPPER_MAX_TERMS = 3;
const SM_UPPERSUM_MIN_N = 10;
const CEPHES_MINLOG = -745.1332191019412;

/** A_v = binom(n, v) * (1 - x - v/n)^(n-v) * (x + v/n)^(v-1), from log binom(n, v); in logs so the binomial cannot overflow. */
function smirnovTerm(n: number, x: number, v: number, logBinom: number): number {
  const t2x = (n - v) / n - x; // negative in the upper sum
  const t1x = v / n + x;
  const l2 = n - v === 0 ? 0 : (n - v) * Math.log(Math.abs(t2x));
  const l1 = v - 1 === 0 ? 0 : (v - 1) * Math.log(t1x);
  const sign = t2x < 0 && (n - v) % 2 === 1 ? -1 : 1;
  return sign * Math.exp(logBinom + l1 + l2);
}

export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const { floor: nxfl, alpha } = floorAndFraction(n, x);
  let n1mxfl = n - nxfl - (alpha === 0 ? 0 : 1);
  let n1mxceil = n - nxfl;
  if (alpha === 0) {
    n1mxfl -= 1;
    n1mxceil += 1;
  }
  if (nxfl === 0 || (nxfl === 1 && alpha === 0)) {
    const cdf = x * (1 + x) ** (n - 1);
    return clip01(1 - cdf);
  }
  if (-2 * n * x * x < CEPHES_MINLOG) return 0;
  if (nxfl >= n - 1) return clip01((1 - x) ** n);
  if (n > SMIRNOV_MAX_COMPUTE_N) {
    const logp = -((6 * n * x + 1) ** 2) / 18 / n;
    return clip01(logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp));
  }
  const nUpperTerms = n - n1mxceil + 1;
  const useUpperSum =
    (nUpperTerms <= 1 && x < 0.5) ||
    (n >= SM_UPPERSUM_MIN_N && nUpperTerms <= SM_UPPER_MAX_TERMS && x <= 0.5 / Math.sqrt(n));
  const start = useUpperSum ? n : 0;
  const step = useUpperSum ? -1 : 1;
  const nTerms = useUpperSum ? n - n1mxceil + 1 : n1mxfl + 1;
  const vmid = Math.floor(n / 2);
  // First term (v = start): binom = 1.
  let sum = useUpperSum ? (1 + x) ** (n - 1) : (1 - x) ** n / x;
  let logBinom = Math.log(n); // log binom(n, j) for the j-th term; binom(n, v) = binom(n, n - v)
  for (let j = 1; j < nTerms; j++) {
    const v = start + j * step;
    const term = smirnovTerm(n, x, v, logBinom);
    if (Number.isFinite(term) && term !== 0) sum += term;
    if (term !== 0) {
      if (4 * (nTerms - j) * Math.abs(term) < Number.EPSILON * sum && j !== nTerms - 1) break;
    } else if (j > vmid) {
      break;
    }
    logBinom += Math.log((n - j) / (j + 1));
  }
  const prob = x * sum;
  return clip01(useUpperSum ? 1 - prob : prob);
}

// ---------------------------------------------------------------------------------------------------------------
// Detectors

/** Reference sample per feature (column-major), e.g. the model artifact's `driftReference`. */
export interface DriftReference {
  featureNames: readonly string[];
  columns: readonly (readonly number[])[];
}

export interface KSDriftOptions {
  /** Family-wise significance level before the Bonferroni correction (default 0.05). */
  pVal?: number;
  /** p-value method for every feature (default 'asymp', as Alibi-Detect). */
  method?: KsMethod;
}

export interface DriftResult {
  isDrift: boolean;
  /** Bonferroni-corrected threshold: pVal / number of features. */
  threshold: number;
  pValues: Record<string, number>;
  statistics: Record<string, number>;
  /** Features whose p-value is below the threshold, in feature order. */
  drifted: string[];
}

/**
 * Alibi-Detect's KSDrift: one two-sample KS test per feature against the reference, Bonferroni-corrected, so the
 * batch drifts when any feature's p-value is below pVal / nFeatures. A NaN feature value gives that feature a NaN
 * p-value (scipy's propagation), which never counts as drift.
 */
export class KSDrift {
  readonly featureNames: readonly string[];
  readonly pVal: number;
  readonly threshold: number;
  readonly method: KsMethod;
  readonly referenceSize: number;
  readonly #reference: Float64Array[];
  #scratch = new Float64Array(256);
  /**
   * p-values already computed, by test size then statistic. For a given test size the statistic lives on the
   * lattice i/n - j/m, and request sizes repeat, so the slower kstwo algorithms (Pomeranz, Durbin) run once per
   * (size, statistic) instead of on every request.
   */
  readonly #pValues = new Map<number, Map<number, KsResult>>();
  #cached = 0;

  constructor(reference: DriftReference, opts: KSDriftOptions = {}) {
    const pVal = opts.pVal ?? 0.05;
    if (!(pVal > 0 && pVal < 1)) throw new AppError('INTERNAL', `drift pVal must be in (0, 1), got ${pVal}`);
    const names = reference.featureNames;
    if (names.length === 0 || reference.columns.length !== names.length) {
      throw new AppError('ARTIFACT_INVALID', 'the drift reference needs one column per feature');
    }
    const size = reference.columns[0]!.length;
    this.#reference = reference.columns.map((column, f) => {
      if (column.length === 0 || column.length !== size) {
        throw new AppError(
          'ARTIFACT_INVALID',
          `drift reference column ${names[f]} has ${column.length} rows, expected ${size}`,
        );
      }
      const sorted = sortedCopy(column);
      if (sorted === null) throw new AppError('ARTIFACT_INVALID', `drift reference column ${names[f]} holds NaN`);
      return sorted;
    });
    this.featureNames = [...names];
    this.referenceSize = size;
    this.pVal = pVal;
    this.method = opts.method ?? 'asymp';
    this.threshold = pVal / names.length;
  }

  /** Tests rows (each holding the features in `featureNames` order) against the reference. */
  predict(rows: readonly ArrayLike<number>[]): DriftResult {
    if (rows.length === 0) throw new AppError('BAD_REQUEST', 'no rows to test for drift');
    const nf = this.featureNames.length;
    for (let r = 0; r < rows.length; r++) {
      if (rows[r]!.length !== nf) {
        throw new AppError('BAD_REQUEST', `row ${r} has ${rows[r]!.length} features, expected ${nf}`);
      }
    }
    return this.#test(rows.length, (f, out) => {
      for (let r = 0; r < rows.length; r++) out[r] = rows[r]![f]!;
    });
  }

  /** Tests column-major data (one array per feature, in `featureNames` order, all the same length). */
  predictColumns(columns: readonly ArrayLike<number>[]): DriftResult {
    const n = columns[0]?.length ?? 0;
    if (columns.length !== this.featureNames.length || columns.some((c) => c.length !== n) || n === 0) {
      throw new AppError('BAD_REQUEST', `expected ${this.featureNames.length} non-empty columns of equal length`);
    }
    return this.#test(n, (f, out) => {
      const column = columns[f]!;
      for (let r = 0; r < n; r++) out[r] = column[r]!;
    });
  }

  #test(n: number, fill: (feature: number, out: Float64Array) => void): DriftResult {
    if (this.#scratch.length < n) this.#scratch = new Float64Array(Math.max(n, 2 * this.#scratch.length));
    const sample = this.#scratch.subarray(0, n);
    const pValues: Record<string, number> = {};
    const statistics: Record<string, number> = {};
    const drifted: string[] = [];
    for (let f = 0; f < this.featureNames.length; f++) {
      const name = this.featureNames[f]!;
      fill(f, sample);
      const reference = this.#reference[f]!;
      let result: KsResult;
      if (n === 1 && !Number.isNaN(sample[0]!)) {
        result = this.#pValue(ksStatisticSorted(sample, reference), 1);
      } else if (sample.includes(Number.NaN)) {
        result = { statistic: Number.NaN, pValue: Number.NaN };
      } else {
        sample.sort();
        result = this.#pValue(
          n <= reference.length ? ksStatisticSorted(sample, reference) : ksStatisticSorted(reference, sample),
          n,
        );
      }
      pValues[name] = result.pValue;
      statistics[name] = result.statistic;
      if (result.pValue < this.threshold) drifted.push(name);
    }
    return { isDrift: drifted.length > 0, threshold: this.threshold, pValues, statistics, drifted };
  }

  #pValue(d: number, n: number): KsResult {
    let bySize = this.#pValues.get(n);
    if (bySize === undefined) {
      bySize = new Map();
      this.#pValues.set(n, bySize);
    }
    let result = bySize.get(d);
    if (result === undefined) {
      result = ksPValue(d, n, this.referenceSize, this.method);
      if (++this.#cached > P_VALUE_CACHE_LIMIT) {
        this.#pValues.clear();
        this.#cached = 1;
        this.#pValues.set(n, bySize);
        bySize.clear();
      }
      bySize.set(d, result);
    }
    return result;
  }
}

/** Bound on the memoised p-values of one detector (each entry is a few dozen bytes). */
const P_VALUE_CACHE_LIMIT = 50_000;

export interface WindowDriftOptions extends KSDriftOptions {
  /** Number of most recent rows tested (default 200). */
  windowSize?: number;
  /** Evaluate once this many rows have arrived since the last evaluation (default 50). */
  evaluateEvery?: number;
}

/** 'entered' when an evaluation starts a drift episode, 'cleared' when it ends one. */
export type DriftTransition = 'entered' | 'cleared' | null;

export interface WindowDriftResult extends DriftResult {
  transition: DriftTransition;
  /** Rows in the window that was tested. */
  windowRows: number;
  /** Rows added since the detector was created. */
  rowsSeen: number;
}

export interface WindowDriftState {
  isDrift: boolean;
  windowRows: number;
  rowsSeen: number;
  /** Rows still to arrive before the next evaluation. */
  rowsUntilEvaluation: number;
  last: WindowDriftResult | null;
}

/**
 * KSDrift over a sliding window of the most recent rows, evaluated every `evaluateEvery` rows (a batch that
 * crosses the interval triggers one evaluation, after all its rows are in the window). Rows live in a ring
 * buffer, so adding costs O(features) per row whatever the window size.
 */
export class WindowDrift {
  readonly windowSize: number;
  readonly evaluateEvery: number;
  readonly detector: KSDrift;
  readonly #buffer: Float64Array; // row-major ring buffer
  readonly #nf: number;
  #next = 0; // slot of the next row
  #count = 0;
  #rowsSeen = 0;
  #sinceEvaluation = 0;
  #last: WindowDriftResult | null = null;

  constructor(reference: DriftReference, opts: WindowDriftOptions = {}) {
    const windowSize = opts.windowSize ?? 200;
    const evaluateEvery = opts.evaluateEvery ?? 50;
    for (const [name, value] of [
      ['windowSize', windowSize],
      ['evaluateEvery', evaluateEvery],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new AppError('INTERNAL', `drift ${name} must be a positive integer, got ${value}`);
      }
    }
    this.detector = new KSDrift(reference, opts);
    this.windowSize = windowSize;
    this.evaluateEvery = evaluateEvery;
    this.#nf = this.detector.featureNames.length;
    this.#buffer = new Float64Array(windowSize * this.#nf);
  }

  /** Adds scored rows; returns the evaluation when one was due, else null. */
  add(rows: readonly ArrayLike<number>[]): WindowDriftResult | null {
    const nf = this.#nf;
    for (let r = 0; r < rows.length; r++) {
      if (rows[r]!.length !== nf) {
        throw new AppError('BAD_REQUEST', `row ${r} has ${rows[r]!.length} features, expected ${nf}`);
      }
    }
    for (const row of rows) {
      this.#buffer.set(row, this.#next * nf);
      this.#next = (this.#next + 1) % this.windowSize;
      if (this.#count < this.windowSize) this.#count++;
    }
    this.#rowsSeen += rows.length;
    this.#sinceEvaluation += rows.length;
    if (rows.length === 0 || this.#sinceEvaluation < this.evaluateEvery) return null;
    this.#sinceEvaluation = 0;

    const n = this.#count;
    const columns = Array.from({ length: nf }, () => new Float64Array(n));
    for (let r = 0; r < n; r++) {
      for (let f = 0; f < nf; f++) columns[f]![r] = this.#buffer[r * nf + f]!;
    }
    const result = this.detector.predictColumns(columns);
    const wasDrift = this.#last?.isDrift ?? false;
    const transition: DriftTransition =
      result.isDrift && !wasDrift ? 'entered' : !result.isDrift && wasDrift ? 'cleared' : null;
    this.#last = { ...result, transition, windowRows: n, rowsSeen: this.#rowsSeen };
    return this.#last;
  }

  state(): WindowDriftState {
    return {
      isDrift: this.#last?.isDrift ?? false,
      windowRows: this.#count,
      rowsSeen: this.#rowsSeen,
      rowsUntilEvaluation: this.evaluateEvery - this.#sinceEvaluation,
      last: this.#last,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Small numeric helpers

function gcd(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y) [x, y] = [y, x % y];
  return x;
}

/** numpy's round: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
