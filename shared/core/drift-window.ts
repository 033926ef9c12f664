/**
 * The sliding-window drift detector, calibrated by expected run time (ERT): the expected number of requests
 * between two false alarms on in-distribution traffic.
 *
 * The window holds the last `windowSize` rows and is tested with TabularDrift every `evaluateEvery` requests once
 * it is full. Each evaluation is a test at level alpha = evaluateEvery / ert (Bonferroni or FDR across features),
 * so on in-distribution traffic an evaluation raises a false alarm with probability at most alpha and the
 * expected number of alarms in N requests is at most N * alpha / evaluateEvery = N / ert: the ERT is at least
 * `ert`. Overlapping windows make consecutive evaluations nearly the same test, so the true ERT is higher still;
 * `npm run bench:drift` measures it. The reasoning and the figures are in docs/drift.md.
 *
 * A request puts at most `rowsPerRequest` of its rows in the window (a uniform sample, drawn from a seeded
 * generator, when it has more), so no single request can decide the window.
 *
 * The evaluation itself compares each KS statistic with the smallest statistic that could reach the level (found
 * once, at construction) and computes exact p-values only for features that pass it; the full per-feature result
 * (p-values, distances, histograms) is computed when someone reads it, once per evaluation.
 */

import {
  type Correction,
  DriftInputError,
  type DriftReference,
  type DriftResult,
  type FeatureTestName,
  TabularDrift,
} from './drift.ts';
import { type FeatureHistogram, featureHistogram, histogramDistance } from './drift-distance.ts';
import { createRng, type Rng } from './rng.ts';
import type { KsMethod } from './stats/index.ts';

export interface WindowDriftOptions {
  /** Rows tested (default 200). */
  windowSize?: number;
  /** Evaluate every this many requests once the window is full (default 10). */
  evaluateEvery?: number;
  /** Target expected run time in requests between false alarms (default 1,000,000). */
  ert?: number;
  correction?: Correction;
  /** At most this many rows of one request enter the window (default 5). */
  rowsPerRequest?: number;
  /** Seed of the generator that picks which rows of a large request enter the window. */
  seed?: number;
  /** KS p-value method (default 'auto': exact at these sizes, as scipy). */
  ksMethod?: KsMethod;
}

/** 'entered' when an evaluation starts a drift episode, 'cleared' when it ends one. */
export type DriftTransition = 'entered' | 'cleared' | null;

export interface WindowEvaluation {
  isDrift: boolean;
  transition: DriftTransition;
  drifted: string[];
  /** Requests seen when the evaluation ran. */
  requestsSeen: number;
}

export interface WindowFeature {
  name: string;
  type: DriftReference['featureTypes'][number];
  test: FeatureTestName;
  statistic: number;
  pValue: number;
  threshold: number;
  drifted: boolean;
  distance: { kind: 'jensen-shannon' | 'l-infinity'; value: number };
  histogram: FeatureHistogram;
}

export interface WindowDriftResult extends DriftResult {
  transition: DriftTransition;
  windowRows: number;
  rowsSeen: number;
  requestsSeen: number;
  /** Per feature: the test, the p-value against its threshold, the distance and both histograms. */
  detail: WindowFeature[];
}

export interface WindowDriftState {
  isDrift: boolean;
  windowRows: number;
  rowsSeen: number;
  requestsSeen: number;
  /** Requests still to arrive before the next evaluation, once the window is full (null until then). */
  requestsUntilEvaluation: number | null;
  last: WindowDriftResult | null;
}

interface Evaluation {
  columns: Float64Array[];
  /** Per feature: the statistic, and the p-value when it was needed for the decision (else null). */
  statistics: number[];
  pValues: (number | null)[];
  drifted: string[];
  isDrift: boolean;
  transition: DriftTransition;
  rowsSeen: number;
  requestsSeen: number;
  full: WindowDriftResult | null;
}

export class WindowDrift {
  readonly windowSize: number;
  readonly evaluateEvery: number;
  readonly ert: number;
  readonly rowsPerRequest: number;
  /** Level of one evaluation: evaluateEvery / ert. */
  readonly alpha: number;
  readonly tests: TabularDrift;
  readonly #nf: number;
  readonly #buffer: Float64Array; // row-major ring buffer
  readonly #rng: Rng;
  /** KS statistics below this cannot reach the evaluation's level (the window always has windowSize rows). */
  readonly #ksFloor: number;
  #next = 0;
  #count = 0;
  #rowsSeen = 0;
  #requestsSeen = 0;
  #sinceEvaluation = 0;
  #last: Evaluation | null = null;

  constructor(reference: DriftReference, opts: WindowDriftOptions = {}) {
    this.windowSize = opts.windowSize ?? 200;
    this.evaluateEvery = opts.evaluateEvery ?? 10;
    this.ert = opts.ert ?? 1_000_000;
    this.rowsPerRequest = opts.rowsPerRequest ?? 5;
    for (const [name, value, min] of [
      ['windowSize', this.windowSize, 2],
      ['evaluateEvery', this.evaluateEvery, 1],
      ['rowsPerRequest', this.rowsPerRequest, 1],
    ] as const) {
      if (!Number.isInteger(value) || value < min) {
        throw new DriftInputError(`drift ${name} must be an integer >= ${min}, got ${value}`);
      }
    }
    if (!(this.ert > this.evaluateEvery)) {
      throw new DriftInputError(`drift ert must exceed evaluateEvery (${this.evaluateEvery}), got ${this.ert}`);
    }
    this.alpha = this.evaluateEvery / this.ert;
    this.tests = new TabularDrift(reference, {
      pVal: this.alpha,
      correction: opts.correction ?? 'bonferroni',
      ksMethod: opts.ksMethod ?? 'auto',
    });
    this.#nf = this.tests.featureNames.length;
    this.#buffer = new Float64Array(this.windowSize * this.#nf);
    this.#rng = createRng(opts.seed ?? 1);
    // Bonferroni rejects below alpha / F; BH never rejects a p-value above alpha.
    const level = this.tests.correction === 'bonferroni' ? this.alpha / this.#nf : this.alpha;
    this.#ksFloor = this.tests.featureTypes.includes('continuous') ? this.#smallestStatisticBelow(level) : 1;
  }

  /**
   * Adds one request's scored rows (at most `rowsPerRequest` of them enter the window); returns the evaluation
   * when one was due, else null.
   */
  add(rows: readonly ArrayLike<number>[]): WindowEvaluation | null {
    if (rows.length === 0) return null;
    const nf = this.#nf;
    for (let r = 0; r < rows.length; r++) {
      if (rows[r]!.length !== nf) {
        throw new DriftInputError(`row ${r} has ${rows[r]!.length} features, expected ${nf}`);
      }
    }
    for (const r of this.#pick(rows.length)) {
      this.#buffer.set(rows[r]!, this.#next * nf);
      this.#next = (this.#next + 1) % this.windowSize;
      if (this.#count < this.windowSize) this.#count++;
    }
    this.#requestsSeen++;
    if (this.#count < this.windowSize) return null;
    // The first evaluation runs as soon as the window is full, then one every evaluateEvery requests.
    this.#sinceEvaluation++;
    if (this.#last !== null && this.#sinceEvaluation < this.evaluateEvery) return null;
    this.#sinceEvaluation = 0;
    return this.#evaluate();
  }

  state(): WindowDriftState {
    return {
      isDrift: this.#last?.isDrift ?? false,
      windowRows: this.#count,
      rowsSeen: this.#rowsSeen,
      requestsSeen: this.#requestsSeen,
      requestsUntilEvaluation: this.#last === null ? null : this.evaluateEvery - this.#sinceEvaluation,
      last: this.#last === null ? null : this.#full(this.#last),
    };
  }

  /** The rows in the window, oldest first. */
  contents(): number[][] {
    const out: number[][] = [];
    const start = this.#count < this.windowSize ? 0 : this.#next;
    for (let i = 0; i < this.#count; i++) {
      const slot = (start + i) % this.windowSize;
      out.push(Array.from(this.#buffer.subarray(slot * this.#nf, (slot + 1) * this.#nf)));
    }
    return out;
  }

  /** Row indices of a request that enter the window: all of them, or a uniform sample of rowsPerRequest. */
  #pick(n: number): number[] {
    const k = this.rowsPerRequest;
    if (n <= k) {
      this.#rowsSeen += n;
      return Array.from({ length: n }, (_, i) => i);
    }
    this.#rowsSeen += k;
    // Floyd's algorithm: k distinct indices of n, each k-subset equally likely.
    const chosen = new Set<number>();
    for (let j = n - k; j < n; j++) {
      const t = this.#rng.int(j + 1);
      chosen.add(chosen.has(t) ? j : t);
    }
    return [...chosen].sort((a, b) => a - b);
  }

  #evaluate(): WindowEvaluation {
    const nf = this.#nf;
    const n = this.windowSize;
    const columns = Array.from({ length: nf }, () => new Float64Array(n));
    for (let r = 0; r < n; r++) {
      for (let f = 0; f < nf; f++) columns[f]![r] = this.#buffer[r * nf + f]!;
    }
    const statistics: number[] = [];
    const pValues: (number | null)[] = [];
    for (let f = 0; f < nf; f++) {
      const column = columns[f]!;
      if (this.tests.featureTypes[f] === 'continuous') {
        const d = this.tests.ksStatistic(f, column);
        statistics.push(d);
        pValues.push(d >= this.#ksFloor ? this.tests.ksFromStatistic(d, n).pValue : null);
      } else {
        const t = this.tests.testFeature(f, column);
        statistics.push(t.statistic);
        pValues.push(t.pValue);
      }
    }
    // A p-value left out is above every line a feature can be held to, so it never drifts and, ranked last,
    // never changes the BH step-up of the others.
    const decided = this.tests.decide(
      statistics.map((statistic, f) => ({ test: this.#testOf(f), statistic, pValue: pValues[f] ?? 1 })),
    );
    const wasDrift = this.#last?.isDrift ?? false;
    const transition: DriftTransition =
      decided.isDrift && !wasDrift ? 'entered' : !decided.isDrift && wasDrift ? 'cleared' : null;
    this.#last = {
      columns,
      statistics,
      pValues,
      drifted: decided.drifted,
      isDrift: decided.isDrift,
      transition,
      rowsSeen: this.#rowsSeen,
      requestsSeen: this.#requestsSeen,
      full: null,
    };
    return { isDrift: decided.isDrift, transition, drifted: decided.drifted, requestsSeen: this.#requestsSeen };
  }

  /** The evaluation with every p-value, distance and histogram (computed once, on first read). */
  #full(e: Evaluation): WindowDriftResult {
    if (e.full !== null) return e.full;
    const n = this.windowSize;
    const tests = e.statistics.map((statistic, f) => {
      if (this.#testOf(f) === 'chi2') return { test: 'chi2' as const, statistic, pValue: e.pValues[f]! };
      // The KS result reports the statistic as scipy does (on the exact method's lattice).
      return { test: 'ks' as const, ...this.tests.ksFromStatistic(statistic, n) };
    });
    const result = this.tests.decide(tests);
    const detail: WindowFeature[] = result.features.map((feature, f) => {
      const histogram = featureHistogram(feature.type, this.tests.feature(f).sorted, e.columns[f]!);
      return { ...feature, distance: histogramDistance(histogram), histogram };
    });
    e.full = {
      ...result,
      transition: e.transition,
      windowRows: n,
      rowsSeen: e.rowsSeen,
      requestsSeen: e.requestsSeen,
      detail,
    };
    return e.full;
  }

  #testOf(f: number): FeatureTestName {
    return this.tests.featureTypes[f] === 'continuous' ? 'ks' : 'chi2';
  }

  /**
   * The smallest KS statistic whose p-value (a window of windowSize rows against the reference) is below
   * `level`, less a safety step: p is non-increasing in the statistic, so anything smaller cannot drift.
   */
  #smallestStatisticBelow(level: number): number {
    const n = this.windowSize;
    if (!(this.tests.ksFromStatistic(1, n).pValue < level)) return Number.POSITIVE_INFINITY;
    let lo = 0; // p(lo) >= level
    let hi = 1; // p(hi) < level
    while (hi - lo > 1e-4) {
      const mid = (lo + hi) / 2;
      if (this.tests.ksFromStatistic(mid, n).pValue < level) hi = mid;
      else lo = mid;
    }
    return Math.max(0, lo - 1e-4);
  }
}
