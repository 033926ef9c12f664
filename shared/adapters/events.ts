/**
 * Pub/Sub adapter: publish one JSON event with string attributes. The real client in the cloud; locally the
 * same client talks to the emulator through PUBSUB_EMULATOR_HOST.
 */
import type { PubSub } from '@google-cloud/pubsub';
import { AppError } from '../errors.ts';

/** The part of the Pub/Sub client this adapter uses (tests may pass a recording stand-in). */
export type Publisher = Pick<PubSub, 'topic'>;

/** gRPC status codes a retry can fix: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE. */
const TRANSIENT_GRPC_CODES = new Set([4, 8, 10, 14]);

/** The client's own default keeps retrying a publish for 600 s; a function answers its 503 long before that. */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 60_000;

/**
 * Publish settings whose retries of a transient failure all end within `timeoutMs`: each attempt may take up to
 * `timeoutMs`, and once the total is spent the publish fails with DEADLINE_EXCEEDED (a transient code).
 */
export function boundedPublishOptions(timeoutMs: number) {
  return {
    gaxOpts: {
      timeout: timeoutMs,
      retry: {
        retryCodes: [...TRANSIENT_GRPC_CODES],
        backoffSettings: {
          initialRetryDelayMillis: Math.min(100, timeoutMs),
          retryDelayMultiplier: 1.3,
          maxRetryDelayMillis: Math.min(5_000, timeoutMs),
          initialRpcTimeoutMillis: timeoutMs,
          rpcTimeoutMultiplier: 1,
          maxRpcTimeoutMillis: timeoutMs,
          totalTimeoutMillis: timeoutMs,
        },
      },
    },
  };
}

export async function publishJson(
  pubsub: Publisher,
  topic: string,
  payload: unknown,
  attributes: Record<string, string> = {},
  opts: { timeoutMs?: number } = {},
): Promise<string> {
  const settings = boundedPublishOptions(opts.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS);
  try {
    return await pubsub
      .topic(topic, settings as Parameters<Publisher['topic']>[1])
      .publishMessage({ data: Buffer.from(JSON.stringify(payload)), attributes });
  } catch (err) {
    throw publishFailure(err);
  }
}

/**
 * The adapter's own failure mapping: a publish failure a retry can fix (UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, ABORTED) becomes the retryable UNAVAILABLE; anything else (a missing topic, a permission
 * error) is left as it is.
 */
export function publishFailure(err: unknown): unknown {
  if (!isTransientPublishError(err)) return err;
  return new AppError('UNAVAILABLE', 'Pub/Sub is unavailable', undefined, { cause: err });
}

/** True for a publish failure a retry can fix (the client has already retried these for a while by then). */
export function isTransientPublishError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && TRANSIENT_GRPC_CODES.has(code);
}
