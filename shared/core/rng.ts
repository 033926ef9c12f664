/**
 * The one source of randomness in the core. Everything random (splits, folds, SMOTE, forests) takes a seed
 * and draws from an `Rng` made here, so a run is reproducible from its seeds alone.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export interface Rng {
  /** A float in [0, 1), a multiple of 2^-53. */
  next(): number;
  /** An integer in [0, n), uniformly (no modulo bias); `n` must be a positive integer up to 2^32. */
  int(n: number): number;
}

/**
 * Deterministic generator (xoroshiro128+) for an integer seed. Nearby seeds (1, 2, 3...) give unrelated streams:
 * the seed is hashed before it becomes the state, and the first outputs are discarded.
 */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`seed must be a safe integer, got ${seed}`);
  }
  // Fold the high bits in so seeds that differ only above bit 31 still differ.
  const folded = (seed ^ Math.floor(seed / 2 ** 32)) | 0;
  const generator = xoroshiro128plus(mix32(folded));
  for (let i = 0; i < 8; i++) generator.next();
  return {
    next: () => uniformFloat64(generator),
    int: (n: number) => {
      if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) {
        throw new RangeError(`int(n) needs an integer n in [1, 2^32], got ${n}`);
      }
      return uniformInt(generator, 0, n - 1);
    },
  };
}

/** Murmur3's 32-bit finaliser: spreads every input bit over the whole word. */
function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Fisher-Yates shuffle in place, driven by `rng`; returns the same array. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}
