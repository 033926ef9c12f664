import { describe, expect, it } from 'vitest';
import { summarizeStep } from './progress.ts';

describe('step summaries', () => {
  it('say whether migrate applied migrations and set logins', () => {
    expect(summarizeStep('migrate', { applied: [], logins: [] })).toBe('schema current');
    expect(summarizeStep('migrate', { applied: [3, 4], logins: ['pipeline_load'] })).toBe(
      'schema migrated (3, 4), logins set: pipeline_load',
    );
  });
});
