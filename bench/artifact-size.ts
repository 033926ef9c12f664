/**
 * `npx tsx bench/artifact-size.ts`: the model artifact's size as a function of the refit's rows, for the search
 * space's largest candidate (deepest trees, smallest leaves, every column). Trains ARTIFACT_SIZE_TREES trees
 * (default 4) on synthetic passengers (test/support/synthetic.ts) at each of ARTIFACT_SIZE_ROWS (dataset rows,
 * default 12500,31250,50000: 50,000 is MAX_TRAINING_ROWS's sample, whose refit has ~49,300 rows) and extrapolates the forest and covers linearly in the
 * tree count to the space's largest tree count. Prints one JSON line per size.
 */
import { DEFAULT_ARTIFACT_LIMITS, maxForestBytesOf } from '../shared/core/artifact.ts';
import { compileForest } from '../shared/core/compiled-forest.ts';
import { bootstrapCovers } from '../shared/core/covers.ts';
import { type ForestParams, trainForest } from '../shared/core/forest.ts';
import { DEFAULT_SPACE, FEATURE_SET_DEFAULTS, prepareFeatureSet } from '../shared/core/pipeline.ts';
import { syntheticPassengers } from '../test/support/synthetic.ts';

const TREES = Number(process.env.ARTIFACT_SIZE_TREES ?? 4);
const SIZES = (process.env.ARTIFACT_SIZE_ROWS ?? '12500,31250,50000').split(',').map(Number);
const space = DEFAULT_SPACE;
const maxTrees = Math.max(...space.nEstimators);

for (const n of SIZES) {
  const prepared = prepareFeatureSet(await syntheticPassengers(n), FEATURE_SET_DEFAULTS);
  const X = [...prepared.train.X, ...prepared.synthetic.X];
  const y = [...prepared.train.y, ...prepared.synthetic.y];
  const nFeatures = prepared.recipe.featureNames.length;
  const params: ForestParams = {
    nEstimators: TREES,
    maxFeatures: Math.min(Math.max(...space.maxFeatures), nFeatures),
    maxDepth: Math.max(...space.maxDepth),
    minNumSamples: Math.min(...space.minNumSamples),
    gainThreshold: Math.min(...space.gainThreshold),
    seed: 42,
  };
  const started = performance.now();
  const forest = trainForest(X, y, params);
  const compiled = compileForest(forest);
  const covers = bootstrapCovers(forest, compiled, X, params);
  const forestBytes = Buffer.byteLength(JSON.stringify(forest));
  const coverBytes = Buffer.byteLength(JSON.stringify(covers));
  const nodes = covers.trees.reduce((a, t) => a + t.length, 0);
  const perTreeNodes = covers.trees.map((t) => t.length);
  const meanNodes = nodes / TREES;
  const sdNodes = Math.sqrt(perTreeNodes.reduce((a, v) => a + (v - meanNodes) ** 2, 0) / Math.max(1, TREES - 1));
  const columns = prepared.recipe.featureNames.map((_, j) => prepared.train.X.map((r) => r[j] as number));
  const driftBytes = Buffer.byteLength(JSON.stringify(columns));
  const perTree = (forestBytes + coverBytes) / TREES;
  const recipeBytes = Buffer.byteLength(JSON.stringify(prepared.recipe));
  const budget = maxForestBytesOf(DEFAULT_ARTIFACT_LIMITS.maxBytes, prepared.recipe, prepared.train.X);
  console.log(
    JSON.stringify({
      datasetRows: n,
      trainRows: prepared.train.X.length,
      fitRows: X.length,
      params: { ...params, nEstimators: maxTrees },
      nodesPerTree: Math.round(meanNodes),
      nodesPerTreeSd: Math.round(sdNodes),
      nodesPerTreeRange: [Math.min(...perTreeNodes), Math.max(...perTreeNodes)],
      forestBytesPerTree: Math.round(forestBytes / TREES),
      coverBytesPerTree: Math.round(coverBytes / TREES),
      bytesPerNode: Math.round((forestBytes + coverBytes) / nodes),
      driftReferenceBytes: driftBytes,
      recipeBytes,
      projectedArtifactBytes: Math.round(perTree * maxTrees + driftBytes + recipeBytes),
      // the trees the train step keeps under the default MODEL_MAX_BYTES (maxForestBytesOf, then treesWithin)
      treesWithinDefaultLimit: Math.min(maxTrees, Math.floor(budget / (perTree + 3))),
      seconds: Math.round((performance.now() - started) / 100) / 10,
    }),
  );
}
