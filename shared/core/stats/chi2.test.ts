import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chi2Contingency, chi2Sf } from './index.ts';

interface ScipyCase {
  ref: number[];
  cur: number[];
  statistic: number;
  pValue: number;
  dof: number;
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/chi2-contingency-scipy.json', import.meta.url), 'utf8'),
) as { scipy: string; cases: ScipyCase[] };

/** The tolerance: |dp| <= 1e-10, or a relative error of 1e-9 where scipy's p is below 1e-10. */
function pValueMatches(got: number, want: number): boolean {
  if (want < 1e-10) return Math.abs(got - want) <= 1e-9 * want;
  return Math.abs(got - want) <= 1e-10;
}

describe('chi2Contingency', () => {
  it('reproduces every scipy 1.10.1 chi2_contingency case of the handout fixture (p within 1e-10, or 1e-9 relative below 1e-10)', () => {
    expect(fixture.cases).toHaveLength(120);
    const off = fixture.cases.flatMap((c, i) => {
      const got = chi2Contingency([c.ref, c.cur]);
      const ok =
        got.dof === c.dof &&
        Math.abs(got.statistic - c.statistic) <= 1e-12 * Math.max(1, c.statistic) &&
        pValueMatches(got.pValue, c.pValue);
      return ok ? [] : [`case ${i}: got ${JSON.stringify(got)}, scipy ${JSON.stringify(c)}`];
    });
    expect(off).toEqual([]);
  });

  it('covers the regions that matter: dof 1 (Yates), many categories, p-values from 1 down to underflow', () => {
    const dofs = new Set(fixture.cases.map((c) => c.dof));
    expect(dofs).toContain(1);
    expect(Math.max(...dofs)).toBeGreaterThanOrEqual(9);
    const ps = fixture.cases.map((c) => c.pValue);
    expect(ps.some((p) => p > 0.5)).toBe(true);
    expect(ps.some((p) => p > 0 && p < 1e-200)).toBe(true);
    expect(ps.some((p) => p === 0)).toBe(true);
  });

  it("applies Yates' correction only when dof is 1, as scipy does", () => {
    // scipy: chi2_contingency([[10, 20], [20, 10]]) -> statistic 5.4, p 0.02013675155034633
    const yates = chi2Contingency([
      [10, 20],
      [20, 10],
    ]);
    expect(yates.dof).toBe(1);
    expect(yates.statistic).toBeCloseTo(5.4, 12);
    // Without the correction it would be 6.666...: the counts move 0.5 towards the expected 15.
    expect(yates.statistic).not.toBeCloseTo(20 / 3, 3);
    // A 2x3 table is not corrected: sum (o - e)^2 / e exactly.
    const plain = chi2Contingency([
      [10, 20, 30],
      [20, 10, 30],
    ]);
    expect(plain.dof).toBe(2);
    expect(plain.statistic).toBeCloseTo(2 * (25 / 15 + 25 / 15), 12);
    expect(plain.pValue).toBeCloseTo(Math.exp(-plain.statistic / 2), 14); // chi2 with 2 dof: sf = exp(-x/2)
  });

  it('gives statistic 0 and p-value 1 for a single category (dof 0)', () => {
    expect(chi2Contingency([[5], [7]])).toEqual({ statistic: 0, pValue: 1, dof: 0 });
  });

  it('rejects negative counts, ragged rows and empty categories with a message naming the cell', () => {
    expect(() =>
      chi2Contingency([
        [1, -1],
        [2, 3],
      ]),
    ).toThrow(/row 0, column 1/);
    expect(() => chi2Contingency([[1, 2], [3]])).toThrow(/row 1 .* 1 columns, expected 2/);
    expect(() =>
      chi2Contingency([
        [1, 0],
        [3, 0],
      ]),
    ).toThrow(/column 1 is zero/);
    expect(() => chi2Contingency([])).toThrow(/empty/);
  });

  it('chi2Sf is 1 at 0, 0 at infinity, and exp(-x/2) with 2 degrees of freedom', () => {
    expect(chi2Sf(0, 3)).toBe(1);
    expect(chi2Sf(Number.POSITIVE_INFINITY, 3)).toBe(0);
    for (const x of [0.1, 1, 10, 100, 1000]) expect(chi2Sf(x, 2)).toBeCloseTo(Math.exp(-x / 2), 15);
  });
});
