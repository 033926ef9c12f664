/**
 * The service's configuration, parsed once from the environment (Cloud Run, Vertex AI custom container or
 * `npm run local`). Every problem is reported together in one ConfigError, caught only in server.ts.
 */
import { type Env, parseConfig } from '../shared/config.ts';
import { type ArtifactLimits, DEFAULT_ARTIFACT_LIMITS } from '../shared/core/artifact.ts';
import type { Severity } from '../shared/log.ts';

export interface ServiceConfig {
  port: number;
  host: string;
  projectId: string | undefined;
  logLevel: Severity;
  /** Vertex AI custom-container routes, served as aliases of /v1/predict and /readyz. */
  predictRoute: string | undefined;
  healthRoute: string | undefined;
  modelsBucket: string;
  modelPollSeconds: number;
  /** MODEL_MAX_BYTES, MODEL_MAX_TREES, MODEL_MAX_NODES_PER_TREE, MODEL_MAX_DEPTH: an artifact beyond is refused. */
  modelLimits: ArtifactLimits;
  maxBatch: number;
  /** REQUEST_TIMEOUT_MS: the whole request, body included, must arrive within this. */
  requestTimeoutMs: number;
  /** PUBLIC_MODE: anyone may call the service; labels, lineage and /metrics are hidden, clients rate limited. */
  publicMode: boolean;
  /** RATE_LIMIT_PER_MINUTE: per client address, in public mode. */
  rateLimitPerMinute: number;
  /** Rows in the drift window. */
  driftWindow: number;
  /** Requests between two window evaluations. */
  driftEvery: number;
  /** Target expected run time of the window: requests between false alarms on in-distribution traffic. */
  driftErt: number;
  /** At most this many rows of one request enter the drift window. */
  driftRowsPerRequest: number;
  driftCorrection: 'bonferroni' | 'fdr';
  /** Minimum time between two `drift-alerts` events from this instance. */
  driftAlertMinIntervalSeconds: number;
  driftAlertsTopic: string;
  /** Local mode accepts unauthenticated Pub/Sub pushes; in the cloud the push's OIDC token is verified. */
  localMode: boolean;
  push: { audience: string; serviceAccount: string } | undefined;
  storageApiEndpoint: string | undefined;
  /**
   * STORAGE_TIMEOUT_MS: one attempt of a models-bucket call waits this long for an answer, and a download this
   * long for its next byte. STORAGE_MAX_RETRIES: retries of one call. A poll that fails keeps the model serving.
   */
  storageTimeoutMs: number;
  storageMaxRetries: number;
  redis:
    | { url: string; password: string | undefined; tlsCa: string | undefined; prefix: string; keep: number }
    | undefined;
}

function route(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value.startsWith('/') ? value : `/${value}`;
}

export function parseServiceConfig(env: Env = process.env): ServiceConfig {
  return parseConfig(env, (r) => {
    const localMode = r.bool('LOCAL_MODE', { default: false });
    const aipPort = r.optionalString('AIP_HTTP_PORT');
    const port = r.int(r.optionalString('PORT') === undefined && aipPort !== undefined ? 'AIP_HTTP_PORT' : 'PORT', {
      default: 8080,
      min: 0,
      max: 65535,
    });
    const redisUrl = r.optionalString('REDIS_URL');
    return {
      port,
      host: r.string('HOST', { default: '0.0.0.0' }),
      projectId: r.optionalString('GOOGLE_CLOUD_PROJECT'),
      logLevel: r.oneOf('LOG_LEVEL', ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const, { default: 'INFO' }),
      predictRoute: route(r.optionalString('AIP_PREDICT_ROUTE')),
      healthRoute: route(r.optionalString('AIP_HEALTH_ROUTE')),
      modelsBucket: r.string('MODELS_BUCKET'),
      modelPollSeconds: r.number('MODEL_POLL_SECONDS', { default: 30, min: 0 }),
      modelLimits: {
        maxBytes: r.int('MODEL_MAX_BYTES', { default: DEFAULT_ARTIFACT_LIMITS.maxBytes, min: 1 }),
        maxTrees: r.int('MODEL_MAX_TREES', { default: DEFAULT_ARTIFACT_LIMITS.maxTrees, min: 1 }),
        maxNodesPerTree: r.int('MODEL_MAX_NODES_PER_TREE', {
          default: DEFAULT_ARTIFACT_LIMITS.maxNodesPerTree,
          min: 1,
        }),
        maxDepth: r.int('MODEL_MAX_DEPTH', { default: DEFAULT_ARTIFACT_LIMITS.maxDepth, min: 1 }),
      },
      maxBatch: r.int('MAX_BATCH', { default: 1000, min: 1, max: 100_000 }),
      requestTimeoutMs: r.int('REQUEST_TIMEOUT_MS', { default: 30_000, min: 1_000, max: 300_000 }),
      publicMode: r.bool('PUBLIC_MODE', { default: false }),
      rateLimitPerMinute: r.int('RATE_LIMIT_PER_MINUTE', { default: 120, min: 1 }),
      driftWindow: r.int('DRIFT_WINDOW', { default: 200, min: 2 }),
      driftEvery: r.int('DRIFT_EVERY', { default: 10, min: 1 }),
      driftErt: r.number('DRIFT_ERT', { default: 1_000_000, min: 100 }),
      driftRowsPerRequest: r.int('DRIFT_ROWS_PER_REQUEST', { default: 5, min: 1 }),
      driftCorrection: r.oneOf('DRIFT_CORRECTION', ['bonferroni', 'fdr'] as const, { default: 'bonferroni' }),
      driftAlertMinIntervalSeconds: r.number('DRIFT_ALERT_MIN_INTERVAL_SECONDS', { default: 300, min: 0 }),
      driftAlertsTopic: r.string('DRIFT_ALERTS_TOPIC', { default: 'drift-alerts' }),
      localMode,
      // In the cloud a push without a verifiable token must be refused, so both values are required there.
      push: localMode
        ? undefined
        : { audience: r.string('PUSH_AUDIENCE'), serviceAccount: r.string('PUSH_SERVICE_ACCOUNT') },
      storageApiEndpoint: r.optionalString('STORAGE_API_ENDPOINT'),
      storageTimeoutMs: r.int('STORAGE_TIMEOUT_MS', { default: 10_000, min: 100, max: 300_000 }),
      storageMaxRetries: r.int('STORAGE_MAX_RETRIES', { default: 2, min: 0, max: 10 }),
      redis:
        redisUrl === undefined
          ? undefined
          : {
              url: r.url('REDIS_URL'),
              password: r.optionalString('REDIS_PASSWORD'),
              tlsCa: r.optionalString('REDIS_TLS_CA'),
              prefix: r.string('FEATURE_STORE_PREFIX', { default: 'fs' }),
              keep: r.int('FEATURE_SETS_KEEP', { default: 3, min: 1 }),
            },
    };
  });
}
