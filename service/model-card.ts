/**
 * The model card of the served model (GET /v1/model `card`, and the /model page): intended use and limitations,
 * the training data and its validation outcome, metrics with 95% Wilson intervals on the test split and on the
 * champion comparison rows, the promotion record and the promotion history. The artifact gives the metrics; the
 * pointer the model was loaded through gives what `train` (or an operator) decided, since that is where the
 * promotion is recorded.
 */
import type { PromotionRecord } from '../shared/adapters/model-store.ts';
import type { ModelArtifact, TrainingSample } from '../shared/core/artifact.ts';
import { type Comparison, wilsonInterval } from '../shared/core/promotion.ts';
import type { SearchSample } from '../shared/core/search-sample.ts';
import type { ShapSample, TreeCap } from '../shared/core/training.ts';
import type { ServedModel } from './model-registry.ts';

export const INTENDED_USE =
  'Estimates whether a passenger of the RMS Titanic (April 1912) survived, from the passenger list fields; ' +
  'a demonstration of a serverless MLOps pipeline.';

export const LIMITATIONS = [
  'Trained on 1912 passengers only: it says nothing about any other ship, disaster or population.',
  'Not for decisions about people: the estimate reflects who was let into the lifeboats in 1912 (sex, class, age), not anything a person can be judged by.',
  'Accuracy is measured on a few hundred held-out passengers; the intervals below show how uncertain it is.',
];

export interface ModelCard {
  intendedUse: string;
  limitations: string[];
  trainingData: {
    datasetId: string | null;
    rows: number | null;
    labelShare: number | null;
    validation: unknown;
    /**
     * Present when a cap applied: the stratified samples the model was trained on (`training`: MAX_TRAINING_ROWS of
     * the dataset), searched on (`search`: SEARCH_MAX_ROWS of the training split) and validated on (`validation`:
     * VALIDATION_MAX_ROWS of the dataset), each with its cap, per-outcome counts, seed and how it was drawn; `shap`:
     * the test rows the mean |SHAP| is over (SHAP_MAX_ROWS of the test split).
     */
    samples?: { training?: TrainingSample; search?: SearchSample; validation?: unknown; shap?: ShapSample };
    /**
     * Present when the refitted forest did not fit MODEL_MAX_BYTES: the model keeps the first `keptTrees` of the
     * `searchedTrees` the search chose (the forest the same parameters grow with that many trees).
     */
    treeCap?: TreeCap;
  };
  metrics: {
    test: { rows: number; accuracy: number; accuracyInterval: [number, number]; f1: number; rocAuc: number };
    comparison:
      | (Pick<Comparison, 'rows' | 'pValue'> & {
          championVersion: string | null;
          accuracy: number;
          accuracyInterval: [number, number];
          championAccuracy: number;
          championAccuracyInterval: [number, number];
        })
      | null;
  };
  promotion: PromotionRecord | null;
  history: PromotionRecord[];
}

/**
 * How the parameters were chosen: the repeated stratified k-fold CV accuracy of the chosen candidate (an artifact
 * from before repeated CV has one pass).
 */
export function selectionOf(a: ModelArtifact): { folds: number; repeats: number; mean: number; sd: number } {
  return { folds: a.search.folds, repeats: a.search.repeats ?? 1, mean: a.search.cvMean, sd: a.search.cvSd };
}

export function modelCard(served: ServedModel): ModelCard {
  const a = served.model.artifact;
  const evidence = served.pointer?.evidence;
  const dataset = evidence?.dataset;
  const comparison = (evidence?.comparison ?? null) as Comparison | null;
  const championVersion = ((evidence?.decision ?? {}) as { championVersion?: string | null }).championVersion ?? null;
  const cm = a.metrics.confusionMatrix;
  const testRows = cm.tn + cm.fp + cm.fn + cm.tp;
  const samples = {
    ...(a.sample ? { training: { ...a.sample, method: 'stratified by outcome, drawn in Postgres' } } : {}),
    ...(a.searchSample ? { search: a.searchSample } : {}),
    ...(dataset?.validationSample ? { validation: dataset.validationSample } : {}),
    ...(a.shapSample ? { shap: a.shapSample } : {}),
  };
  return {
    intendedUse: INTENDED_USE,
    limitations: LIMITATIONS,
    trainingData: {
      datasetId: a.lineage.datasetId,
      rows: dataset?.rows ?? null,
      labelShare: dataset?.labelShare ?? null,
      validation: dataset?.validation ?? 'not recorded (the pointer predates promotion records)',
      ...(Object.keys(samples).length > 0 ? { samples } : {}),
      ...(a.treeCap ? { treeCap: a.treeCap } : {}),
    },
    metrics: {
      test: {
        rows: testRows,
        accuracy: a.metrics.accuracy,
        accuracyInterval: wilsonInterval(cm.tn + cm.tp, testRows),
        f1: a.metrics.f1,
        rocAuc: a.metrics.rocAuc,
      },
      comparison:
        comparison && comparison.rows > 0
          ? {
              rows: comparison.rows,
              pValue: comparison.pValue,
              championVersion,
              accuracy: comparison.challengerAccuracy,
              accuracyInterval: comparison.challengerInterval,
              championAccuracy: comparison.championAccuracy,
              championAccuracyInterval: comparison.championInterval,
            }
          : null,
    },
    promotion: served.pointer?.promotion ?? null,
    history: served.pointer?.history ?? [],
  };
}
