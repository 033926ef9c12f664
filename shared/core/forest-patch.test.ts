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
const pristineForest = loadCommonJs<ForestModule>(
  'ml-random-forest-2.1.0-pristine.random-forest.cjs.txt',
  'ml-random-forest',
  { 'ml-cart': pristineCart },
);
const patchedCart = require('ml-cart') as CartModule;

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
    const pristine = new pristineForest.RandomForestClassifier(options);
    patched.train(data.fit.X, data.fit.y);
    pristine.train(data.fit.X, data.fit.y);
    expect(JSON.stringify(patched.toJSON())).toBe(JSON.stringify(pristine.toJSON()));
  });
});
