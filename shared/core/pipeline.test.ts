import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readPassengerCsv } from './csv-stream.ts';
import { fitRecipe, transform } from './features.ts';
import {
  DEFAULT_SPACE,
  FEATURE_SET_DEFAULTS,
  featureSetVersionFor,
  foldViewFor,
  modelVersionFor,
  prepareFeatureSet,
  resolveFeatureSetOptions,
  resolveSearchOptions,
  SEARCH_DEFAULTS,
} from './pipeline.ts';
import type { LabelledPassenger } from './schema.ts';
import { smote } from './smote.ts';
import { stratifiedSplit } from './split.ts';

const { rows } = await readPassengerCsv(readFileSync(new URL('../../data/titanic.csv', import.meta.url)), {
  requireSurvived: true,
});
const passengers = rows.map((r) => r.passenger as LabelledPassenger);

describe('option resolution', () => {
  it('fills every unset option from the defaults and keeps every given one, undefined meaning unset', () => {
    expect(resolveSearchOptions({})).toEqual(SEARCH_DEFAULTS);
    expect(resolveSearchOptions({ candidates: 3, folds: undefined })).toEqual({ ...SEARCH_DEFAULTS, candidates: 3 });
    expect(resolveFeatureSetOptions({ splitSeed: 7 })).toEqual({ ...FEATURE_SET_DEFAULTS, splitSeed: 7 });
  });
});

describe('versions', () => {
  it('gives a new model version when a search default changes, the space included', () => {
    const before = modelVersionFor('fs-1', { candidates: 10 });
    expect(modelVersionFor('fs-1', { candidates: 10 })).toBe(before);
    // the same settings spelled out give the same version: versions hash what the search resolves to
    expect(modelVersionFor('fs-1', { ...SEARCH_DEFAULTS })).toBe(before);
    const widerSpace = { ...DEFAULT_SPACE, maxDepth: [...DEFAULT_SPACE.maxDepth, 16] };
    expect(modelVersionFor('fs-1', { candidates: 10 }, { ...SEARCH_DEFAULTS, space: widerSpace })).not.toBe(before);
    expect(modelVersionFor('fs-1', { candidates: 10 }, { ...SEARCH_DEFAULTS, folds: 4 })).not.toBe(before);
    expect(modelVersionFor('fs-1', { candidates: 10 }, { ...SEARCH_DEFAULTS, repeats: 3 })).not.toBe(before);
    expect(modelVersionFor('fs-2', { candidates: 10 })).not.toBe(before);
  });

  it('gives a new feature-set version when a feature-set default changes, the recipe version included', () => {
    const before = featureSetVersionFor('ds-1', { splitSeed: 42, testSize: 0.2 });
    expect(featureSetVersionFor('ds-1', { ...FEATURE_SET_DEFAULTS })).toBe(before);
    expect(featureSetVersionFor('ds-1', {}, { ...FEATURE_SET_DEFAULTS, smoteK: 3 })).not.toBe(before);
    expect(featureSetVersionFor('ds-1', {}, { ...FEATURE_SET_DEFAULTS, testSize: 0.25 })).not.toBe(before);
    const otherRecipe = FEATURE_SET_DEFAULTS.recipeVersion === 1 ? 2 : 1;
    const changed = featureSetVersionFor('ds-1', {}, { ...FEATURE_SET_DEFAULTS, recipeVersion: otherRecipe });
    expect(changed).not.toBe(before);
    expect(changed).toMatch(new RegExp(`^fs-ds-1-r${otherRecipe}-[0-9a-f]{8}$`));
  });

  it('keeps the versions recipe v1 feature sets always had', () => {
    // sha256 of {"seed":42,"testSize":0.2,"smoteK":5}, the parameters recipe v1 versions have always hashed
    expect(featureSetVersionFor('ds-1', { recipeVersion: 1, splitSeed: 42, testSize: 0.2 })).toBe(
      'fs-ds-1-r1-ad7b9f98',
    );
  });
});

describe('prepareFeatureSet', () => {
  it('splits, fits the recipe on the training split only, transforms both splits and SMOTEs the training split', () => {
    const options = resolveFeatureSetOptions({ recipeVersion: 1, splitSeed: 42 });
    const prepared = prepareFeatureSet(passengers, options);
    const split = stratifiedSplit(
      passengers.map((p) => p.survived),
      { testSize: 0.2, seed: 42 },
    );
    const trainRows = split.train.map((i) => passengers[i] as LabelledPassenger);
    const recipe = fitRecipe(trainRows);
    expect(prepared.recipe).toEqual(recipe);
    expect(prepared.train.ids).toEqual(trainRows.map((p) => p.passengerId));
    expect(prepared.train.X).toEqual(transform(recipe, trainRows));
    expect(prepared.test.X).toEqual(
      transform(
        recipe,
        split.test.map((i) => passengers[i] as LabelledPassenger),
      ),
    );
    expect(prepared.synthetic).toEqual(smote(prepared.train.X, prepared.train.y, { k: 5, seed: 42 }));
  });

  it('gives recipe v1 no fold view and recipe v2 one that hides the held-out rows from the group table', () => {
    const v1 = prepareFeatureSet(passengers, resolveFeatureSetOptions({ recipeVersion: 1 }));
    expect(foldViewFor(v1.recipe, v1.train.ids, v1.train.X)).toBeUndefined();
    const v2 = prepareFeatureSet(passengers, resolveFeatureSetOptions({ recipeVersion: 2 }));
    const view = foldViewFor(v2.recipe, v2.train.ids, v2.train.X);
    // no row held out: the rows as fitted (leave one out)
    expect(view?.([])).toEqual(v2.train.X);
    // rows held out: exactly the features of a recipe fitted without them
    const heldOut = Array.from({ length: 140 }, (_, i) => i * 5);
    const held = new Set(heldOut);
    const fitRows = v2.trainPassengers.filter((_, i) => !held.has(i));
    const refit = fitRecipe(fitRows, 2);
    expect(view?.(heldOut)).toEqual(
      transform(refit, v2.trainPassengers).map((row, i) => {
        // the fills are the training split's in the view (as for recipe v1); only the group columns are refitted
        const own = v2.train.X[i] as number[];
        return [...own.slice(0, 12), ...row.slice(12)];
      }),
    );
  });
});
