/**
 * Configuration readers and client builders shared by the pipeline functions' entry points. Everything here is
 * read once at cold start from the environment variables of coord/contracts.md.
 */
import { PubSub } from '@google-cloud/pubsub';
import type { Storage } from '@google-cloud/storage';
import { DB_TIMEOUTS, type PgConfig } from '../shared/adapters/db/pool.ts';
import type { RedisConfig } from '../shared/adapters/feature-store/redis-client.ts';
import { boundedStorageClient, type StorageLimits } from '../shared/adapters/storage.ts';
import { type Env, type EnvReader, parseConfig } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { createLogger, type Logger, type Severity } from '../shared/log.ts';

export function readPgConfig(r: EnvReader): PgConfig {
  return {
    host: r.string('PGHOST', { default: '127.0.0.1' }),
    port: r.int('PGPORT', { default: 5432, min: 1, max: 65535 }),
    user: r.string('PGUSER', { default: 'postgres' }),
    password: r.optionalString('PGPASSWORD'),
    database: r.string('PGDATABASE', { default: 'postgres' }),
    statementTimeoutMs: r.int('PG_STATEMENT_TIMEOUT_MS', { default: DB_TIMEOUTS.statementTimeoutMs, min: 1 }),
    lockTimeoutMs: r.int('PG_LOCK_TIMEOUT_MS', { default: DB_TIMEOUTS.lockTimeoutMs, min: 1 }),
    connectTimeoutMs: r.int('PG_CONNECT_TIMEOUT_MS', { default: DB_TIMEOUTS.connectTimeoutMs, min: 1 }),
    tlsCa: r.optionalString('PG_TLS_CA'),
  };
}

export function readRedisConfig(r: EnvReader): RedisConfig & { prefix: string; keep: number } {
  return {
    url: r.url('REDIS_URL', { default: 'redis://127.0.0.1:6379' }),
    password: r.optionalString('REDIS_PASSWORD'),
    tlsCa: r.optionalString('REDIS_TLS_CA'),
    commandTimeoutMs: r.int('REDIS_COMMAND_TIMEOUT_MS', { default: 10_000, min: 1 }),
    prefix: r.string('FEATURE_STORE_PREFIX', { default: 'fs' }),
    keep: r.int('FEATURE_SETS_KEEP', { default: 3, min: 1 }),
  };
}

export function readCommon(r: EnvReader): { projectId: string | undefined; logLevel: Severity } {
  return {
    projectId: r.optionalString('GOOGLE_CLOUD_PROJECT'),
    logLevel: r.oneOf('LOG_LEVEL', ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const, { default: 'INFO' }),
  };
}

export const DEFAULT_STORAGE_LIMITS: StorageLimits = { timeoutMs: 30_000, maxRetries: 2 };

export function readStorageLimits(r: EnvReader): StorageLimits {
  return {
    timeoutMs: r.int('STORAGE_TIMEOUT_MS', { default: DEFAULT_STORAGE_LIMITS.timeoutMs, min: 1 }),
    maxRetries: r.int('STORAGE_MAX_RETRIES', { default: DEFAULT_STORAGE_LIMITS.maxRetries, min: 0, max: 10 }),
  };
}

/** The storage client: the real API, or the emulator when STORAGE_API_ENDPOINT is set; every call bounded. */
export function storageClient(
  apiEndpoint: string | undefined,
  projectId: string | undefined,
  limits: StorageLimits = DEFAULT_STORAGE_LIMITS,
): Storage {
  return boundedStorageClient({ apiEndpoint, projectId, limits });
}

/** PUBSUB_EMULATOR_HOST, when set, is honoured by the client itself. */
export function pubsubClient(projectId: string | undefined): PubSub {
  return new PubSub(projectId ? { projectId } : { projectId: 'local' });
}

export function functionLogger(name: string, level: Severity): Logger {
  return createLogger({ fields: { component: name }, minSeverity: level });
}

/**
 * Parses a function's configuration at cold start. A bad configuration is logged once as a CRITICAL entry
 * listing every problem (what an operator looks for) and then fails the start, so the revision never serves.
 */
export function loadFunctionConfig<T>(name: string, env: Env, build: (r: EnvReader) => T): T {
  try {
    return parseConfig(env, build);
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger({ fields: { component: name } }).error(err.message, { code: err.code, details: err.details });
    }
    throw err;
  }
}
