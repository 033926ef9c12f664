import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../../shared/core/artifact.ts';
import { rawPassenger, tinyArtifact, titanicInstances } from '../../test/support/service.ts';
import { testAppsClosedAfterEach } from '../../test/support/service-apps.ts';

const testApp = testAppsClosedAfterEach();
let artifact: ModelArtifact;
let instances: Array<Record<string, unknown>>;

beforeAll(async () => {
  artifact = await tinyArtifact();
  instances = await titanicInstances(120);
});

const total = (map: Record<string, number>) => Object.values(map).reduce((a, b) => a + b, 0);

interface ExplainAnswer {
  predictions: Array<{ survived: boolean; probability: number; drift: { isDrift: boolean } }>;
  explanations: Array<{
    attributions: Array<{
      outputName: string;
      baselineOutputValue: number;
      instanceOutputValue: number;
      featureAttributions: Record<string, number>;
      passengerFieldAttributions: Record<string, number>;
      approximationError: number;
    }>;
  }>;
  modelVersion: string;
  drift: { isDrift: boolean };
  explanationMetadata: { method: string; covers: string };
}

describe('POST /v1/explain', () => {
  it("answers Vertex AI's explain shape: the predictions of /v1/predict and one exact attribution per instance", async () => {
    const t = await testApp(artifact);
    const body = { instances };
    const predicted = await t.app.inject({ method: 'POST', url: '/v1/predict', payload: body });
    const res = await t.app.inject({ method: 'POST', url: '/v1/explain', payload: body });
    expect(res.statusCode).toBe(200);
    const answer = res.json() as ExplainAnswer;
    expect(answer.predictions).toEqual(predicted.json().predictions);
    expect(answer.modelVersion).toBe(artifact.modelVersion);
    expect(answer.explanationMetadata.covers).toBe('bootstrap');
    expect(answer.explanations).toHaveLength(instances.length);
    answer.explanations.forEach((e, i) => {
      expect(e.attributions).toHaveLength(1);
      const a = e.attributions[0]!;
      expect(a.outputName).toBe('probability');
      expect(a.instanceOutputValue).toBe(answer.predictions[i]?.probability);
      expect(Object.keys(a.featureAttributions)).toEqual(artifact.recipe.featureNames);
      // additivity, as served over JSON (a double printed and read back exactly)
      expect(Math.abs(a.baselineOutputValue + total(a.featureAttributions) - a.instanceOutputValue)).toBeLessThan(1e-9);
      expect(a.approximationError).toBeLessThan(1e-9);
      // the raw fields carry the same total as the features they come from
      expect(Math.abs(total(a.passengerFieldAttributions) - total(a.featureAttributions))).toBeLessThan(1e-12);
    });
    // the baseline is the model's, the same for every passenger
    expect(new Set(answer.explanations.map((e) => e.attributions[0]?.baselineOutputValue)).size).toBe(1);
  });

  it('sums the features of each raw field: SibSp and Parch share the family features', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({ method: 'POST', url: '/v1/explain', payload: rawPassenger() });
    const a = (res.json() as ExplainAnswer).explanations[0]?.attributions[0];
    if (!a) throw new Error('no attribution');
    const f = a.featureAttributions;
    const fields = a.passengerFieldAttributions;
    expect(fields.SibSp).toBeCloseTo(((f.Familysize as number) + (f.Isalone as number)) / 2, 12);
    expect(fields.Pclass).toBeCloseTo((f.Pclass as number) + (f.Pclass_Fare as number) / 2, 12);
    expect(fields.Fare).toBeCloseTo((f.Fare as number) + ((f.Pclass_Fare as number) + (f.Age_Fare as number)) / 2, 12);
    expect(Object.keys(fields)).not.toContain('Ticket');
  });

  it('explains a recipe v2 model per engineered feature and, summed, per raw passenger field', async () => {
    const v2 = await tinyArtifact({ recipeVersion: 2, modelVersion: 'tiny-v2' });
    const t = await testApp(v2);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/explain',
      payload: { instances: instances.slice(0, 40) },
    });
    expect(res.statusCode).toBe(200);
    const answer = res.json() as ExplainAnswer;
    expect(answer.explanationMetadata.covers).toBe('bootstrap');
    for (const e of answer.explanations) {
      const a = e.attributions[0]!;
      expect(Object.keys(a.featureAttributions)).toEqual(v2.recipe.featureNames);
      expect(Object.keys(a.featureAttributions)).toContain('GroupWcOutcome');
      expect(Math.abs(a.baselineOutputValue + total(a.featureAttributions) - a.instanceOutputValue)).toBeLessThan(1e-9);
      expect(Math.abs(total(a.passengerFieldAttributions) - total(a.featureAttributions))).toBeLessThan(1e-12);
      // Sex and Title read together: v2's Title is coded from the name and, for a rare title, the sex
      const f = a.featureAttributions;
      expect(a.passengerFieldAttributions.Sex).toBeCloseTo((f.Sex as number) + (f.Title as number) / 2, 12);
      expect(Object.keys(a.passengerFieldAttributions)).toContain('Ticket');
    }
  });

  it('explains a model whose artifact predates covers, and says the covers come from its reference rows', async () => {
    const { covers: _c, featureSources: _f, shapImportances: _s, ...rest } = artifact;
    const t = await testApp({ ...rest, formatVersion: 1 });
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/explain',
      payload: { instances: instances.slice(0, 20) },
    });
    expect(res.statusCode).toBe(200);
    const answer = res.json() as ExplainAnswer;
    expect(answer.explanationMetadata.covers).toBe('reference');
    for (const e of answer.explanations) {
      const a = e.attributions[0]!;
      expect(Math.abs(a.baselineOutputValue + total(a.featureAttributions) - a.instanceOutputValue)).toBeLessThan(1e-9);
    }
  });

  it('counts explained passengers as predictions', async () => {
    const t = await testApp(artifact);
    await t.app.inject({ method: 'POST', url: '/v1/explain', payload: { instances: instances.slice(0, 7) } });
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^prediction_count_total 7$/m);
    expect(metrics).toMatch(/route="explain"/);
  });

  it('answers 400 naming the instance and field of a bad value, as /v1/predict does', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/explain',
      payload: { instances: [rawPassenger(), rawPassenger({ Age: 'old' })] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details).toMatchObject({ instance: 1, field: 'Age' });
  });

  it('answers 503 MODEL_NOT_LOADED before a model is loaded', async () => {
    const t = await testApp(null);
    const res = await t.app.inject({ method: 'POST', url: '/v1/explain', payload: rawPassenger() });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('MODEL_NOT_LOADED');
  });
});

describe('global importance on the model page', () => {
  it('shows mean |SHAP| over the test split beside the impurity importances, with a sentence on how they differ', async () => {
    const t = await testApp(artifact);
    const page = (await t.app.inject({ method: 'GET', url: '/model' })).body;
    expect(page).toContain('id="shap-importances-chart"');
    expect(page).toContain('id="importances-chart"');
    expect(page).toMatch(/<p id="importance-comparison">Impurity importance credits a feature for every split/);
    expect(page).toMatch(/(Both put \w+ first|Impurity puts \w+ first, SHAP puts \w+ first)\./);
    // the table lists every feature with its mean |SHAP| in points, largest first
    const rows = [...page.matchAll(/<tr><th scope="row">(\w+)<\/th><td>([\d.]+)<\/td><td>[\d.]+<\/td><\/tr>/g)];
    expect(rows.map((r) => r[1]).sort()).toEqual([...artifact.recipe.featureNames].sort());
    const points = rows.map((r) => Number(r[2]));
    expect(points).toEqual([...points].sort((a, b) => b - a));
    const top = rows[0]?.[1] as string;
    expect(points[0]).toBeCloseTo((artifact.shapImportances?.[top] as number) * 100, 2);

    const json = (await t.app.inject({ method: 'GET', url: '/v1/model' })).json();
    expect(json.shapImportances).toEqual(artifact.shapImportances);
  });

  it('says plainly when the artifact predates the figure', async () => {
    const { shapImportances: _s, ...rest } = artifact;
    const t = await testApp({ ...rest, formatVersion: 1 });
    const page = (await t.app.inject({ method: 'GET', url: '/model' })).body;
    expect(page).toContain('id="shap-missing"');
    expect(page).toContain('id="importances-chart"');
    expect((await t.app.inject({ method: 'GET', url: '/v1/model' })).json().shapImportances).toBeNull();
  });
});
