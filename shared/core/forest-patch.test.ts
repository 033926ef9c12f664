/**
 * The ml-cart / ml-random-forest patches (patches/*.patch) must build exactly the trees the published
 * packages build. The pristine files of both packages are kept as text fixtures (test/support/pristine/*-pristine.*.txt,
 * byte-identical to the npm tarballs) and loaded here beside the patched, installed ones.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RandomForestClassifier } from 'ml-random-forest';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTitanic, type TitanicData } from '../../test/support/titanic.ts';
import { forestOptions } from './forest.ts';

const require = createRequire(import.meta.url);

interface CartModule {
  DecisionTreeClassifier: new (options?: object) => { train(X: number[][], y: number[]): void; toJSON(): object };
}
interface PatchedCartModule extends CartModule {
  classShare(n: number, count: number): number;
  segmentClassShare(n: number, count: number): number;
}
interface ForestModule {
  RandomForestClassifier: typeof RandomForestClassifier;
}

/** Evaluates a CommonJS file from a fixture, resolving its imports from the installed package's folder. */
function loadCommonJs<T>(fixture: string, packageMain: string, overrides: Record<string, unknown> = {}): T {
  const base = createRequire(require.resolve(packageMain));
  const localRequire = (id: string): unknown => (id in overrides ? overrides[id] : base(id));
  const module = { exports: {} as Record<string, unknown> };
  const source = readFileSync(new URL(`../../test/support/pristine/${fixture}`, import.meta.url), 'utf8');
  new Function('exports', 'require', 'module', source)(module.exports, localRequire, module);
  return module.exports as T;
}

const pristineCart = loadCommonJs<CartModule>('ml-cart-2.1.1-pristine.cart.cjs.txt', 'ml-cart');
const pristineForestModule = loadCommonJs<ForestModule>(
  'ml-random-forest-2.1.0-pristine.random-forest.cjs.txt',
  'ml-random-forest',
  { 'ml-cart': pristineCart },
);
const patchedCart = require('ml-cart') as PatchedCartModule;

let data: TitanicData;
beforeAll(async () => {
  data = await loadTitanic();
});

describe('the patched split search', () => {
  it('is the one installed (the postinstall applied patches/)', () => {
    const installed = readFileSync(require.resolve('ml-cart'), 'utf8');
    expect(installed).toContain('function createSortedSweep');
    expect(readFileSync(require.resolve('ml-random-forest'), 'utf8')).toContain('withOOB = true');
  });

  it.each([
    ['library defaults', {}],
    ['fully grown trees', { gainThreshold: 0, minNumSamples: 1 }],
    ['shallow trees', { maxDepth: 3, minNumSamples: 10, gainThreshold: 0.001 }],
  ])('builds the same decision tree JSON as ml-cart 2.1.1 on every Titanic row (%s)', (_name, options) => {
    // all 891 rows: many ties (Pclass, Sex, Title...), duplicate rows, every column
    const patched = new patchedCart.DecisionTreeClassifier(options);
    const pristine = new pristineCart.DecisionTreeClassifier(options);
    patched.train(data.X, data.y);
    pristine.train(data.X, data.y);
    expect(JSON.stringify(patched.toJSON())).toBe(JSON.stringify(pristine.toJSON()));
  });

  it.each([
    [
      'a searched configuration',
      { nEstimators: 6, maxFeatures: 7, maxDepth: 10, minNumSamples: 3, gainThreshold: 0.005 },
    ],
    [
      'deep trees on every column',
      { nEstimators: 4, maxFeatures: 11, maxDepth: 30, minNumSamples: 2, gainThreshold: 0 },
    ],
  ])('trains the same forest JSON as the published packages on the SMOTE-augmented training split (%s)', (_n, p) => {
    const options = forestOptions({ ...p, seed: 7 }, 11);
    const patched = new RandomForestClassifier(options);
    const pristine = new pristineForestModule.RandomForestClassifier(options);
    patched.train(data.fit.X, data.fit.y);
    pristine.train(data.fit.X, data.fit.y);
    expect(JSON.stringify(patched.toJSON())).toBe(JSON.stringify(pristine.toJSON()));
  });
});

/** 1/n added `count` times from 0: the class share toDiscreteDistribution builds, the plain way. */
function loopShares(n: number): Float64Array {
  const out = new Float64Array(n + 1);
  let s = 0;
  for (let c = 1; c <= n; c++) {
    s += 1 / n;
    out[c] = s;
  }
  return out;
}

describe('class shares beyond the dense tables (binade segments)', () => {
  /** Counts where the segments differ from the plain loop, over every count 0..n. */
  function mismatches(n: number, share: (n: number, count: number) => number): number[] {
    const expected = loopShares(n);
    const bad: number[] = [];
    for (let c = 0; c <= n; c++) if (!Object.is(share(n, c), expected[c])) bad.push(c);
    return bad;
  }

  it('equal the plain loop of additions for every count of every n up to 2,500', () => {
    const bad: string[] = [];
    for (let n = 1; n <= 2500; n++) {
      const counts = mismatches(n, patchedCart.segmentClassShare);
      if (counts.length > 0) bad.push(`n=${n}: counts ${counts.slice(0, 5).join(', ')}`);
    }
    expect(bad).toEqual([]);
  });

  it('equal the plain loop for every count of large n (powers of two and their neighbours, primes, seeded draws)', () => {
    const ns = [4095, 4096, 4097, 49_304, 65_535, 65_536, 65_537, 99_991, 131_071, 1_000_003];
    let state = 2026;
    for (let i = 0; i < 24; i++) {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
      ns.push(2500 + (state % 200_000));
    }
    const bad = ns.map((n) => [n, mismatches(n, patchedCart.segmentClassShare).length]).filter(([, m]) => m !== 0);
    expect(bad).toEqual([]);
    // what the split search calls (dense tables while they last, then segments) gives the same
    expect(mismatches(49_304, patchedCart.classShare)).toEqual([]);
  });

  it('build the pristine root split where the node is too large for the dense tables (7,000 rows)', () => {
    // Titanic rows repeated with a jittered Age: thousands of distinct thresholds, so the sweep asks for
    // every partition size up to 7,000 (about 24.5M dense cells, past their 16M budget: the sizes asked
    // for last come from the segments)
    let state = 7;
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 7000; i++) {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
      const row = data.X[i % data.X.length]!;
      X.push([row[0]!, row[1]!, row[2]! + state / 2_147_483_648]);
      y.push(data.y[i % data.y.length]!);
    }
    const options = { maxDepth: 1, minNumSamples: 5, gainThreshold: 0 };
    expect(JSON.stringify(treeJson(options, X, y))).toBe(JSON.stringify(treeJson(options, X, y, pristineCart)));
  }, 60_000);
});

interface NodeJson {
  splitColumn?: number;
  splitValue?: number;
  gain?: number | null;
  left?: NodeJson;
  right?: NodeJson;
}
type TreeJson = { options: Record<string, unknown>; root: NodeJson };
type ForestJson = {
  baseModel: { indexes: number[][]; treeOptions: Record<string, unknown>; estimators: TreeJson[] };
};

function splitNodes(root: NodeJson): NodeJson[] {
  const out: NodeJson[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop() as NodeJson;
    if (node.left === undefined || node.right === undefined) continue;
    out.push(node);
    stack.push(node.right, node.left);
  }
  return out;
}

function treeJson(options: object, X: number[][], y: number[], cart: CartModule = patchedCart): TreeJson {
  const tree = new cart.DecisionTreeClassifier(options);
  tree.train(X, y);
  return JSON.parse(JSON.stringify(tree.toJSON())) as TreeJson;
}

describe('per-split column sampling (patched ml-cart option maxFeaturesPerSplit)', () => {
  const options = { minNumSamples: 3, gainThreshold: 0, maxDepth: 7 };

  it('with a count of at least the number of columns, builds the pristine tree (no draw at all)', () => {
    const pristine = treeJson(options, data.X, data.y, pristineCart);
    for (const k of [11, 40]) {
      const sampled = treeJson({ ...options, maxFeaturesPerSplit: k, splitSeed: 5 }, data.X, data.y);
      expect(JSON.stringify(sampled.root)).toBe(JSON.stringify(pristine.root));
    }
  });

  it('draws fresh columns at every split, and the same ones for the same seed', () => {
    const sampled = treeJson({ ...options, maxFeaturesPerSplit: 2, splitSeed: 1 }, data.X, data.y);
    // a per-tree draw of 2 columns would split on 2 columns at most
    const used = new Set(splitNodes(sampled.root).map((node) => node.splitColumn));
    expect(used.size).toBeGreaterThan(4);
    expect(JSON.stringify(treeJson({ ...options, maxFeaturesPerSplit: 2, splitSeed: 1 }, data.X, data.y))).toBe(
      JSON.stringify(sampled),
    );
    const otherSeed = treeJson({ ...options, maxFeaturesPerSplit: 2, splitSeed: 2 }, data.X, data.y);
    expect(JSON.stringify(otherSeed.root)).not.toBe(JSON.stringify(sampled.root));
    // and the sampled tree is not the full search's tree
    const full = treeJson(options, data.X, data.y);
    expect(JSON.stringify(sampled.root)).not.toBe(JSON.stringify(full.root));
  });

  it("splits every node at the pristine best threshold of the chosen column on the node's rows", () => {
    const sampled = treeJson({ ...options, maxFeaturesPerSplit: 3, splitSeed: 9 }, data.X, data.y);
    let checked = 0;
    let belowFullBest = 0;
    const visit = (node: NodeJson, rows: number[]): void => {
      if (node.left === undefined || node.right === undefined) return;
      const column = node.splitColumn as number;
      const X = rows.map((i) => data.X[i] as number[]);
      const y = rows.map((i) => data.y[i] as number);
      // the pristine search on the node's rows, in row order: on the chosen column only, and on every column
      const single = treeJson(
        { minNumSamples: 0, maxDepth: 0 },
        X.map((row) => [row[column] as number]),
        y,
        pristineCart,
      );
      expect(single.root.splitValue).toBe(node.splitValue);
      expect(single.root.gain).toBe(node.gain);
      const every = treeJson({ minNumSamples: 0, maxDepth: 0 }, X, y, pristineCart);
      expect(every.root.gain as number).toBeGreaterThanOrEqual(node.gain as number);
      if ((every.root.gain as number) > (node.gain as number)) belowFullBest++;
      checked++;
      const value = node.splitValue as number;
      visit(
        node.left,
        rows.filter((i) => ((data.X[i] as number[])[column] as number) < value),
      );
      visit(
        node.right,
        rows.filter((i) => !(((data.X[i] as number[])[column] as number) < value)),
      );
    };
    visit(
      sampled.root,
      data.X.map((_, i) => i),
    );
    expect(checked).toBeGreaterThan(20);
    // some splits missed the best column: the draw did restrict them
    expect(belowFullBest).toBeGreaterThan(0);
  });

  it('refuses a count that is not a positive integer, and inputs the presorted path does not cover', () => {
    for (const k of [0, 1.5, -2]) {
      expect(() => treeJson({ maxFeaturesPerSplit: k }, data.X, data.y)).toThrow(/maxFeaturesPerSplit/);
    }
    expect(() => treeJson({ maxFeaturesPerSplit: 2, splitSeed: 0.5 }, data.X, data.y)).toThrow(/splitSeed/);
    const withNaN = data.X.map((row, i) => (i === 0 ? [Number.NaN, ...row.slice(1)] : row));
    expect(() => treeJson({ maxFeaturesPerSplit: 2 }, withNaN, data.y)).toThrow(/maxFeaturesPerSplit needs/);
  });

  it('in the forest: a split seed per tree, the same bootstrap and column draws, deterministic for a seed', () => {
    const base = { nEstimators: 5, maxFeatures: 11, maxDepth: 6, minNumSamples: 3, gainThreshold: 0, seed: 7 };
    const train = (p: object): ForestJson => {
      const forest = new RandomForestClassifier(forestOptions({ ...base, ...p }, 11));
      forest.train(data.fit.X, data.fit.y);
      return JSON.parse(JSON.stringify(forest.toJSON())) as ForestJson;
    };
    const pristineForest = new pristineForestModule.RandomForestClassifier(forestOptions(base, 11));
    pristineForest.train(data.fit.X, data.fit.y);
    const pristine = JSON.parse(JSON.stringify(pristineForest.toJSON())) as ForestJson;

    const sampled = train({ maxFeaturesPerSplit: 3 });
    expect(JSON.stringify(train({ maxFeaturesPerSplit: 3 }))).toBe(JSON.stringify(sampled));
    expect(sampled.baseModel.indexes).toEqual(pristine.baseModel.indexes);
    expect(sampled.baseModel.treeOptions.maxFeaturesPerSplit).toBe(3);
    const seeds = sampled.baseModel.estimators.map((tree) => tree.options.splitSeed);
    expect(new Set(seeds).size).toBe(5);
    // every tree's root holds the same bootstrap rows as the pristine tree's (the draws are undisturbed)
    const rootRows = (f: ForestJson) =>
      f.baseModel.estimators.map((t) => (t.root as { numberSamples?: number }).numberSamples);
    expect(rootRows(sampled)).toEqual(rootRows(pristine));
    expect(sampled.baseModel.estimators.map((t) => JSON.stringify(t.root))).not.toEqual(
      pristine.baseModel.estimators.map((t) => JSON.stringify(t.root)),
    );

    // a per-split count of every column draws nothing: the pristine trees
    const all = train({ maxFeaturesPerSplit: 11 });
    expect(all.baseModel.estimators.map((t) => JSON.stringify(t.root))).toEqual(
      pristine.baseModel.estimators.map((t) => JSON.stringify(t.root)),
    );
  });
});
