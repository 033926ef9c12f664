/**
 * The Redis client of the feature store, with TLS for Memorystore's in-transit encryption, and the mapping of
 * its failures: connection-level failures (and the server's "try again" replies) become the retryable
 * UNAVAILABLE, so every caller of the store sees one error code for "Redis is away".
 */
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { AppError } from '../../errors.ts';

export interface RedisConfig {
  /** `redis://host:port` or `rediss://host:port` (TLS, as Memorystore's in-transit encryption requires). */
  url: string;
  /** The AUTH string, when the instance requires one. */
  password?: string | undefined;
  /** PEM of the server's CA (Memorystore's `serverCaCerts`); used with `rediss://`. */
  tlsCa?: string | undefined;
  /** Upper bound for one command, so a hung server surfaces as an error rather than a hung request. */
  commandTimeoutMs?: number | undefined;
}

/**
 * Builds a client that fails fast when the server is away (a couple of reconnect attempts, then the pending
 * commands reject), so a function answers 503 and the workflow retries, instead of waiting forever.
 */
export function createRedis(config: RedisConfig): Redis {
  const url = new URL(config.url);
  const options: RedisOptions = {
    maxRetriesPerRequest: 2,
    connectTimeout: 5_000,
    commandTimeout: config.commandTimeoutMs ?? 10_000,
    // A command cut off by a dropped connection fails rather than being replayed: the caller's retry
    // (the workflow's) restarts the whole idempotent write from a known state.
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(times * 100, 1_000),
    lazyConnect: false,
  };
  if (config.password) options.password = config.password;
  if (url.protocol === 'rediss:') {
    // Memorystore is reached by IP and its certificate names the IP; SNI is only sent for a host name.
    const servername = isIP(url.hostname) ? {} : { servername: url.hostname };
    options.tls = config.tlsCa ? { ca: config.tlsCa, ...servername } : servername;
  }
  const redis = new Redis(config.url, options);
  // Connection errors also reject the commands that hit them; the event must not crash the process.
  redis.on('error', () => {});
  return redis;
}

const TRANSIENT_REPLY = /^(LOADING|READONLY|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)/;

/** Connection-level failures (and the server's "try again" replies) become a retryable UNAVAILABLE. */
export function mapRedisError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  if (err instanceof Error && err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) return err;
  return new AppError('UNAVAILABLE', 'the feature store is unavailable', undefined, { cause: err });
}

export async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw mapRedisError(err);
  }
}
