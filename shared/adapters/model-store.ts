/**
 * The model store: the one place that knows the models bucket's layout and the pointer's format.
 *
 * - `models/<version>/model.json`: an artifact, written once (`ifGenerationMatch: 0`) and never rewritten.
 * - `models/latest.json`: the pointer to the promoted artifact. Format 2 carries the artifact's sha256 and size
 *   (a reader verifies both before serving), the record of the promotion that wrote it, and the recent history
 *   of promotions. Format 1 pointers (no `pointerFormat`, no hash) still load.
 *
 * The pointer moves only by compare-and-set on its generation (`movePointer`), so promote, rollback and a
 * forced promote never lose each other's writes. The bucket keeps object versions, so an overwritten pointer is
 * recoverable.
 */
import { createHash } from 'node:crypto';
import type { Storage } from '@google-cloud/storage';
import { AppError } from '../errors.ts';
import { getObjectMetadata, isNotFound, PreconditionFailedError, readObject, storageFailure } from './storage.ts';

/** Every object of the store lives under this prefix (the train account may create objects only here). */
export const MODELS_PREFIX = 'models/';
export const MODEL_POINTER_OBJECT = `${MODELS_PREFIX}latest.json`;
export const POINTER_FORMAT_VERSION = 2;
/** How many past promotions the pointer keeps (the /model page's history). */
export const POINTER_HISTORY = 20;

/** A model version as `train` names it, and as an object name segment: no slashes, no `..`. */
export const MODEL_VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export type PromotionAction = 'promote' | 'force-promote' | 'rollback';

/** Who moved the pointer and why (train's decision, or an operator's --force / rollback). */
export interface PromotionRecord {
  action: PromotionAction;
  modelVersion: string;
  previousVersion: string | null;
  at: string;
  actor: string;
  reason: string;
}

/** What `train` learned about the data and the comparison; travels with the pointer for the model card. */
export interface PromotionEvidence {
  /**
   * The training dataset: id, rows, label share, and whether it passed validation; `validationSample` when the
   * validation and the comparison read a sample of a dataset larger than VALIDATION_MAX_ROWS.
   */
  dataset?:
    | {
        datasetId: string | null;
        rows: number;
        labelShare: number;
        validation: unknown;
        validationSample?: unknown;
      }
    | undefined;
  /** Champion against challenger on rows neither trained on. */
  comparison?: unknown;
  decision?: unknown;
}

export interface ModelPointer {
  pointerFormat: 1 | 2;
  modelVersion: string;
  object: string;
  uri: string;
  createdAt: string;
  featureSetVersion: string | null;
  datasetId: string | null;
  accuracy: number;
  promotedAt: string;
  /** Format 2: hex sha256 and byte size of the artifact object. */
  sha256?: string;
  size?: number;
  promotion?: PromotionRecord;
  evidence?: PromotionEvidence;
  /** Most recent first, this pointer's own promotion included. */
  history?: PromotionRecord[];
}

/** The artifact object of a version: the only spelling a pointer may carry. */
export function artifactObject(version: string): string {
  if (!MODEL_VERSION_PATTERN.test(version) || version.includes('..')) {
    throw new AppError('ARTIFACT_INVALID', `not a model version: ${JSON.stringify(version).slice(0, 80)}`);
  }
  return `${MODELS_PREFIX}${version}/model.json`;
}

/** The pointer is not JSON or not a pointer: an operator must look, a retry would not fix it. */
export class PointerCorruptError extends AppError {
  /** The pointer's object generation, when read from a bucket (so a reader refuses it once, not every poll). */
  generation: string | undefined;
  constructor(message: string, details?: Record<string, unknown>) {
    super('ARTIFACT_INVALID', `models/latest.json is corrupt: ${message}`, details);
    this.name = 'PointerCorruptError';
  }
}

/** The store could not be read or written (network, permissions): a retry may fix it. */
export class ModelStoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelStoreUnavailableError';
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';

function parseRecord(value: unknown): PromotionRecord | null {
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  const actions: readonly string[] = ['promote', 'force-promote', 'rollback'];
  if (!isString(r.action) || !actions.includes(r.action) || !isString(r.modelVersion) || !isString(r.at)) return null;
  return {
    action: r.action as PromotionAction,
    modelVersion: r.modelVersion,
    previousVersion: isString(r.previousVersion) ? r.previousVersion : null,
    at: r.at,
    actor: isString(r.actor) ? r.actor : 'unknown',
    reason: isString(r.reason) ? r.reason : '',
  };
}

/**
 * Validates a pointer document (parsed JSON, or its bytes). The artifact it names must be
 * `models/<modelVersion>/model.json`, spelled exactly so; format 2 needs a sha256 and a size.
 */
export function parsePointer(raw: unknown): ModelPointer {
  let value = raw;
  if (typeof value === 'string' || value instanceof Uint8Array) {
    const text = typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new PointerCorruptError(`not JSON (${(err as Error).message})`, { bytes: text.length });
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PointerCorruptError('not a JSON object');
  }
  const p = value as Record<string, unknown>;
  const format = p.pointerFormat ?? 1;
  if (format !== 1 && format !== 2) {
    throw new PointerCorruptError(`pointer format ${String(format)} is not one this build reads (1-2)`);
  }
  if (!isString(p.modelVersion) || !MODEL_VERSION_PATTERN.test(p.modelVersion) || p.modelVersion.includes('..')) {
    throw new PointerCorruptError('modelVersion is missing or not a model version');
  }
  const object = artifactObject(p.modelVersion);
  if (p.object !== object) {
    throw new PointerCorruptError(`object must be ${object}`, { object: p.object });
  }
  const pointer: ModelPointer = {
    pointerFormat: format,
    modelVersion: p.modelVersion,
    object,
    uri: isString(p.uri) ? p.uri : '',
    createdAt: isString(p.createdAt) ? p.createdAt : '',
    featureSetVersion: isString(p.featureSetVersion) ? p.featureSetVersion : null,
    datasetId: isString(p.datasetId) ? p.datasetId : null,
    accuracy: typeof p.accuracy === 'number' ? p.accuracy : Number.NaN,
    promotedAt: isString(p.promotedAt) ? p.promotedAt : '',
  };
  if (format === 2) {
    if (!isString(p.sha256) || !/^[0-9a-f]{64}$/.test(p.sha256)) throw new PointerCorruptError('sha256 is missing');
    if (typeof p.size !== 'number' || !Number.isSafeInteger(p.size) || p.size <= 0) {
      throw new PointerCorruptError('size is missing');
    }
    pointer.sha256 = p.sha256;
    pointer.size = p.size;
  }
  const promotion = parseRecord(p.promotion);
  if (promotion) pointer.promotion = promotion;
  if (typeof p.evidence === 'object' && p.evidence !== null) pointer.evidence = p.evidence as PromotionEvidence;
  if (Array.isArray(p.history)) {
    pointer.history = p.history.map(parseRecord).filter((r): r is PromotionRecord => r !== null);
  }
  return pointer;
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The pointer as read, with the generation a compare-and-set must match. */
export interface PointerRead {
  pointer: ModelPointer;
  generation: string;
}

export interface ModelStore {
  readonly bucket: string;
  uriOf(version: string): string;
  /**
   * The pointer, or null when nothing has been promoted. Throws PointerCorruptError when it is not a pointer,
   * ModelStoreUnavailableError when it cannot be read.
   */
  readPointer(): Promise<PointerRead | null>;
  /** The artifact's bytes; refuses before downloading when the object is larger than `maxBytes`. */
  readArtifactBytes(object: string, opts?: { maxBytes?: number }): Promise<Buffer>;
  /**
   * Writes the artifact of `version` if absent. Returns the stored object's sha256 and size: the bytes written,
   * or (when a concurrent run wrote it first) the bytes already there.
   */
  writeArtifact(version: string, artifact: unknown): Promise<{ sha256: string; size: number; bytes: Buffer }>;
  /**
   * Compare-and-set on the pointer: `decide` sees the current pointer (or null) and returns the next one, or
   * null to leave it. Retried on a lost race. Returns the pointer written, or null when `decide` declined.
   */
  movePointer(decide: (current: ModelPointer | null) => ModelPointer | null): Promise<ModelPointer | null>;
}

/** The artifact object does not exist (a pointer to nothing is ARTIFACT_INVALID for a reader). */
export class ArtifactNotFoundError extends AppError {
  constructor(bucket: string, object: string) {
    super('ARTIFACT_INVALID', `gs://${bucket}/${object} does not exist`, { object });
    this.name = 'ArtifactNotFoundError';
  }
}

export class ArtifactTooLargeError extends AppError {
  constructor(object: string, size: number, maxBytes: number) {
    super('ARTIFACT_INVALID', `${object} is ${size} bytes, over the limit of ${maxBytes}`, {
      object,
      size,
      maxBytes,
    });
    this.name = 'ArtifactTooLargeError';
  }
}

/** A pointer for `artifact`, with its hash and size, the promotion record, and the history carried forward. */
export function pointerFor(
  artifact: {
    modelVersion: string;
    createdAt: string;
    lineage: { datasetId: string | null; featureSetVersion: string | null };
    metrics: { accuracy: number };
  },
  stored: { sha256: string; size: number },
  uri: string,
  record: PromotionRecord,
  previous: ModelPointer | null,
  evidence?: PromotionEvidence,
): ModelPointer {
  const earlier = previous?.history ?? (previous?.promotion ? [previous.promotion] : []);
  return {
    pointerFormat: 2,
    modelVersion: artifact.modelVersion,
    object: artifactObject(artifact.modelVersion),
    uri,
    createdAt: artifact.createdAt,
    featureSetVersion: artifact.lineage.featureSetVersion,
    datasetId: artifact.lineage.datasetId,
    accuracy: artifact.metrics.accuracy,
    promotedAt: record.at,
    sha256: stored.sha256,
    size: stored.size,
    promotion: record,
    ...(evidence ? { evidence } : {}),
    history: [record, ...earlier].slice(0, POINTER_HISTORY),
  };
}

const statusOf = (err: unknown): number | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
};

export function gcsModelStore(storage: Storage, bucket: string): ModelStore {
  const file = (name: string, generation?: string) =>
    storage.bucket(bucket).file(name, generation === undefined ? {} : { generation });

  /** Through the adapter's stall guard: a body that stops arriving fails after the client's timeout. */
  async function download(name: string, generation?: string): Promise<Buffer | null> {
    try {
      return await readObject(storage, bucket, name, generation);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageFailure(err);
    }
  }

  async function readPointer(): Promise<PointerRead | null> {
    for (let attempt = 0; attempt < 5; attempt++) {
      let bytes: Buffer | null;
      let generation: string;
      try {
        const meta = await getObjectMetadata(storage, bucket, MODEL_POINTER_OBJECT);
        if (!meta) return null;
        generation = meta.generation;
        bytes = await download(MODEL_POINTER_OBJECT, generation);
      } catch (err) {
        throw new ModelStoreUnavailableError(`could not read gs://${bucket}/${MODEL_POINTER_OBJECT}`, { cause: err });
      }
      if (bytes === null) continue; // overwritten between the two calls: read the newer one
      try {
        return { pointer: parsePointer(bytes), generation };
      } catch (err) {
        if (err instanceof PointerCorruptError) err.generation = generation;
        throw err;
      }
    }
    throw new ModelStoreUnavailableError(`gs://${bucket}/${MODEL_POINTER_OBJECT} keeps changing under the reader`);
  }

  return {
    bucket,
    uriOf: (version) => `gs://${bucket}/${artifactObject(version)}`,
    readPointer,

    async readArtifactBytes(object, opts = {}) {
      let meta: Awaited<ReturnType<typeof getObjectMetadata>>;
      try {
        meta = await getObjectMetadata(storage, bucket, object);
      } catch (err) {
        throw new ModelStoreUnavailableError(`could not read gs://${bucket}/${object}`, { cause: err });
      }
      if (meta === null) throw new ArtifactNotFoundError(bucket, object);
      if (opts.maxBytes !== undefined && meta.size > opts.maxBytes) {
        throw new ArtifactTooLargeError(object, meta.size, opts.maxBytes);
      }
      let bytes: Buffer | null;
      try {
        bytes = await download(object, meta.generation);
      } catch (err) {
        throw new ModelStoreUnavailableError(`could not read gs://${bucket}/${object}`, { cause: err });
      }
      if (bytes === null) throw new ArtifactNotFoundError(bucket, object);
      if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
        throw new ArtifactTooLargeError(object, bytes.length, opts.maxBytes);
      }
      return bytes;
    },

    async writeArtifact(version, artifact) {
      const name = artifactObject(version);
      const bytes = Buffer.from(JSON.stringify(artifact), 'utf8');
      try {
        await file(name).save(bytes, {
          resumable: false,
          contentType: 'application/json',
          preconditionOpts: { ifGenerationMatch: 0 },
        });
        return { sha256: sha256Hex(bytes), size: bytes.length, bytes };
      } catch (err) {
        if (statusOf(err) !== 412) throw storageFailure(err);
        // Written already (a concurrent or earlier run of the same version): describe what is stored.
        const stored = await download(name);
        if (stored === null) throw new PreconditionFailedError(bucket, name, { cause: err });
        return { sha256: sha256Hex(stored), size: stored.length, bytes: stored };
      }
    },

    async movePointer(decide) {
      for (let attempt = 1; attempt <= 10; attempt++) {
        let current: { pointer: ModelPointer | null; generation: string } | null;
        try {
          current = await readPointer();
        } catch (err) {
          // A corrupt pointer may be replaced (that is how an operator repairs it); unreadable is not.
          if (!(err instanceof PointerCorruptError)) throw err;
          const meta = await getObjectMetadata(storage, bucket, MODEL_POINTER_OBJECT);
          current = meta ? { pointer: null, generation: meta.generation } : null;
        }
        const next = decide(current?.pointer ?? null);
        if (next === null) return null;
        try {
          await file(MODEL_POINTER_OBJECT).save(JSON.stringify(next), {
            resumable: false,
            contentType: 'application/json',
            metadata: { cacheControl: 'no-store' },
            preconditionOpts: { ifGenerationMatch: current?.generation ?? 0 },
          });
          return next;
        } catch (err) {
          if (statusOf(err) !== 412) throw storageFailure(err);
          await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50));
        }
      }
      throw new AppError('UNAVAILABLE', 'could not update the model pointer: too much contention');
    },
  };
}

/** Checks the artifact's bytes against the size and sha256 a format 2 pointer names (format 1: nothing to check). */
export function verifyArtifactBytes(pointer: ModelPointer, bytes: Uint8Array, sha256?: string): void {
  if (pointer.size !== undefined && bytes.length !== pointer.size) {
    throw new AppError(
      'ARTIFACT_INVALID',
      `${pointer.object} is ${bytes.length} bytes, the pointer says ${pointer.size}`,
      {
        object: pointer.object,
        expectedSize: pointer.size,
        size: bytes.length,
      },
    );
  }
  if (pointer.sha256 !== undefined) {
    const actual = sha256 ?? sha256Hex(bytes);
    if (actual !== pointer.sha256) {
      throw new AppError('ARTIFACT_INVALID', `${pointer.object} does not match the pointer's sha256`, {
        object: pointer.object,
        expectedSha256: pointer.sha256,
        sha256: actual,
      });
    }
  }
}
