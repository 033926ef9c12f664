import { beforeAll, describe, expect, it } from 'vitest';
import { type PromotionRecord, pointerFor, sha256Hex } from '../shared/adapters/model-store.ts';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { compareModels } from '../shared/core/promotion.ts';
import { tinyArtifact, withVersion } from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';

let v1: ModelArtifact;
let v2: ModelArtifact;
beforeAll(async () => {
  v1 = await tinyArtifact();
  v2 = withVersion(v1, 'tiny-2');
});
const testApp = testAppsClosedAfterEach();

const first: PromotionRecord = {
  action: 'promote',
  modelVersion: 'tiny-1',
  previousVersion: null,
  at: '2026-01-01T00:00:00.000Z',
  actor: 'train',
  reason: 'PROMOTED_FIRST_MODEL',
};
const second: PromotionRecord = {
  action: 'force-promote',
  modelVersion: 'tiny-2',
  previousVersion: 'tiny-1',
  at: '2026-01-02T00:00:00.000Z',
  actor: 'ops-anna',
  reason: 'labels checked by hand',
};

/** An app serving tiny-2 through a format 2 pointer carrying train's evidence and two promotions. */
async function servedWithCard() {
  const t = await testApp(null);
  const bytes = Buffer.from(JSON.stringify(v2));
  t.source.objects.set('models/tiny-2/model.json', bytes);
  const previous = pointerFor(v1, { sha256: 'a'.repeat(64), size: 1 }, 'gs://m/models/tiny-1/model.json', first, null);
  const comparison = compareModels([1, 1, 0, 0, 1], [1, 1, 0, 1, 1], [1, 1, 0, 0, 1]);
  t.source.pointer = {
    value: pointerFor(
      v2,
      { sha256: sha256Hex(bytes), size: bytes.length },
      'gs://m/models/tiny-2/model.json',
      second,
      previous,
      {
        dataset: { datasetId: 'ds-9', rows: 1291, labelShare: 0.3834, validation: { passed: true, failed: [] } },
        comparison,
        decision: { code: 'PROMOTED', championVersion: 'tiny-1' },
      },
    ),
    generation: '2',
  };
  expect(await t.registry.refresh()).toBe('loaded');
  return t;
}

describe('the model card', () => {
  it('is in GET /v1/model: intended use, limitations, training data, metrics with intervals, promotions', async () => {
    const t = await servedWithCard();
    const { card } = (await t.app.inject({ method: 'GET', url: '/v1/model' })).json();
    expect(card.intendedUse).toMatch(/Titanic/);
    expect(card.limitations.join(' ')).toMatch(/1912 passengers.*Not for decisions about people/);
    expect(card.trainingData).toEqual({
      datasetId: v2.lineage.datasetId,
      rows: 1291,
      labelShare: 0.3834,
      validation: { passed: true, failed: [] },
    });
    const [lo, hi] = card.metrics.test.accuracyInterval;
    expect(lo).toBeLessThan(v2.metrics.accuracy);
    expect(hi).toBeGreaterThan(v2.metrics.accuracy);
    expect(card.metrics.test.rows).toBe(v2.metrics.n);
    expect(card.metrics.comparison).toMatchObject({
      rows: 5,
      accuracy: 1,
      championAccuracy: 0.8,
      championVersion: 'tiny-1',
    });
    expect(card.promotion).toEqual(second);
    expect(card.history).toEqual([second, first]);
  });

  it('is on the /model page with the promotion history', async () => {
    const t = await servedWithCard();
    const page = (await t.app.inject({ method: 'GET', url: '/model' })).body;
    expect(page).toContain('Model card');
    expect(page).toContain('Not for decisions about people');
    expect(page).toMatch(
      /Promotion history[\s\S]*force-promote[\s\S]*ops-anna[\s\S]*labels checked by hand[\s\S]*PROMOTED_FIRST_MODEL/,
    );
    expect(page).toMatch(/Comparison rows \(neither model trained on them\)/);
  });

  it('shows the tree cap of a refit cut to fit MODEL_MAX_BYTES, in GET /v1/model and on the /model page', async () => {
    const treeCap = { maxBytes: 1000, searchedTrees: 150, keptTrees: 105, refitBytes: 2000 };
    const t = await testApp({ ...v1, treeCap });
    const { card } = (await t.app.inject({ method: 'GET', url: '/v1/model' })).json();
    expect(card.trainingData.treeCap).toEqual(treeCap);
    const page = (await t.app.inject({ method: 'GET', url: '/model' })).body;
    expect(page).toContain('<dt>Tree cap</dt><dd>105 of the 150 trees the search chose');
    const plain = (await (await testApp(v1)).app.inject({ method: 'GET', url: '/model' })).body;
    expect(plain).not.toContain('Tree cap');
  });

  it('says what is not recorded when the pointer predates promotion records', async () => {
    const t = await testApp(v1);
    const { card } = (await t.app.inject({ method: 'GET', url: '/v1/model' })).json();
    expect(card.trainingData.rows).toBeNull();
    expect(card.metrics.comparison).toBeNull();
    expect(card.history).toEqual([]);
  });
});
