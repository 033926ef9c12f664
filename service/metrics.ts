/**
 * Prometheus metrics of one app instance, on its own Registry (tests build many apps in one process).
 * `prediction_count_total` and `drift_count_total` keep the seed's names so its dashboards keep working.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ServedModel, SourceHealth } from './model-registry.ts';

export interface ServiceMetrics {
  registry: Registry;
  /** Passengers scored (one per prediction). */
  predictions: Counter;
  /** Requests that do not look like the training data (the per-request verdict). */
  drift: Counter;
  /** Seconds spent scoring one request (validation, features, forest, drift). */
  latency: Histogram<'route'>;
  outcomes: Counter<'outcome'>;
  /** Per-feature p-value of the last sliding-window evaluation. */
  windowPValue: Gauge<'feature'>;
  /** 1 while the sliding window is in drift. */
  windowDrift: Gauge;
  /** Per-feature distance of the last window evaluation (Jensen-Shannon or L-infinity). */
  windowDistance: Gauge<'feature' | 'kind'>;
  /** Share of features that drifted in the last window evaluation. */
  windowDriftedShare: Gauge;
  driftAlerts: Counter<'result'>;
  modelInfo: Gauge<'version'>;
  modelReloads: Counter<'result'>;
  modelSourceConsecutiveFailures: Gauge;
  modelSourceFailures: Counter;
  modelSourceLastSuccess: Gauge;
}

/**
 * The window gauges and `model_info` are read from the served model when scraped, so they always describe
 * the model serving now (a swap brings a fresh window, and with it fresh gauges).
 */
export function createMetrics(opts: {
  current: () => ServedModel | null;
  sourceHealth?: () => SourceHealth | undefined;
  defaultMetrics?: boolean;
}): ServiceMetrics {
  const registry = new Registry();
  let failuresSeen = 0;
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    predictions: new Counter({
      name: 'prediction_count_total',
      help: 'Passengers scored by the model.',
      registers,
    }),
    drift: new Counter({
      name: 'drift_count_total',
      help: 'Prediction requests that do not look like the training data (a row out of the reference support, or a batch failing the drift tests).',
      registers,
    }),
    latency: new Histogram({
      name: 'prediction_latency_seconds',
      help: 'Time to score one prediction request, from validated input to answer.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    outcomes: new Counter({
      name: 'predictions_by_outcome_total',
      help: 'Passengers scored, by predicted outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    windowPValue: new Gauge({
      name: 'drift_window_p_value',
      help: 'p-value per feature (KS or chi-squared) of the last sliding-window evaluation.',
      labelNames: ['feature'],
      registers,
      collect() {
        this.reset();
        const last = opts.current()?.windowDrift.state().last;
        if (last) for (const [feature, p] of Object.entries(last.pValues)) this.set({ feature }, p);
      },
    }),
    windowDrift: new Gauge({
      name: 'drift_window_detected',
      help: '1 while the sliding window of recent requests has drifted from the training reference.',
      registers,
      collect() {
        this.set(opts.current()?.windowDrift.state().isDrift ? 1 : 0);
      },
    }),
    windowDistance: new Gauge({
      name: 'drift_window_distance',
      help: 'Distance per feature between the last evaluated window and the training reference (Jensen-Shannon for continuous features, L-infinity for categorical ones).',
      labelNames: ['feature', 'kind'],
      registers,
      collect() {
        this.reset();
        const last = opts.current()?.windowDrift.state().last;
        if (last) for (const f of last.detail) this.set({ feature: f.name, kind: f.distance.kind }, f.distance.value);
      },
    }),
    windowDriftedShare: new Gauge({
      name: 'drift_window_drifted_share',
      help: 'Share of features that drifted in the last sliding-window evaluation.',
      registers,
      collect() {
        this.set(opts.current()?.windowDrift.state().last?.driftedShare ?? 0);
      },
    }),
    driftAlerts: new Counter({
      name: 'drift_alerts_total',
      help: 'Transitions into window drift, by what happened to the alert event.',
      labelNames: ['result'],
      registers,
    }),
    modelInfo: new Gauge({
      name: 'model_info',
      help: 'The model version this instance serves (value 1).',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        const served = opts.current();
        if (served) this.set({ version: served.version }, 1);
      },
    }),
    modelReloads: new Counter({
      name: 'model_reloads_total',
      help: 'Model artifact loads, by result.',
      labelNames: ['result'],
      registers,
    }),
    modelSourceConsecutiveFailures: new Gauge({
      name: 'model_source_consecutive_failures',
      help: 'Reads of the models bucket (polls and pushes) that failed since the last one that succeeded; the loaded model keeps serving meanwhile.',
      registers,
      collect() {
        this.set(opts.sourceHealth?.()?.consecutiveFailures ?? 0);
      },
    }),
    modelSourceFailures: new Counter({
      name: 'model_source_failures_total',
      help: 'Reads of the models bucket (polls and pushes) that failed or timed out.',
      registers,
      collect() {
        const failures = opts.sourceHealth?.()?.failures ?? 0;
        if (failures > failuresSeen) this.inc(failures - failuresSeen);
        failuresSeen = failures;
      },
    }),
    modelSourceLastSuccess: new Gauge({
      name: 'model_source_last_success_timestamp_seconds',
      help: 'When the models bucket was last read successfully (Unix seconds; 0 before the first read).',
      registers,
      collect() {
        const at = opts.sourceHealth?.()?.lastSuccessAt;
        this.set(at ? Date.parse(at) / 1000 : 0);
      },
    }),
  };
}
