import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../shared/core/invalid-input.ts';
import { AppError } from '../shared/errors.ts';
import { edgeError } from './edge.ts';

/** An error shaped as the Google clients raise them for a gRPC status. */
const grpcError = (code: number): Error => Object.assign(new Error(`${code} ${status[code]}`), { code, details: '' });

describe('edgeError, the edge that decides whether the workflow retries', () => {
  it('keeps an AppError as it is', () => {
    const err = new AppError('CSV_EMPTY');
    expect(edgeError(err)).toBe(err);
  });

  it("turns the core's InvalidInputError into a 400 BAD_REQUEST with its message", () => {
    const mapped = edgeError(new InvalidInputError('row 0 has 3 features, expected 11'));
    expect([mapped.code, mapped.status, mapped.message]).toEqual([
      'BAD_REQUEST',
      400,
      'row 0 has 3 features, expected 11',
    ]);
  });

  it('turns a Pub/Sub UNAVAILABLE or DEADLINE_EXCEEDED into a retryable 503', () => {
    for (const code of [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED]) {
      const mapped = edgeError(grpcError(code));
      expect([mapped.code, mapped.status, mapped.retryable]).toEqual(['UNAVAILABLE', 503, true]);
    }
  });

  it('turns a missing topic or a permission error into a 500 that is not retried', () => {
    for (const code of [status.NOT_FOUND, status.PERMISSION_DENIED, status.INVALID_ARGUMENT]) {
      const mapped = edgeError(grpcError(code));
      expect([mapped.code, mapped.status, mapped.retryable]).toEqual(['INTERNAL', 500, false]);
    }
  });

  it('turns a refused connection into a 503 and an unknown failure into a 500', () => {
    expect(edgeError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).status).toBe(503);
    expect(edgeError(new TypeError('x is undefined')).status).toBe(500);
  });
});
