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
 *
 * The window is kept ready for its tests as rows come and go, so an evaluation neither copies nor sorts it:
 *   - a continuous feature keeps, per "slot" of its reference (below, at or between the reference's distinct
 *     values), how many window rows fall there. The KS statistic depends only on how the window interleaves with
 *     the reference, which those counts give: two window values in the same gap between reference values have the
 *     same counts of reference values below and at most them, so the gap's last value gives the largest
 *     F_window - F_reference and its first the largest F_reference - F_window, as a merge of the sorted values
 *     would find (the same integers divided by the same sizes: the same statistic, to the bit);
 *   - a categorical feature keeps its window count per reference category, the table chi2_contingency tests.
 * A feature whose window holds a NaN or (categorical) a category the reference lacks, or a window larger than the
 * reference, is tested from a copy of its column as TabularDrift tests it, so every case gives the same figures.
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
import { chi2Contingency, type KsMethod } from './stats/index.ts';

const ONE_ROW: readonly number[] = [0];

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
  /** The window when evaluated, column-major (feature f at [f * windowSize, (f + 1) * windowSize)). */
  columns: Float64Array;
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
  /** Column-major ring buffer: feature f of window slot s at [f * windowSize + s]. */
  readonly #buffer: Float64Array;
  /** Per feature and window slot: its reference slot (continuous) or category index (categorical); -1 if irregular. */
  readonly #bin: Int32Array;
  /** Per feature: window rows per reference slot or category (null for a feature always tested from its column). */
  readonly #counts: (Int32Array | null)[];
  /** Per feature: window rows that are NaN or (categorical) of a category the reference lacks. */
  readonly #irregular: Int32Array;
  /** Per continuous feature: its reference's distinct values, ascending. */
  readonly #distinct: (Float64Array | null)[];
  /** Per continuous feature and reference slot: the share of the reference below / at most the slot's values. */
  readonly #refBelow: (Float64Array | null)[];
  readonly #refAtMost: (Float64Array | null)[];
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
    this.#bin = new Int32Array(this.windowSize * this.#nf);
    this.#irregular = new Int32Array(this.#nf);
    this.#counts = [];
    this.#distinct = [];
    this.#refBelow = [];
    this.#refAtMost = [];
    for (let f = 0; f < this.#nf; f++) {
      const feature = this.tests.feature(f);
      let counts: Int32Array | null = null;
      let distinct: Float64Array | null = null;
      let below: Float64Array | null = null;
      let atMost: Float64Array | null = null;
      if (feature.type === 'categorical') counts = new Int32Array(feature.categories.length);
      else if (this.windowSize <= feature.sorted.length) {
        // Slot 2i is the gap just below distinct value i (2D: above the last), slot 2i + 1 the value itself.
        const sorted = feature.sorted;
        const nl = sorted.length;
        const values: number[] = [];
        const cumulative: number[] = [0]; // reference rows below distinct value i
        for (let i = 0; i < nl; i++) {
          if (i === 0 || sorted[i] !== sorted[i - 1]) {
            values.push(sorted[i]!);
            cumulative.push(cumulative.at(-1)!);
          }
          cumulative[cumulative.length - 1]!++;
        }
        // cumulative[i] = rows below value i, cumulative[i + 1] = rows at most value i
        distinct = Float64Array.from(values);
        below = new Float64Array(2 * values.length + 1);
        atMost = new Float64Array(2 * values.length + 1);
        for (let i = 0; i <= values.length; i++) {
          below[2 * i] = cumulative[i]! / nl;
          atMost[2 * i] = cumulative[i]! / nl;
          if (i < values.length) {
            below[2 * i + 1] = cumulative[i]! / nl;
            atMost[2 * i + 1] = cumulative[i + 1]! / nl;
          }
        }
        counts = new Int32Array(2 * values.length + 1);
      }
      this.#counts.push(counts);
      this.#distinct.push(distinct);
      this.#refBelow.push(below);
      this.#refAtMost.push(atMost);
    }
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
    const n = this.windowSize;
    for (const r of this.#pick(rows.length)) {
      const row = rows[r]!;
      const slot = this.#next;
      const full = this.#count === n;
      for (let f = 0; f < nf; f++) {
        const at = f * n + slot;
        const counts = this.#counts[f] ?? null;
        if (counts !== null) {
          if (full) {
            const old = this.#bin[at]!;
            if (old < 0) this.#irregular[f]!--;
            else counts[old]!--;
          }
          const bin = this.#binOf(f, row[f]!);
          this.#bin[at] = bin;
          if (bin < 0) this.#irregular[f]!++;
          else counts[bin]!++;
        }
        this.#buffer[at] = row[f]!;
      }
      this.#next = (slot + 1) % n;
      if (!full) this.#count++;
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
    const n = this.windowSize;
    const start = this.#count < n ? 0 : this.#next;
    for (let i = 0; i < this.#count; i++) {
      const slot = (start + i) % n;
      out.push(Array.from({ length: this.#nf }, (_, f) => this.#buffer[f * n + slot]!));
    }
    return out;
  }

  /** Row indices of a request that enter the window: all of them, or a uniform sample of rowsPerRequest. */
  #pick(n: number): readonly number[] {
    const k = this.rowsPerRequest;
    if (n <= k) {
      this.#rowsSeen += n;
      return n === 1 ? ONE_ROW : Array.from({ length: n }, (_, i) => i);
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
    // The window as it is now, for the full result's histograms (in window-slot order, as the tests see it).
    const columns = this.#buffer.slice();
    const statistics: number[] = [];
    const pValues: (number | null)[] = [];
    for (let f = 0; f < nf; f++) {
      const counts = this.#counts[f] ?? null;
      if (this.tests.featureTypes[f] === 'continuous') {
        // A NaN in the window gives the feature a NaN statistic and p-value, which never drift (as TabularDrift).
        let d: number;
        if (counts !== null) d = this.#irregular[f] === 0 ? this.#ksStatistic(f, counts) : Number.NaN;
        else {
          const column = this.#oldestFirst(columns, f);
          d = column.includes(Number.NaN) ? Number.NaN : this.tests.ksStatistic(f, column);
        }
        statistics.push(d);
        pValues.push(
          Number.isNaN(d) ? Number.NaN : d >= this.#ksFloor ? this.tests.ksFromStatistic(d, n).pValue : null,
        );
      } else {
        const t =
          this.#irregular[f] === 0
            ? chi2Contingency([this.tests.feature(f).counts, Array.from(counts!)])
            : this.tests.testFeature(f, this.#oldestFirst(columns, f));
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
      if (Number.isNaN(statistic)) return { test: 'ks' as const, statistic, pValue: Number.NaN };
      return { test: 'ks' as const, ...this.tests.ksFromStatistic(statistic, n) };
    });
    const result = this.tests.decide(tests);
    const detail: WindowFeature[] = result.features.map((feature, f) => {
      const column = e.columns.subarray(f * n, (f + 1) * n);
      const histogram = featureHistogram(feature.type, this.tests.feature(f).sorted, column);
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

  /** Feature f's column of a window snapshot, oldest row first (the order TabularDrift sees the rows in). */
  #oldestFirst(columns: Float64Array, f: number): Float64Array {
    const n = this.windowSize;
    const start = this.#next; // the window is full when evaluated: the oldest row is the next to be replaced
    const column = new Float64Array(n);
    column.set(columns.subarray(f * n + start, (f + 1) * n), 0);
    column.set(columns.subarray(f * n, f * n + start), n - start);
    return column;
  }

  /** The reference slot (continuous) or category (categorical) of value v of feature f; -1 when irregular. */
  #binOf(f: number, v: number): number {
    if (Number.isNaN(v)) return -1;
    const distinct = this.#distinct[f] ?? null;
    if (distinct === null) return this.tests.feature(f).indexOf.get(v) ?? -1;
    let lo = 0; // distinct values below v
    let hi = distinct.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (distinct[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo < distinct.length && distinct[lo] === v ? 2 * lo + 1 : 2 * lo;
  }

  /**
   * The two-sample KS statistic of the window (NaN-free, no larger than the reference) against feature f's
   * reference, from the window's counts per reference slot: the same arithmetic as `ksStatisticSorted` on the
   * sorted window, one step per occupied slot.
   */
  #ksStatistic(f: number, counts: Int32Array): number {
    const ns = this.windowSize;
    const below = this.#refBelow[f]!;
    const atMost = this.#refAtMost[f]!;
    let s = 0;
    while (counts[s] === 0) s++;
    let above = 0;
    let beneath = below[s]!;
    let k = 0;
    while (k < ns) {
      k += counts[s]!;
      const fs = k / ns;
      const up = fs - atMost[s]!;
      if (up > above) above = up;
      let next = 1;
      if (k < ns) {
        s++;
        while (counts[s] === 0) s++;
        next = below[s]!;
      }
      const down = next - fs;
      if (down > beneath) beneath = down;
    }
    return above >= beneath ? above : Math.min(beneath, 1);
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
