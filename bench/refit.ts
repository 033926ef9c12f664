/**
 * `npm run bench:refit [-- --rows 62000 --trees 3 --runs 3 --baseline DIR]`: the time of a refit-sized forest fit
 * (what train does above the search sample: one forest on every training row), on synthetic passengers drawn
 * from the Titanic distribution (as `bench:data` draws them) and featurized with recipe v2, with the split and
 * SMOTE rows of the process step. Two forests per run: every column (7 columns per tree, depth 12,
 * minNumSamples 2, gain 0) and the Sex, Title, GroupWcOutcome subset of the default search space.
 *
 * With `--baseline DIR` (another checkout with its own node_modules, e.g. `git worktree add --detach DIR <commit>`
 * and `npm ci` in it), each run also fits the same forests with DIR's code, alternating which goes first; the
 * ratio reported is the median of the per-run ratios (ours / baseline), and the forests' JSON must hash the same.
 * Each fit runs in a child process of its checkout (`--child ROOT`), so each uses its own installed packages.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '62000' },
    trees: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    baseline: { type: 'string' },
    child: { type: 'string' },
  },
});
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FORESTS = {
  'every column': { maxFeatures: 7, maxDepth: 12, minNumSamples: 2, gainThreshold: 0, seed: 42 },
  'Sex, Title, GroupWcOutcome': { maxFeatures: 3, maxDepth: 12, minNumSamples: 2, gainThreshold: 0.001, seed: 42 },
} as const;
type Fit = Record<string, { seconds: number; hash: string }>;

async function child(root: string): Promise<void> {
  const imported = (file: string) => import(path.join(root, file));
  const { syntheticPassengers } = await imported('test/support/synthetic.ts');
  const { prepareFeatureSet, resolveFeatureSetOptions } = await imported('shared/core/pipeline.ts');
  const { trainForest } = await imported('shared/core/forest.ts');
  const prepared = prepareFeatureSet(await syntheticPassengers(Number(values.rows)), resolveFeatureSetOptions({}));
  const names: readonly string[] = prepared.recipe.featureNames;
  const X = [...prepared.train.X, ...(prepared.synthetic?.X ?? [])];
  const y = [...prepared.train.y, ...(prepared.synthetic?.y ?? [])];
  const out: Record<string, unknown> = { rows: X.length };
  for (const [name, params] of Object.entries(FORESTS)) {
    const columns =
      name === 'every column' ? undefined : ['Sex', 'Title', 'GroupWcOutcome'].map((c) => names.indexOf(c));
    const t0 = performance.now();
    const json = trainForest(X, y, { ...params, nEstimators: Number(values.trees), ...(columns ? { columns } : {}) });
    const seconds = (performance.now() - t0) / 1000;
    out[name] = { seconds, hash: createHash('sha256').update(JSON.stringify(json)).digest('hex').slice(0, 16) };
  }
  console.log(JSON.stringify(out));
}

function fitIn(root: string): { rows: number; fits: Fit } {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', root, ...passOn()],
    {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || !line.startsWith('{')) throw new Error(`fit in ${root} failed: ${run.stderr.slice(-2000)}`);
  const { rows, ...fits } = JSON.parse(line) as Record<string, unknown>;
  return { rows: rows as number, fits: fits as Fit };
}

function passOn(): string[] {
  return ['--rows', String(values.rows), '--trees', String(values.trees)];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  if (values.child) return child(values.child);
  const roots = values.baseline ? [ROOT, path.resolve(values.baseline)] : [ROOT];
  const runs = Number(values.runs);
  const times = new Map<string, number[]>();
  const ratios = new Map<string, number[]>();
  console.log(`bench:refit: ${values.rows} passengers, ${values.trees} trees per forest, ${runs} runs`);
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? roots : [...roots].reverse();
    const results = new Map(order.map((root) => [root, fitIn(root)] as const));
    const ours = results.get(ROOT)!;
    const line: string[] = [`run ${r + 1}: ${ours.rows} training rows, load average ${loadavg()[0]!.toFixed(2)}`];
    for (const [name, { seconds, hash }] of Object.entries(ours.fits)) {
      times.set(`ours ${name}`, [...(times.get(`ours ${name}`) ?? []), seconds]);
      line.push(`ours ${name} ${seconds.toFixed(2)} s`);
      const base = values.baseline ? results.get(roots[1]!)!.fits[name] : undefined;
      if (base) {
        if (base.hash !== hash) throw new Error(`${name}: the forests differ (${hash} vs ${base.hash})`);
        times.set(`baseline ${name}`, [...(times.get(`baseline ${name}`) ?? []), base.seconds]);
        ratios.set(name, [...(ratios.get(name) ?? []), seconds / base.seconds]);
        line.push(`baseline ${base.seconds.toFixed(2)} s (same forest)`);
      }
    }
    console.log(line.join('; '));
  }
  for (const [name, xs] of times) {
    console.log(`${name}: median ${median(xs).toFixed(2)} s (${xs.map((x) => x.toFixed(2)).join(', ')})`);
  }
  for (const [name, xs] of ratios) {
    console.log(`${name}: ours / baseline median ${median(xs).toFixed(3)} (${xs.map((x) => x.toFixed(3)).join(', ')})`);
  }
}

await main();
