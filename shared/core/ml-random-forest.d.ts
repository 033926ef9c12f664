/**
 * The part of `ml-random-forest` 2.1 that the core uses (the package ships no types).
 * Known defects are worked around in forest.ts, not inherited: see the notes there.
 */
declare module 'ml-random-forest' {
  export interface RandomForestClassifierOptions {
    nEstimators?: number;
    /** A float in (0, 1] is a share of the columns (1 means all of them); an integer > 1 is a count. */
    maxFeatures?: number;
    /** Draw the columns of a tree with replacement (the library default, `true`). */
    replacement?: boolean;
    seed?: number;
    useSampleBagging?: boolean;
    noOOB?: boolean;
    maxSamples?: number;
    treeOptions?: {
      gainFunction?: 'gini';
      splitFunction?: 'mean';
      minNumSamples?: number;
      maxDepth?: number;
      gainThreshold?: number;
      /**
       * patched ml-cart: columns each split considers, drawn afresh per split (absent: all of the tree's).
       * The patched forest seeds each tree's draws (`splitSeed`) from its own seed chain.
       */
      maxFeaturesPerSplit?: number;
    };
  }

  export interface PredictionValues {
    readonly rows: number;
    readonly columns: number;
    get(row: number, column: number): number;
    getRow(row: number): number[];
  }

  export class RandomForestClassifier {
    constructor(options?: RandomForestClassifierOptions);
    train(X: number[][], y: number[]): void;
    predict(X: number[][]): number[];
    /** One row per sample, one column per tree: the class each tree votes for. */
    predictionValues(X: number[][]): PredictionValues;
    toJSON(): { name: 'RFClassifier'; baseModel: Record<string, unknown> };
    static load(model: unknown): RandomForestClassifier;
  }
}
