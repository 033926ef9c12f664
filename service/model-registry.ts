/**
 * The served model's lifecycle: load the promoted artifact that `models/latest.json` points at, poll the
 * pointer's generation, reload on a push, and swap atomically.
 *
 * A request takes one `ServedModel` snapshot (`registry.current()`) at its start and uses only that object, so
 * a swap never mixes two models in one answer and in-flight requests finish on the model they started with.
 * An artifact that fails validation is refused with an ERROR log; the model already serving keeps serving.
 */
import { createHash } from 'node:crypto';
import {
  MODEL_POINTER_OBJECT,
  type ModelPointer,
  PointerCorruptError,
  parsePointer,
  verifyArtifactBytes,
} from '../shared/adapters/model-store.ts';
import {
  type ArtifactLimits,
  DEFAULT_ARTIFACT_LIMITS,
  driftReferenceOf,
  maxJsonNesting,
  newJsonDepthScan,
  scanJsonDepth,
} from '../shared/core/artifact.ts';
import { type Correction, DriftInputError, RequestDrift } from '../shared/core/drift.ts';
import { WindowDrift } from '../shared/core/drift-window.ts';
import { loadModel, type Predictor } from '../shared/core/model.ts';
import type { Passenger } from '../shared/core/schema.ts';
import { AppError, isAppError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';

/** Where the registry reads the pointer and the artifacts (GCS in production, memory in tests). */
export interface ModelSource {
  /** `models/latest.json` and its object generation, or null when nothing has been promoted yet. */
  readPointer(): Promise<{ value: unknown; generation: string } | null>;
  /**
   * The artifact stored at `objectName` in the models bucket: its bytes (verified against the pointer's sha256
   * and size), or parsed JSON from an in-memory source. A source that can refuses beyond `maxBytes` unread.
   */
  readArtifact(objectName: string, opts?: { maxBytes?: number }): Promise<unknown>;
}

/** Everything a request needs from one model, built once per load. */
export interface ServedModel {
  readonly model: Predictor;
  readonly version: string;
  /** Generation of `models/latest.json` this model was loaded from. */
  readonly pointerGeneration: string;
  readonly objectName: string;
  readonly loadedAt: string;
  /** The pointer this model was loaded through (promotion record, evidence and history for the model card). */
  readonly pointer: ModelPointer | null;
  /** Per-request verdict (the seed's `drift_count_total`): support check, plus TabularDrift on larger requests. */
  readonly requestDrift: RequestDrift;
  /** Sliding window of recently scored rows; its state belongs to this model, reset on every swap. */
  readonly windowDrift: WindowDrift;
  /** Survival probability for an already engineered feature row (online serving from the feature store). */
  probabilityOfFeatures(row: ArrayLike<number>): number;
}

/** Thrown by a ModelSource when it cannot read (as opposed to reading something invalid). */
export class ModelSourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelSourceError';
  }
}

export type RefreshOutcome = 'loaded' | 'unchanged' | 'refused' | 'missing';

/**
 * Whether the models bucket could be read lately (by a poll or a push). A read that got an answer counts as a
 * success even when the answer was refused: the bucket is reachable, the artifact is the problem.
 */
export interface SourceHealth {
  state: 'ok' | 'failing' | 'unknown';
  /** Failed reads since the last successful one. */
  consecutiveFailures: number;
  /** Failed reads since start. */
  failures: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
}

export interface ModelRegistryOptions {
  source: ModelSource;
  logger: Logger;
  /** Rows in the drift window (default 200). */
  driftWindow?: number;
  /** Requests between two window evaluations (default 10). */
  driftEvery?: number;
  /** Target expected run time of the window, in requests between false alarms (default 1,000,000). */
  driftErt?: number;
  /** At most this many rows of one request enter the window (default 5). */
  driftRowsPerRequest?: number;
  /** Multiple-testing correction across features (default 'bonferroni'). */
  driftCorrection?: Correction;
  /** Called after every successful swap (metrics, window gauges). */
  onSwap?: (next: ServedModel, previous: ServedModel | null) => void;
  /** Called when an artifact is refused. */
  onRefused?: (objectName: string, err: unknown) => void;
  /** MODEL_MAX_BYTES, MODEL_MAX_TREES, MODEL_MAX_NODES_PER_TREE, MODEL_MAX_DEPTH. */
  limits?: ArtifactLimits;
  now?: () => Date;
}

/** A plain passenger every valid model must be able to score before it is allowed to serve. */
const SMOKE_PASSENGER: Passenger = {
  passengerId: 1,
  pclass: 3,
  name: 'Braund, Mr. Owen Harris',
  sex: 'male',
  age: 22,
  sibSp: 1,
  parch: 0,
  ticket: 'A/5 21171',
  fare: 7.25,
  cabin: null,
  embarked: 'S',
};

/** The artifact object a pointer names: `object`, spelled `models/<modelVersion>/model.json` and nothing else. */
export function artifactObjectName(pointer: unknown): string {
  return parsePointer(pointer).object;
}

/** Bytes hashed and scanned per turn of the event loop: a few milliseconds of work between two requests. */
const INSPECT_SLICE = 512 * 1024;

/**
 * Size, sha256 (against the pointer) and JSON nesting depth of an artifact's bytes, computed in slices that yield
 * to the event loop, so a large or hostile artifact never holds up /healthz or a prediction for long. Throws
 * ARTIFACT_INVALID before anything is parsed.
 */
async function inspectArtifactBytes(pointer: ModelPointer, bytes: Uint8Array, limits: ArtifactLimits): Promise<void> {
  if (bytes.length > limits.maxBytes) {
    throw new AppError(
      'ARTIFACT_INVALID',
      `${pointer.object} is ${bytes.length} bytes, over the limit of ${limits.maxBytes}`,
      {
        limit: 'maxBytes',
      },
    );
  }
  const hash = createHash('sha256');
  const scan = newJsonDepthScan();
  for (let from = 0; from < bytes.length; from += INSPECT_SLICE) {
    const to = Math.min(bytes.length, from + INSPECT_SLICE);
    hash.update(bytes.subarray(from, to));
    scanJsonDepth(bytes, from, to, scan);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  verifyArtifactBytes(pointer, bytes, hash.digest('hex'));
  if (scan.max > maxJsonNesting(limits)) {
    throw new AppError(
      'ARTIFACT_INVALID',
      `${pointer.object} nests ${scan.max} levels deep: a tree deeper than ${limits.maxDepth}`,
      { limit: 'maxDepth', nesting: scan.max, max: limits.maxDepth },
    );
  }
}

export class ModelRegistry {
  readonly #source: ModelSource;
  readonly #logger: Logger;
  readonly #opts: ModelRegistryOptions;
  #current: ServedModel | null = null;
  #refusedGeneration: string | null = null;
  #inFlight: Promise<RefreshOutcome> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #health: SourceHealth = {
    state: 'unknown',
    consecutiveFailures: 0,
    failures: 0,
    lastSuccessAt: null,
    lastFailureAt: null,
  };

  constructor(opts: ModelRegistryOptions) {
    this.#source = opts.source;
    this.#logger = opts.logger;
    this.#opts = opts;
  }

  /** The model serving right now; take it once per request. */
  current(): ServedModel | null {
    return this.#current;
  }

  /**
   * Reads the pointer and loads the artifact when its generation changed. Concurrent calls share one
   * refresh. A refused artifact resolves to 'refused'; an unreachable bucket rejects (the caller decides
   * whether that is retryable: a push answers 503, the poller logs and tries again next tick).
   */
  refresh(): Promise<RefreshOutcome> {
    if (this.#inFlight) return this.#inFlight;
    this.#inFlight = this.#refresh()
      .then(
        (outcome) => {
          this.#health = {
            ...this.#health,
            state: 'ok',
            consecutiveFailures: 0,
            lastSuccessAt: this.#now().toISOString(),
          };
          return outcome;
        },
        (err: unknown) => {
          this.#health = {
            ...this.#health,
            state: 'failing',
            consecutiveFailures: this.#health.consecutiveFailures + 1,
            failures: this.#health.failures + 1,
            lastFailureAt: this.#now().toISOString(),
          };
          throw err;
        },
      )
      .finally(() => {
        this.#inFlight = null;
      });
    return this.#inFlight;
  }

  /** How reading the models bucket has gone lately (for /healthz and /metrics). */
  sourceHealth(): SourceHealth {
    return { ...this.#health };
  }

  #now(): Date {
    return this.#opts.now?.() ?? new Date();
  }

  /** Builds a servable model from artifact JSON, or throws ARTIFACT_INVALID. Exposed for tests and tools. */
  build(
    json: unknown,
    pointerGeneration: string,
    objectName: string,
    pointer: ModelPointer | null = null,
  ): ServedModel {
    const model = loadModel(json, this.#opts.limits ?? DEFAULT_ARTIFACT_LIMITS);
    const { artifact } = model;
    const reference = driftReferenceOf(artifact);
    const correction = this.#opts.driftCorrection ?? 'bonferroni';
    let requestDrift: RequestDrift;
    let windowDrift: WindowDrift;
    try {
      requestDrift = new RequestDrift(reference, { correction });
      windowDrift = new WindowDrift(reference, {
        windowSize: this.#opts.driftWindow ?? 200,
        evaluateEvery: this.#opts.driftEvery ?? 10,
        ert: this.#opts.driftErt ?? 1_000_000,
        rowsPerRequest: this.#opts.driftRowsPerRequest ?? 5,
        correction,
      });
    } catch (err) {
      if (err instanceof DriftInputError) throw new AppError('ARTIFACT_INVALID', `model artifact: ${err.message}`);
      throw err;
    }
    const [smoke] = model.predict([SMOKE_PASSENGER]);
    if (!smoke || !(smoke.probability >= 0 && smoke.probability <= 1)) {
      throw new AppError('ARTIFACT_INVALID', 'the model does not produce a probability');
    }
    return {
      model,
      version: model.version,
      pointerGeneration,
      objectName,
      loadedAt: this.#now().toISOString(),
      pointer,
      requestDrift,
      windowDrift,
      probabilityOfFeatures: (row) => model.forest.probability(row),
    };
  }

  /** Polls the pointer every `seconds` (0 disables polling). The timer does not keep the process alive. */
  startPolling(seconds: number): void {
    this.stopPolling();
    if (seconds <= 0) return;
    this.#timer = setInterval(() => {
      this.refresh().catch((err: unknown) => {
        this.#logger.warn('model poll failed; the current model keeps serving', {
          err,
          servingVersion: this.#current?.version ?? null,
          consecutiveFailures: this.#health.consecutiveFailures,
          lastSuccessAt: this.#health.lastSuccessAt,
        });
      });
    }, seconds * 1000);
    this.#timer.unref();
  }

  stopPolling(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One ERROR line for a refused pointer or artifact; the generation is remembered so it is refused once. */
  #refuse(generation: string, objectName: string, err: unknown): RefreshOutcome {
    this.#refusedGeneration = generation;
    const corrupt = err instanceof PointerCorruptError;
    this.#logger.error(
      corrupt
        ? 'refused a corrupt model pointer; the current model keeps serving'
        : 'refused the model artifact; the current model keeps serving',
      {
        err,
        object: objectName,
        pointerGeneration: generation,
        servingVersion: this.#current?.version ?? null,
        ...(corrupt ? { corrupt: true } : {}),
        ...(isAppError(err) && err.details ? { details: err.details } : {}),
      },
    );
    this.#opts.onRefused?.(objectName, err);
    return 'refused';
  }

  async #refresh(): Promise<RefreshOutcome> {
    let pointer: Awaited<ReturnType<ModelSource['readPointer']>>;
    try {
      pointer = await this.#source.readPointer();
    } catch (err) {
      if (!(err instanceof PointerCorruptError)) throw err;
      const generation = err.generation ?? 'corrupt';
      if (this.#refusedGeneration === generation) return 'refused';
      return this.#refuse(generation, MODEL_POINTER_OBJECT, err);
    }
    if (pointer === null) {
      if (this.#current === null) this.#logger.info('no model promoted yet (models/latest.json is missing)');
      return 'missing';
    }
    const { generation } = pointer;
    if (this.#current?.pointerGeneration === generation) return 'unchanged';
    if (this.#refusedGeneration === generation) return 'refused';

    let objectName: string = MODEL_POINTER_OBJECT;
    let next: ServedModel;
    try {
      const parsed = parsePointer(pointer.value);
      objectName = parsed.object;
      const limits = this.#opts.limits ?? DEFAULT_ARTIFACT_LIMITS;
      // A read failure (bucket unreachable) propagates and is retried; everything after it is the artifact's fault.
      const stored = await this.#source.readArtifact(objectName, { maxBytes: limits.maxBytes });
      if (stored === undefined || stored === null)
        throw new AppError('ARTIFACT_INVALID', `${objectName} does not exist`);
      // Integrity first: the bytes must be the ones the pointer names, before anything is parsed.
      const bytes = stored instanceof Uint8Array ? stored : Buffer.from(JSON.stringify(stored));
      await inspectArtifactBytes(parsed, bytes, limits);
      next = this.build(bytes, generation, objectName, parsed);
    } catch (err) {
      if (err instanceof ModelSourceError) throw err;
      return this.#refuse(generation, objectName, err);
    }

    const previous = this.#current;
    this.#current = next; // the swap: one reference assignment, seen by every request that starts after it
    this.#refusedGeneration = null;
    this.#logger.info('model loaded', {
      modelVersion: next.version,
      object: objectName,
      pointerGeneration: generation,
      previousVersion: previous?.version ?? null,
    });
    this.#opts.onSwap?.(next, previous);
    return 'loaded';
  }
}
