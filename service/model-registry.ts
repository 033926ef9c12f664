/**
 * The served model's lifecycle: load the promoted artifact that `models/latest.json` points at, poll the
 * pointer's generation, reload on a push, and swap atomically.
 *
 * A request takes one `ServedModel` snapshot (`registry.current()`) at its start and uses only that object, so
 * a swap never mixes two models in one answer and in-flight requests finish on the model they started with.
 * An artifact that fails validation is refused with an ERROR log; the model already serving keeps serving.
 */
import { driftReferenceOf } from '../shared/core/artifact.ts';
import { type Correction, DriftInputError, RequestDrift } from '../shared/core/drift.ts';
import { WindowDrift } from '../shared/core/drift-window.ts';
import { loadModel, type ServingModel } from '../shared/core/model.ts';
import type { Passenger } from '../shared/core/schema.ts';
import { AppError, isAppError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';

/** Where the registry reads the pointer and the artifacts (GCS in production, memory in tests). */
export interface ModelSource {
  /** `models/latest.json` and its object generation, or null when nothing has been promoted yet. */
  readPointer(): Promise<{ value: unknown; generation: string } | null>;
  /** The artifact JSON stored at `objectName` in the models bucket. */
  readArtifact(objectName: string): Promise<unknown>;
}

/** Everything a request needs from one model, built once per load. */
export interface ServedModel {
  readonly model: ServingModel;
  readonly version: string;
  /** Generation of `models/latest.json` this model was loaded from. */
  readonly pointerGeneration: string;
  readonly objectName: string;
  readonly loadedAt: string;
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

/**
 * The artifact object a pointer names. The pointer written by `train` carries the object name; a bare model
 * version or a gs:// URI are accepted too, so a pointer edited by hand still works.
 */
export function artifactObjectName(pointer: unknown): string {
  if (typeof pointer === 'object' && pointer !== null) {
    const p = pointer as Record<string, unknown>;
    for (const key of ['object', 'objectName', 'path', 'name']) {
      const v = p[key];
      if (typeof v === 'string' && v.endsWith('.json')) return v.replace(/^\/+/, '');
    }
    const uri = p.uri ?? p.artifactUri;
    if (typeof uri === 'string') {
      const m = /^gs:\/\/[^/]+\/(.+)$/.exec(uri);
      if (m?.[1]) return m[1];
    }
    const version = p.modelVersion ?? p.version;
    if (typeof version === 'string' && /^[\w.-]+$/.test(version)) return `models/${version}/model.json`;
  }
  throw new AppError('ARTIFACT_INVALID', 'models/latest.json does not name a model artifact');
}

export class ModelRegistry {
  readonly #source: ModelSource;
  readonly #logger: Logger;
  readonly #opts: ModelRegistryOptions;
  #current: ServedModel | null = null;
  #refusedGeneration: string | null = null;
  #inFlight: Promise<RefreshOutcome> | null = null;
  #timer: NodeJS.Timeout | null = null;

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
    this.#inFlight = this.#refresh().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  /** Builds a servable model from artifact JSON, or throws ARTIFACT_INVALID. Exposed for tests and tools. */
  build(json: unknown, pointerGeneration: string, objectName: string): ServedModel {
    const model = loadModel(json);
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
      loadedAt: (this.#opts.now?.() ?? new Date()).toISOString(),
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
        this.#logger.warn('model poll failed; the current model keeps serving', { err });
      });
    }, seconds * 1000);
    this.#timer.unref();
  }

  stopPolling(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #refresh(): Promise<RefreshOutcome> {
    const pointer = await this.#source.readPointer();
    if (pointer === null) {
      if (this.#current === null) this.#logger.info('no model promoted yet (models/latest.json is missing)');
      return 'missing';
    }
    const { generation } = pointer;
    if (this.#current?.pointerGeneration === generation) return 'unchanged';
    if (this.#refusedGeneration === generation) return 'refused';

    let objectName = '(unknown)';
    let next: ServedModel;
    try {
      objectName = artifactObjectName(pointer.value);
      // A read failure (bucket unreachable) propagates and is retried; everything after it is the artifact's fault.
      const json = await this.#source.readArtifact(objectName);
      next = this.build(json, generation, objectName);
    } catch (err) {
      if (err instanceof ModelSourceError) throw err;
      this.#refusedGeneration = generation;
      this.#logger.error('refused the model artifact; the current model keeps serving', {
        err,
        object: objectName,
        pointerGeneration: generation,
        servingVersion: this.#current?.version ?? null,
        ...(isAppError(err) && err.details ? { details: err.details } : {}),
      });
      this.#opts.onRefused?.(objectName, err);
      return 'refused';
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
