import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { type Publisher, publishFailure, publishJson } from './events.ts';

/** An error shaped as the Google clients raise them for a gRPC status. */
const grpcError = (code: number): Error => Object.assign(new Error(`${code} ${status[code]}`), { code, details: '' });

/** The client's `topic(...).publishMessage` failing with `err`, as the real client does once its retries are spent. */
const failingPublisher = (err: Error): Publisher =>
  ({ topic: () => ({ publishMessage: () => Promise.reject(err) }) }) as unknown as Publisher;

describe('the Pub/Sub adapter maps its own failures', () => {
  it('turns UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and ABORTED into a retryable UNAVAILABLE', async () => {
    for (const code of [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED]) {
      const err = await publishJson(failingPublisher(grpcError(code)), 'model-published', {}).catch((e) => e);
      expect([err.code, err.status, err.retryable, err.message]).toEqual([
        'UNAVAILABLE',
        503,
        true,
        'Pub/Sub is unavailable',
      ]);
    }
  });

  it('leaves a missing topic or a permission error as it is, for the edge to answer 500', () => {
    for (const code of [status.NOT_FOUND, status.PERMISSION_DENIED, status.INVALID_ARGUMENT]) {
      const err = grpcError(code);
      expect(publishFailure(err)).toBe(err);
    }
  });
});
