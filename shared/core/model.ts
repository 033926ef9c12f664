/**
 * A servable model: a validated artifact plus its compiled forest. The service and the CLI predict through
 * this, from raw passengers (features are computed here with the artifact's own recipe, the same function
 * training used), so serving can never compute features differently from training.
 */
import { type ModelArtifact, readArtifact } from './artifact.ts';
import type { CompiledForest } from './compiled-forest.ts';
import { predictedLabel } from './evaluation.ts';
import { featurize } from './features.ts';
import type { Passenger } from './schema.ts';

export interface Prediction {
  survived: boolean;
  /** Share of trees voting "survived". */
  probability: number;
  /** The engineered features the forest saw (recipe order). */
  features: number[];
}

export interface Predictor {
  readonly artifact: ModelArtifact;
  readonly version: string;
  readonly forest: CompiledForest;
  predict(passengers: readonly Passenger[]): Prediction[];
}

/** Validates the artifact (AppError ARTIFACT_INVALID otherwise) and compiles it for serving. */
export function loadModel(json: unknown): Predictor {
  const { artifact, compiled } = readArtifact(json);
  return {
    artifact,
    version: artifact.modelVersion,
    forest: compiled,
    predict: (passengers) => {
      const rows = passengers.map((p) => featurize(artifact.recipe, p));
      // Tree by tree over the whole batch (identical votes); a single row walks the trees directly.
      const votes = rows.length > 1 ? compiled.votesBatch(rows) : null;
      return rows.map((features, i) => {
        const probability = votes === null ? compiled.probability(features) : (votes[i] as number) / compiled.nTrees;
        return { survived: predictedLabel(probability) === 1, probability, features };
      });
    },
  };
}
