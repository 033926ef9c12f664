import { describe, expect, it } from 'vitest';
import { compileForest } from '../shared/core/compiled-forest.ts';
import { explainerOf } from '../shared/core/model.ts';
import { tinyArtifact } from '../test/support/service.ts';
import { attributionOf } from './explanations.ts';

const total = (map: Record<string, number>) => Object.values(map).reduce((a, b) => a + b, 0);

describe('attributions of a recipe v2 model', () => {
  it('name every engineered feature and sum them per raw field, Sex and Title read together', async () => {
    const v2 = await tinyArtifact({ recipeVersion: 2, modelVersion: 'tiny-v2' });
    expect(v2.featureSources?.GroupWcOutcome).toEqual(['Name', 'Ticket']);
    const forest = compileForest(v2.forest);
    const explainer = explainerOf(v2, forest);
    expect(explainer.coverSource).toBe('bootstrap');
    const { columns } = v2.driftReference;
    const rows = (columns[0] ?? []).slice(0, 60).map((_, i) => columns.map((c) => c[i] as number));
    for (const row of rows) {
      const a = attributionOf(explainer, row, forest.probability(row));
      expect(Object.keys(a.featureAttributions)).toEqual(v2.recipe.featureNames);
      expect(Math.abs(a.baselineOutputValue + total(a.featureAttributions) - a.instanceOutputValue)).toBeLessThan(1e-9);
      expect(Math.abs(total(a.passengerFieldAttributions) - total(a.featureAttributions))).toBeLessThan(1e-12);
      const f = a.featureAttributions;
      // v2's Title is coded from the name and, for a rare title, the sex: half of it is read under Sex
      expect(a.passengerFieldAttributions.Sex).toBeCloseTo((f.Sex as number) + (f.Title as number) / 2, 12);
      expect(a.passengerFieldAttributions.Ticket).toBeCloseTo(
        (f.TicketSize as number) + ((f.FarePerPerson as number) + (f.GroupWcOutcome as number)) / 2,
        12,
      );
    }
  });
});
