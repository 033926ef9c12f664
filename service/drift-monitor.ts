/**
 * The sliding-window drift watch: feeds each request's scored rows to the served model's WindowDrift (which keeps
 * at most `rowsPerRequest` of them, so no single request decides the window; its state is what the gauges read
 * when scraped), and on the transition into drift writes one WARNING log line and publishes one `drift-alerts`
 * event carrying the same per-feature figures, at most one event per `minIntervalMs` (a window that flaps around
 * the threshold must not page anyone twice). Every transition into drift counts in `drift_alerts_total`, labelled
 * with what happened to its event.
 *
 * The window is fed off the request path: `observe` only queues the request's rows (with the time it was
 * scored), and the queue is fed in order, one `add` per request exactly as if it had been fed inline, on the next
 * turn of the event loop (`setImmediate`, after the answer is written). So an evaluation never delays the request
 * that happens to trigger it. Whoever reads the window (`GET /v1/drift`, `/metrics`, the pages) calls `settle()`
 * first, and `flush()` settles too, so what they see is as if fed inline.
 */
import type { FeatureKind, FeatureTestName } from '../shared/core/drift.ts';
import type { WindowDriftResult } from '../shared/core/drift-window.ts';
import type { Logger } from '../shared/log.ts';
import type { ServiceMetrics } from './metrics.ts';
import type { ServedModel } from './model-registry.ts';

/** One feature of the evaluated window, as the alert, the log line and GET /v1/drift report it. */
export interface DriftFeatureReport {
  name: string;
  type: FeatureKind;
  test: FeatureTestName;
  statistic: number;
  pValue: number;
  threshold: number;
  drifted: boolean;
  distance: number;
  distanceKind: 'jensen-shannon' | 'l-infinity';
}

export interface DriftAlert {
  type: 'drift-detected';
  modelVersion: string;
  detectedAt: string;
  /** Bonferroni threshold of the window's tests (level per evaluation / features). */
  threshold: number;
  correction: 'bonferroni' | 'fdr';
  drifted: string[];
  driftedShare: number;
  windowRows: number;
  requestsSeen: number;
  features: DriftFeatureReport[];
}

/** Publishes one alert (Pub/Sub in production); resolves to the message id. */
export type AlertPublisher = (alert: DriftAlert) => Promise<unknown>;

export interface DriftMonitor {
  /** Queues scored rows for the window of `served` (fed after the answer is written). */
  observe(served: ServedModel, rows: readonly ArrayLike<number>[]): void;
  /** Feeds the queued rows now (before reading a window's state). */
  settle(): void;
  /** Settles, then resolves when alerts already started have been published (tests, shutdown). */
  flush(): Promise<void>;
}

/** The per-feature figures of an evaluated window, in feature order. */
export function featureReports(result: WindowDriftResult): DriftFeatureReport[] {
  return result.detail.map((f) => ({
    name: f.name,
    type: f.type,
    test: f.test,
    statistic: f.statistic,
    pValue: f.pValue,
    threshold: f.threshold,
    drifted: f.drifted,
    distance: f.distance.value,
    distanceKind: f.distance.kind,
  }));
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

  const alert = (served: ServedModel, at: number): void => {
    const result = served.windowDrift.state().last;
    if (result === null) return;
    const payload: DriftAlert = {
      type: 'drift-detected',
      modelVersion: served.version,
      detectedAt: new Date(at).toISOString(),
      threshold: result.threshold,
      correction: result.correction,
      drifted: result.drifted,
      driftedShare: result.driftedShare,
      windowRows: result.windowRows,
      requestsSeen: result.requestsSeen,
      features: featureReports(result),
    };
    const { type: _type, detectedAt: _at, ...figures } = payload;
    opts.logger.warn('input drift detected in the recent prediction window', figures);
    if (at - lastAlertAt < opts.minIntervalMs) {
      opts.metrics.driftAlerts.inc({ result: 'rate_limited' });
      return;
    }
    lastAlertAt = at;
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

  const feed = (served: ServedModel, rows: readonly ArrayLike<number>[], at: number): void => {
    const evaluation = served.windowDrift.add(rows);
    if (evaluation === null) return;
    if (evaluation.transition === 'entered') alert(served, at);
    else if (evaluation.transition === 'cleared') {
      opts.logger.info('the recent prediction window no longer drifts', { modelVersion: served.version });
    }
  };

  // Requests scored but not yet fed to their window, in order (three slots per request).
  let queue: Array<ServedModel | readonly ArrayLike<number>[] | number> = [];
  let scheduled: NodeJS.Immediate | null = null;
  const settle = (): void => {
    if (scheduled !== null) {
      clearImmediate(scheduled);
      scheduled = null;
    }
    while (queue.length > 0) {
      const work = queue;
      queue = [];
      for (let i = 0; i < work.length; i += 3) {
        try {
          feed(work[i] as ServedModel, work[i + 1] as readonly ArrayLike<number>[], work[i + 2] as number);
        } catch (err) {
          opts.logger.error('could not update the drift window', { err });
        }
      }
    }
  };

  return {
    observe(served, rows) {
      queue.push(served, rows, now());
      if (scheduled === null) scheduled = setImmediate(settle);
    },
    settle,
    async flush() {
      settle();
      await Promise.all([...pending]);
    },
  };
}
