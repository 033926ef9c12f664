import { describe, expect, it } from 'vitest';
import { createRng, shuffleInPlace } from './rng.ts';

const draw = (seed: number, n: number) => {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => rng.next());
};

describe('createRng', () => {
  it('gives the same sequence for the same seed', () => {
    expect(draw(42, 100)).toEqual(draw(42, 100));
  });

  it('gives unrelated sequences for neighbouring seeds and for seeds differing only above bit 31', () => {
    expect(draw(1, 20)).not.toEqual(draw(2, 20));
    expect(draw(5, 20)).not.toEqual(draw(5 + 2 ** 32, 20));
    // Neighbouring seeds should not start close to each other either.
    const firsts = Array.from({ length: 10 }, (_, s) => draw(s, 1)[0] as number).sort();
    expect(Math.max(...firsts) - Math.min(...firsts)).toBeGreaterThan(0.5);
  });

  it('draws floats in [0, 1) spread over the whole interval', () => {
    const values = draw(7, 20_000);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    const buckets = Array(10).fill(0);
    for (const v of values) buckets[Math.floor(v * 10)]++;
    for (const b of buckets) expect(Math.abs(b - 2000)).toBeLessThan(200); // ~4.7 sd
  });

  it('draws integers in [0, n) hitting every value', () => {
    const rng = createRng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = rng.int(7);
      expect(Number.isInteger(v) && v >= 0 && v < 7).toBe(true);
      seen.add(v);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(createRng(3).int(1)).toBe(0);
  });

  it('rejects a non-integer seed and a bad int bound', () => {
    expect(() => createRng(1.5)).toThrow(RangeError);
    expect(() => createRng(1).int(0)).toThrow(RangeError);
    expect(() => createRng(1).int(2.5)).toThrow(RangeError);
  });
});

describe('shuffleInPlace', () => {
  it('permutes the array deterministically for a seed', () => {
    const a = shuffleInPlace(
      Array.from({ length: 50 }, (_, i) => i),
      createRng(9),
    );
    const b = shuffleInPlace(
      Array.from({ length: 50 }, (_, i) => i),
      createRng(9),
    );
    expect(a).toEqual(b);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
