/**
 * A Pub/Sub gRPC server for one machine, that the real `@google-cloud/pubsub` client talks to (see
 * `localPubSubClient`, or set `PUBSUB_EMULATOR_HOST` to the `host` it returns). The service definitions are
 * loaded from the .proto files that ship inside `@google-cloud/pubsub` (and google-gax, for google/api and
 * google/protobuf), so the wire format is the client's own.
 *
 * Implemented: Publisher CreateTopic, GetTopic, ListTopics, ListTopicSubscriptions, DeleteTopic, Publish;
 * Subscriber CreateSubscription, GetSubscription, ListSubscriptions, DeleteSubscription, ModifyPushConfig,
 * Pull, StreamingPull, Acknowledge, ModifyAckDeadline. Push subscriptions POST each message to the push
 * endpoint, wrapped in the standard envelope (or unwrapped, with `noWrapper`), and retry with exponential
 * backoff (the subscription's retryPolicy when it has one) until a 2xx, a bounded number of times.
 *
 * Not implemented (the client gets UNIMPLEMENTED or INVALID_ARGUMENT): UpdateTopic, UpdateSubscription,
 * DetachSubscription, snapshots and Seek, schemas, filters, dead-letter topics, ordering guarantees,
 * exactly-once delivery, message retention and replay, paging of list calls (one page holds everything),
 * OIDC tokens on pushes (the push carries no Authorization header; the local service accepts that), and
 * pulls on a push subscription. State lives in memory.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createLogger, type Logger } from '../../shared/log.ts';
import { DeliveryQueue, type HttpDelivery, type RetryPolicy } from '../net/delivery.ts';
import { assertPortAvailable, PortInUseError } from '../net/listen.ts';
import {
  Broker,
  durationMs,
  type Message,
  PubSubError,
  type PushConfig,
  type ReceivedMessage,
  type Subscription,
} from './pubsub-broker.ts';

export interface PubSubEmulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Push retries when the subscription has no retryPolicy (default: 10 attempts, 100 ms doubling up to 10 s). */
  pushRetry?: Partial<RetryPolicy>;
  /** How long a Pull without returnImmediately waits for a message before answering empty (default 2 s). */
  pullWaitMs?: number;
  /** Defaults to JSON lines at WARNING and above only. */
  logger?: Logger;
}

export interface PubSubEmulator {
  /** `127.0.0.1:PORT`: the value for `PUBSUB_EMULATOR_HOST`, or for `localPubSubClient`. */
  host: string;
  port: number;
  /** Ends streaming pulls, stops pending pushes, stops the server and frees the port. */
  close(): Promise<void>;
}

/**
 * A `PubSub` client for the emulator, without touching `process.env`. `apiEndpoint` is read exactly like
 * `PUBSUB_EMULATOR_HOST` (host:port); `emulatorMode: true` makes the client use insecure channel credentials
 * and no Google auth (needed here: setting universeDomain would otherwise make the client take the endpoint
 * for Google's). `projectId` is needed because nothing else supplies one.
 */
export function localPubSubClient(host: string, projectId = 'local'): PubSub {
  // universeDomain spares the first call a lookup of the GCE metadata server (about a second, and a
  // MetadataLookupWarning, off Google Cloud): without it the client asks the credentials for their universe.
  return new PubSub({ apiEndpoint: host, projectId, emulatorMode: true, universeDomain: 'googleapis.com' });
}

const DEFAULT_PUSH_RETRY: RetryPolicy = {
  attempts: 10,
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  multiplier: 2,
  timeoutMs: 10_000,
};

/** The directories holding pubsub.proto and the google/api + google/protobuf files it imports. */
function protoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const pubsubMain = require.resolve('@google-cloud/pubsub');
  const gaxMain = createRequire(pubsubMain).resolve('google-gax');
  return [path.resolve(path.dirname(pubsubMain), '../protos'), path.resolve(path.dirname(gaxMain), '../protos')];
}

// The request shapes proto-loader hands over (camelCase, defaults filled in, int64 as strings).
interface PubsubMessageIn {
  data: Buffer;
  attributes: Record<string, string>;
  orderingKey: string;
}
interface SubscriptionIn extends Omit<Subscription, 'state' | 'pushConfig'> {
  pushConfig: PushConfig | null;
  filter: string;
  deadLetterPolicy: unknown;
  enableExactlyOnceDelivery: boolean;
}
interface StreamingPullIn {
  subscription: string;
  ackIds: string[];
  modifyDeadlineSeconds: number[];
  modifyDeadlineAckIds: string[];
  streamAckDeadlineSeconds: number;
  maxOutstandingMessages: string;
}

const timestamp = (d: Date): { seconds: string; nanos: number } => ({
  seconds: String(Math.floor(d.getTime() / 1000)),
  nanos: (d.getTime() % 1000) * 1e6,
});

const messageOut = (m: Message) => ({
  data: m.data,
  attributes: m.attributes,
  messageId: m.messageId,
  publishTime: timestamp(m.publishTime),
  orderingKey: m.orderingKey,
});

const receivedOut = (r: ReceivedMessage) => ({
  ackId: r.ackId,
  message: messageOut(r.message),
  deliveryAttempt: r.deliveryAttempt,
});

const emptyPushConfig = (): PushConfig => ({ pushEndpoint: '', attributes: {}, oidcToken: null, noWrapper: null });

/** What a push endpoint receives: the standard envelope, or the bare data with metadata headers (noWrapper). */
export function pushRequest(subscription: Subscription, m: Message): HttpDelivery {
  const { pushEndpoint, noWrapper } = subscription.pushConfig;
  const publishTime = m.publishTime.toISOString();
  if (noWrapper) {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (noWrapper.writeMetadata) {
      headers['x-goog-pubsub-subscription-name'] = subscription.name;
      headers['x-goog-pubsub-message-id'] = m.messageId;
      headers['x-goog-pubsub-publish-time'] = publishTime;
      for (const [k, v] of Object.entries(m.attributes)) headers[k.toLowerCase()] = v;
    }
    return { url: pushEndpoint, headers, body: m.data.toString('utf8') };
  }
  const envelope = {
    message: {
      data: m.data.toString('base64'),
      attributes: m.attributes,
      messageId: m.messageId,
      message_id: m.messageId,
      publishTime,
      publish_time: publishTime,
      ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
    },
    subscription: subscription.name,
  };
  return { url: pushEndpoint, headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) };
}

export async function startPubSubEmulator(options: PubSubEmulatorOptions = {}): Promise<PubSubEmulator> {
  const host = options.host ?? '127.0.0.1';
  const log = options.logger ?? createLogger({ fields: { component: 'pubsub-emulator' }, minSeverity: 'WARNING' });
  const pullWaitMs = options.pullWaitMs ?? 2000;
  const pushDefaults = { ...DEFAULT_PUSH_RETRY, ...options.pushRetry };
  const deliveries = new DeliveryQueue(pushDefaults, log);
  /** Aborted when a subscription is deleted, to stop its pushes in flight. */
  const pushStops = new Map<string, AbortController>();
  const streams = new Set<grpc.ServerDuplexStream<StreamingPullIn, unknown>>();
  let closing = false;

  const push = (sub: Subscription, message: Message): void => {
    const request = pushRequest(sub, message);
    const policy: RetryPolicy = {
      ...pushDefaults,
      initialDelayMs: durationMs(sub.retryPolicy?.minimumBackoff) ?? pushDefaults.initialDelayMs,
      maxDelayMs: durationMs(sub.retryPolicy?.maximumBackoff) ?? pushDefaults.maxDelayMs,
      timeoutMs: sub.ackDeadlineSeconds * 1000,
    };
    const stop = pushStops.get(sub.name) ?? new AbortController();
    pushStops.set(sub.name, stop);
    void deliveries.send(request, policy, stop.signal).then((outcome) => {
      const fields = { subscription: sub.name, messageId: message.messageId, attempts: outcome.attempts };
      if (outcome.delivered) log.debug('message pushed', fields);
      else if (!deliveries.stopped)
        log.warn('push abandoned', { ...fields, endpoint: request.url, status: outcome.status });
    });
  };

  const broker = new Broker(push);

  /** Adapts a synchronous or async handler to a unary gRPC method, mapping PubSubErrors to statuses. */
  const unary =
    <Req, Res>(name: string, fn: (req: Req) => Res | Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (res) => {
            log.debug('rpc', { method: name });
            callback(null, res);
          },
          (err: unknown) => callback(toStatus(err, log, name)),
        );
    };

  const pull = async (req: { subscription: string; maxMessages: number; returnImmediately: boolean }) => {
    const max = req.maxMessages > 0 ? req.maxMessages : 1000;
    const deadline = Date.now() + (req.returnImmediately ? 0 : pullWaitMs);
    for (;;) {
      const leased = broker.lease(req.subscription, max);
      if (leased.length > 0 || Date.now() >= deadline || closing) return { receivedMessages: leased.map(receivedOut) };
      await broker.waitForMessages(req.subscription, deadline - Date.now());
    }
  };

  const streamingPull = (call: grpc.ServerDuplexStream<StreamingPullIn, unknown>): void => {
    streams.add(call);
    const holder = {};
    let subscription: string | undefined;
    let ackDeadline = 10;
    let maxOutstanding = 1000;
    let open = true;
    const finish = (): void => {
      open = false;
      streams.delete(call);
    };
    const fail = (err: unknown): void => {
      if (!open) return;
      finish();
      call.emit('error', toStatus(err, log, 'StreamingPull'));
    };
    const pump = async (name: string): Promise<void> => {
      while (open && !closing) {
        const room = maxOutstanding - broker.outstanding(name, holder);
        const leased = room > 0 ? broker.lease(name, room, holder, ackDeadline) : [];
        if (leased.length > 0) call.write({ receivedMessages: leased.map(receivedOut) });
        else await broker.waitForMessages(name, 1000);
      }
    };
    call.on('data', (req: StreamingPullIn) => {
      try {
        if (!subscription) {
          broker.getSubscription(req.subscription);
          subscription = req.subscription;
          ackDeadline = req.streamAckDeadlineSeconds || 10;
          maxOutstanding = Number(req.maxOutstandingMessages) || 1000;
          pump(subscription).catch(fail);
        }
        if (req.ackIds.length > 0) broker.acknowledge(subscription, req.ackIds);
        req.modifyDeadlineAckIds.forEach((ackId, i) => {
          broker.modifyAckDeadline(subscription!, [ackId], req.modifyDeadlineSeconds[i] ?? 0);
        });
      } catch (err) {
        fail(err);
      }
    });
    call.on('end', () => {
      if (!open) return;
      finish();
      call.end();
    });
    call.on('cancelled', finish);
    call.on('error', finish);
  };

  const toSubscription = (req: SubscriptionIn): Omit<Subscription, 'state'> => {
    if (req.filter)
      throw new PubSubError(
        grpc.status.INVALID_ARGUMENT,
        'Subscription filters are not supported by the local emulator.',
      );
    if (req.enableExactlyOnceDelivery || req.deadLetterPolicy) {
      throw new PubSubError(
        grpc.status.INVALID_ARGUMENT,
        'Exactly-once delivery and dead-letter policies are not supported by the local emulator.',
      );
    }
    return {
      name: req.name,
      topic: req.topic,
      pushConfig: req.pushConfig ?? emptyPushConfig(),
      ackDeadlineSeconds: req.ackDeadlineSeconds,
      retainAckedMessages: req.retainAckedMessages,
      messageRetentionDuration: req.messageRetentionDuration ?? { seconds: '604800', nanos: 0 },
      labels: req.labels,
      enableMessageOrdering: req.enableMessageOrdering,
      retryPolicy: req.retryPolicy,
    };
  };

  const definition = await protoLoader.load('google/pubsub/v1/pubsub.proto', {
    includeDirs: protoIncludeDirs(),
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const server = new grpc.Server();
  server.addService(definition['google.pubsub.v1.Publisher'] as grpc.ServiceDefinition, {
    CreateTopic: unary('CreateTopic', (req: { name: string; labels: Record<string, string> }) =>
      broker.createTopic(req),
    ),
    GetTopic: unary('GetTopic', (req: { topic: string }) => broker.getTopic(req.topic)),
    ListTopics: unary('ListTopics', (req: { project: string }) => ({
      topics: broker.listTopics(req.project),
      nextPageToken: '',
    })),
    ListTopicSubscriptions: unary('ListTopicSubscriptions', (req: { topic: string }) => ({
      subscriptions: broker.listTopicSubscriptions(req.topic),
      nextPageToken: '',
    })),
    DeleteTopic: unary('DeleteTopic', (req: { topic: string }) => {
      broker.deleteTopic(req.topic);
      return {};
    }),
    Publish: unary('Publish', (req: { topic: string; messages: PubsubMessageIn[] }) => ({
      messageIds: broker.publish(req.topic, req.messages),
    })),
  });
  server.addService(definition['google.pubsub.v1.Subscriber'] as grpc.ServiceDefinition, {
    CreateSubscription: unary('CreateSubscription', (req: SubscriptionIn) =>
      broker.createSubscription(toSubscription(req)),
    ),
    GetSubscription: unary('GetSubscription', (req: { subscription: string }) =>
      broker.getSubscription(req.subscription),
    ),
    ListSubscriptions: unary('ListSubscriptions', (req: { project: string }) => ({
      subscriptions: broker.listSubscriptions(req.project),
      nextPageToken: '',
    })),
    DeleteSubscription: unary('DeleteSubscription', (req: { subscription: string }) => {
      broker.deleteSubscription(req.subscription);
      pushStops.get(req.subscription)?.abort();
      pushStops.delete(req.subscription);
      return {};
    }),
    ModifyPushConfig: unary('ModifyPushConfig', (req: { subscription: string; pushConfig: PushConfig | null }) => {
      broker.modifyPushConfig(req.subscription, req.pushConfig ?? emptyPushConfig());
      return {};
    }),
    Pull: unary('Pull', pull),
    Acknowledge: unary('Acknowledge', (req: { subscription: string; ackIds: string[] }) => {
      broker.acknowledge(req.subscription, req.ackIds);
      return {};
    }),
    ModifyAckDeadline: unary(
      'ModifyAckDeadline',
      (req: { subscription: string; ackIds: string[]; ackDeadlineSeconds: number }) => {
        broker.modifyAckDeadline(req.subscription, req.ackIds, req.ackDeadlineSeconds);
        return {};
      },
    ),
    StreamingPull: streamingPull,
  });

  const requestedPort = options.port ?? 0;
  await assertPortAvailable(host, requestedPort, 'Pub/Sub emulator');
  const port = await new Promise<number>((resolve, reject) => {
    const address = `${host.includes(':') ? `[${host}]` : host}:${requestedPort}`;
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (!err) {
        resolve(bound);
        return;
      }
      server.forceShutdown();
      reject(/EADDRINUSE/.test(err.message) ? new PortInUseError('Pub/Sub emulator', host, requestedPort) : err);
    });
  });
  // Leases end without an event: a sweep offers expired ones again and wakes their pullers.
  const sweeper = setInterval(() => broker.sweep(), 250);
  sweeper.unref();
  const emulatorHost = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info('Pub/Sub emulator listening', { host: emulatorHost });

  return {
    host: emulatorHost,
    port,
    close: async () => {
      if (closing) return;
      closing = true;
      clearInterval(sweeper);
      broker.wakeAll();
      for (const call of streams) call.end();
      streams.clear();
      await deliveries.stop();
      // Not tryShutdown: it waits for every client to drop its connection, which an idle client never does.
      server.forceShutdown();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

function toStatus(err: unknown, log: Logger, method: string): Partial<grpc.StatusObject> {
  if (err instanceof PubSubError) return { code: err.code, details: err.message };
  log.error('rpc failed', { method, err });
  return { code: grpc.status.INTERNAL, details: 'Internal error' };
}
