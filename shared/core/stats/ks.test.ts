import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ks2samp, kstwoSf, roundHalfEven, smirnovSf } from './index.ts';

type Method = 'auto' | 'exact' | 'asymp';
interface ScipyCase {
  a: number[];
  b: number[];
  expected: Record<Method, { statistic: number; pvalue: number | null }>;
}

/** The fixtures are Python's json output, which writes NaN as a bare token. */
function readFixture<T>(name: string): T {
  const text = readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
  return JSON.parse(text.replace(/\bNaN\b/g, 'null')) as T;
}

function mismatches(cases: readonly ScipyCase[]): string[] {
  const out: string[] = [];
  for (const [i, c] of cases.entries()) {
    for (const method of ['auto', 'exact', 'asymp'] as const) {
      const want = c.expected[method];
      const got = ks2samp(c.a, c.b, method);
      const pOk = want.pvalue === null ? Number.isNaN(got.pValue) : Math.abs(got.pValue - want.pvalue) <= 1e-10;
      if (got.statistic !== want.statistic || !pOk) {
        out.push(
          `case ${i} (${c.a.length} vs ${c.b.length}, ${method}): got ${JSON.stringify(got)}, scipy ${JSON.stringify(want)}`,
        );
      }
    }
  }
  return out;
}

/** mulberry32: a tiny seeded generator, so the synthetic passengers are the same on every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('ks2samp', () => {
  it('reproduces every scipy ks_2samp vector of the handout fixture (statistic exactly, p-value within 1e-10)', () => {
    const fixture = readFixture<{ cases: ScipyCase[] }>('ks2samp-scipy.json');
    expect(fixture.cases.length).toBe(114);
    expect(mismatches(fixture.cases)).toEqual([]);
  });

  it('reproduces scipy ks_2samp on seeded random samples with ties, for every method', () => {
    const fixture = readFixture<{ pairs: ScipyCase[] }>('kstwo-scipy.json');
    expect(fixture.pairs.length).toBeGreaterThan(50);
    expect(mismatches(fixture.pairs)).toEqual([]);
  });

  it("reproduces scipy's kstwo.sf and special.smirnov in every region of the algorithm choice", () => {
    const fixture = readFixture<{
      kstwo: Array<{ n: number; d: number; sf: number }>;
      smirnov: Array<{ n: number; x: number; sf: number }>;
    }>('kstwo-scipy.json');
    const off = [
      ...fixture.kstwo.filter((c) => !(Math.abs(kstwoSf(c.d, c.n) - c.sf) <= 1e-10)),
      ...fixture.smirnov.filter((c) => !(Math.abs(smirnovSf(c.n, c.x) - c.sf) <= 1e-10)),
    ];
    expect(off).toEqual([]);
  });

  it('counts ties through the pooled empirical CDFs, as scipy does', () => {
    // F_a - F_b at the pooled points 1, 2, 3: 2/3 - 1/4, 2/3 - 3/4, 1 - 1
    expect(ks2samp([1, 1, 3], [1, 2, 2, 3], 'asymp').statistic).toBe(2 / 3 - 1 / 4);
    // The exact method reports the statistic as the lattice step h/lcm it used (scipy: 0.4166666666666667).
    expect(ks2samp([1, 1, 3], [1, 2, 2, 3])).toEqual({ statistic: 5 / 12, pValue: 0.8857142857142858 });
    expect(ks2samp([5, 5, 5], [5, 5]).statistic).toBe(0);
    expect(ks2samp([5, 5, 5], [5, 5]).pValue).toBe(1);
  });

  it("uses the exact p-value in 'auto' while both samples have at most 10000 rows, the asymptotic one above", () => {
    const next = seeded(3);
    const small = Array.from({ length: 7 }, () => next() + 0.2);
    const at = Array.from({ length: 10000 }, () => next());
    const over = [...at, next()];
    const exact = ks2samp(small, at, 'exact');
    const asymp = ks2samp(small, at, 'asymp');
    expect(exact.pValue).not.toBe(asymp.pValue);
    expect(ks2samp(small, at, 'auto')).toEqual(exact);
    expect(ks2samp(at, small, 'auto')).toEqual(exact);
    expect(ks2samp(small, over, 'auto')).toEqual(ks2samp(small, over, 'asymp'));
    expect(ks2samp(small, over, 'auto').pValue).not.toBe(ks2samp(small, over, 'exact').pValue);
  });

  it('rounds n1*n2/(n1+n2) half to even, so one row against one row has no asymptotic p-value', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 4, -0, 2, 3]);
    expect(ks2samp([0], [1], 'asymp').pValue).toBeNaN();
    expect(ks2samp([0], [1], 'exact').pValue).toBe(1);
  });

  it('propagates NaN like scipy and rejects an empty sample', () => {
    expect(ks2samp([1, Number.NaN], [1, 2])).toEqual({ statistic: Number.NaN, pValue: Number.NaN });
    expect(() => ks2samp([], [1])).toThrow(/non-empty/);
  });
});
