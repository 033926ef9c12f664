/**
 * The Pub/Sub emulator's state, without gRPC: topics, subscriptions, and each pull subscription's messages
 * with their leases (ack ids and ack deadlines). A message published to a topic is copied to every
 * subscription the topic has at that moment; push subscriptions hand it to `push` (the emulator POSTs it),
 * pull subscriptions keep it until it is acknowledged, leasing it to one puller at a time and offering it
 * again when a lease expires or is nacked (ack deadline 0). In memory only.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';

export class PubSubError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'PubSubError';
  }
}

export interface Duration {
  seconds: string | number;
  nanos: number;
}

export interface PushConfig {
  pushEndpoint: string;
  attributes: Record<string, string>;
  oidcToken: { serviceAccountEmail: string; audience: string } | null;
  noWrapper: { writeMetadata: boolean } | null;
}

export interface Topic {
  name: string;
  labels: Record<string, string>;
  state: 'ACTIVE';
}

export interface Subscription {
  name: string;
  topic: string;
  pushConfig: PushConfig;
  ackDeadlineSeconds: number;
  retainAckedMessages: boolean;
  messageRetentionDuration: Duration;
  labels: Record<string, string>;
  enableMessageOrdering: boolean;
  retryPolicy: { minimumBackoff: Duration | null; maximumBackoff: Duration | null } | null;
  state: 'ACTIVE';
}

export interface Message {
  data: Buffer;
  attributes: Record<string, string>;
  messageId: string;
  publishTime: Date;
  orderingKey: string;
}

export interface ReceivedMessage {
  ackId: string;
  message: Message;
  deliveryAttempt: number;
}

interface Pending {
  message: Message;
  attempts: number;
  ackId: string | null;
  /** Epoch ms when the lease ends; 0 when the message is available. */
  leaseUntil: number;
  /** The streaming puller that holds the lease, for its flow control. */
  holder: object | null;
}

interface SubscriptionState {
  resource: Subscription;
  /** Pull subscriptions only, in publish order. */
  pending: Map<string, Pending>;
  byAckId: Map<string, Pending>;
  /** Woken when messages may have become available (publish, nack, lease expiry). */
  waiters: Set<() => void>;
}

const TOPIC_NAME = /^projects\/[^/]+\/topics\/[A-Za-z][\w.~+%-]{2,254}$/;
const SUBSCRIPTION_NAME = /^projects\/[^/]+\/subscriptions\/[A-Za-z][\w.~+%-]{2,254}$/;
const DELETED_TOPIC = '_deleted-topic_';

export const durationMs = (d: Duration | null | undefined): number | undefined =>
  d ? Number(d.seconds) * 1000 + Math.round((d.nanos ?? 0) / 1e6) : undefined;

const notFound = (resource: 'topic' | 'subscription'): PubSubError =>
  new PubSubError(status.NOT_FOUND, `Resource not found (resource=${resource}).`);

export class Broker {
  readonly #topics = new Map<string, Topic>();
  readonly #subs = new Map<string, SubscriptionState>();
  #nextMessageId = 1;

  /** Called for each message published to a push subscription. */
  constructor(private readonly push: (subscription: Subscription, message: Message) => void) {}

  // ---- topics

  createTopic(input: { name: string; labels?: Record<string, string> }): Topic {
    if (!TOPIC_NAME.test(input.name))
      throw new PubSubError(status.INVALID_ARGUMENT, `Invalid [topics] name: (name=${input.name})`);
    if (this.#topics.has(input.name)) throw new PubSubError(status.ALREADY_EXISTS, 'Topic already exists');
    const topic: Topic = { name: input.name, labels: { ...input.labels }, state: 'ACTIVE' };
    this.#topics.set(topic.name, topic);
    return topic;
  }

  getTopic(name: string): Topic {
    const topic = this.#topics.get(name);
    if (!topic) throw notFound('topic');
    return topic;
  }

  listTopics(project: string): Topic[] {
    return [...this.#topics.values()].filter((t) => t.name.startsWith(`${project}/topics/`));
  }

  listTopicSubscriptions(topic: string): string[] {
    this.getTopic(topic);
    return [...this.#subs.values()].filter((s) => s.resource.topic === topic).map((s) => s.resource.name);
  }

  /** Subscriptions stay, detached from any topic, as in Pub/Sub. */
  deleteTopic(name: string): void {
    this.getTopic(name);
    this.#topics.delete(name);
    for (const sub of this.#subs.values()) if (sub.resource.topic === name) sub.resource.topic = DELETED_TOPIC;
  }

  publish(
    topicName: string,
    messages: Array<{ data?: Buffer; attributes?: Record<string, string>; orderingKey?: string }>,
  ): string[] {
    this.getTopic(topicName);
    if (messages.length === 0) throw new PubSubError(status.INVALID_ARGUMENT, 'The request contains no messages.');
    const published = messages.map((m): Message => {
      const data = m.data ?? Buffer.alloc(0);
      const attributes = { ...m.attributes };
      if (data.length === 0 && Object.keys(attributes).length === 0) {
        throw new PubSubError(status.INVALID_ARGUMENT, 'Some messages are empty: a message needs data or attributes.');
      }
      return {
        data,
        attributes,
        messageId: String(this.#nextMessageId++),
        publishTime: new Date(),
        orderingKey: m.orderingKey ?? '',
      };
    });
    for (const sub of this.#subs.values()) {
      if (sub.resource.topic !== topicName) continue;
      for (const message of published) {
        if (sub.resource.pushConfig.pushEndpoint) this.push(sub.resource, message);
        else sub.pending.set(message.messageId, { message, attempts: 0, ackId: null, leaseUntil: 0, holder: null });
      }
      this.#wake(sub);
    }
    return published.map((m) => m.messageId);
  }

  // ---- subscriptions

  createSubscription(input: Omit<Subscription, 'state'>): Subscription {
    if (!SUBSCRIPTION_NAME.test(input.name)) {
      throw new PubSubError(status.INVALID_ARGUMENT, `Invalid [subscriptions] name: (name=${input.name})`);
    }
    if (this.#subs.has(input.name)) throw new PubSubError(status.ALREADY_EXISTS, 'Subscription already exists');
    this.getTopic(input.topic);
    const deadline = input.ackDeadlineSeconds || 10;
    if (deadline < 10 || deadline > 600) {
      throw new PubSubError(status.INVALID_ARGUMENT, `Invalid ack deadline: ${deadline} (10 to 600 seconds).`);
    }
    const resource: Subscription = { ...input, ackDeadlineSeconds: deadline, state: 'ACTIVE' };
    this.#subs.set(resource.name, { resource, pending: new Map(), byAckId: new Map(), waiters: new Set() });
    return resource;
  }

  getSubscription(name: string): Subscription {
    return this.#sub(name).resource;
  }

  listSubscriptions(project: string): Subscription[] {
    return [...this.#subs.values()]
      .map((s) => s.resource)
      .filter((s) => s.name.startsWith(`${project}/subscriptions/`));
  }

  deleteSubscription(name: string): void {
    const sub = this.#sub(name);
    this.#subs.delete(name);
    this.#wake(sub);
  }

  modifyPushConfig(name: string, pushConfig: PushConfig): void {
    this.#sub(name).resource.pushConfig = pushConfig;
  }

  #sub(name: string): SubscriptionState {
    const sub = this.#subs.get(name);
    if (!sub) throw notFound('subscription');
    return sub;
  }

  // ---- pull, leases, acks

  /**
   * Leases up to `max` available messages of a pull subscription, for `deadlineSeconds` (the subscription's
   * ack deadline by default), to `holder` (a streaming puller, or null for a unary Pull).
   */
  lease(name: string, max: number, holder: object | null = null, deadlineSeconds?: number): ReceivedMessage[] {
    const sub = this.#sub(name);
    if (sub.resource.pushConfig.pushEndpoint) {
      throw new PubSubError(
        status.FAILED_PRECONDITION,
        'This subscription is a push subscription; the local emulator does not serve pulls on it.',
      );
    }
    this.#expireLeases(sub);
    const now = Date.now();
    const out: ReceivedMessage[] = [];
    for (const p of sub.pending.values()) {
      if (out.length >= max) break;
      if (p.leaseUntil !== 0) continue;
      if (p.ackId) sub.byAckId.delete(p.ackId);
      p.attempts++;
      p.ackId = `${randomUUID()}-${p.message.messageId}`;
      p.leaseUntil = now + (deadlineSeconds ?? sub.resource.ackDeadlineSeconds) * 1000;
      p.holder = holder;
      sub.byAckId.set(p.ackId, p);
      out.push({ ackId: p.ackId, message: p.message, deliveryAttempt: p.attempts });
    }
    return out;
  }

  /** Messages leased to `holder` and not yet acknowledged (for a streaming puller's flow control). */
  outstanding(name: string, holder: object): number {
    const sub = this.#subs.get(name);
    if (!sub) return 0;
    let n = 0;
    for (const p of sub.pending.values()) if (p.holder === holder && p.leaseUntil > Date.now()) n++;
    return n;
  }

  /** Unknown or expired ack ids are ignored, as Pub/Sub does for at-least-once subscriptions. */
  acknowledge(name: string, ackIds: readonly string[]): void {
    const sub = this.#sub(name);
    for (const ackId of ackIds) {
      const p = sub.byAckId.get(ackId);
      if (!p) continue;
      sub.byAckId.delete(ackId);
      sub.pending.delete(p.message.messageId);
    }
    // A streaming puller at its flow-control limit may take more now.
    if (ackIds.length > 0) this.#wake(sub);
  }

  /** Extends leases; 0 seconds hands the messages back at once (a nack). */
  modifyAckDeadline(name: string, ackIds: readonly string[], seconds: number): void {
    const sub = this.#sub(name);
    if (seconds < 0 || seconds > 600)
      throw new PubSubError(status.INVALID_ARGUMENT, `Invalid ack deadline: ${seconds}`);
    for (const ackId of ackIds) {
      const p = sub.byAckId.get(ackId);
      if (!p || p.leaseUntil === 0) continue;
      if (seconds === 0) {
        p.leaseUntil = 0;
        p.holder = null;
      } else p.leaseUntil = Date.now() + seconds * 1000;
    }
    if (seconds === 0) this.#wake(sub);
  }

  /** Resolves when messages may be available on the subscription, or after `ms`. */
  waitForMessages(name: string, ms: number): Promise<void> {
    const sub = this.#subs.get(name);
    if (!sub) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        sub.waiters.delete(done);
        resolve();
      };
      const nextExpiry = Math.min(
        ...[...sub.pending.values()].filter((p) => p.leaseUntil > 0).map((p) => p.leaseUntil),
      );
      const timer = setTimeout(done, Math.max(0, Math.min(ms, nextExpiry - Date.now())));
      sub.waiters.add(done);
    });
  }

  /** Offers expired leases again and wakes the subscription's waiters if there were any. */
  sweep(): void {
    for (const sub of this.#subs.values()) if (this.#expireLeases(sub)) this.#wake(sub);
  }

  /** Wakes every waiter (on shutdown). */
  wakeAll(): void {
    for (const sub of this.#subs.values()) this.#wake(sub);
  }

  #expireLeases(sub: SubscriptionState): boolean {
    const now = Date.now();
    let expired = false;
    for (const p of sub.pending.values()) {
      if (p.leaseUntil !== 0 && p.leaseUntil <= now) {
        p.leaseUntil = 0;
        p.holder = null;
        expired = true;
      }
    }
    return expired;
  }

  #wake(sub: SubscriptionState): void {
    for (const wake of [...sub.waiters]) wake();
  }
}
