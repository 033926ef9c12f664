import { describe, expect, it } from 'vitest';
import { parseTriggerConfig } from './config.ts';

const base = { DATA_BUCKET: 'data', WORKFLOW_NAME: 'projects/p/locations/l/workflows/training' };

describe('parseTriggerConfig, through the same config loader as the other functions', () => {
  it('reads UPLOAD_PREFIX trimmed, defaults it to uploads/, and keeps an empty value as "every object"', () => {
    expect(parseTriggerConfig({ ...base, UPLOAD_PREFIX: ' incoming/ ' }).uploadPrefix).toBe('incoming/');
    expect(parseTriggerConfig(base).uploadPrefix).toBe('uploads/');
    expect(parseTriggerConfig({ ...base, UPLOAD_PREFIX: '' }).uploadPrefix).toBe('');
  });

  it('names every missing variable in one CONFIG_INVALID error', () => {
    expect(() => parseTriggerConfig({})).toThrowError(/DATA_BUCKET is required.*WORKFLOW_NAME is required/);
  });
});
