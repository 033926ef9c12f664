/**
 * The service's entry point: parse configuration, build the clients, load the promoted model, listen, and
 * close gracefully on SIGTERM (Cloud Run gives 10 s). It only wires; behaviour lives in app.ts and the modules
 * it composes.
 */
import { PubSub } from '@google-cloud/pubsub';
import { publishJson } from '../shared/adapters/events.ts';
import { createRedis } from '../shared/adapters/feature-store/redis-client.ts';
import { createFeatureStore } from '../shared/adapters/feature-store/store.ts';
import { ConfigError } from '../shared/errors.ts';
import { createLogger } from '../shared/log.ts';
import { buildApp } from './app.ts';
import { parseServiceConfig } from './config.ts';
import { gcsModelSource } from './gcs-model-source.ts';
import { ModelRegistry } from './model-registry.ts';
import { acceptLocalPushes, createOidcPushVerifier } from './push-auth.ts';
import { serviceStorage } from './storage-client.ts';

/** How long start-up waits for the first model before listening anyway (/readyz answers 503 until it loads). */
const FIRST_LOAD_TIMEOUT_MS = 20_000;

async function main(): Promise<void> {
  const bootLogger = createLogger({ fields: { component: 'service' } });
  let config: ReturnType<typeof parseServiceConfig>;
  try {
    config = parseServiceConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      bootLogger.error(err.message, { problems: err.details?.problems });
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ fields: { component: 'service' }, minSeverity: config.logLevel });

  const storage = serviceStorage(config);
  const pubsub = new PubSub(config.projectId ? { projectId: config.projectId } : {});
  const redis = config.redis
    ? createRedis({
        url: config.redis.url,
        password: config.redis.password,
        tlsCa: config.redis.tlsCa,
        commandTimeoutMs: 1_500,
      })
    : null;
  const featureStore = redis && config.redis ? createFeatureStore(redis, config.redis) : null;

  const registry = new ModelRegistry({
    source: gcsModelSource(storage, config.modelsBucket),
    logger,
    driftWindow: config.driftWindow,
    driftEvery: config.driftEvery,
    driftErt: config.driftErt,
    driftRowsPerRequest: config.driftRowsPerRequest,
    driftCorrection: config.driftCorrection,
    limits: config.modelLimits,
  });

  const app = buildApp({
    models: registry,
    featureStore,
    verifyPush: config.push ? createOidcPushVerifier({ ...config.push, logger }) : acceptLocalPushes(),
    publishAlert: (alert) =>
      publishJson(pubsub, config.driftAlertsTopic, alert, { type: alert.type, modelVersion: alert.modelVersion }),
    logger,
    options: {
      maxBatch: config.maxBatch,
      requestTimeoutMs: config.requestTimeoutMs,
      publicMode: config.publicMode,
      rateLimitPerMinute: config.rateLimitPerMinute,
      predictRoute: config.predictRoute,
      healthRoute: config.healthRoute,
      projectId: config.projectId,
      driftAlertMinIntervalSeconds: config.driftAlertMinIntervalSeconds,
    },
  });

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info('shutting down', { signal });
    registry.stopPolling();
    const force = setTimeout(() => process.exit(1), 8_000);
    force.unref();
    app
      .close()
      .then(() => Promise.allSettled([redis?.quit(), pubsub.close()]))
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error('error while shutting down', { err });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const firstLoad = registry.refresh().catch((err: unknown) => {
    logger.warn('could not load the model at start; polling continues', { err });
  });
  await Promise.race([firstLoad, new Promise((resolve) => setTimeout(resolve, FIRST_LOAD_TIMEOUT_MS).unref())]);
  registry.startPolling(config.modelPollSeconds);
  if (closing) return;

  const address = await app.listen({ port: config.port, host: config.host });
  logger.info('service listening', {
    address,
    modelVersion: registry.current()?.version ?? null,
    localMode: config.localMode,
  });
}

main().catch((err: unknown) => {
  createLogger({ fields: { component: 'service' } }).error('service failed to start', { err });
  process.exit(1);
});
