import { describe, expect, it } from 'vitest';
import { describeOutcome, uploadOutcome } from './outcome.ts';

describe('the upload outcome', () => {
  it('says promoted: true without a reason when the model was promoted', () => {
    const o = uploadOutcome({ modelVersion: 'm-1', promoted: true, decision: { code: 'PROMOTED', reasons: [] } });
    expect(o).toMatchObject({ promoted: true, modelVersion: 'm-1' });
    expect(o).not.toHaveProperty('reason');
    expect(describeOutcome(o)[0]).toMatch(/promoted/);
  });

  it('says promoted: false with the stable code, every reason and the figures when it was not', () => {
    const o = uploadOutcome({
      modelVersion: 'm-2',
      datasetId: 'ds-9',
      promoted: false,
      decision: {
        code: 'DATASET_SUSPECT',
        reasons: ['label-share: x 0.6 > 0.08', 'label-consistency: y 0.47 > 0.05'],
        figures: { testAccuracy: 0.8 },
        suspect: true,
      },
    });
    expect(o.reason).toMatchObject({
      code: 'DATASET_SUSPECT',
      message: 'label-share: x 0.6 > 0.08; label-consistency: y 0.47 > 0.05',
      figures: { testAccuracy: 0.8 },
      suspect: true,
    });
    const words = describeOutcome(o);
    expect(words[0]).toMatch(/NOT promoted \(DATASET_SUSPECT\)/);
    expect(words).toContain('dataset ds-9 is marked suspect (kept for inspection)');
    expect(words).toContain('  - label-share: x 0.6 > 0.08');
  });
});
