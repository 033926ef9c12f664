/**
 * Scoring shared by the JSON API and the web form: raw passengers in, predictions and the request's drift
 * verdict out, with the metrics and the sliding window updated. Engineered features are always computed by the
 * core from the raw passenger, never taken from a caller.
 */
import type { RequestDriftResult } from '../shared/core/drift.ts';
import type { Passenger } from '../shared/core/schema.ts';
import type { DriftMonitor } from './drift-monitor.ts';
import type { ServiceMetrics } from './metrics.ts';
import type { ServedModel } from './model-registry.ts';

export interface ScoredPassenger {
  survived: boolean;
  probability: number;
  /** The engineered features the model saw, in the model's feature order. */
  features: number[];
}

/** The request's drift verdict as the answers carry it (the scorer fills in the support check's findings). */
export type DriftVerdict = Pick<RequestDriftResult, 'isDrift' | 'threshold' | 'drifted' | 'pValues' | 'statistics'> &
  Partial<Pick<RequestDriftResult, 'check' | 'outOfSupport'>>;

export interface ScoredRequest {
  modelVersion: string;
  featureNames: readonly string[];
  predictions: ScoredPassenger[];
  drift: DriftVerdict;
}

export type Scorer = (served: ServedModel, passengers: readonly Passenger[]) => ScoredRequest;

export function createScorer(deps: { metrics: ServiceMetrics; driftMonitor: DriftMonitor }): Scorer {
  const { metrics, driftMonitor } = deps;
  return (served, passengers) => {
    // The model's predictions are the answers' (same fields, made fresh for this request): no copy.
    const predictions: ScoredPassenger[] = served.model.predict(passengers);
    const n = predictions.length;
    const rows = new Array<number[]>(n);
    let survived = 0;
    for (let i = 0; i < n; i++) {
      const p = predictions[i]!;
      rows[i] = p.features;
      if (p.survived) survived++;
    }
    const drift = served.requestDrift.predict(rows);
    driftMonitor.observe(served, rows);
    metrics.countScored(n, survived, drift.isDrift);
    return { modelVersion: served.version, featureNames: served.requestDrift.featureNames, predictions, drift };
  };
}
