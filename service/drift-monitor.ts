/**
 * The sliding-window drift watch: feeds scored rows to the served model's WindowDrift (whose state the
 * gauges read when scraped), and on the transition into drift writes one WARNING log line and publishes one `drift-alerts`
 * event, at most one per `minIntervalMs` (a window that flaps around the threshold must not page anyone twice).
 *
 * The window is fed off the request path: `observe` only queues the request's rows (with the time it was
 * scored), and the queue is fed in order, one `add` per request exactly as if it had been fed inline, on the next
 * turn of the event loop (`setImmediate`, after the answer is written). So the evaluation every K rows never
 * delays the request that happens to complete the K. Whoever reads the window (`GET /v1/drift`, `/metrics`,
 * the model page) calls `settle()` first, and `flush()` settles too, so what they see is as if fed inline.
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
  /** Queues scored rows for the window of `served` (fed after the answer is written). */
  observe(served: ServedModel, rows: readonly ArrayLike<number>[]): void;
  /** Feeds the queued rows now (before reading a window's state). */
  settle(): void;
  /** Settles, then resolves when alerts already started have been published (tests, shutdown). */
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

  const alert = (served: ServedModel, result: WindowDriftResult, at: number): void => {
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

  const feed = (served: ServedModel, rows: readonly ArrayLike<number>[], at: number): void => {
    const result = served.windowDrift.add(rows);
    if (result === null) return;
    if (result.transition === 'entered') alert(served, result, at);
    else if (result.transition === 'cleared') {
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
