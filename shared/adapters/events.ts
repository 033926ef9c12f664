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
