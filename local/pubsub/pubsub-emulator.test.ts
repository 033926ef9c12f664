import { type Message, type PubSub, v1 } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSink } from '../../test/support/push-sink.ts';
import { PortInUseError } from '../net/listen.ts';
import { localPubSubClient, type PubSubEmulator, startPubSubEmulator } from './pubsub-emulator.ts';

const PROJECT = 'local';
const codeOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: number }).code;
  }
};

interface Envelope {
  message: {
    data: string;
    attributes: Record<string, string>;
    messageId: string;
    message_id: string;
    publishTime: string;
    publish_time: string;
  };
  subscription: string;
}

describe('Pub/Sub emulator with the real @google-cloud/pubsub client', () => {
  let emulator: PubSubEmulator;
  let pubsub: PubSub;
  let subscriber: v1.SubscriberClient;

  beforeAll(async () => {
    emulator = await startPubSubEmulator({ pushRetry: { initialDelayMs: 20 }, pullWaitMs: 300 });
    pubsub = localPubSubClient(emulator.host, PROJECT);
    // The generated client, for unary Pull (the handwritten one only streams), configured as the handwritten one.
    subscriber = new v1.SubscriberClient(
      (await pubsub.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0],
    );
  });

  afterAll(async () => {
    await subscriber?.close();
    await pubsub?.close();
    await emulator?.close();
  });

  it('needs no environment variable: the helper points the client at the emulator', () => {
    expect(process.env.PUBSUB_EMULATOR_HOST).toBeUndefined();
    expect(pubsub.isEmulator).toBe(true);
  });

  it('creates a topic, reads it back, and refuses a duplicate with ALREADY_EXISTS', async () => {
    expect((await pubsub.topic('created').exists())[0]).toBe(false);
    const [topic] = await pubsub.createTopic('created');
    expect(topic.name).toBe(`projects/${PROJECT}/topics/created`);
    const [meta] = await pubsub.topic('created').getMetadata();
    expect(meta.name).toBe(`projects/${PROJECT}/topics/created`);
    expect(await codeOf(pubsub.createTopic('created'))).toBe(6);
    expect(await codeOf(pubsub.topic('missing').publishMessage({ data: Buffer.from('x') }))).toBe(5);
  });

  it('pushes a published JSON message with its attributes to the push endpoint in the standard envelope', async () => {
    const sink = await startTestSink();
    try {
      const [topic] = await pubsub.createTopic('model-published');
      await topic.createSubscription('model-published-push', { pushConfig: { pushEndpoint: sink.url } });
      const [sub] = await pubsub.subscription('model-published-push').getMetadata();
      expect(sub.pushConfig?.pushEndpoint).toBe(sink.url);

      const payload = { modelVersion: 'm-1', accuracy: 0.82 };
      const id = await topic.publishMessage({ json: payload, attributes: { event: 'model-published' } });
      const [request] = await sink.waitFor(1);
      expect(request?.method).toBe('POST');
      expect(request?.headers['content-type']).toBe('application/json');
      const envelope = JSON.parse(request!.body) as Envelope;
      expect(envelope.subscription).toBe(`projects/${PROJECT}/subscriptions/model-published-push`);
      expect(JSON.parse(Buffer.from(envelope.message.data, 'base64').toString())).toEqual(payload);
      expect(envelope.message).toMatchObject({
        attributes: { event: 'model-published' },
        messageId: id,
        message_id: id,
      });
      expect(envelope.message.publish_time).toBe(envelope.message.publishTime);
      expect(Math.abs(Date.parse(envelope.message.publishTime) - Date.now())).toBeLessThan(10_000);
    } finally {
      await sink.close();
    }
  });

  it('retries a push with backoff until the endpoint answers 2xx: 500, 500, then 200 is three deliveries', async () => {
    const sink = await startTestSink([500, 500]);
    try {
      const [topic] = await pubsub.createTopic('flaky');
      await topic.createSubscription('flaky-push', { pushConfig: { pushEndpoint: sink.url } });
      const started = Date.now();
      const id = await topic.publishMessage({ data: Buffer.from('hello') });
      const deliveries = await sink.waitFor(3);
      expect(deliveries.map((d) => d.status)).toEqual([500, 500, 200]);
      expect(deliveries.map((d) => (JSON.parse(d.body) as Envelope).message.messageId)).toEqual([id, id, id]);
      // 20 ms then 40 ms of backoff between the attempts.
      expect(Date.now() - started).toBeGreaterThanOrEqual(60);
      await new Promise((r) => setTimeout(r, 200));
      expect(sink.received).toHaveLength(3);
    } finally {
      await sink.close();
    }
  });

  it('serves Pull, Acknowledge and ModifyAckDeadline: a nacked message comes back, an acked one does not', async () => {
    const [topic] = await pubsub.createTopic('pulled');
    await topic.createSubscription('pulled-sub');
    const subscription = `projects/${PROJECT}/subscriptions/pulled-sub`;
    const ids = [];
    for (const n of [1, 2, 3])
      ids.push(await topic.publishMessage({ data: Buffer.from(`m${n}`), attributes: { n: String(n) } }));

    const [first] = await subscriber.pull({ subscription, maxMessages: 10 });
    const received = first.receivedMessages ?? [];
    expect(received.map((r) => r.message?.data?.toString())).toEqual(['m1', 'm2', 'm3']);
    expect(received.map((r) => r.message?.messageId)).toEqual(ids);
    expect(received[0]?.message?.attributes).toEqual({ n: '1' });
    expect(received.every((r) => r.deliveryAttempt === 1)).toBe(true);

    await subscriber.acknowledge({ subscription, ackIds: [received[0]!.ackId!, received[1]!.ackId!] });
    await subscriber.modifyAckDeadline({ subscription, ackIds: [received[2]!.ackId!], ackDeadlineSeconds: 0 });

    const [second] = await subscriber.pull({ subscription, maxMessages: 10 });
    expect(second.receivedMessages?.map((r) => r.message?.data?.toString())).toEqual(['m3']);
    expect(second.receivedMessages?.[0]?.deliveryAttempt).toBe(2);
    await subscriber.acknowledge({ subscription, ackIds: [second.receivedMessages![0]!.ackId!] });

    const [third] = await subscriber.pull({ subscription, maxMessages: 10, returnImmediately: true });
    expect(third.receivedMessages ?? []).toEqual([]);
  });

  it('offers a message again when its lease expires without an ack', async () => {
    const [topic] = await pubsub.createTopic('leased');
    await topic.createSubscription('leased-sub');
    const subscription = `projects/${PROJECT}/subscriptions/leased-sub`;
    await topic.publishMessage({ data: Buffer.from('again') });
    const [first] = await subscriber.pull({ subscription, maxMessages: 1 });
    await subscriber.modifyAckDeadline({
      subscription,
      ackIds: [first.receivedMessages![0]!.ackId!],
      ackDeadlineSeconds: 1,
    });
    const [during] = await subscriber.pull({ subscription, maxMessages: 1, returnImmediately: true });
    expect(during.receivedMessages ?? []).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    const [after] = await subscriber.pull({ subscription, maxMessages: 1 });
    expect(after.receivedMessages?.[0]?.message?.data?.toString()).toBe('again');
  });

  it('delivers to a streaming subscriber (subscription.on("message")) and stops after its ack', async () => {
    const [topic] = await pubsub.createTopic('streamed');
    const [sub] = await topic.createSubscription('streamed-sub');
    const got: Message[] = [];
    const first = new Promise<Message>((resolve) => {
      sub.on('message', (m: Message) => {
        got.push(m);
        m.ack();
        resolve(m);
      });
    });
    const id = await topic.publishMessage({ json: { hello: 'stream' }, attributes: { kind: 'test' } });
    const message = await first;
    expect(message.id).toBe(id);
    expect(JSON.parse(message.data.toString())).toEqual({ hello: 'stream' });
    expect(message.attributes).toEqual({ kind: 'test' });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toHaveLength(1);
    await sub.close();
  });

  it('deletes subscriptions and topics, answering NOT_FOUND afterwards', async () => {
    const [topic] = await pubsub.createTopic('short-lived');
    const [sub] = await topic.createSubscription('short-lived-sub');
    await sub.delete();
    expect(await codeOf(sub.getMetadata())).toBe(5);
    await topic.delete();
    expect((await topic.exists())[0]).toBe(false);
  });

  it('frees its port on close, and reports a port in use with a clear error', async () => {
    const other = await startPubSubEmulator();
    await expect(startPubSubEmulator({ port: other.port })).rejects.toBeInstanceOf(PortInUseError);
    const client = localPubSubClient(other.host);
    await client.createTopic('t-close');
    await client.close();
    await other.close();
    const reused = await startPubSubEmulator({ port: other.port });
    expect(reused.port).toBe(other.port);
    await reused.close();
  });
});
