/**
 * `npm run bench:smote [-- --rows 10000,100000,600000 --runs 3 --brute-max 100000]`: SMOTE through the k-d tree
 * against the brute-force neighbour scan it replaced, on the same synthetic passengers (the Titanic distribution,
 * as `bench:data` draws it), featurized with recipe v1. Each run times both on the same matrix, alternating which
 * goes first, and checks that both give identical rows. The brute force is quadratic, so above `--brute-max` rows
 * only the tree runs. Prints the medians, the spread (min-max) and the median of the per-run ratios tree / brute.
 */
import { loadavg } from 'node:os';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { fitRecipe, transform } from '../shared/core/features.ts';
import { smote } from '../shared/core/smote.ts';
import { syntheticPassengers } from '../test/support/synthetic.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000,100000,600000' },
    runs: { type: 'string', default: '3' },
    'brute-max': { type: 'string', default: '100000' },
  },
});
const sizes = (values.rows as string).split(',').map(Number);
const runs = Number(values.runs);
const bruteMax = Number(values['brute-max']);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const time = <T>(fn: () => T): [T, number] => {
  const t0 = performance.now();
  const out = fn();
  return [out, (performance.now() - t0) / 1000];
};
const spread = (xs: number[]): string =>
  `median ${median(xs).toFixed(3)} s (min ${Math.min(...xs).toFixed(3)}, max ${Math.max(...xs).toFixed(3)})`;

console.log(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const n of sizes) {
  const passengers = await syntheticPassengers(n);
  const X = transform(fitRecipe(passengers), passengers);
  const y = passengers.map((p) => p.survived as number);
  const tree: number[] = [];
  const brute: number[] = [];
  const ratios: number[] = [];
  let synthetic = 0;
  for (let r = 0; r < runs; r++) {
    const withBrute = n <= bruteMax;
    const runTree = () => time(() => smote(X, y, { seed: 42 + r, index: 'kd-tree' }));
    const runBrute = () => time(() => smote(X, y, { seed: 42 + r, index: 'brute-force' }));
    let t: ReturnType<typeof runTree>;
    let b: ReturnType<typeof runBrute> | null = null;
    if (withBrute && r % 2 === 1) {
      b = runBrute();
      t = runTree();
    } else {
      t = runTree();
      if (withBrute) b = runBrute();
    }
    synthetic = t[0].X.length;
    tree.push(t[1]);
    if (b !== null) {
      if (!isDeepStrictEqual(t[0], b[0])) throw new Error(`rows differ at n=${n}, seed ${42 + r}`);
      brute.push(b[1]);
      ratios.push(t[1] / b[1]);
    }
  }
  console.log(`${n} rows (${synthetic} synthetic): k-d tree ${spread(tree)}`);
  if (brute.length > 0) {
    console.log(
      `  brute force ${spread(brute)}; rows identical; ratio tree/brute median ${median(ratios).toFixed(4)} ` +
        `(${ratios.map((x) => x.toFixed(4)).join(', ')})`,
    );
  } else {
    console.log(`  brute force skipped (over --brute-max ${bruteMax})`);
  }
  console.log(
    `  load average: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}
