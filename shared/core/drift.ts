/**
 * Drift detectors over the statistics of ./stats, with Alibi-Detect `TabularDrift` semantics: a two-sample
 * Kolmogorov-Smirnov test for each continuous feature, scipy's `chi2_contingency` on the 2 x K table of reference
 * and current counts (over the union of categories) for each categorical one, and a Bonferroni correction (or
 * Benjamini-Hochberg's FDR as an option) across features.
 *
 * - `TabularDrift` tests a batch of rows against the reference.
 * - `RequestDrift` is the per-request verdict: a support check on every row (a value outside the reference's
 *   range widened by a margin, or a category the reference never saw), plus `TabularDrift` once a request has
 *   enough rows for the tests to mean something. Why a single row gets no test: docs/drift.md.
 * - `WindowDrift` runs `TabularDrift` on a sliding window of recent rows, with its level set from a target
 *   expected run time (requests between false alarms), and bounds how many rows one request puts in the window.
 *
 * Everything here is pure: no clock, no I/O; randomness (which rows of a large request enter the window) comes
 * from a seeded generator.
 */

import { InvalidInputError } from './invalid-input.ts';
import type { FeatureKind } from './schema.ts';
import { chi2Contingency, type KsMethod, type KsResult, ksPValue, ksStatisticSorted } from './stats/index.ts';

export type { FeatureKind };

/** Reference sample per feature (column-major) and each feature's type, e.g. from the model artifact. */
export interface DriftReference {
  featureNames: readonly string[];
  featureTypes: readonly FeatureKind[];
  columns: readonly (readonly number[])[];
}

export type Correction = 'bonferroni' | 'fdr';
export type FeatureTestName = 'ks' | 'chi2';

/**
 * Why the reference or the data cannot be tested; the message names the feature or row at fault. A domain error
 * (an `InvalidInputError`): the edge that passed the input decides what it means for its caller.
 */
export class DriftInputError extends InvalidInputError {
  override name = 'DriftInputError';
}

export interface FeatureTest {
  name: string;
  type: FeatureKind;
  test: FeatureTestName;
  statistic: number;
  pValue: number;
  /** The p-value below which this feature counts as drifted (Bonferroni: pVal / features; FDR: its BH line). */
  threshold: number;
  drifted: boolean;
}

export interface DriftResult {
  isDrift: boolean;
  /** Bonferroni threshold pVal / number of features (with FDR, the strictest line of the step-up). */
  threshold: number;
  correction: Correction;
  features: FeatureTest[];
  /** Features that drifted, in feature order. */
  drifted: string[];
  /** Share of features that drifted. */
  driftedShare: number;
  pValues: Record<string, number>;
  statistics: Record<string, number>;
}

export interface TabularDriftOptions {
  /** Family-wise level before the correction (default 0.05, as Alibi-Detect). */
  pVal?: number;
  correction?: Correction;
  /** p-value method of the KS tests (default 'asymp', as Alibi-Detect). */
  ksMethod?: KsMethod;
}

/** One reference feature, prepared once: sorted values, range, and category counts for categorical ones. */
interface PreparedFeature {
  name: string;
  type: FeatureKind;
  sorted: Float64Array;
  min: number;
  max: number;
  /** Categorical: distinct reference values ascending, and their counts. */
  categories: number[];
  counts: number[];
  indexOf: Map<number, number>;
  /** Continuous: where a value falls among the distinct reference values (null for a categorical feature). */
  slots: SlotIndex | null;
  /**
   * Categorical, when every category is a small whole number (as the recipe's codes are): the category index by
   * value, -1 where the reference has none, so a lookup is an array read instead of a hash (else null).
   */
  codes: Int32Array | null;
}

function prepare(reference: DriftReference): PreparedFeature[] {
  const names = reference.featureNames;
  if (names.length === 0) throw new DriftInputError('the drift reference has no features');
  if (reference.columns.length !== names.length || reference.featureTypes.length !== names.length) {
    throw new DriftInputError(
      `the drift reference needs one column and one type per feature: ${names.length} features, ` +
        `${reference.columns.length} columns, ${reference.featureTypes.length} types`,
    );
  }
  const size = reference.columns[0]!.length;
  return names.map((name, f) => {
    const column = reference.columns[f]!;
    const type = reference.featureTypes[f]!;
    if (type !== 'continuous' && type !== 'categorical') {
      throw new DriftInputError(`drift reference feature ${name} has type ${String(type)}`);
    }
    if (column.length === 0 || column.length !== size) {
      throw new DriftInputError(`drift reference column ${name} has ${column.length} rows, expected ${size}`);
    }
    const sorted = Float64Array.from(column);
    if (sorted.some((v) => !Number.isFinite(v))) {
      throw new DriftInputError(`drift reference column ${name} holds a value that is not a finite number`);
    }
    sorted.sort();
    const categories: number[] = [];
    const counts: number[] = [];
    let codes: Int32Array | null = null;
    if (type === 'categorical') {
      for (let i = 0; i < sorted.length; i++) {
        if (i === 0 || sorted[i] !== sorted[i - 1]) {
          categories.push(sorted[i]!);
          counts.push(0);
        }
        counts[counts.length - 1]!++;
      }
      if (categories.every((c) => Number.isInteger(c) && c >= 0 && c < SMALL_CODES)) {
        codes = new Int32Array(categories.at(-1)! + 1).fill(-1);
        categories.forEach((c, k) => {
          codes![c] = k;
        });
      }
    }
    return {
      name,
      type,
      sorted,
      min: sorted[0]!,
      max: sorted[sorted.length - 1]!,
      categories,
      counts,
      indexOf: new Map(categories.map((c, i) => [c, i])),
      slots: type === 'continuous' ? new SlotIndex(sorted) : null,
      codes,
    };
  });
}

/** Categories that are whole numbers below this get an array lookup (see PreparedFeature.codes). */
const SMALL_CODES = 1024;

/**
 * The category index of value v (not NaN) of a categorical feature, or -1 for a category the reference lacks:
 * `indexOf.get(v) ?? -1`, by array when the categories are small whole numbers.
 */
export function categoryOf(feature: Readonly<PreparedFeature>, v: number): number {
  const codes = feature.codes;
  if (codes === null) return feature.indexOf.get(v) ?? -1;
  // v | 0 is v for a whole number in int32 range (-0 reads as 0, as the map's SameValueZero has it).
  const i = v | 0;
  return i === v && i >= 0 && i < codes.length ? codes[i]! : -1;
}

/**
 * Where a value falls among a continuous feature's distinct reference values: slot 2i is the gap just below
 * distinct value i (slot 2D above the last of D values), slot 2i + 1 the value itself. Both the request's tail
 * p-value and the window's KS counts depend only on that slot.
 *
 * A binary search over a few hundred values is most of a row's cost, so the range [min, max] is cut into equal
 * buckets, each knowing the distinct values that fall in it, and the search runs within one bucket. The bucket
 * of a value is a non-decreasing function of it (a rounded subtraction and a multiplication by a positive scale,
 * clamped), so every distinct value in an earlier bucket is below v and every one in a later bucket above it: the
 * search in v's bucket finds the same slot as a search over them all.
 */
export class SlotIndex {
  /** The distinct values, ascending. */
  readonly distinct: Float64Array;
  readonly #min: number;
  readonly #scale: number;
  readonly #buckets: number;
  /** Per bucket b (and b = buckets): the first distinct value whose bucket is b or later. */
  readonly #start: Int32Array;

  /** `sorted`: the reference values ascending, finite. */
  constructor(sorted: ArrayLike<number>) {
    const values: number[] = [];
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) values.push(sorted[i]!);
    this.distinct = Float64Array.from(values);
    const d = values.length;
    this.#min = values[0]!;
    const span = values[d - 1]! - this.#min;
    this.#buckets = d === 1 ? 1 : Math.min(4 * d, 4096);
    // A span that overflows gives scale 0: one bucket in effect, still exact.
    this.#scale = span > 0 && Number.isFinite(span) ? this.#buckets / span : 0;
    this.#start = new Int32Array(this.#buckets + 1);
    let i = 0;
    for (let b = 0; b <= this.#buckets; b++) {
      while (i < d && this.#bucket(values[i]!) < b) i++;
      this.#start[b] = i;
    }
  }

  #bucket(v: number): number {
    const x = (v - this.#min) * this.#scale;
    if (!(x >= 0)) return 0; // below min, -Infinity, or Infinity * 0
    if (x >= this.#buckets) return this.#buckets - 1;
    return x | 0;
  }

  /** The slot of v, which must not be NaN. */
  slotOf(v: number): number {
    const distinct = this.distinct;
    const b = this.#bucket(v);
    let lo = this.#start[b]!; // distinct values below v: at least the earlier buckets' ...
    let hi = this.#start[b + 1]!; // ... and at most those up to this bucket's end
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (distinct[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo < distinct.length && distinct[lo] === v ? 2 * lo + 1 : 2 * lo;
  }
}

/** Bound on the memoised KS p-values of one detector (each entry is a few dozen bytes). */
const P_VALUE_CACHE_LIMIT = 50_000;

/**
 * Alibi-Detect's TabularDrift on already engineered rows. A NaN in a feature gives that feature a NaN p-value
 * (scipy's propagation), which never counts as drift.
 */
export class TabularDrift {
  readonly featureNames: readonly string[];
  readonly featureTypes: readonly FeatureKind[];
  readonly pVal: number;
  readonly correction: Correction;
  readonly ksMethod: KsMethod;
  readonly referenceSize: number;
  /** Bonferroni threshold pVal / features. */
  readonly threshold: number;
  readonly #features: PreparedFeature[];
  #scratch = new Float64Array(256);
  /**
   * KS p-values already computed, by test size then statistic: for a given size the statistic lives on the
   * lattice i/n - j/m and sizes repeat, so the slower kstwo algorithms run once per (size, statistic).
   */
  readonly #pValues = new Map<number, Map<number, KsResult>>();
  #cached = 0;

  constructor(reference: DriftReference, opts: TabularDriftOptions = {}) {
    const pVal = opts.pVal ?? 0.05;
    if (!(pVal > 0 && pVal < 1)) throw new DriftInputError(`drift pVal must be in (0, 1), got ${pVal}`);
    this.#features = prepare(reference);
    this.featureNames = this.#features.map((f) => f.name);
    this.featureTypes = this.#features.map((f) => f.type);
    this.referenceSize = this.#features[0]!.sorted.length;
    this.pVal = pVal;
    this.correction = opts.correction ?? 'bonferroni';
    this.ksMethod = opts.ksMethod ?? 'asymp';
    this.threshold = pVal / this.#features.length;
  }

  /** The prepared reference of feature `f` (for the support check and the window's histograms). */
  feature(f: number): Readonly<PreparedFeature> {
    return this.#features[f]!;
  }

  /** Tests rows (each holding the features in `featureNames` order) against the reference. */
  predict(rows: readonly ArrayLike<number>[]): DriftResult {
    if (rows.length === 0) throw new DriftInputError('no rows to test for drift');
    checkWidths(rows, this.featureNames.length);
    return this.#test(rows.length, (f, out) => {
      for (let r = 0; r < rows.length; r++) out[r] = rows[r]![f]!;
    });
  }

  /** Tests column-major data (one array per feature, in `featureNames` order, all the same length). */
  predictColumns(columns: readonly ArrayLike<number>[]): DriftResult {
    const n = columns[0]?.length ?? 0;
    if (columns.length !== this.featureNames.length || columns.some((c) => c.length !== n) || n === 0) {
      throw new DriftInputError(`expected ${this.featureNames.length} non-empty columns of equal length`);
    }
    return this.#test(n, (f, out) => {
      const column = columns[f]!;
      for (let r = 0; r < n; r++) out[r] = column[r]!;
    });
  }

  /** The test of one feature on `sample` (which it may reorder). */
  testFeature(f: number, sample: Float64Array): { test: FeatureTestName; statistic: number; pValue: number } {
    const feature = this.#features[f]!;
    if (sample.includes(Number.NaN)) {
      return { test: feature.type === 'continuous' ? 'ks' : 'chi2', statistic: Number.NaN, pValue: Number.NaN };
    }
    if (feature.type === 'categorical') return { test: 'chi2', ...categoricalTest(feature, sample) };
    const result = this.ksFromStatistic(this.ksStatistic(f, sample), sample.length);
    return { test: 'ks', statistic: result.statistic, pValue: result.pValue };
  }

  /** KS statistic of a NaN-free sample against feature `f`'s reference (sorts `sample`). */
  ksStatistic(f: number, sample: Float64Array): number {
    const reference = this.#features[f]!.sorted;
    if (sample.length > 1) sample.sort();
    return sample.length <= reference.length
      ? ksStatisticSorted(sample, reference)
      : ksStatisticSorted(reference, sample);
  }

  /** The KS p-value of statistic `d` for a sample of `n` rows against the reference, memoised. */
  ksFromStatistic(d: number, n: number): KsResult {
    let bySize = this.#pValues.get(n);
    if (bySize === undefined) {
      bySize = new Map();
      this.#pValues.set(n, bySize);
    }
    let result = bySize.get(d);
    if (result === undefined) {
      result = ksPValue(d, n, this.referenceSize, this.ksMethod);
      if (++this.#cached > P_VALUE_CACHE_LIMIT) {
        this.#pValues.clear();
        this.#cached = 1;
        this.#pValues.set(n, bySize);
        bySize.clear();
      }
      bySize.set(d, result);
    }
    return result;
  }

  /** Applies the correction to per-feature results. */
  decide(tests: ReadonlyArray<{ test: FeatureTestName; statistic: number; pValue: number }>): DriftResult {
    const nf = this.#features.length;
    const thresholds = correctionThresholds(
      tests.map((t) => t.pValue),
      this.pVal,
      this.correction,
    );
    const features: FeatureTest[] = [];
    const drifted: string[] = [];
    const pValues: Record<string, number> = {};
    const statistics: Record<string, number> = {};
    for (let f = 0; f < nf; f++) {
      const t = tests[f]!;
      const feature = this.#features[f]!;
      const isDrifted = t.pValue < thresholds[f]!;
      if (isDrifted) drifted.push(feature.name);
      pValues[feature.name] = t.pValue;
      statistics[feature.name] = t.statistic;
      features.push({
        name: feature.name,
        type: feature.type,
        test: t.test,
        statistic: t.statistic,
        pValue: t.pValue,
        threshold: thresholds[f]!,
        drifted: isDrifted,
      });
    }
    return {
      isDrift: drifted.length > 0,
      threshold: this.threshold,
      correction: this.correction,
      features,
      drifted,
      driftedShare: drifted.length / nf,
      pValues,
      statistics,
    };
  }

  #test(n: number, fill: (feature: number, out: Float64Array) => void): DriftResult {
    if (this.#scratch.length < n) this.#scratch = new Float64Array(Math.max(n, 2 * this.#scratch.length));
    const sample = this.#scratch.subarray(0, n);
    const tests = this.#features.map((_, f) => {
      fill(f, sample);
      return this.testFeature(f, sample);
    });
    return this.decide(tests);
  }
}

function checkWidths(rows: readonly ArrayLike<number>[], nf: number): void {
  for (let r = 0; r < rows.length; r++) {
    if (rows[r]!.length !== nf) {
      throw new DriftInputError(`row ${r} has ${rows[r]!.length} features, expected ${nf}`);
    }
  }
}

/**
 * Per-feature thresholds: Bonferroni gives every feature pVal / F. Benjamini-Hochberg gives the feature of rank k
 * (ascending p-value) the line k * pVal / F, and every feature ranked at or below the last one under its line
 * drifts, so those features get that last line as their threshold (their p-value is below it).
 */
function correctionThresholds(pValues: readonly number[], pVal: number, correction: Correction): number[] {
  const nf = pValues.length;
  const bonferroni = pVal / nf;
  if (correction === 'bonferroni') return pValues.map(() => bonferroni);
  const order = pValues
    .map((p, f) => ({ p: Number.isNaN(p) ? Number.POSITIVE_INFINITY : p, f }))
    .sort((a, b) => a.p - b.p || a.f - b.f);
  let last = -1;
  for (let k = 0; k < nf; k++) if (order[k]!.p <= ((k + 1) * pVal) / nf) last = k;
  const out = new Array<number>(nf);
  for (let k = 0; k < nf; k++) {
    const line = ((k + 1) * pVal) / nf;
    // Strictly below: a p-value exactly on the line passes BH's "<=", so nudge the line up by one ulp.
    out[order[k]!.f] = k <= last ? nextUp(((last + 1) * pVal) / nf) : line;
  }
  return out;
}

function nextUp(x: number): number {
  return x + Math.max(Number.MIN_VALUE, Math.abs(x) * Number.EPSILON);
}

/** chi2_contingency on [reference counts, sample counts] over the union of their categories. */
function categoricalTest(feature: PreparedFeature, sample: ArrayLike<number>): { statistic: number; pValue: number } {
  const current = new Array<number>(feature.categories.length).fill(0);
  let unseen: Map<number, number> | null = null;
  for (let i = 0; i < sample.length; i++) {
    const v = sample[i]!;
    const k = feature.indexOf.get(v);
    if (k !== undefined) current[k]!++;
    else {
      unseen ??= new Map();
      unseen.set(v, (unseen.get(v) ?? 0) + 1);
    }
  }
  const ref = [...feature.counts];
  if (unseen !== null) {
    for (const count of unseen.values()) {
      ref.push(0);
      current.push(count);
    }
  }
  return chi2Contingency([ref, current]);
}

// ---------------------------------------------------------------------------------------------------------------
// Per request

export type SupportReason = 'below-range' | 'above-range' | 'unseen-category' | 'not-a-number';

export interface OutOfSupport {
  row: number;
  feature: string;
  value: number;
  reason: SupportReason;
}

export interface RequestDriftOptions extends TabularDriftOptions {
  /** Requests with at least this many rows are also tested with TabularDrift (default 30). */
  minTestRows?: number;
  /**
   * A continuous value is out of support when it lies beyond the reference's [min, max] by more than this share
   * of the reference range (default 0.1), and for a feature whose reference values are all whole numbers (a
   * count), by more than one as well.
   */
  rangeMargin?: number;
}

export interface RequestDriftResult extends DriftResult {
  /** 'support' for requests below `minTestRows` rows; 'support+tests' when TabularDrift ran too. */
  check: 'support' | 'support+tests';
  outOfSupport: OutOfSupport[];
}

/**
 * The per-request verdict, "this request does not look like the training data". Every row is checked against
 * the reference's support; requests of `minTestRows` rows or more are also tested as a batch. For a request too
 * small to test, `pValues` holds each feature's conformal tail p-value for its most extreme row (continuous: the
 * two-sided rank p-value 2 * (1 + reference rows at least as extreme) / (n + 1); categorical: the share of the
 * reference in the row's category, (1 + count) / (n + 1)) and `statistics` the number of the request's rows out
 * of support: both informative only, the verdict is the support check.
 *
 * Every request of the JSON API and the form goes through here, most of them one passenger, so what depends only
 * on the reference is worked out once, at construction: a value's tail p-value depends only on its "slot" among
 * the reference's distinct values (below, at or between them; for a category, which one or none), so each
 * feature keeps its p-value per slot, computed from the reference rows below and at most the slot's values, and a row costs one binary
 * search per continuous feature and one map lookup per categorical one. `drift-request.test.ts` compares every
 * figure with the direct computation.
 */
export class RequestDrift {
  readonly tests: TabularDrift;
  readonly minTestRows: number;
  readonly rangeMargin: number;
  readonly #nf: number;
  readonly #names: readonly string[];
  readonly #types: readonly FeatureKind[];
  readonly #testNames: readonly FeatureTestName[];
  readonly #features: readonly Readonly<PreparedFeature>[];
  readonly #lo: Float64Array;
  readonly #hi: Float64Array;
  /**
   * Per feature, the tail p-value by slot: a continuous feature's `SlotIndex` slots; for a categorical one the
   * category's index, the last slot standing for a category the reference never saw.
   */
  readonly #slotP: Float64Array[];
  /** Builds the answer's pValues and statistics from per-feature values (keys in feature order). */
  readonly #record: (values: ArrayLike<number>) => Record<string, number>;
  /** Per feature: the features sharing its name (null when every name is distinct, as in every real model). */
  readonly #sameName: (readonly number[])[] | null;
  /** Per-request scratch: each feature's lowest p-value and its rows out of support (then, its statistic). */
  readonly #p: Float64Array;
  readonly #outside: Int32Array;
  readonly #statistic: Int32Array;

  constructor(reference: DriftReference, opts: RequestDriftOptions = {}) {
    this.tests = new TabularDrift(reference, opts);
    this.minTestRows = opts.minTestRows ?? 30;
    this.rangeMargin = opts.rangeMargin ?? 0.1;
    if (!Number.isInteger(this.minTestRows) || this.minTestRows < 2) {
      throw new DriftInputError(`minTestRows must be an integer >= 2, got ${this.minTestRows}`);
    }
    if (!(this.rangeMargin >= 0)) throw new DriftInputError(`rangeMargin must be >= 0, got ${this.rangeMargin}`);
    const nf = this.tests.featureNames.length;
    const n = this.tests.referenceSize;
    this.#nf = nf;
    this.#names = this.tests.featureNames;
    this.#types = this.tests.featureTypes;
    this.#testNames = this.#types.map((t) => (t === 'continuous' ? 'ks' : 'chi2'));
    this.#features = this.#names.map((_, f) => this.tests.feature(f));
    this.#lo = new Float64Array(nf);
    this.#hi = new Float64Array(nf);
    this.#slotP = [];
    for (let f = 0; f < nf; f++) {
      const feature = this.#features[f]!;
      const { min, max, sorted } = feature;
      const counts = sorted.every((v) => Number.isInteger(v));
      const margin = Math.max(this.rangeMargin * (max - min), counts ? 1 : 0);
      this.#lo[f] = min - margin;
      this.#hi[f] = max + margin;
      this.#slotP.push(feature.slots === null ? categoryTailPValues(feature, n) : rankTailPValues(feature.sorted, n));
    }
    this.#record = recordOf(this.#names);
    this.#sameName =
      new Set(this.#names).size === nf
        ? null
        : this.#names.map((name) => this.#names.flatMap((other, g) => (other === name ? [g] : [])));
    this.#p = new Float64Array(nf);
    this.#outside = new Int32Array(nf);
    this.#statistic = new Int32Array(nf);
  }

  get featureNames(): readonly string[] {
    return this.tests.featureNames;
  }

  get threshold(): number {
    return this.tests.threshold;
  }

  predict(rows: readonly ArrayLike<number>[]): RequestDriftResult {
    if (rows.length === 0) throw new DriftInputError('no rows to test for drift');
    const nf = this.#nf;
    checkWidths(rows, nf);
    const names = this.#names;
    const lowest = this.#p;
    const outside = this.#outside;
    const outOfSupport: OutOfSupport[] = [];
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!;
      const first = r === 0;
      for (let f = 0; f < nf; f++) {
        const v = row[f]!;
        const slotP = this.#slotP[f]!;
        let reason: SupportReason | null = null;
        let p: number;
        if (Number.isNaN(v)) {
          reason = 'not-a-number';
          p = Number.NaN;
        } else {
          const feature = this.#features[f]!;
          const slots = feature.slots;
          if (slots === null) {
            const k = categoryOf(feature, v);
            if (k < 0) {
              reason = 'unseen-category';
              p = slotP[slotP.length - 1]!;
            } else p = slotP[k]!;
          } else {
            if (v < this.#lo[f]!) reason = 'below-range';
            else if (v > this.#hi[f]!) reason = 'above-range';
            p = slotP[slots.slotOf(v)]!;
          }
        }
        // The first row's p-value is the minimum of 1 and it: every tail p-value is at most 1 (or NaN).
        lowest[f] = first ? p : Math.min(lowest[f]!, p);
        if (first) outside[f] = 0;
        if (reason !== null) {
          outOfSupport.push({ row: r, feature: names[f]!, value: v, reason });
          outside[f]!++;
        }
      }
    }
    if (rows.length >= this.minTestRows) {
      const tested = this.tests.predict(rows);
      const drifted = names.filter((name, f) => outside[f]! > 0 || tested.drifted.includes(name));
      return {
        ...tested,
        isDrift: drifted.length > 0,
        drifted,
        driftedShare: drifted.length / nf,
        check: 'support+tests',
        outOfSupport,
      };
    }
    return this.#supportOnly(outOfSupport);
  }

  /** The verdict of a request too small to test, from the scratch filled by `predict`. */
  #supportOnly(outOfSupport: OutOfSupport[]): RequestDriftResult {
    const nf = this.#nf;
    const names = this.#names;
    const lowest = this.#p;
    const outside = this.#outside;
    // The statistic counts the request's rows out of support under the feature's name.
    let statistic: Int32Array = outside;
    const sameName = this.#sameName;
    if (sameName !== null) {
      statistic = this.#statistic;
      for (let f = 0; f < nf; f++) {
        let count = 0;
        for (const g of sameName[f]!) count += outside[g]!;
        statistic[f] = count;
      }
    }
    const features: FeatureTest[] = [];
    const drifted: string[] = [];
    for (let f = 0; f < nf; f++) {
      const flagged = outside[f]! > 0;
      if (flagged) drifted.push(names[f]!);
      features.push({
        name: names[f]!,
        type: this.#types[f]!,
        test: this.#testNames[f]!,
        statistic: statistic[f]!,
        pValue: lowest[f]!,
        threshold: Number.NaN,
        drifted: flagged,
      });
    }
    return {
      isDrift: drifted.length > 0,
      threshold: this.tests.threshold,
      correction: this.tests.correction,
      features,
      drifted,
      driftedShare: drifted.length / nf,
      pValues: this.#record(lowest),
      statistics: this.#record(statistic),
      check: 'support',
      outOfSupport,
    };
  }
}

/**
 * A categorical feature's tail p-value by category, (1 + reference rows in it) / (n + 1), and last, for a category
 * the reference never saw, 1 / (n + 1).
 */
function categoryTailPValues(feature: Readonly<PreparedFeature>, n: number): Float64Array {
  const k = feature.categories.length;
  const p = new Float64Array(k + 1);
  for (let i = 0; i < k; i++) p[i] = (1 + feature.counts[i]!) / (n + 1);
  p[k] = (1 + 0) / (n + 1);
  return p;
}

/**
 * A continuous feature's two-sided rank p-value by `SlotIndex` slot, min(1, 2 * (1 + min(atMost, atLeast)) /
 * (n + 1)) with atMost the reference rows <= v and atLeast those >= v: in the gap below distinct value i both
 * count from the rows below value i; at value i, atMost also counts the rows equal to it.
 */
function rankTailPValues(sorted: Float64Array, n: number): Float64Array {
  const below: number[] = []; // reference rows below distinct value i, then n
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) below.push(i);
  below.push(n);
  const d = below.length - 1;
  const tail = (atMost: number, atLeast: number) => Math.min(1, (2 * (1 + Math.min(atMost, atLeast))) / (n + 1));
  const p = new Float64Array(2 * d + 1);
  for (let i = 0; i <= d; i++) {
    p[2 * i] = tail(below[i]!, n - below[i]!);
    if (i < d) p[2 * i + 1] = tail(below[i + 1]!, n - below[i]!);
  }
  return p;
}

/** A name is written as it is in an object literal's key when it is a plain identifier (and not the prototype). */
const PLAIN_KEY = /^[A-Za-z_$][\w$]*$/;

/**
 * A function making { [names[f]]: values[f] } for every feature, keys in feature order, the object the answer's
 * pValues and statistics have always been (assigned key by key into `{}`). Assigning eleven keys per object is a
 * good part of a one-row verdict, so for plain, distinct names (every recipe's) it is a compiled object literal:
 * one allocation of a fixed shape. The names are checked against PLAIN_KEY before they are written into code.
 */
function recordOf(names: readonly string[]): (values: ArrayLike<number>) => Record<string, number> {
  const plain = new Set(names).size === names.length && names.every((n) => PLAIN_KEY.test(n) && n !== '__proto__');
  if (plain) {
    const fields = names.map((name, f) => `${name}: values[${f}]`).join(', ');
    return new Function('values', `'use strict'; return { ${fields} };`) as (
      values: ArrayLike<number>,
    ) => Record<string, number>;
  }
  return (values) => {
    const out: Record<string, number> = {};
    for (let f = 0; f < names.length; f++) out[names[f]!] = values[f]!;
    return out;
  };
}
