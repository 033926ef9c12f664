import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../shared/core/invalid-input.ts';
import { AppError } from '../shared/errors.ts';
import { edgeError } from './edge.ts';

describe('edgeError, the edge that only translates error codes', () => {
  it('keeps an AppError as it is, the UNAVAILABLE an adapter made of its own failure included', () => {
    const err = new AppError('CSV_EMPTY');
    expect(edgeError(err)).toBe(err);
    const unavailable = new AppError('UNAVAILABLE', 'the database is unavailable');
    expect([edgeError(unavailable).status, edgeError(unavailable).retryable]).toEqual([503, true]);
  });

  it("turns the core's InvalidInputError into a 400 BAD_REQUEST with its message", () => {
    const mapped = edgeError(new InvalidInputError('row 0 has 3 features, expected 11'));
    expect([mapped.code, mapped.status, mapped.message]).toEqual([
      'BAD_REQUEST',
      400,
      'row 0 has 3 features, expected 11',
    ]);
  });

  it('turns anything else into a 500 that is not retried: only the adapter that made a call can name its backend', () => {
    for (const err of [
      new TypeError('x is undefined'),
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ]) {
      const mapped = edgeError(err);
      expect([mapped.code, mapped.status, mapped.retryable]).toEqual(['INTERNAL', 500, false]);
    }
  });
});
