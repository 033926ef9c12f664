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
 * An evaluation decides from the statistics where it can: p is monotone in a feature's statistic (KS at the
 * window's fixed size; chi2 at the feature's degrees of freedom), so the statistics where p crosses the level
 * are found once, at construction, and a statistic below its crossing cannot drift, while with Bonferroni (each
 * feature held to the same threshold on its own) one above it surely does. Only a statistic in between (or, with
 * FDR, any not below it) gets its exact p-value, and when none does nothing drifts without running the
 * correction. A chi2 statistic is first summed cheaply from the counts (a few ulps from chi2_contingency's, which
 * the crossings are widened for). Everything left out (exact statistics, p-values, distances, histograms) is
 * computed when someone reads the full result, once per evaluation, from the window as it was evaluated: the
 * rows replaced since are kept aside, so an evaluation does not copy the window either. In-distribution traffic
 * and a window that has long drifted (every feature far past its crossing) both cost no p-value.
 *
 * The window is kept ready for its tests as rows come and go, so an evaluation neither copies nor sorts it:
 *   - a continuous feature keeps, per "slot" of its reference (below, at or between the reference's distinct
 *     values), how many window rows fall there. The KS statistic depends only on how the window interleaves with
 *     the reference, which those counts give: two window values in the same gap between reference values have the
 *     same counts of reference values below and at most them, so the gap's last value gives the largest
 *     F_window - F_reference and its first the largest F_reference - F_window, as a merge of the sorted values
 *     would find (the same integers divided by the same sizes: the same statistic, to the bit). Occupancy bits
     (one per slot) let the evaluation visit only the slots that hold window rows;
 *   - a categorical feature keeps its window count per reference category, the table chi2_contingency tests.
 * A feature whose window holds a NaN or (categorical) a category the reference lacks, or a window larger than the
 * reference, is tested from a copy of its column as TabularDrift tests it, so every case gives the same figures.
 */

import {
  type Correction,
  categoryOf,
  DriftInputError,
  type DriftReference,
  type DriftResult,
  type FeatureTestName,
  type SlotIndex,
  TabularDrift,
} from './drift.ts';
import { type FeatureHistogram, featureHistogram, histogramDistance } from './drift-distance.ts';
import { createRng, type Rng } from './rng.ts';
import { chi2Contingency, chi2Sf, type KsMethod } from './stats/index.ts';

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
  /**
   * The window when evaluated, column-major (feature f at [f * windowSize, (f + 1) * windowSize)), taken when the
   * full result is first read (until then, the rows replaced since are kept aside: see WindowDrift.#saved).
   */
  columns: Float64Array | null;
  /**
   * Per feature: the statistic, and the p-value when it was needed for the decision (else null). A chi2
   * statistic that cannot reach the level is not worked out exactly either (null): the full result does that.
   */
  statistics: (number | null)[];
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
  readonly #features: readonly Readonly<ReturnType<TabularDrift['feature']>>[];
  /** Per feature: its reference's SlotIndex when continuous (null for a categorical feature). */
  readonly #slots: readonly (SlotIndex | null)[];
  /** Column-major ring buffer: feature f of window slot s at [f * windowSize + s]. */
  readonly #buffer: Float64Array;
  /** Per feature and window slot: its reference slot (continuous) or category index (categorical); -1 if irregular. */
  readonly #bin: Int32Array;
  /** Per feature: window rows per reference slot or category (null for a feature always tested from its column). */
  readonly #counts: (Int32Array | null)[];
  /** Per continuous feature with counts: one bit per reference slot, set when the window has a row there. */
  readonly #occupied: (Int32Array | null)[];
  /** Per feature: window rows that are NaN or (categorical) of a category the reference lacks. */
  readonly #irregular: Int32Array;
  /** Per continuous feature and reference slot: the share of the reference below / at most the slot's values. */
  readonly #refBelow: (Float64Array | null)[];
  readonly #refAtMost: (Float64Array | null)[];
  /** Per categorical feature: chi2 statistics below this cannot reach the evaluation's level (Infinity: never). */
  readonly #chi2Floor: Float64Array;
  /**
   * With Bonferroni, where each feature drifts on its own p-value: per categorical feature, chi2 statistics
   * above this surely drift (Infinity with FDR, where the others' p-values decide too).
   */
  readonly #chi2Ceiling: Float64Array;
  readonly #rng: Rng;
  /** KS statistics below this cannot reach the evaluation's level (the window always has windowSize rows). */
  readonly #ksFloor: number;
  /** With Bonferroni, KS statistics at or above this surely drift (Infinity with FDR). */
  readonly #ksCeiling: number;
  /**
   * The rows of the last evaluation's window replaced since, so that its full result (histograms) can be read
   * later without copying the window at every evaluation: slot s's values as evaluated, in the buffer's layout,
   * where #savedFor[s] is the number of the evaluation they belong to.
   */
  readonly #saved: Float64Array;
  readonly #savedFor: Float64Array;
  #evaluations = 0;
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
    const nf = this.tests.featureNames.length;
    this.#nf = nf;
    this.#features = this.tests.featureNames.map((_, f) => this.tests.feature(f));
    this.#slots = this.#features.map((feature) => feature.slots);
    this.#buffer = new Float64Array(this.windowSize * nf);
    this.#bin = new Int32Array(this.windowSize * nf);
    this.#saved = new Float64Array(this.windowSize * nf);
    this.#savedFor = new Float64Array(this.windowSize).fill(-1);
    this.#irregular = new Int32Array(nf);
    this.#chi2Floor = new Float64Array(nf);
    this.#chi2Ceiling = new Float64Array(nf).fill(Number.POSITIVE_INFINITY);
    this.#counts = [];
    this.#occupied = [];
    this.#refBelow = [];
    this.#refAtMost = [];
    // Bonferroni rejects below alpha / F (the tests' threshold); BH never rejects a p-value above alpha.
    const bonferroni = this.tests.correction === 'bonferroni';
    const level = bonferroni ? this.tests.threshold : this.alpha;
    for (let f = 0; f < nf; f++) {
      const feature = this.#features[f]!;
      let counts: Int32Array | null = null;
      let occupied: Int32Array | null = null;
      let below: Float64Array | null = null;
      let atMost: Float64Array | null = null;
      if (feature.type === 'categorical') {
        counts = new Int32Array(feature.categories.length);
        const [floor, ceiling] = chi2Bounds(feature.categories.length - 1, level);
        this.#chi2Floor[f] = floor;
        if (bonferroni) this.#chi2Ceiling[f] = ceiling;
      } else if (this.windowSize <= feature.sorted.length) {
        // The reference slots of feature.slots: 2i is the gap just below distinct value i (2D: above the last),
        // 2i + 1 the value itself.
        const sorted = feature.sorted;
        const nl = sorted.length;
        const cumulative: number[] = [0]; // reference rows below distinct value i
        for (let i = 0; i < nl; i++) {
          if (i === 0 || sorted[i] !== sorted[i - 1]) cumulative.push(cumulative.at(-1)!);
          cumulative[cumulative.length - 1]!++;
        }
        // cumulative[i] = rows below value i, cumulative[i + 1] = rows at most value i
        const d = cumulative.length - 1;
        below = new Float64Array(2 * d + 1);
        atMost = new Float64Array(2 * d + 1);
        for (let i = 0; i <= d; i++) {
          below[2 * i] = cumulative[i]! / nl;
          atMost[2 * i] = cumulative[i]! / nl;
          if (i < d) {
            below[2 * i + 1] = cumulative[i]! / nl;
            atMost[2 * i + 1] = cumulative[i + 1]! / nl;
          }
        }
        counts = new Int32Array(2 * d + 1);
        occupied = new Int32Array(Math.ceil((2 * d + 1) / 32));
      }
      this.#counts.push(counts);
      this.#occupied.push(occupied);
      this.#refBelow.push(below);
      this.#refAtMost.push(atMost);
    }
    this.#rng = createRng(opts.seed ?? 1);
    const continuous = this.tests.featureTypes.includes('continuous');
    const [floor, ceiling] = continuous ? this.#ksBounds(level) : [1, Number.POSITIVE_INFINITY];
    this.#ksFloor = floor;
    this.#ksCeiling = bonferroni ? ceiling : Number.POSITIVE_INFINITY;
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
    if (rows.length <= this.rowsPerRequest) {
      this.#rowsSeen += rows.length;
      for (let r = 0; r < rows.length; r++) this.#push(rows[r]!);
    } else {
      for (const r of this.#sample(rows.length)) this.#push(rows[r]!);
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

  /** Puts one row in the window's next slot, replacing the oldest row once the window is full. */
  #push(row: ArrayLike<number>): void {
    const nf = this.#nf;
    const n = this.windowSize;
    const slot = this.#next;
    const full = this.#count === n;
    const last = this.#last;
    const buffer = this.#buffer;
    if (full && last !== null && last.columns === null && this.#savedFor[slot] !== this.#evaluations) {
      // The last evaluation's window loses this row: keep it for that evaluation's full result.
      const saved = this.#saved;
      for (let at = slot; at < nf * n; at += n) saved[at] = buffer[at]!;
      this.#savedFor[slot] = this.#evaluations;
    }
    const bins = this.#bin;
    const irregular = this.#irregular;
    for (let f = 0, at = slot; f < nf; f++, at += n) {
      const v = row[f]!;
      buffer[at] = v;
      const counts = this.#counts[f]!;
      if (counts === null) continue;
      const occupied = this.#occupied[f]!;
      if (full) {
        const old = bins[at]!;
        if (old < 0) irregular[f]!--;
        else if (--counts[old]! === 0 && occupied !== null) occupied[old >>> 5]! &= ~(1 << (old & 31));
      }
      const slots = this.#slots[f]!;
      const bin = Number.isNaN(v) ? -1 : slots !== null ? slots.slotOf(v) : categoryOf(this.#features[f]!, v);
      bins[at] = bin;
      if (bin < 0) irregular[f]!++;
      else if (counts[bin]!++ === 0 && occupied !== null) occupied[bin >>> 5]! |= 1 << (bin & 31);
    }
    this.#next = slot + 1 === n ? 0 : slot + 1;
    if (!full) this.#count++;
  }

  /** Row indices of a request larger than rowsPerRequest that enter the window: a uniform sample of that many. */
  #sample(n: number): readonly number[] {
    const k = this.rowsPerRequest;
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
    const statistics: (number | null)[] = [];
    const pValues: (number | null)[] = [];
    // With Bonferroni each feature drifts on its own p-value (below the tests' threshold): the features known to
    // drift from their statistic alone, and those whose p-value says so. With FDR, the step-up decides below.
    const bonferroni = this.tests.correction === 'bonferroni';
    const threshold = this.tests.threshold;
    let drifted: string[] = [];
    let tested = false;
    for (let f = 0; f < nf; f++) {
      const counts = this.#counts[f] ?? null;
      let p: number | null;
      let sure = false;
      if (this.tests.featureTypes[f] === 'continuous') {
        // A NaN in the window gives the feature a NaN statistic and p-value, which never drift (as TabularDrift).
        let d: number;
        if (counts !== null) d = this.#irregular[f] === 0 ? this.#ksStatistic(f, counts) : Number.NaN;
        else {
          const column = this.#oldestFirst(this.#buffer, f);
          d = column.includes(Number.NaN) ? Number.NaN : this.tests.ksStatistic(f, column);
        }
        statistics.push(d);
        sure = d >= this.#ksCeiling;
        p = Number.isNaN(d) ? Number.NaN : d < this.#ksFloor || sure ? null : this.tests.ksFromStatistic(d, n).pValue;
      } else {
        const statistic = this.#irregular[f] === 0 ? this.#chi2Statistic(f, counts!) : Number.NaN;
        sure = statistic > this.#chi2Ceiling[f]!;
        if (statistic < this.#chi2Floor[f]! || sure) {
          // Decided by the statistic alone: the exact statistic and p-value wait for the full result.
          statistics.push(null);
          p = null;
        } else {
          const t =
            this.#irregular[f] === 0
              ? chi2Contingency([this.#features[f]!.counts, Array.from(counts!)])
              : this.tests.testFeature(f, this.#oldestFirst(this.#buffer, f));
          statistics.push(t.statistic);
          p = t.pValue;
        }
      }
      pValues.push(p);
      if (p !== null && !Number.isNaN(p)) tested = true;
      if (bonferroni && (sure || (p !== null && p < threshold))) drifted.push(this.tests.featureNames[f]!);
    }
    // FDR: a p-value left out is above every line a feature can be held to, so it never drifts and, ranked last,
    // never changes the BH step-up of the others; with none left (the usual case) nothing drifts.
    if (!bonferroni && tested) {
      drifted = this.tests.decide(
        statistics.map((statistic, f) => ({
          test: this.#testOf(f),
          statistic: statistic ?? Number.NaN,
          pValue: pValues[f] ?? 1,
        })),
      ).drifted;
    }
    const isDrift = drifted.length > 0;
    const wasDrift = this.#last?.isDrift ?? false;
    const transition: DriftTransition = isDrift && !wasDrift ? 'entered' : !isDrift && wasDrift ? 'cleared' : null;
    this.#evaluations++;
    this.#last = {
      columns: null,
      statistics,
      pValues,
      drifted,
      isDrift,
      transition,
      rowsSeen: this.#rowsSeen,
      requestsSeen: this.#requestsSeen,
      full: null,
    };
    return { isDrift, transition, drifted, requestsSeen: this.#requestsSeen };
  }

  /** The last evaluation's window: the buffer with the rows replaced since put back. */
  #evaluatedColumns(): Float64Array {
    const columns = this.#buffer.slice();
    const n = this.windowSize;
    for (let slot = 0; slot < n; slot++) {
      if (this.#savedFor[slot] !== this.#evaluations) continue;
      for (let f = 0; f < this.#nf; f++) columns[f * n + slot] = this.#saved[f * n + slot]!;
    }
    return columns;
  }

  /** The evaluation with every p-value, distance and histogram (computed once, on first read). */
  #full(e: Evaluation): WindowDriftResult {
    if (e.full !== null) return e.full;
    const n = this.windowSize;
    e.columns ??= this.#evaluatedColumns();
    const columns = e.columns;
    const tests = e.statistics.map((statistic, f) => {
      if (this.#testOf(f) === 'chi2') {
        if (statistic !== null) return { test: 'chi2' as const, statistic, pValue: e.pValues[f]! };
        // Left out of the evaluation (the window held no irregular value): the same table from its rows.
        const t = this.tests.testFeature(f, columns.slice(f * n, (f + 1) * n));
        return { test: 'chi2' as const, statistic: t.statistic, pValue: t.pValue };
      }
      // The KS result reports the statistic as scipy does (on the exact method's lattice).
      const d = statistic ?? Number.NaN; // a KS statistic is always kept
      if (Number.isNaN(d)) return { test: 'ks' as const, statistic: d, pValue: Number.NaN };
      return { test: 'ks' as const, ...this.tests.ksFromStatistic(d, n) };
    });
    const result = this.tests.decide(tests);
    const detail: WindowFeature[] = result.features.map((feature, f) => {
      const column = columns.subarray(f * n, (f + 1) * n);
      const histogram = featureHistogram(feature.type, this.#features[f]!.sorted, column);
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

  /**
   * The two-sample KS statistic of the window (NaN-free, no larger than the reference) against feature f's
   * reference, from the window's counts per reference slot: the same arithmetic as `ksStatisticSorted` on the
   * sorted window, one step per occupied slot (found from the occupancy bits, 32 slots a word).
   */
  #ksStatistic(f: number, counts: Int32Array): number {
    const ns = this.windowSize;
    const below = this.#refBelow[f]!;
    const atMost = this.#refAtMost[f]!;
    const occupied = this.#occupied[f]!;
    let above = 0;
    let beneath = 0;
    let fs = 0; // the window's share at most the previous occupied slot
    let k = 0;
    for (let w = 0; w < occupied.length; w++) {
      let bits = occupied[w]!;
      while (bits !== 0) {
        const low = bits & -bits;
        bits ^= low;
        const s = (w << 5) | (31 - Math.clz32(low));
        // The reference share below this slot against the window's share before it ...
        const down = below[s]! - fs;
        if (down > beneath) beneath = down;
        // ... and the window's share up to it against the reference's share at most it.
        k += counts[s]!;
        fs = k / ns;
        const up = fs - atMost[s]!;
        if (up > above) above = up;
      }
    }
    return above >= beneath ? above : Math.min(beneath, 1);
  }

  /**
   * The chi2 statistic of the table [reference counts, window counts] as chi2Contingency works it out (Yates'
   * correction with one degree of freedom), summed in another order: within a few ulps of it, which the floor
   * allows for. Every reference category has rows, so no expected count is zero.
   */
  #chi2Statistic(f: number, counts: Int32Array): number {
    const reference = this.#features[f]!.counts;
    const k = reference.length;
    const nl = this.tests.referenceSize;
    const ns = this.windowSize;
    const total = nl + ns;
    const yates = k === 2;
    let statistic = 0;
    for (let j = 0; j < k; j++) {
      const column = reference[j]! + counts[j]!;
      for (let i = 0; i < 2; i++) {
        const e = ((i === 0 ? nl : ns) * column) / total;
        let o = i === 0 ? reference[j]! : counts[j]!;
        if (yates) {
          const diff = e - o;
          o += Math.min(0.5, Math.abs(diff)) * Math.sign(diff);
        }
        statistic += (o - e) ** 2 / e;
      }
    }
    return statistic;
  }

  #testOf(f: number): FeatureTestName {
    return this.tests.featureTypes[f] === 'continuous' ? 'ks' : 'chi2';
  }

  /**
   * KS statistics (a window of windowSize rows against the reference) below the first bound have a p-value of at
   * least `level`, and at or above the second one below it: the p-value is non-increasing in the statistic, so
   * the statistic where it crosses the level, found by bisection and widened by a safety step on either side,
   * decides every feature but those between the two. The first is Infinity when no statistic gets there.
   */
  #ksBounds(level: number): [number, number] {
    const n = this.windowSize;
    if (!(this.tests.ksFromStatistic(1, n).pValue < level)) {
      return [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    }
    let lo = 0; // p(lo) >= level
    let hi = 1; // p(hi) < level
    while (hi - lo > 1e-4) {
      const mid = (lo + hi) / 2;
      if (this.tests.ksFromStatistic(mid, n).pValue < level) hi = mid;
      else lo = mid;
    }
    return [Math.max(0, lo - 1e-4), hi + 1e-4];
  }
}

/**
 * Chi2 statistics (with `dof` degrees of freedom) below the first bound have a p-value above `level`, and above
 * the second one below it: the p-value falls as the statistic grows, so the statistic where it crosses the
 * level, found by bisection and widened by a relative 1e-9 on either side (for the few ulps by which a statistic
 * summed in another order may differ), decides every feature but those between the two. Infinity when no
 * statistic gets there (one category: p is always 1).
 */
function chi2Bounds(dof: number, level: number): [number, number] {
  const never: [number, number] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  if (dof < 1) return never;
  let lo = 0; // p(lo) > level
  let hi = 1; // p(hi) < level
  for (;;) {
    const p = chi2Sf(hi, dof);
    if (p < level) break;
    if (p === level) return [hi * (1 - 1e-9), hi * (1 + 1e-9)];
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return never;
  }
  while (hi - lo > 1e-9 * hi) {
    const mid = (lo + hi) / 2;
    const p = chi2Sf(mid, dof);
    if (p < level) hi = mid;
    else if (p > level) lo = mid;
    else return [mid * (1 - 1e-9), mid * (1 + 1e-9)]; // exactly on the level: neither side is sure
  }
  return [lo * (1 - 1e-9), hi * (1 + 1e-9)];
}
