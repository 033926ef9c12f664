/**
 * `npx tsx bench/artifact-size.ts`: the model artifact's size as a function of the refit's rows, for the search
 * space's largest candidate (deepest trees, smallest leaves, every column). Trains ARTIFACT_SIZE_TREES trees
 * (default 4) on synthetic passengers (test/support/synthetic.ts) at each of ARTIFACT_SIZE_ROWS (dataset rows,
 * default 12500,31250,62500: the capped sample is 50,000) and extrapolates the forest and covers linearly in the
 * tree count to the space's largest tree count. Prints one JSON line per size.
 */
import { compileForest } from '../shared/core/compiled-forest.ts';
import { bootstrapCovers } from '../shared/core/covers.ts';
import { type ForestParams, trainForest } from '../shared/core/forest.ts';
import { DEFAULT_SPACE, FEATURE_SET_DEFAULTS, prepareFeatureSet } from '../shared/core/pipeline.ts';
import { syntheticPassengers } from '../test/support/synthetic.ts';

const TREES = Number(process.env.ARTIFACT_SIZE_TREES ?? 4);
const SIZES = (process.env.ARTIFACT_SIZE_ROWS ?? '12500,31250,62500').split(',').map(Number);
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
  const columns = prepared.recipe.featureNames.map((_, j) => prepared.train.X.map((r) => r[j] as number));
  const driftBytes = Buffer.byteLength(JSON.stringify(columns));
  const perTree = (forestBytes + coverBytes) / TREES;
  console.log(
    JSON.stringify({
      datasetRows: n,
      trainRows: prepared.train.X.length,
      fitRows: X.length,
      params: { ...params, nEstimators: maxTrees },
      nodesPerTree: Math.round(nodes / TREES),
      forestBytesPerTree: Math.round(forestBytes / TREES),
      coverBytesPerTree: Math.round(coverBytes / TREES),
      bytesPerNode: Math.round((forestBytes + coverBytes) / nodes),
      driftReferenceBytes: driftBytes,
      projectedArtifactBytes: Math.round(perTree * maxTrees + driftBytes),
      seconds: Math.round((performance.now() - started) / 100) / 10,
    }),
  );
}
