/**
 * Pub/Sub adapter: publish one JSON event with string attributes. The real client in the cloud; locally the
 * same client talks to the emulator through PUBSUB_EMULATOR_HOST.
 */
import type { PubSub } from '@google-cloud/pubsub';

/** The part of the Pub/Sub client this adapter uses (tests may pass a recording stand-in). */
export type Publisher = Pick<PubSub, 'topic'>;

export async function publishJson(
  pubsub: Publisher,
  topic: string,
  payload: unknown,
  attributes: Record<string, string> = {},
): Promise<string> {
  return pubsub.topic(topic).publishMessage({ data: Buffer.from(JSON.stringify(payload)), attributes });
}

/** gRPC status codes a retry can fix: DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE. */
const TRANSIENT_GRPC_CODES = new Set([4, 8, 10, 14]);

/** True for a publish failure a retry can fix (the client has already retried these for a while by then). */
export function isTransientPublishError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && TRANSIENT_GRPC_CODES.has(code);
}
