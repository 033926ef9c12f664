/** Small numeric helpers shared by the distributions, each matching the numpy/scipy operation it names. */

export function clip01(p: number): number {
  return Math.min(Math.max(p, 0), 1); // NaN stays NaN, as with np.clip
}

export function gcd(a: number, b: number): number {
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
