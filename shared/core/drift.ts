/**
 * Drift detectors over the statistics of ./stats.
 *
 * `KSDrift` is Alibi-Detect's KSDrift (per-feature tests, Bonferroni correction); `WindowDrift` applies it to a
 * sliding window of recent rows and reports when drift starts and stops. The service calls `KSDrift.predict` on
 * every request, so the reference is sorted once and a test costs O(n log m) for n test rows and m reference rows.
 */
import { AppError } from '../errors.ts';
import { InvalidInputError } from './invalid-input.ts';
import { type KsMethod, type KsResult, ksPValue, ksStatisticSorted, sortedCopy } from './stats/index.ts';

/** Reference sample per feature (column-major), e.g. the model artifact's `driftReference`. */
export interface DriftReference {
  featureNames: readonly string[];
  columns: readonly (readonly number[])[];
}

export interface KSDriftOptions {
  /** Family-wise significance level before the Bonferroni correction (default 0.05). */
  pVal?: number;
  /** p-value method for every feature (default 'asymp', as Alibi-Detect). */
  method?: KsMethod;
}

export interface DriftResult {
  isDrift: boolean;
  /** Bonferroni-corrected threshold: pVal / number of features. */
  threshold: number;
  pValues: Record<string, number>;
  statistics: Record<string, number>;
  /** Features whose p-value is below the threshold, in feature order. */
  drifted: string[];
}

/**
 * Alibi-Detect's KSDrift: one two-sample KS test per feature against the reference, Bonferroni-corrected, so the
 * batch drifts when any feature's p-value is below pVal / nFeatures. A NaN feature value gives that feature a NaN
 * p-value (scipy's propagation), which never counts as drift.
 */
export class KSDrift {
  readonly featureNames: readonly string[];
  readonly pVal: number;
  readonly threshold: number;
  readonly method: KsMethod;
  readonly referenceSize: number;
  readonly #reference: Float64Array[];
  #scratch = new Float64Array(256);
  /**
   * p-values already computed, by test size then statistic. For a given test size the statistic lives on the
   * lattice i/n - j/m, and request sizes repeat, so the slower kstwo algorithms (Pomeranz, Durbin) run once per
   * (size, statistic) instead of on every request.
   */
  readonly #pValues = new Map<number, Map<number, KsResult>>();
  #cached = 0;

  constructor(reference: DriftReference, opts: KSDriftOptions = {}) {
    const pVal = opts.pVal ?? 0.05;
    if (!(pVal > 0 && pVal < 1)) throw new AppError('INTERNAL', `drift pVal must be in (0, 1), got ${pVal}`);
    const names = reference.featureNames;
    if (names.length === 0 || reference.columns.length !== names.length) {
      throw new AppError('ARTIFACT_INVALID', 'the drift reference needs one column per feature');
    }
    const size = reference.columns[0]!.length;
    this.#reference = reference.columns.map((column, f) => {
      if (column.length === 0 || column.length !== size) {
        throw new AppError(
          'ARTIFACT_INVALID',
          `drift reference column ${names[f]} has ${column.length} rows, expected ${size}`,
        );
      }
      const sorted = sortedCopy(column);
      if (sorted === null) throw new AppError('ARTIFACT_INVALID', `drift reference column ${names[f]} holds NaN`);
      return sorted;
    });
    this.featureNames = [...names];
    this.referenceSize = size;
    this.pVal = pVal;
    this.method = opts.method ?? 'asymp';
    this.threshold = pVal / names.length;
  }

  /** Tests rows (each holding the features in `featureNames` order) against the reference. */
  predict(rows: readonly ArrayLike<number>[]): DriftResult {
    if (rows.length === 0) throw new InvalidInputError('no rows to test for drift');
    const nf = this.featureNames.length;
    for (let r = 0; r < rows.length; r++) {
      if (rows[r]!.length !== nf) {
        throw new InvalidInputError(`row ${r} has ${rows[r]!.length} features, expected ${nf}`);
      }
    }
    return this.#test(rows.length, (f, out) => {
      for (let r = 0; r < rows.length; r++) out[r] = rows[r]![f]!;
    });
  }

  /** Tests column-major data (one array per feature, in `featureNames` order, all the same length). */
  predictColumns(columns: readonly ArrayLike<number>[]): DriftResult {
    const n = columns[0]?.length ?? 0;
    if (columns.length !== this.featureNames.length || columns.some((c) => c.length !== n) || n === 0) {
      throw new InvalidInputError(`expected ${this.featureNames.length} non-empty columns of equal length`);
    }
    return this.#test(n, (f, out) => {
      const column = columns[f]!;
      for (let r = 0; r < n; r++) out[r] = column[r]!;
    });
  }

  #test(n: number, fill: (feature: number, out: Float64Array) => void): DriftResult {
    if (this.#scratch.length < n) this.#scratch = new Float64Array(Math.max(n, 2 * this.#scratch.length));
    const sample = this.#scratch.subarray(0, n);
    const pValues: Record<string, number> = {};
    const statistics: Record<string, number> = {};
    const drifted: string[] = [];
    for (let f = 0; f < this.featureNames.length; f++) {
      const name = this.featureNames[f]!;
      fill(f, sample);
      const reference = this.#reference[f]!;
      let result: KsResult;
      if (n === 1 && !Number.isNaN(sample[0]!)) {
        result = this.#pValue(ksStatisticSorted(sample, reference), 1);
      } else if (sample.includes(Number.NaN)) {
        result = { statistic: Number.NaN, pValue: Number.NaN };
      } else {
        sample.sort();
        result = this.#pValue(
          n <= reference.length ? ksStatisticSorted(sample, reference) : ksStatisticSorted(reference, sample),
          n,
        );
      }
      pValues[name] = result.pValue;
      statistics[name] = result.statistic;
      if (result.pValue < this.threshold) drifted.push(name);
    }
    return { isDrift: drifted.length > 0, threshold: this.threshold, pValues, statistics, drifted };
  }

  #pValue(d: number, n: number): KsResult {
    let bySize = this.#pValues.get(n);
    if (bySize === undefined) {
      bySize = new Map();
      this.#pValues.set(n, bySize);
    }
    let result = bySize.get(d);
    if (result === undefined) {
      result = ksPValue(d, n, this.referenceSize, this.method);
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
}

/** Bound on the memoised p-values of one detector (each entry is a few dozen bytes). */
const P_VALUE_CACHE_LIMIT = 50_000;

export interface WindowDriftOptions extends KSDriftOptions {
  /** Number of most recent rows tested (default 200). */
  windowSize?: number;
  /** Evaluate once this many rows have arrived since the last evaluation (default 50). */
  evaluateEvery?: number;
}

/** 'entered' when an evaluation starts a drift episode, 'cleared' when it ends one. */
export type DriftTransition = 'entered' | 'cleared' | null;

export interface WindowDriftResult extends DriftResult {
  transition: DriftTransition;
  /** Rows in the window that was tested. */
  windowRows: number;
  /** Rows added since the detector was created. */
  rowsSeen: number;
}

export interface WindowDriftState {
  isDrift: boolean;
  windowRows: number;
  rowsSeen: number;
  /** Rows still to arrive before the next evaluation. */
  rowsUntilEvaluation: number;
  last: WindowDriftResult | null;
}

/**
 * KSDrift over a sliding window of the most recent rows, evaluated every `evaluateEvery` rows (a batch that
 * crosses the interval triggers one evaluation, after all its rows are in the window). Rows live in a ring
 * buffer, so adding costs O(features) per row whatever the window size.
 */
export class WindowDrift {
  readonly windowSize: number;
  readonly evaluateEvery: number;
  readonly detector: KSDrift;
  readonly #buffer: Float64Array; // row-major ring buffer
  readonly #nf: number;
  #next = 0; // slot of the next row
  #count = 0;
  #rowsSeen = 0;
  #sinceEvaluation = 0;
  #last: WindowDriftResult | null = null;

  constructor(reference: DriftReference, opts: WindowDriftOptions = {}) {
    const windowSize = opts.windowSize ?? 200;
    const evaluateEvery = opts.evaluateEvery ?? 50;
    for (const [name, value] of [
      ['windowSize', windowSize],
      ['evaluateEvery', evaluateEvery],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new AppError('INTERNAL', `drift ${name} must be a positive integer, got ${value}`);
      }
    }
    this.detector = new KSDrift(reference, opts);
    this.windowSize = windowSize;
    this.evaluateEvery = evaluateEvery;
    this.#nf = this.detector.featureNames.length;
    this.#buffer = new Float64Array(windowSize * this.#nf);
  }

  /** Adds scored rows; returns the evaluation when one was due, else null. */
  add(rows: readonly ArrayLike<number>[]): WindowDriftResult | null {
    const nf = this.#nf;
    for (let r = 0; r < rows.length; r++) {
      if (rows[r]!.length !== nf) {
        throw new InvalidInputError(`row ${r} has ${rows[r]!.length} features, expected ${nf}`);
      }
    }
    for (const row of rows) {
      this.#buffer.set(row, this.#next * nf);
      this.#next = (this.#next + 1) % this.windowSize;
      if (this.#count < this.windowSize) this.#count++;
    }
    this.#rowsSeen += rows.length;
    this.#sinceEvaluation += rows.length;
    if (rows.length === 0 || this.#sinceEvaluation < this.evaluateEvery) return null;
    this.#sinceEvaluation = 0;

    const n = this.#count;
    const columns = Array.from({ length: nf }, () => new Float64Array(n));
    for (let r = 0; r < n; r++) {
      for (let f = 0; f < nf; f++) columns[f]![r] = this.#buffer[r * nf + f]!;
    }
    const result = this.detector.predictColumns(columns);
    const wasDrift = this.#last?.isDrift ?? false;
    const transition: DriftTransition =
      result.isDrift && !wasDrift ? 'entered' : !result.isDrift && wasDrift ? 'cleared' : null;
    this.#last = { ...result, transition, windowRows: n, rowsSeen: this.#rowsSeen };
    return this.#last;
  }

  state(): WindowDriftState {
    return {
      isDrift: this.#last?.isDrift ?? false,
      windowRows: this.#count,
      rowsSeen: this.#rowsSeen,
      rowsUntilEvaluation: this.evaluateEvery - this.#sinceEvaluation,
      last: this.#last,
    };
  }
}
