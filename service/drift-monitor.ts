/**
 * The sliding-window drift watch: feeds scored rows to the served model's WindowDrift (whose state the
 * gauges read when scraped), and on the transition into drift writes one WARNING log line and publishes one `drift-alerts`
 * event, at most one per `minIntervalMs` (a window that flaps around the threshold must not page anyone twice).
 */
import type { WindowDriftResult } from '../shared/core/drift.ts';
import type { Logger } from '../shared/log.ts';
import type { ServiceMetrics } from './metrics.ts';
import type { ServedModel } from './model-registry.ts';

export interface DriftAlert {
  type: 'drift-detected';
  modelVersion: string;
  detectedAt: string;
  threshold: number;
  drifted: string[];
  pValues: Record<string, number>;
  windowRows: number;
}

/** Publishes one alert (Pub/Sub in production); resolves to the message id. */
export type AlertPublisher = (alert: DriftAlert) => Promise<unknown>;

export interface DriftMonitor {
  /** Adds scored rows to the window of `served`; cheap unless an evaluation is due. */
  observe(served: ServedModel, rows: readonly ArrayLike<number>[]): void;
  /** Resolves when alerts already started have been published (tests, shutdown). */
  flush(): Promise<void>;
}

export function createDriftMonitor(opts: {
  metrics: ServiceMetrics;
  logger: Logger;
  publish: AlertPublisher;
  minIntervalMs: number;
  now?: () => number;
}): DriftMonitor {
  const now = opts.now ?? Date.now;
  let lastAlertAt = Number.NEGATIVE_INFINITY;
  const pending = new Set<Promise<void>>();

  const alert = (served: ServedModel, result: WindowDriftResult): void => {
    const at = now();
    opts.logger.warn('input drift detected in the recent prediction window', {
      modelVersion: served.version,
      drifted: result.drifted,
      threshold: result.threshold,
      pValues: result.pValues,
      windowRows: result.windowRows,
    });
    if (at - lastAlertAt < opts.minIntervalMs) {
      opts.metrics.driftAlerts.inc({ result: 'rate_limited' });
      return;
    }
    lastAlertAt = at;
    const payload: DriftAlert = {
      type: 'drift-detected',
      modelVersion: served.version,
      detectedAt: new Date(at).toISOString(),
      threshold: result.threshold,
      drifted: result.drifted,
      pValues: result.pValues,
      windowRows: result.windowRows,
    };
    const p = opts
      .publish(payload)
      .then(() => {
        opts.metrics.driftAlerts.inc({ result: 'published' });
      })
      .catch((err: unknown) => {
        opts.metrics.driftAlerts.inc({ result: 'failed' });
        opts.logger.error('could not publish the drift alert', { err, modelVersion: served.version });
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };

  return {
    observe(served, rows) {
      const result = served.windowDrift.add(rows);
      if (result === null) return;
      if (result.transition === 'entered') alert(served, result);
      else if (result.transition === 'cleared') {
        opts.logger.info('the recent prediction window no longer drifts', { modelVersion: served.version });
      }
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
