/** One-sided Smirnov survival function P(D_n+ >= x) (scipy.special.smirnov), by the Birnbaum-Tingey sum. */
import { clip01 } from './numeric.ts';

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
