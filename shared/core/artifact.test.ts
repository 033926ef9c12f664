import { beforeAll, describe, expect, it } from 'vitest';
import { loadTitanic, type TitanicData } from '../../test/support/titanic.ts';
import { AppError } from '../errors.ts';
import {
  ARTIFACT_FORMAT_VERSION,
  buildArtifact,
  driftReferenceOf,
  type ModelArtifact,
  newJsonDepthScan,
  parseArtifact,
  scanJsonDepth,
} from './artifact.ts';
import { compileForest } from './compiled-forest.ts';
import { libraryVotes } from './forest.ts';
import { loadModel } from './model.ts';
import { FEATURE_KINDS, FEATURE_NAMES } from './schema.ts';
import type { SearchSpace } from './search.ts';
import { stratifiedSample } from './split.ts';
import { trainModel } from './training.ts';

const TINY: SearchSpace = {
  nEstimators: [9],
  maxFeatures: [5, 8],
  maxDepth: [6],
  minNumSamples: [3],
  gainThreshold: [0.001],
};

let data: TitanicData;
let artifact: ModelArtifact;
let text: string;
beforeAll(async () => {
  data = await loadTitanic();
  const training = await trainModel(data.input, {
    candidates: 2,
    folds: 3,
    repeats: 1,
    seed: 1,
    space: TINY,
  });
  artifact = buildArtifact({
    modelVersion: 'm-test',
    createdAt: '2026-01-01T00:00:00.000Z',
    lineage: { datasetId: 'd1', featureSetVersion: 'd1-v1' },
    recipe: data.recipe,
    training,
    trainX: data.input.train.X,
  });
  text = JSON.stringify(artifact);
});

function expectInvalid(input: unknown, message: RegExp): void {
  let caught: unknown;
  try {
    parseArtifact(input);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AppError);
  expect((caught as AppError).code).toBe('ARTIFACT_INVALID');
  expect((caught as AppError).message).toMatch(message);
}

describe('buildArtifact', () => {
  it('holds the drift reference as the real training rows before SMOTE, one column per feature', () => {
    const { columns, featureNames } = artifact.driftReference;
    expect(featureNames).toEqual([...FEATURE_NAMES]);
    expect(columns).toHaveLength(11);
    for (const column of columns) expect(column).toHaveLength(data.input.train.X.length);
    expect(columns.map((c) => c[5])).toEqual(data.input.train.X[5]);
    expect(data.input.synthetic?.X.length).toBeGreaterThan(0);
  });

  it('carries the metrics, CV scores, chosen params and non-negative importances of the run', () => {
    expect(artifact.metrics.n).toBe(data.input.test.X.length);
    expect(artifact.search.candidates).toHaveLength(2);
    expect(artifact.params).toEqual(artifact.search.best);
    for (const v of Object.values(artifact.importances)) expect(v).toBeGreaterThanOrEqual(0);
  });
});

describe('parseArtifact', () => {
  it('accepts its own output, from an object or from text', () => {
    expect(parseArtifact(JSON.parse(text))).toEqual(artifact);
    expect(parseArtifact(text).modelVersion).toBe('m-test');
    expect(parseArtifact(Buffer.from(text)).modelVersion).toBe('m-test');
  });

  it('rejects a truncated file as not valid JSON', () => {
    expectInvalid(text.slice(0, Math.floor(text.length / 2)), /not valid JSON/);
  });

  it('rejects a foreign JSON document as not a model artifact', () => {
    expectInvalid({ name: 'survival-pipeline', version: '0.1.0' }, /not a model artifact/);
    expectInvalid([1, 2, 3], /not a JSON object/);
    expectInvalid(JSON.parse(text).forest, /not a model artifact/);
  });

  it('rejects a newer format version, naming both versions', () => {
    const newer = ARTIFACT_FORMAT_VERSION + 1;
    expectInvalid(
      { ...JSON.parse(text), formatVersion: newer },
      new RegExp(`format version ${newer} is newer than this build reads \\(${ARTIFACT_FORMAT_VERSION}\\)`),
    );
  });

  it('writes format 3 or later, whose drift reference marks each feature continuous or categorical', () => {
    expect(artifact.formatVersion).toBe(ARTIFACT_FORMAT_VERSION);
    expect(artifact.driftReference.featureTypes).toEqual(FEATURE_NAMES.map((name) => FEATURE_KINDS[name]));
    expect(artifact.driftReference.featureTypes?.filter((t) => t === 'categorical')).toHaveLength(6);
    expect(driftReferenceOf(parseArtifact(text)).featureTypes).toEqual(artifact.driftReference.featureTypes);
  });

  it('still reads a format 1 artifact, deriving the feature types from the recipe v1 feature names', () => {
    const v1 = JSON.parse(text);
    v1.formatVersion = 1;
    delete v1.driftReference.featureTypes;
    const parsed = parseArtifact(v1);
    expect(parsed.driftReference.featureTypes).toBeUndefined();
    const reference = driftReferenceOf(parsed);
    expect(Object.fromEntries(reference.featureNames.map((name, f) => [name, reference.featureTypes[f]]))).toEqual({
      Pclass: 'categorical',
      Sex: 'categorical',
      Age: 'continuous',
      Fare: 'continuous',
      Embarked: 'categorical',
      Familysize: 'continuous',
      Isalone: 'categorical',
      HasCabin: 'categorical',
      Title: 'categorical',
      Pclass_Fare: 'continuous',
      Age_Fare: 'continuous',
    });
  });

  it('uses the types an artifact declares, and rejects a type list of the wrong length or an unknown type', () => {
    const declared = JSON.parse(text);
    declared.driftReference.featureTypes[5] = 'categorical'; // Familysize counted as categories
    expect(driftReferenceOf(parseArtifact(declared)).featureTypes[5]).toBe('categorical');
    const short = JSON.parse(text);
    short.driftReference.featureTypes.pop();
    expectInvalid(short, /10 feature types for 11 features/);
    const unknown = JSON.parse(text);
    unknown.driftReference.featureTypes[0] = 'ordinal';
    expectInvalid(unknown, /featureTypes\/0/);
  });

  it('rejects a document missing a part, or with a part of the wrong type, naming where', () => {
    const { metrics: _metrics, ...noMetrics } = JSON.parse(text);
    expectInvalid(noMetrics, /metrics/);
    expectInvalid(
      { ...JSON.parse(text), params: { ...artifact.params, nEstimators: 'many' } },
      /\/params\/nEstimators/,
    );
  });

  it('rejects a forest that does not compile and a drift reference of the wrong shape', () => {
    const broken = JSON.parse(text);
    broken.forest.baseModel.estimators[0].root = { splitColumn: 0 };
    expectInvalid(broken, /malformed split node/);
    const ragged = JSON.parse(text);
    ragged.driftReference.columns[3].pop();
    expectInvalid(ragged, /drift reference/);
  });
});

describe('loadModel', () => {
  it('predicts raw passengers with the recipe it carries: probability = share of tree votes', () => {
    const model = loadModel(text);
    expect(model.version).toBe('m-test');
    const compiled = compileForest(artifact.forest);
    const passengers = data.passengers.slice(0, 50);
    const predictions = model.predict(passengers);
    predictions.forEach((p, i) => {
      expect(p.features).toEqual(data.X[i]);
      expect(p.probability).toBe(compiled.votes(p.features) / compiled.nTrees);
      expect(p.survived).toBe(p.probability > 0.5);
    });
    // a batch and one passenger at a time give the same answers, the library's own votes on every Titanic row
    expect(passengers.map((p) => model.predict([p])[0])).toEqual(predictions);
    const all = model.predict(data.passengers);
    const votes = libraryVotes(artifact.forest, data.X);
    expect(all.map((p) => p.probability)).toEqual(votes.map((v) => v / compiled.nTrees));
    expect(data.passengers.map((p) => model.predict([p])[0]?.probability)).toEqual(all.map((p) => p.probability));
  });

  it('never returns a half-working model: a bad artifact throws ARTIFACT_INVALID', () => {
    expect(() => loadModel('{"formatVersion": 1, "modelVer')).toThrow(AppError);
  });
});

describe('explanations from the artifact', () => {
  const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);

  it('records the bootstrap covers of every tree and the raw fields of every feature (format 4)', () => {
    expect(artifact.formatVersion).toBe(4);
    expect(artifact.covers?.source).toBe('bootstrap');
    expect(artifact.covers?.trees).toHaveLength(artifact.params.nEstimators);
    // every tree's root holds every row of its bootstrap sample: the training split plus its SMOTE rows
    const fitRows = data.input.train.X.length + (data.input.synthetic?.X.length ?? 0);
    for (const tree of artifact.covers?.trees ?? []) expect(tree[0]).toBe(fitRows);
    expect(artifact.featureSources?.Pclass_Fare).toEqual(['Pclass', 'Fare']);
    expect(Object.keys(artifact.featureSources ?? {})).toEqual([...FEATURE_NAMES]);
  });

  it('records the mean absolute SHAP value of every feature over the test split', () => {
    const model = loadModel(text);
    const expected = FEATURE_NAMES.map(
      (_, j) =>
        sum(data.input.test.X.map((row) => Math.abs(model.explainer.contributions(row)[j] as number))) /
        data.input.test.X.length,
    );
    const recorded = FEATURE_NAMES.map((name) => artifact.shapImportances?.[name] as number);
    for (const [j, v] of recorded.entries()) expect(Math.abs(v - (expected[j] as number))).toBeLessThan(1e-12);
    expect(Math.max(...recorded)).toBeGreaterThan(0.01);
  });

  it('takes the mean absolute SHAP value over a stratified sample of a test split above the SHAP cap, and records it', async () => {
    expect(artifact.shapSample).toBeUndefined();
    const training = await trainModel(data.input, {
      candidates: 1,
      folds: 3,
      repeats: 1,
      seed: 1,
      space: TINY,
      shapMaxRows: 50,
    });
    expect(training.shapSample).toEqual({ maxRows: 50, testRows: data.input.test.X.length, seed: 1 });
    const capped = parseArtifact(
      JSON.stringify(
        buildArtifact({
          modelVersion: 'm-shap',
          createdAt: artifact.createdAt,
          recipe: data.recipe,
          training,
          trainX: data.input.train.X,
        }),
      ),
    );
    expect(capped.shapSample).toEqual(training.shapSample);
    const model = loadModel(JSON.stringify(capped));
    const picked = stratifiedSample(data.input.test.y, 50, 1);
    const expected = FEATURE_NAMES.map(
      (_, j) =>
        sum(picked.map((i) => Math.abs(model.explainer.contributions(data.input.test.X[i] as number[])[j] as number))) /
        picked.length,
    );
    const recorded = FEATURE_NAMES.map((name) => capped.shapImportances?.[name] as number);
    for (const [j, v] of recorded.entries()) expect(Math.abs(v - (expected[j] as number))).toBeLessThan(1e-12);
  });

  it('explains the served probability exactly: base value + contributions = probability', () => {
    const model = loadModel(text);
    expect(model.explainer.coverSource).toBe('bootstrap');
    for (const p of model.predict(data.passengers.slice(0, 100))) {
      const phi = model.explainer.contributions(p.features);
      expect(Math.abs(model.explainer.baseValue + sum(phi) - p.probability)).toBeLessThan(1e-9);
    }
  });

  it('explains a format 1 artifact from covers counted on its drift reference rows, and says so', () => {
    const old = JSON.parse(text);
    old.formatVersion = 1;
    delete old.covers;
    delete old.featureSources;
    const model = loadModel(old);
    expect(model.explainer.coverSource).toBe('reference');
    expect(model.explainer.sources[1]).toEqual(['Sex']);
    // the base value is then the mean served probability of the real training rows
    const compiled = compileForest(artifact.forest);
    const mean = sum(data.input.train.X.map((row) => compiled.probability(row))) / data.input.train.X.length;
    expect(Math.abs(model.explainer.baseValue - mean)).toBeLessThan(1e-12);
    for (const p of model.predict(data.passengers.slice(0, 100))) {
      const phi = model.explainer.contributions(p.features);
      expect(Math.abs(model.explainer.baseValue + sum(phi) - p.probability)).toBeLessThan(1e-9);
    }
  });

  it('refuses covers that do not fit the forest and sources that name no passenger field', () => {
    const short = JSON.parse(text);
    short.covers.trees[0].pop();
    expect(() => loadModel(short)).toThrow(/node covers: tree 0 has \d+ nodes and \d+ covers/);
    const unknown = JSON.parse(text);
    unknown.featureSources.Title = ['Nickname'];
    expect(() => loadModel(unknown)).toThrow(/feature Title names Nickname, which is not a passenger field/);
    const negative = JSON.parse(text);
    negative.covers.trees[0][0] = -1;
    expectInvalid(negative, /\/covers\/trees\/0\/0/);
  });
});

describe('scanJsonDepth', () => {
  it('finds the deepest nesting of objects and arrays, ignoring brackets inside strings, across slices', () => {
    const text = JSON.stringify({ a: [{ b: '{{[[' }, [[1]]], c: { d: 'x\\"]]' } });
    const bytes = Buffer.from(text);
    const whole = newJsonDepthScan();
    scanJsonDepth(bytes, 0, bytes.length, whole);
    expect(whole.max).toBe(4);
    const sliced = newJsonDepthScan();
    for (let i = 0; i < bytes.length; i += 3) scanJsonDepth(bytes, i, Math.min(bytes.length, i + 3), sliced);
    expect(sliced).toEqual(whole);
    expect(whole.depth).toBe(0);
  });
});

describe('recipe v2 artifacts (format 2: the group table travels in the recipe)', () => {
  let v2: TitanicData;
  let v2Artifact: ModelArtifact;
  beforeAll(async () => {
    v2 = await loadTitanic(42, 2);
    const training = await trainModel(v2.input, {
      candidates: 1,
      folds: 3,
      repeats: 1,
      seed: 1,
      space: TINY,
    });
    v2Artifact = buildArtifact({
      modelVersion: 'm-v2',
      createdAt: '2026-01-01T00:00:00.000Z',
      recipe: v2.recipe,
      training,
      trainX: v2.input.train.X,
    });
  });

  it('round-trips through JSON and predicts from raw passengers with the embedded group table', () => {
    const parsed = parseArtifact(JSON.stringify(v2Artifact));
    expect(parsed.recipe).toEqual(v2.recipe);
    const model = loadModel(JSON.stringify(v2Artifact));
    const compiled = compileForest(v2Artifact.forest);
    const predictions = model.predict(v2.passengers);
    predictions.forEach((p, i) => {
      expect(p.features).toEqual(v2.X[i]);
      expect(p.probability).toBe(compiled.probability(v2.X[i] as number[]));
    });
    const votes = libraryVotes(v2Artifact.forest, v2.X);
    expect(predictions.map((p) => p.probability)).toEqual(votes.map((v) => v / compiled.nTrees));
    expect(v2.passengers.map((p) => model.predict([p])[0])).toEqual(predictions);
  });

  it('marks each new feature continuous or categorical in the drift reference', () => {
    const ref = driftReferenceOf(v2Artifact);
    const kinds = Object.fromEntries(ref.featureNames.map((name, j) => [name, ref.featureTypes[j]]));
    expect(kinds).toMatchObject({
      Deck: 'categorical',
      TicketSize: 'continuous',
      FarePerPerson: 'continuous',
      GroupWcOutcome: 'categorical',
    });
    expect(ref.columns).toHaveLength(15);
  });

  it('refuses a v2 recipe without its group table, or whose groups name members that do not exist', () => {
    const { groups: _, ...noGroups } = v2Artifact.recipe as Extract<ModelArtifact['recipe'], { version: 2 }>;
    expectInvalid({ ...v2Artifact, recipe: noGroups }, /schema/);
    const recipe = structuredClone(v2Artifact.recipe) as Extract<ModelArtifact['recipe'], { version: 2 }>;
    (recipe.groups.ticket[0] as [string, number[]])[1].push(recipe.groups.members.length);
    expectInvalid({ ...v2Artifact, recipe }, /ticket group .* names a member beyond/);
    expectInvalid({ ...v2Artifact, recipe: { ...v2Artifact.recipe, featureNames: FEATURE_NAMES } }, /not recipe v2's/);
  });
});

describe('per-split column sampling in an artifact', () => {
  it('leaves the default artifact as before: no per-split option in its params or its forest', () => {
    expect('maxFeaturesPerSplit' in artifact.params).toBe(false);
    const base = (artifact.forest as { baseModel: { treeOptions: object; estimators: { options: object }[] } })
      .baseModel;
    expect('maxFeaturesPerSplit' in base.treeOptions).toBe(false);
    for (const tree of base.estimators) expect('splitSeed' in tree.options).toBe(false);
  });

  it('trains, round-trips, predicts the library votes and explains exactly with a per-split space', async () => {
    const training = await trainModel(data.input, {
      candidates: 1,
      folds: 3,
      repeats: 1,
      seed: 1,
      space: { ...TINY, maxFeatures: [11], maxFeaturesPerSplit: [3] },
    });
    expect(training.params).toMatchObject({ maxFeatures: 11, maxFeaturesPerSplit: 3 });
    const built = buildArtifact({
      modelVersion: 'm-split',
      createdAt: '2026-01-01T00:00:00.000Z',
      lineage: { datasetId: 'd1', featureSetVersion: 'd1-v1' },
      recipe: data.recipe,
      training,
      trainX: data.input.train.X,
    });
    const parsed = parseArtifact(JSON.stringify(built));
    expect(parsed.params.maxFeaturesPerSplit).toBe(3);
    expect(parsed.covers?.source).toBe('bootstrap');
    const model = loadModel(JSON.stringify(built));
    const rows = data.X.slice(0, 200);
    const votes = libraryVotes(parsed.forest, rows);
    model.predict(data.passengers.slice(0, 200)).forEach((p, i) => {
      expect(p.probability).toBe((votes[i] as number) / 9);
      const phi = model.explainer.contributions(p.features);
      expect(Math.abs(model.explainer.baseValue + sum(phi) - p.probability)).toBeLessThan(1e-9);
    });
  });
});

const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);
