/**
 * A servable model: a validated artifact plus its compiled forest. The service and the CLI predict through
 * this, from raw passengers (features are computed here with the artifact's own recipe, the same function
 * training used), so serving can never compute features differently from training.
 */
import { type ArtifactLimits, DEFAULT_ARTIFACT_LIMITS, type ModelArtifact, readArtifact } from './artifact.ts';
import type { CompiledForest } from './compiled-forest.ts';
import { type CoverSource, rowCovers } from './covers.ts';
import { predictedLabel } from './evaluation.ts';
import { type PassengerField, sourcesOf } from './feature-sources.ts';
import { featurize } from './features.ts';
import type { Passenger } from './schema.ts';
import { createExplainer } from './tree-shap.ts';

export interface Prediction {
  survived: boolean;
  /** Share of trees voting "survived". */
  probability: number;
  /** The engineered features the forest saw (recipe order). */
  features: number[];
}

/** Why the forest gave a row its probability: exact TreeSHAP values (see `tree-shap.ts`). */
export interface ModelExplainer {
  /** The expected served probability, v({}): base value + contributions = the row's probability. */
  readonly baseValue: number;
  /**
   * Where the node covers come from: `bootstrap` (recorded at training, format 4: exact), or `reference`
   * (an older artifact: counted from its drift reference rows, the real training rows; see `covers.ts`).
   */
  readonly coverSource: CoverSource;
  readonly featureNames: readonly string[];
  /** The raw passenger fields each feature comes from, in feature order. */
  readonly sources: readonly (readonly PassengerField[])[];
  /** The contribution of every feature (recipe order) to the probability of one engineered row. */
  contributions(features: ArrayLike<number>): Float64Array;
}

export interface Predictor {
  readonly artifact: ModelArtifact;
  readonly version: string;
  readonly forest: CompiledForest;
  readonly explainer: ModelExplainer;
  predict(passengers: readonly Passenger[]): Prediction[];
}

/** The explainer of a validated artifact (AppError ARTIFACT_INVALID when its covers or sources do not fit). */
export function explainerOf(artifact: ModelArtifact, compiled: CompiledForest): ModelExplainer {
  const names = artifact.recipe.featureNames;
  let coverSource: CoverSource = 'bootstrap';
  let covers = artifact.covers?.trees;
  if (covers === undefined) {
    const { columns } = artifact.driftReference;
    const rows = (columns[0] ?? []).map((_, i) => columns.map((column) => column[i] as number));
    covers = rowCovers(compiled, rows);
    coverSource = 'reference';
  }
  const shap = createExplainer(compiled, covers);
  return {
    baseValue: shap.baseValue,
    coverSource,
    featureNames: names,
    sources: sourcesOf(artifact.recipe.version, names, artifact.featureSources),
    contributions: (features) => shap.explain(features),
  };
}

/** Validates the artifact (AppError ARTIFACT_INVALID otherwise) and compiles it for serving. */
export function loadModel(json: unknown, limits: ArtifactLimits = DEFAULT_ARTIFACT_LIMITS): Predictor {
  const { artifact, compiled } = readArtifact(json, limits);
  return {
    artifact,
    version: artifact.modelVersion,
    forest: compiled,
    explainer: explainerOf(artifact, compiled),
    predict: (passengers) => {
      // Every passenger's features first, then the forest row by row: the serving walk needs no batching to keep
      // the forest in cache, but interleaving featurize with it cost a 1,000-passenger batch about a third more.
      const n = passengers.length;
      const rows = new Array<number[]>(n);
      for (let i = 0; i < n; i++) rows[i] = featurize(artifact.recipe, passengers[i] as Passenger);
      const out = new Array<Prediction>(n);
      for (let i = 0; i < n; i++) {
        const features = rows[i] as number[];
        const probability = compiled.probability(features);
        out[i] = { survived: predictedLabel(probability) === 1, probability, features };
      }
      return out;
    },
  };
}
