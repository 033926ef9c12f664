/**
 * Prometheus metrics of one app instance, on its own Registry (tests build many apps in one process).
 * `prediction_count_total` and `drift_count_total` keep the seed's names so its dashboards keep working.
 *
 * The request path does not call prom-client: it adds to plain numbers (`countScored`) and to a latency record
 * (`latencyOf`), and prom-client is handed them when it is read (a scrape, `get()`). prom-client validates and
 * hashes the labels of every `inc` and `observe`, and a histogram observation converts its bucket bound to a
 * string twice: about a microsecond a call, several calls a request, for figures only a scrape reads.
 */
import { format } from 'node:util';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ServedModel, SourceHealth } from './model-registry.ts';

/** One route's series of `prediction_latency_seconds`, observed without prom-client on the request path. */
export interface LatencyRecord {
  /** As prom-client's `observe` (a value that is not a finite number throws the same TypeError). */
  observe(seconds: number): void;
}

const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface ServiceMetrics {
  registry: Registry;
  /**
   * Counts one scored request (its passengers, how many of them are predicted to survive, its drift verdict) in
   * plain numbers; `predictions`, `outcomes` and `drift` take what was counted when they are read.
   */
  countScored(passengers: number, survived: number, isDrift: boolean): void;
  /** Passengers scored (one per prediction). */
  predictions: Counter;
  /** Requests that do not look like the training data (the per-request verdict). */
  drift: Counter;
  /** Seconds spent scoring one request (validation, features, forest, drift). */
  latency: Histogram<'route'>;
  /**
   * The record of one route's latency series, kept in plain numbers and written into `latency` when it is read.
   * The record owns its series: that route's latency is observed through it only.
   */
  latencyOf(route: string): LatencyRecord;
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
  // Totals since the app started (or the counter's last reset), and the part of each prom-client was handed.
  const tallies = { passengers: 0, survived: 0, died: 0, drifted: 0 };
  const handed = { passengers: 0, survived: 0, died: 0, drifted: 0 };
  /** The first scored passengers were all predicted to die: prom-client listed the `died` series first. */
  let diedFirst = false;
  /**
   * Hands prom-client what was added to a tally since it last looked, in one `inc`: a series appears at the first
   * read after its first count, with the value the per-request `inc`s would have given (sums of whole numbers).
   */
  function hand(counter: Counter<string>, tally: keyof typeof tallies, labels?: Record<string, string>): void {
    const added = tallies[tally] - handed[tally];
    if (added <= 0) return;
    handed[tally] = tallies[tally];
    if (labels) counter.inc(labels, added);
    else counter.inc(added);
  }
  const records = new Map<string, RouteLatency>();
  /** Records in the order of their first observation: prom-client lists series in the order they appeared. */
  let observed: RouteLatency[] = [];

  // Registered in this order, which is the order of the families on /metrics.
  const predictions = new Counter({
    name: 'prediction_count_total',
    help: 'Passengers scored by the model.',
    registers,
    collect() {
      hand(this, 'passengers');
    },
  });
  const drift = new Counter({
    name: 'drift_count_total',
    help: 'Prediction requests that do not look like the training data (a row out of the reference support, or a batch failing the drift tests).',
    registers,
    collect() {
      hand(this, 'drifted');
    },
  });
  const latency: Histogram<'route'> = new Histogram({
    name: 'prediction_latency_seconds',
    help: 'Time to score one prediction request, from validated input to answer.',
    labelNames: ['route'],
    buckets: [...LATENCY_BUCKETS],
    registers,
    collect() {
      for (const record of observed) record.writeInto(this);
    },
  });
  const outcomes = new Counter<'outcome'>({
    name: 'predictions_by_outcome_total',
    help: 'Passengers scored, by predicted outcome.',
    labelNames: ['outcome'],
    registers,
    collect() {
      // Series in the order they appeared, as per-request `inc`s would have made them.
      for (const outcome of diedFirst ? OUTCOMES_DIED_FIRST : OUTCOMES) hand(this, outcome, { outcome });
    },
  });

  // A reset (Registry.resetMetrics) forgets what was counted before it, handed over or not.
  onReset(predictions, () => {
    tallies.passengers = handed.passengers = 0;
  });
  onReset(drift, () => {
    tallies.drifted = handed.drifted = 0;
  });
  onReset(latency, () => {
    for (const record of records.values()) record.clear();
    observed = [];
  });
  onReset(outcomes, () => {
    tallies.survived = handed.survived = 0;
    tallies.died = handed.died = 0;
  });

  return {
    registry,
    countScored(passengers, survived, isDrift) {
      if (tallies.survived === 0 && tallies.died === 0) diedFirst = survived === 0;
      tallies.passengers += passengers;
      tallies.survived += survived;
      tallies.died += passengers - survived;
      if (isDrift) tallies.drifted++;
    },
    predictions,
    drift,
    latency,
    latencyOf(route) {
      let record = records.get(route);
      if (record === undefined) {
        record = new RouteLatency(route, (first) => observed.push(first));
        records.set(route, record);
      }
      return record;
    },
    outcomes,
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

const OUTCOMES = ['survived', 'died'] as const;
const OUTCOMES_DIED_FIRST = ['died', 'survived'] as const;

function onReset(metric: { reset(): void }, forget: () => void): void {
  const reset = metric.reset.bind(metric);
  metric.reset = () => {
    forget();
    reset();
  };
}

/** prom-client's per-series histogram state (`hashMap` values): what `RouteLatency` writes its figures into. */
interface HistogramSeries {
  labels: Record<string, string>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/**
 * One route's latency series in plain numbers: the observations per bucket (not cumulative), their count, and
 * their sum added in observation order, as prom-client's `observe` adds it (so the exported sum is the same
 * double). Written into the histogram's own series when the histogram is read; `metrics.test.ts` checks the
 * exposition against prom-client's `observe` for the same values.
 */
class RouteLatency implements LatencyRecord {
  readonly #labels: Record<string, string>;
  readonly #firstObservation: (record: RouteLatency) => void;
  readonly #counts = new Float64Array(LATENCY_BUCKETS.length);
  #sum = 0;
  #count = 0;

  constructor(route: string, firstObservation: (record: RouteLatency) => void) {
    this.#labels = { route };
    this.#firstObservation = firstObservation;
  }

  observe(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new TypeError(`Value is not a valid number: ${format(seconds)}`);
    if (this.#count === 0) this.#firstObservation(this);
    // The first bucket whose bound is at least the value; above the last bound, no bucket (the +Inf count).
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.#counts[i]!++;
        break;
      }
    }
    this.#sum += seconds;
    this.#count++;
  }

  clear(): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }

  /** Sets the histogram's series for this route to this record's figures (created if it is not there yet). */
  writeInto(histogram: Histogram<'route'>): void {
    const series = histogram as unknown as { hashMap: Record<string, HistogramSeries> };
    let own = Object.values(series.hashMap).find((s) => s.labels.route === this.#labels.route);
    if (own === undefined) {
      histogram.zero(this.#labels);
      own = Object.values(series.hashMap).find((s) => s.labels === this.#labels);
      if (own === undefined) throw new Error('prom-client did not create the latency series');
    }
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) own.bucketValues[LATENCY_BUCKETS[i]!] = this.#counts[i]!;
    own.sum = this.#sum;
    own.count = this.#count;
  }
}
