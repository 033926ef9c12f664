/**
 * What every route gets from `buildApp`: the model provider, the optional feature store, the scorer, metrics
 * and the logger. Routes are plain functions of (app, context), so each file reads on its own.
 */
import type { EntityReader } from '../shared/adapters/feature-store/store.ts';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { DriftMonitor } from './drift-monitor.ts';
import type { ServiceMetrics } from './metrics.ts';
import type { RefreshOutcome, ServedModel, SourceHealth } from './model-registry.ts';
import type { PushVerifier } from './push-auth.ts';
import type { Scorer } from './scoring.ts';

/** The model registry as routes see it (tests may pass a stub). */
export interface ModelProvider {
  current(): ServedModel | null;
  refresh(): Promise<RefreshOutcome>;
  /** How reading the models bucket has gone lately (the registry has it; a test stub may not). */
  sourceHealth?(): SourceHealth;
}

export interface AppOptions {
  /** Most instances one prediction request may carry (MAX_BATCH). */
  maxBatch: number;
  /** Vertex AI custom-container routes (AIP_PREDICT_ROUTE, AIP_HEALTH_ROUTE), served as aliases. */
  predictRoute: string | undefined;
  healthRoute: string | undefined;
  /** For the Cloud Logging trace field. */
  projectId: string | undefined;
  /** Upper bound for one feature store read before the route answers 503. */
  featureStoreTimeoutMs: number;
  /** The whole request, body included, must arrive within this (REQUEST_TIMEOUT_MS); slower clients get 408. */
  requestTimeoutMs: number;
  /**
   * PUBLIC_MODE: anyone may call the service (servicePublic). Training labels, lineage and /metrics are then not
   * shown (metrics only to the monitoring sidecar, on loopback), and each client address is rate limited.
   */
  publicMode: boolean;
  /** RATE_LIMIT_PER_MINUTE: requests per minute per client address in public mode. */
  rateLimitPerMinute: number;
  /** Minimum time between two drift-alerts events. */
  driftAlertMinIntervalSeconds: number;
}

export interface AppContext {
  models: ModelProvider;
  featureStore: EntityReader | null;
  verifyPush: PushVerifier;
  metrics: ServiceMetrics;
  driftMonitor: DriftMonitor;
  scorer: Scorer;
  logger: Logger;
  options: AppOptions;
}

/** The model serving now, or MODEL_NOT_LOADED (503: the caller may retry once the instance is ready). */
export function requireModel(models: ModelProvider): ServedModel {
  const served = models.current();
  if (!served) throw new AppError('MODEL_NOT_LOADED', 'no model is loaded yet; try again shortly');
  return served;
}
