/**
 * One prediction's explanation in Vertex AI's `Attribution` shape (the `:explain` answer), shared by
 * POST /v1/explain and the result page. The numbers come from the core's exact TreeSHAP (`tree-shap.ts`).
 */
import { byField } from '../shared/core/feature-sources.ts';
import type { ModelExplainer } from '../shared/core/model.ts';

export interface Attribution {
  /** What is explained: the served probability of "survived". */
  outputName: 'probability';
  /** The expected served probability (base value): what the model says knowing nothing of the passenger. */
  baselineOutputValue: number;
  /** The probability served for this passenger. */
  instanceOutputValue: number;
  /** Engineered feature -> its SHAP value (probability units); baseline + their sum = instance value. */
  featureAttributions: Record<string, number>;
  /** Raw passenger field -> the contributions of the features computed from it (split evenly, see feature-sources.ts). */
  passengerFieldAttributions: Record<string, number>;
  /** |baseline + sum of featureAttributions - instance value|: floating-point rounding only (exact method). */
  approximationError: number;
}

export function attributionOf(
  explainer: ModelExplainer,
  features: ArrayLike<number>,
  probability: number,
): Attribution {
  const phi = explainer.contributions(features);
  const featureAttributions: Record<string, number> = {};
  let total = explainer.baseValue;
  explainer.featureNames.forEach((name, j) => {
    featureAttributions[name] = phi[j] as number;
    total += phi[j] as number;
  });
  return {
    outputName: 'probability',
    baselineOutputValue: explainer.baseValue,
    instanceOutputValue: probability,
    featureAttributions,
    passengerFieldAttributions: Object.fromEntries(byField(phi, explainer.sources)),
    approximationError: Math.abs(total - probability),
  };
}
