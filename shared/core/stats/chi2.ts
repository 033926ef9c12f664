/**
 * Pearson's chi-squared test of independence with `scipy.stats.chi2_contingency` semantics (its defaults:
 * `correction=True`, `lambda_=None`), checked against scipy 1.10.1 in fixtures/chi2-contingency-scipy.json.
 *
 * - expected[i][j] = rowSum[i] * colSum[j] / total, as scipy's `expected_freq` computes it;
 * - dof = (rows - 1) * (cols - 1); with dof 0 the statistic is 0 and the p-value 1;
 * - with dof 1, Yates' continuity correction moves every observed count up to 0.5 towards its expected count;
 * - statistic = sum (observed - expected)^2 / expected, added up in numpy's pairwise order;
 * - p-value = chi2.sf(statistic, dof) = Q(dof/2, statistic/2), the regularized upper incomplete gamma function.
 *
 * Q comes from @stdlib/math-base-special-gammainc (a port of Boost's implementation, which switches between the
 * series, Temme's uniform asymptotic expansion and Legendre's continued fraction by region). Against the fixture
 * its relative error is below 1e-13 everywhere, p-values down to 1e-299 included, so there is nothing to gain by
 * maintaining our own.
 */
import gammainc from '@stdlib/math-base-special-gammainc';

export interface Chi2Result {
  statistic: number;
  pValue: number;
  dof: number;
}

/** Why a contingency table cannot be tested; the message names the row and column at fault. */
export class ContingencyTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContingencyTableError';
  }
}

/**
 * `scipy.stats.chi2_contingency(table)` for a two-dimensional table of counts (rows x columns, every row the same
 * length). Like scipy it refuses negative counts and a table whose expected frequencies hold a zero (a row or a
 * column with no count at all): drop empty categories before calling.
 */
export function chi2Contingency(table: readonly (readonly number[])[]): Chi2Result {
  const rows = table.length;
  const cols = table[0]?.length ?? 0;
  if (rows === 0 || cols === 0) throw new ContingencyTableError('the contingency table is empty');
  const rowSums = new Float64Array(rows);
  const colSums = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const row = table[i]!;
    if (row.length !== cols) {
      throw new ContingencyTableError(`row ${i} of the contingency table has ${row.length} columns, expected ${cols}`);
    }
    for (let j = 0; j < cols; j++) {
      const v = row[j]!;
      if (!(v >= 0) || !Number.isFinite(v)) {
        throw new ContingencyTableError(
          `the contingency table holds ${v} at row ${i}, column ${j}: counts must be >= 0`,
        );
      }
      rowSums[i] = rowSums[i]! + v;
      colSums[j] = colSums[j]! + v;
    }
  }
  let total = 0;
  for (let i = 0; i < rows; i++) total += rowSums[i]!;
  const expected = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const e = (rowSums[i]! * colSums[j]!) / total;
      if (!(e > 0)) {
        throw new ContingencyTableError(
          `the expected frequency at row ${i}, column ${j} is zero: every row and column needs a count`,
        );
      }
      expected[i * cols + j] = e;
    }
  }
  const dof = (rows - 1) * (cols - 1);
  if (dof === 0) return { statistic: 0, pValue: 1, dof };
  const terms = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const e = expected[i * cols + j]!;
      let o = table[i]![j]!;
      if (dof === 1) {
        const diff = e - o;
        o += Math.min(0.5, Math.abs(diff)) * Math.sign(diff);
      }
      terms[i * cols + j] = (o - e) ** 2 / e;
    }
  }
  const statistic = numpySum(terms);
  return { statistic, pValue: chi2Sf(statistic, dof), dof };
}

/** Survival function of the chi-squared distribution with `dof` degrees of freedom (scipy `chi2.sf`). */
export function chi2Sf(x: number, dof: number): number {
  if (Number.isNaN(x) || !(dof > 0)) return Number.NaN;
  if (x <= 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  return gammainc(x / 2, dof / 2, true, true);
}

/**
 * numpy's sum of a contiguous float64 array: a plain loop below 8 elements, else eight interleaved partial sums
 * combined pairwise and the leftovers added in order (blocks of 128 split in halves recursively). Same order,
 * same rounding, so the statistic is bit-identical to scipy's.
 */
function numpySum(a: Float64Array, start = 0, n = a.length): number {
  if (n < 8) {
    let res = 0;
    for (let i = start; i < start + n; i++) res += a[i]!;
    return res;
  }
  if (n <= 128) {
    const r = [
      a[start]!,
      a[start + 1]!,
      a[start + 2]!,
      a[start + 3]!,
      a[start + 4]!,
      a[start + 5]!,
      a[start + 6]!,
      a[start + 7]!,
    ];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let k = 0; k < 8; k++) r[k] = r[k]! + a[start + i + k]!;
    }
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpySum(a, start, n2) + numpySum(a, start + n2, n - n2);
}
