/**
 * The model artifact (`models/<version>/model.json`): everything needed to serve and to explain a model,
 * in one JSON document. `parseArtifact` is the only way in: it checks the format version first (so a file
 * written by a newer build says so), then validates the document against `ARTIFACT_SCHEMA`, then compiles the
 * forest and cross-checks sizes. Any failure is an AppError ARTIFACT_INVALID; a caller never gets a
 * half-working model.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { AppError } from '../errors.ts';
import { type CompiledForest, compileForest } from './compiled-forest.ts';
import type { NodeCovers } from './covers.ts';
import type { DriftReference as TypedDriftReference } from './drift.ts';
import type { TestMetrics } from './evaluation.ts';
import { declareSources, type PassengerField } from './feature-sources.ts';
import type { FeatureRecipe } from './features.ts';
import type { ForestParams } from './forest.ts';
import { FEATURE_KINDS, type FeatureKind, type FeatureName, RECIPE_FEATURES, type RecipeVersion } from './schema.ts';
import type { SearchResult } from './search.ts';
import type { SearchSample } from './search-sample.ts';
import type { ShapSample, TrainingResult, TreeCap } from './training.ts';

/**
 * Format versions (each adds optional fields; the reader accepts every version up to this one):
 * 1 the first; 2 feature recipe v2, whose fitted recipe carries its group table (`recipe.groups`); 3 each drift-reference feature marked continuous or categorical (`driftReference.featureTypes`);
 * 4 node covers for TreeSHAP (`covers`), the raw fields of each feature (`featureSources`) and the mean |SHAP|
 * over the test split (`shapImportances`).
 */
export const ARTIFACT_FORMAT_VERSION = 4;

export interface DriftReference {
  featureNames: FeatureName[];
  /**
   * Format 3: each feature's type, which decides its drift test (KS or chi-squared). Older artifacts lack it and
   * get the types of their feature names (see `driftReferenceOf`).
   */
  featureTypes?: FeatureKind[];
  /** One array per feature: the training split's real rows (before SMOTE), column-major. */
  columns: number[][];
}

export interface ModelArtifact {
  formatVersion: number;
  modelVersion: string;
  createdAt: string;
  lineage: { datasetId: string | null; featureSetVersion: string | null };
  recipe: FeatureRecipe;
  /** `ml-random-forest` JSON (`RandomForestClassifier.load` reads it). */
  forest: object;
  params: ForestParams;
  search: SearchResult;
  metrics: TestMetrics;
  importances: Record<string, number>;
  driftReference: DriftReference;
  /** Format 4: rows of each tree's bootstrap sample that reached each node (TreeSHAP's covers). */
  covers?: NodeCovers;
  /** Format 4: the raw passenger fields each feature is computed from (see `feature-sources.ts`). */
  featureSources?: Record<string, PassengerField[]>;
  /** Format 4: mean |SHAP| of each feature over the test split (`metrics.n` rows), in probability units. */
  shapImportances?: Record<string, number>;
  /** Present when the dataset had more rows than the cap: the model trained on this stratified sample of it. */
  sample?: TrainingSample;
  /** Present when the training split had more rows than SEARCH_MAX_ROWS: the search ran on this sample of it. */
  searchSample?: SearchSample;
  /** Present when the test split had more rows than SHAP_MAX_ROWS: `shapImportances` are over this sample of it. */
  shapSample?: ShapSample;
  /**
   * Present when the refit's forest did not fit MODEL_MAX_BYTES: it keeps its first `keptTrees` trees (`params`
   * says so), the forest those parameters grow with that many trees.
   */
  treeCap?: TreeCap;
}

/** The cap on training rows and the stratified sample taken under it (optional: readers that predate it skip it). */
export interface TrainingSample {
  /** MAX_TRAINING_ROWS of the process step. */
  maxRows: number;
  /** Labelled rows of the dataset. */
  datasetRows: number;
  /** Rows of the sample per outcome (their sum is the cap). */
  died: number;
  survived: number;
  /** Seeds the choice of rows (the split seed). */
  seed: number;
}

export interface BuildArtifactInput {
  modelVersion: string;
  /** ISO-8601 time (passed in: the core reads no clock). */
  createdAt: string;
  lineage?: { datasetId: string | null; featureSetVersion: string | null };
  recipe: FeatureRecipe;
  training: TrainingResult;
  /** The training split's real feature rows (row-major, before SMOTE): becomes the drift reference. */
  trainX: readonly (readonly number[])[];
  sample?: TrainingSample;
  searchSample?: SearchSample;
}

export function buildArtifact(input: BuildArtifactInput): ModelArtifact {
  const names = input.recipe.featureNames;
  const columns = names.map((_, j) => input.trainX.map((row) => row[j] as number));
  return {
    formatVersion: ARTIFACT_FORMAT_VERSION,
    modelVersion: input.modelVersion,
    createdAt: input.createdAt,
    lineage: input.lineage ?? { datasetId: null, featureSetVersion: null },
    recipe: input.recipe,
    forest: input.training.forest,
    params: input.training.params,
    search: input.training.search,
    metrics: input.training.metrics,
    importances: input.training.importances,
    driftReference: { featureNames: [...names], featureTypes: names.map((name) => FEATURE_KINDS[name]), columns },
    covers: input.training.covers,
    featureSources: declareSources(input.recipe.version, names),
    shapImportances: input.training.shapImportances,
    ...(input.sample ? { sample: input.sample } : {}),
    ...(input.searchSample ? { searchSample: input.searchSample } : {}),
    ...(input.training.shapSample ? { shapSample: input.training.shapSample } : {}),
    ...(input.training.treeCap ? { treeCap: input.training.treeCap } : {}),
  };
}

const numberArray = { type: 'array', items: { type: 'number' } } as const;
const forestParams = {
  type: 'object',
  required: ['nEstimators', 'maxFeatures', 'maxDepth', 'minNumSamples', 'gainThreshold', 'seed'],
  properties: {
    nEstimators: { type: 'integer', minimum: 1 },
    maxFeatures: { type: 'integer', minimum: 2 },
    maxFeaturesPerSplit: { type: 'integer', minimum: 1 },
    maxDepth: { type: 'number', minimum: 0 },
    minNumSamples: { type: 'number', minimum: 0 },
    gainThreshold: { type: 'number', minimum: 0 },
    seed: { type: 'integer' },
    columns: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 2 },
  },
} as const;

const fills = {
  type: 'object',
  required: ['age', 'fare', 'embarked'],
  properties: { age: { type: 'number' }, fare: { type: 'number' }, embarked: { enum: ['C', 'Q', 'S'] } },
} as const;
const codes = { type: 'object', additionalProperties: { type: 'number' } } as const;
const sexCodes = { type: 'object', required: ['male', 'female'], additionalProperties: { type: 'number' } } as const;
const portCodes = { type: 'object', required: ['C', 'Q', 'S'], additionalProperties: { type: 'number' } } as const;
const recipeV1 = {
  type: 'object',
  required: ['version', 'featureNames', 'fills', 'encoders'],
  properties: {
    version: { const: 1 },
    featureNames: { type: 'array', items: { type: 'string' } },
    fills,
    encoders: {
      type: 'object',
      required: ['sex', 'embarked', 'title', 'titleOther'],
      properties: { sex: sexCodes, embarked: portCodes, title: codes, titleOther: { type: 'number' } },
    },
  },
} as const;
/** Keyed groups: `[key, indices into members]` pairs. */
const keyedGroups = {
  type: 'array',
  items: {
    type: 'array',
    minItems: 2,
    maxItems: 2,
    items: [{ type: 'string' }, { type: 'array', items: { type: 'integer', minimum: 0 } }],
  },
} as const;
/** Format 2: recipe v2 and its fitted group table. */
const recipeV2 = {
  type: 'object',
  required: ['version', 'featureNames', 'fills', 'encoders', 'groups'],
  properties: {
    version: { const: 2 },
    featureNames: { type: 'array', items: { type: 'string' } },
    fills,
    encoders: {
      type: 'object',
      required: ['sex', 'embarked', 'title', 'titleRare', 'deck', 'deckUnknown'],
      properties: {
        sex: sexCodes,
        embarked: portCodes,
        title: codes,
        titleRare: sexCodes,
        deck: codes,
        deckUnknown: { type: 'number' },
      },
    },
    groups: {
      type: 'object',
      required: ['members', 'family', 'ticket'],
      properties: {
        members: {
          type: 'array',
          items: {
            type: 'array',
            minItems: 3,
            maxItems: 3,
            items: [{ type: 'integer' }, { enum: [0, 1] }, { enum: [0, 1] }],
          },
        },
        family: keyedGroups,
        ticket: keyedGroups,
      },
    },
  },
} as const;

/** JSON Schema (draft 7) of every format version up to ARTIFACT_FORMAT_VERSION. */
export const ARTIFACT_SCHEMA = {
  $id: 'https://survival-pipeline/model-artifact.json',
  type: 'object',
  required: [
    'formatVersion',
    'modelVersion',
    'createdAt',
    'lineage',
    'recipe',
    'forest',
    'params',
    'search',
    'metrics',
    'importances',
    'driftReference',
  ],
  properties: {
    formatVersion: { type: 'integer', minimum: 1, maximum: ARTIFACT_FORMAT_VERSION },
    modelVersion: { type: 'string', minLength: 1 },
    createdAt: { type: 'string', minLength: 1 },
    lineage: {
      type: 'object',
      required: ['datasetId', 'featureSetVersion'],
      properties: {
        // Lineage ids end up in keys and object names: the id alphabet only, checked when the model loads.
        datasetId: { anyOf: [{ type: 'null' }, { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' }] },
        featureSetVersion: {
          anyOf: [{ type: 'null' }, { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' }],
        },
      },
    },
    recipe: { oneOf: [recipeV1, recipeV2] },
    forest: {
      type: 'object',
      required: ['name', 'baseModel'],
      properties: {
        name: { const: 'RFClassifier' },
        baseModel: {
          type: 'object',
          required: ['estimators', 'indexes'],
          properties: { estimators: { type: 'array', minItems: 1 }, indexes: { type: 'array', minItems: 1 } },
        },
      },
    },
    params: forestParams,
    search: {
      type: 'object',
      required: ['folds', 'candidates', 'bestIndex', 'cvMean', 'cvSd'],
      properties: {
        folds: { type: 'integer' },
        candidates: {
          type: 'array',
          items: {
            type: 'object',
            required: ['params', 'scores', 'mean', 'sd'],
            properties: { params: forestParams, scores: numberArray, mean: { type: 'number' }, sd: { type: 'number' } },
          },
        },
        bestIndex: { type: 'integer', minimum: 0 },
        cvMean: { type: 'number' },
        cvSd: { type: 'number' },
      },
    },
    metrics: {
      type: 'object',
      required: ['accuracy', 'precision', 'recall', 'f1', 'rocAuc', 'brier', 'confusionMatrix', 'n'],
      properties: {
        accuracy: { type: 'number' },
        precision: { type: 'number' },
        recall: { type: 'number' },
        f1: { type: 'number' },
        rocAuc: { type: 'number' },
        brier: { type: 'number' },
        confusionMatrix: {
          type: 'object',
          required: ['tn', 'fp', 'fn', 'tp'],
          additionalProperties: { type: 'integer', minimum: 0 },
        },
        n: { type: 'integer', minimum: 0 },
      },
    },
    importances: { type: 'object', additionalProperties: { type: 'number', minimum: 0 } },
    driftReference: {
      type: 'object',
      required: ['featureNames', 'columns'],
      properties: {
        featureNames: { type: 'array', items: { type: 'string' } },
        featureTypes: { type: 'array', items: { enum: ['continuous', 'categorical'] } },
        columns: { type: 'array', items: numberArray },
      },
    },
    covers: {
      type: 'object',
      required: ['source', 'trees'],
      properties: {
        source: { const: 'bootstrap' },
        trees: { type: 'array', items: { type: 'array', items: { type: 'number', minimum: 0 } } },
      },
    },
    shapImportances: { type: 'object', additionalProperties: { type: 'number', minimum: 0 } },
    featureSources: {
      type: 'object',
      additionalProperties: { type: 'array', minItems: 1, items: { type: 'string' } },
    },
    sample: {
      type: 'object',
      required: ['maxRows', 'datasetRows', 'died', 'survived', 'seed'],
      properties: {
        maxRows: { type: 'integer', minimum: 1 },
        datasetRows: { type: 'integer', minimum: 1 },
        died: { type: 'integer', minimum: 0 },
        survived: { type: 'integer', minimum: 0 },
        seed: { type: 'integer' },
      },
    },
    searchSample: {
      type: 'object',
      required: ['maxRows', 'trainRows', 'died', 'survived', 'seed'],
      properties: {
        maxRows: { type: 'integer', minimum: 1 },
        trainRows: { type: 'integer', minimum: 1 },
        died: { type: 'integer', minimum: 0 },
        survived: { type: 'integer', minimum: 0 },
        seed: { type: 'integer' },
        method: { type: 'string' },
      },
    },
    shapSample: {
      type: 'object',
      required: ['maxRows', 'testRows', 'seed'],
      properties: {
        maxRows: { type: 'integer', minimum: 1 },
        testRows: { type: 'integer', minimum: 1 },
        seed: { type: 'integer' },
      },
    },
    treeCap: {
      type: 'object',
      required: ['maxBytes', 'searchedTrees', 'keptTrees', 'refitBytes'],
      properties: {
        maxBytes: { type: 'integer', minimum: 1 },
        searchedTrees: { type: 'integer', minimum: 1 },
        keptTrees: { type: 'integer', minimum: 1 },
        refitBytes: { type: 'integer', minimum: 1 },
      },
    },
  },
} as const;

/**
 * The schema's validator, compiled on first use: compiling it costs about 0.3 s, which every process importing
 * this module (a CLI that only trains, say) would otherwise pay at start-up.
 */
let compiledValidator: ValidateFunction | null = null;
function validator(): ValidateFunction {
  compiledValidator ??= new Ajv({ allErrors: true, strict: false }).compile(ARTIFACT_SCHEMA);
  return compiledValidator;
}

function invalid(message: string, details?: Record<string, unknown>): AppError {
  return new AppError('ARTIFACT_INVALID', `model artifact: ${message}`, details);
}

function describe(errors: readonly ErrorObject[]): string {
  return errors
    .slice(0, 5)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

/** Limits on what a loader accepts, so a hostile or broken artifact cannot exhaust memory or time. */
export interface ArtifactLimits {
  /** Bytes of the JSON document (checked before parsing). */
  maxBytes: number;
  maxTrees: number;
  maxNodesPerTree: number;
  maxDepth: number;
}

/** Roomy for this product's models (at most 150 trees of depth 12, a few MB) and small enough to load quickly. */
export const DEFAULT_ARTIFACT_LIMITS: ArtifactLimits = {
  maxBytes: 16 * 1024 * 1024,
  maxTrees: 1000,
  maxNodesPerTree: 20_000,
  maxDepth: 64,
};

/**
 * Room the artifact leaves the forest, its covers and the search result under MODEL_MAX_BYTES (`trainModel`'s
 * `maxForestBytes`; it takes the search result's bytes off itself): the limit less the drift reference (the training
 * split's rows, column-major) and the recipe, whose sizes are known before the refit, and less ARTIFACT_OTHER_BYTES
 * for the rest.
 */
export function maxForestBytesOf(
  maxBytes: number,
  recipe: FeatureRecipe,
  trainX: readonly (readonly number[])[],
): number {
  const columns = recipe.featureNames.map((_, j) => trainX.map((row) => row[j] as number));
  const fixed = Buffer.byteLength(JSON.stringify(columns)) + Buffer.byteLength(JSON.stringify(recipe));
  return Math.max(0, maxBytes - fixed - ARTIFACT_OTHER_BYTES);
}

/**
 * Bytes kept for the artifact's parts besides the forest, covers, search, drift reference and recipe: metrics,
 * importances, sources, lineage, sample records, whose size depends on the feature count only (measured: under 2 kB
 * for recipe v2's 9 features).
 */
export const ARTIFACT_OTHER_BYTES = 256 * 1024;

/** State of an incremental scan of JSON bytes for their deepest nesting of objects and arrays. */
export interface JsonDepthScan {
  depth: number;
  max: number;
  inString: boolean;
  escaped: boolean;
}

export const newJsonDepthScan = (): JsonDepthScan => ({ depth: 0, max: 0, inString: false, escaped: false });

/**
 * Advances the scan over `bytes[from, to)`. Lets a loader refuse a deeply nested document (a tree that is a long
 * chain) before `JSON.parse` spends a second on it, in slices small enough to yield between.
 */
export function scanJsonDepth(bytes: Uint8Array, from: number, to: number, scan: JsonDepthScan): void {
  let { depth, max, inString, escaped } = scan;
  for (let i = from; i < to; i++) {
    const b = bytes[i] as number;
    if (inString) {
      if (escaped) escaped = false;
      else if (b === 0x5c) escaped = true;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      depth++;
      if (depth > max) max = depth;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  Object.assign(scan, { depth, max, inString, escaped });
}

/**
 * The deepest JSON nesting a valid artifact can have with trees of `maxDepth`: one object per tree level, plus
 * the artifact's own structure around the trees and the arrays inside a node (generous, so only a chain trips it).
 */
export const maxJsonNesting = (limits: ArtifactLimits): number => limits.maxDepth + 32;

/**
 * Checks the forest's size against the limits before anything is compiled: trees, nodes per tree, depth. Walks
 * iteratively (a hostile tree may be a chain deeper than the call stack) and stops at the first violation.
 */
export function checkForestLimits(forest: unknown, limits: ArtifactLimits): void {
  const estimators = (forest as { baseModel?: { estimators?: unknown } } | null)?.baseModel?.estimators;
  if (!Array.isArray(estimators)) return; // the schema check reports it
  if (estimators.length > limits.maxTrees) {
    throw invalid(`${estimators.length} trees, over the limit of ${limits.maxTrees}`, {
      limit: 'maxTrees',
      trees: estimators.length,
      max: limits.maxTrees,
    });
  }
  estimators.forEach((tree, t) => {
    const root = (tree as { root?: unknown } | null)?.root;
    const stack: Array<{ node: unknown; depth: number }> = [{ node: root, depth: 0 }];
    let nodes = 0;
    while (stack.length > 0) {
      const { node, depth } = stack.pop() as { node: unknown; depth: number };
      if (typeof node !== 'object' || node === null) continue;
      nodes++;
      if (nodes > limits.maxNodesPerTree) {
        throw invalid(`tree ${t} has more than ${limits.maxNodesPerTree} nodes`, {
          limit: 'maxNodesPerTree',
          tree: t,
          max: limits.maxNodesPerTree,
        });
      }
      if (depth > limits.maxDepth) {
        throw invalid(`tree ${t} is deeper than ${limits.maxDepth}`, {
          limit: 'maxDepth',
          tree: t,
          max: limits.maxDepth,
        });
      }
      const { left, right } = node as { left?: unknown; right?: unknown };
      if (left !== undefined) stack.push({ node: left, depth: depth + 1 });
      if (right !== undefined) stack.push({ node: right, depth: depth + 1 });
    }
  });
}

/**
 * Validates an artifact: a parsed JSON value, or its text / bytes (a truncated file fails here as
 * "not valid JSON"). Throws AppError ARTIFACT_INVALID with a message saying what is wrong.
 */
export function parseArtifact(json: unknown, limits: ArtifactLimits = DEFAULT_ARTIFACT_LIMITS): ModelArtifact {
  return readArtifact(json, limits).artifact;
}

/** `parseArtifact`, also returning the compiled forest it built while checking (so a loader compiles once). */
export function readArtifact(
  json: unknown,
  limits: ArtifactLimits = DEFAULT_ARTIFACT_LIMITS,
): { artifact: ModelArtifact; compiled: CompiledForest } {
  let value = json;
  if (typeof value === 'string' || value instanceof Uint8Array) {
    const size = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
    if (size > limits.maxBytes) {
      throw invalid(`${size} bytes, over the limit of ${limits.maxBytes}`, {
        limit: 'maxBytes',
        size,
        max: limits.maxBytes,
      });
    }
    const text = typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw invalid(`not valid JSON (truncated or corrupted file?): ${(err as Error).message}`, {
        bytes: text.length,
      });
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('not a JSON object');
  }
  const formatVersion = (value as { formatVersion?: unknown }).formatVersion;
  if (formatVersion === undefined) {
    throw invalid('no formatVersion: this is not a model artifact');
  }
  if (typeof formatVersion === 'number' && formatVersion > ARTIFACT_FORMAT_VERSION) {
    throw invalid(
      `format version ${formatVersion} is newer than this build reads (${ARTIFACT_FORMAT_VERSION}); upgrade the reader`,
      { formatVersion, supported: ARTIFACT_FORMAT_VERSION },
    );
  }
  checkForestLimits((value as { forest?: unknown }).forest, limits);
  const validate = validator();
  if (!validate(value)) {
    throw invalid(`does not match the format ${ARTIFACT_FORMAT_VERSION} schema: ${describe(validate.errors ?? [])}`, {
      errors: (validate.errors ?? []).slice(0, 5).map((e) => ({ path: e.instancePath, message: e.message })),
    });
  }
  const artifact = value as unknown as ModelArtifact;
  const recipeVersion: RecipeVersion = artifact.recipe.version;
  if (!sameNames(artifact.recipe.featureNames, RECIPE_FEATURES[recipeVersion])) {
    throw invalid(`recipe features ${artifact.recipe.featureNames.join(',')} are not recipe v${recipeVersion}'s`);
  }
  if (artifact.recipe.version === 2) {
    const { members, family, ticket } = artifact.recipe.groups;
    for (const [what, groups] of [
      ['family', family],
      ['ticket', ticket],
    ] as const) {
      const bad = groups.find(([, list]) => list.some((m) => m >= members.length));
      if (bad) throw invalid(`recipe ${what} group "${bad[0]}" names a member beyond the ${members.length} members`);
    }
  }
  if (!sameNames(artifact.driftReference.featureNames, artifact.recipe.featureNames)) {
    throw invalid('drift reference features differ from the recipe features');
  }
  const types = artifact.driftReference.featureTypes;
  if (types !== undefined && types.length !== artifact.driftReference.featureNames.length) {
    throw invalid(
      `drift reference has ${types.length} feature types for ${artifact.driftReference.featureNames.length} features`,
    );
  }
  const columns = artifact.driftReference.columns;
  const rows = columns[0]?.length ?? 0;
  if (columns.length !== artifact.recipe.featureNames.length || rows === 0 || columns.some((c) => c.length !== rows)) {
    throw invalid('drift reference must hold one non-empty column per feature, all of the same length');
  }
  const compiled = compileForest(artifact.forest);
  if (compiled.nFeatures > artifact.recipe.featureNames.length) {
    throw invalid(
      `the forest reads ${compiled.nFeatures} columns, the recipe has ${artifact.recipe.featureNames.length}`,
    );
  }
  return { artifact, compiled };
}

/**
 * The drift reference with every feature's type: the artifact's own (format 3 on), or for an older artifact the
 * type its feature name has in the recipe (FEATURE_KINDS). A feature with neither is ARTIFACT_INVALID, naming it.
 */
export function driftReferenceOf(artifact: ModelArtifact): TypedDriftReference {
  const { featureNames, columns } = artifact.driftReference;
  const featureTypes =
    artifact.driftReference.featureTypes ??
    featureNames.map((name) => {
      const kind = (FEATURE_KINDS as Readonly<Record<string, FeatureKind | undefined>>)[name];
      if (kind === undefined) throw invalid(`drift reference feature ${name} has no type and is not a known feature`);
      return kind;
    });
  return { featureNames, featureTypes, columns };
}
