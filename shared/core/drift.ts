/**
 * Two-sample Kolmogorov-Smirnov drift detection (scipy `ks_2samp` semantics, Alibi-Detect `KSDrift` style).
 * Work in progress: signatures are final, bodies land next.
 */
import { AppError } from '../errors.ts';

export type KsMethod = 'auto' | 'exact' | 'asymp';

export interface KsResult {
  statistic: number;
  pValue: number;
}

export function ks2samp(a: ArrayLike<number>, b: ArrayLike<number>, method: KsMethod = 'auto'): KsResult {
  void a;
  void b;
  void method;
  throw new AppError('INTERNAL', 'ks2samp not implemented yet');
}

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
  /** Features whose p-value is below the threshold. */
  drifted: string[];
}

export class KSDrift {
  readonly featureNames: readonly string[];
  readonly pVal: number;
  readonly threshold: number;
  readonly method: KsMethod;

  constructor(reference: DriftReference, opts: KSDriftOptions = {}) {
    this.featureNames = [...reference.featureNames];
    this.pVal = opts.pVal ?? 0.05;
    this.method = opts.method ?? 'asymp';
    this.threshold = this.pVal / this.featureNames.length;
  }

  /** Tests rows (each in `featureNames` order) against the reference. */
  predict(rows: readonly ArrayLike<number>[]): DriftResult {
    void rows;
    throw new AppError('INTERNAL', 'KSDrift not implemented yet');
  }
}

export interface WindowDriftOptions extends KSDriftOptions {
  /** Number of most recent rows tested (default 200). */
  windowSize?: number;
  /** Evaluate once this many rows have arrived since the last evaluation (default 50). */
  evaluateEvery?: number;
}

export type DriftTransition = 'entered' | 'cleared' | null;

export interface WindowDriftResult extends DriftResult {
  /** 'entered' when this evaluation starts a drift episode, 'cleared' when it ends one, else null. */
  transition: DriftTransition;
  /** Rows in the window that was tested. */
  windowRows: number;
  /** Rows seen since the detector was created. */
  rowsSeen: number;
}

export interface WindowDriftState {
  isDrift: boolean;
  windowRows: number;
  rowsSeen: number;
  rowsUntilEvaluation: number;
  last: WindowDriftResult | null;
}

export class WindowDrift {
  readonly windowSize: number;
  readonly evaluateEvery: number;

  constructor(reference: DriftReference, opts: WindowDriftOptions = {}) {
    void reference;
    this.windowSize = opts.windowSize ?? 200;
    this.evaluateEvery = opts.evaluateEvery ?? 50;
  }

  /** Adds scored rows; returns the evaluation when one was due, else null. */
  add(rows: readonly ArrayLike<number>[]): WindowDriftResult | null {
    void rows;
    throw new AppError('INTERNAL', 'WindowDrift not implemented yet');
  }

  state(): WindowDriftState {
    throw new AppError('INTERNAL', 'WindowDrift not implemented yet');
  }
}
