/**
 * Redis feature store. The key and value layout is specified in docs/feature-store.md (layout.ts holds the
 * key names and the encoding; redis-client.ts the client and its failure mapping); this file implements the
 * store's operations on them. A feature set is immutable once complete: it is written under its own version, marked
 * complete last, and only then made current by one atomic pointer flip, so a reader never sees half of one.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { FeatureRecipe, GroupTable } from '../../core/features.ts';
import type { FeatureName } from '../../core/schema.ts';
import { AppError } from '../../errors.ts';
import {
  bytes,
  FLIP_SCRIPT,
  fixedKeys,
  float64s,
  int32s,
  keysFor,
  type PackedMatrix,
  packLabels,
  packRows,
  SPLIT_CODES,
  VERSION_PATTERN,
  WRITE_ENTITIES_SCRIPT,
} from './layout.ts';
import { guarded } from './redis-client.ts';

export interface LabelledRows {
  X: ReadonlyArray<ArrayLike<number>>;
  y: ArrayLike<number>;
}

export interface FeatureSetInput {
  version: string;
  datasetId: string;
  featureNames: readonly FeatureName[];
  recipe: FeatureRecipe;
  /** Real training rows (the fit split), with their PassengerIds. */
  train: LabelledRows & { ids: ArrayLike<number> };
  /** Held-out rows, with their PassengerIds. */
  test: LabelledRows & { ids: ArrayLike<number> };
  /** SMOTE rows generated from the training split only (no PassengerId). */
  synthetic: LabelledRows;
  /** Extra caller metadata (split seed, test size...), stored as strings. */
  metadata?: Record<string, string | number>;
  createdAt?: Date;
}

export interface FeatureSetMeta {
  version: string;
  datasetId: string;
  featureNames: FeatureName[];
  recipeVersion: number;
  trainRows: number;
  testRows: number;
  syntheticRows: number;
  entities: number;
  createdAt: string;
  metadata: Record<string, string>;
}

export interface FeatureSetMatrices {
  meta: FeatureSetMeta;
  recipe: FeatureRecipe;
  train: PackedMatrix;
  /** PassengerIds of the training rows, in row order (recipe v2's cross-validation folds need them). */
  trainIds: Int32Array;
  synthetic: PackedMatrix;
  test: PackedMatrix;
}

export interface EntityFeatures {
  passengerId: number;
  features: Record<FeatureName, number>;
  values: Float64Array;
  label: number;
  split: 'train' | 'test';
}

export interface WriteOutcome {
  version: string;
  /** False when the version was already complete (nothing rewritten). */
  written: boolean;
  /** The version the pointer names after the flip (an older version never displaces a newer one). */
  current: string;
  /** Versions deleted by retention. */
  pruned: string[];
}

/**
 * What the `process` function needs: write a feature set, see whether a version is already complete, and make a
 * complete one current (a retried step after a crash). Deletion happens inside, by retention.
 */
export interface FeatureSetWriter {
  writeFeatureSet(input: FeatureSetInput, retention?: RetentionOptions): Promise<WriteOutcome>;
  /** The metadata of a complete version, or null when it is absent or incomplete. */
  readMeta(version: string): Promise<FeatureSetMeta | null>;
  /** The pointer flip and retention alone, for a version already complete (a retried step after a crash). */
  activate(version: string, retention?: RetentionOptions): Promise<{ current: string; pruned: string[] }>;
}

export interface RetentionOptions {
  /**
   * Versions retention must keep whatever their age and rank: the feature set of the model being served. Asked
   * only when there is something to delete, right before deleting, so a promotion during a long write is seen.
   * If it fails, nothing is deleted and the call fails (the step is retried; the write itself is already done).
   */
  protect?: () => Promise<readonly string[]>;
}

/** What the `train` function needs: one bulk read of a complete feature set, and its metadata alone. */
export interface TrainingReader {
  readMatrices(version: string): Promise<FeatureSetMatrices | null>;
  /** The metadata of a complete version, or null when it is absent or incomplete. */
  readMeta(version: string): Promise<FeatureSetMeta | null>;
}

/** What a serving instance needs: the current version and one passenger's online record. */
export interface EntityReader {
  currentVersion(): Promise<string | null>;
  readEntity(version: string, passengerId: number): Promise<EntityFeatures | null>;
}

/** The whole store: each deployable takes only the part it uses. */
export type FeatureStore = FeatureSetWriter & TrainingReader & EntityReader;

export interface FeatureStoreOptions {
  /** Key prefix (FEATURE_STORE_PREFIX); every key of the store starts with `<prefix>:`. */
  prefix?: string;
  /** How many feature sets to keep (FEATURE_SETS_KEEP); the current one is always kept. */
  keep?: number;
  /**
   * A feature set younger than this is never pruned, however many newer ones exist: a pipeline that wrote it may
   * not have trained on it yet (ten uploads at once would otherwise delete each other's sets before `train` reads
   * them). Default 2 hours, longer than a whole training workflow (its steps time out after 1 hour in all).
   */
  pruneGraceMs?: number;
  /** Entities per pipelined batch. */
  chunkSize?: number;
  /** Clock for `createdAt` (tests pass their own). */
  now?: () => Date;
}

export const DEFAULT_PRUNE_GRACE_MS = 2 * 60 * 60 * 1000;

export function createFeatureStore(redis: Redis, options: FeatureStoreOptions = {}): FeatureStore {
  const prefix = options.prefix ?? 'fs';
  const keep = options.keep ?? 3;
  const pruneGraceMs = options.pruneGraceMs ?? DEFAULT_PRUNE_GRACE_MS;
  const chunkSize = options.chunkSize ?? 1_000;
  const now = options.now ?? (() => new Date());
  const currentKey = `${prefix}:current`;
  const versionsKey = `${prefix}:versions`;
  // Complete feature sets are immutable, so their metadata can be cached per instance.
  const metaCache = new Map<string, FeatureSetMeta>();
  const writeEntitiesSha = createHash('sha1').update(WRITE_ENTITIES_SCRIPT).digest('hex');

  const checkVersion = (version: string): void => {
    if (!VERSION_PATTERN.test(version)) throw new AppError('BAD_REQUEST', `invalid feature set version "${version}"`);
  };

  async function readMeta(version: string): Promise<FeatureSetMeta | null> {
    checkVersion(version);
    const cached = metaCache.get(version);
    if (cached) return cached;
    const h = await redis.hgetall(keysFor(prefix, version).meta);
    if (h.status !== 'complete') return null;
    const meta: FeatureSetMeta = {
      version,
      datasetId: h.datasetId ?? '',
      featureNames: JSON.parse(h.featureNames ?? '[]') as FeatureName[],
      recipeVersion: Number(h.recipeVersion),
      trainRows: Number(h.trainRows),
      testRows: Number(h.testRows),
      syntheticRows: Number(h.syntheticRows),
      entities: Number(h.entities),
      createdAt: h.createdAt ?? '',
      metadata: JSON.parse(h.metadata ?? '{}') as Record<string, string>,
    };
    metaCache.set(version, meta);
    return meta;
  }

  async function writeEntities(input: FeatureSetInput, cols: number): Promise<void> {
    const k = keysFor(prefix, input.version);
    // One packed value per entity: the features, then the label, then the split code (see the spec).
    const width = cols + 2;
    const entities: Array<{ id: number; row: ArrayLike<number>; label: number; split: number }> = [];
    for (const [rows, split] of [
      [input.train, SPLIT_CODES.train],
      [input.test, SPLIT_CODES.test],
    ] as const) {
      for (let i = 0; i < rows.X.length; i++)
        entities.push({ id: rows.ids[i]!, row: rows.X[i]!, label: rows.y[i]!, split });
    }
    const inFlight: Array<Promise<unknown>> = [];
    for (let start = 0; start < entities.length; start += chunkSize) {
      const batch = entities.slice(start, start + chunkSize);
      const values = new Float64Array(batch.length * width);
      batch.forEach((e, i) => {
        for (let j = 0; j < cols; j++) values[i * width + j] = e.row[j]!;
        values[i * width + cols] = e.label;
        values[i * width + cols + 1] = e.split;
      });
      const keys = batch.map((e) => k.entity(e.id));
      // One script call per batch writes its hashes server-side: per-command client overhead, not Redis, is what
      // bounds a pipeline of single HSETs. Keys are declared, so the script is valid wherever scripts are.
      const call = redis.evalsha(writeEntitiesSha, keys.length, ...keys, bytes(values), String(width * 8));
      // Every batch's failure is observed (by the await below or allSettled), never left unhandled.
      call.catch(() => {});
      inFlight.push(call);
      // A few batches in flight keep the socket busy without queueing the whole set in memory.
      if (inFlight.length >= 4) {
        try {
          await inFlight.shift();
        } catch (err) {
          await Promise.allSettled(inFlight);
          throw err;
        }
      }
    }
    const settled = await Promise.allSettled(inFlight);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async function writeFeatureSet(input: FeatureSetInput, retention: RetentionOptions = {}): Promise<WriteOutcome> {
    checkVersion(input.version);
    const k = keysFor(prefix, input.version);
    const cols = input.featureNames.length;
    const written = (await redis.hget(k.meta, 'status')) !== 'complete';
    if (written) {
      // Loaded once per write (cheap, idempotent), so EVALSHA never meets NOSCRIPT after a server restart.
      await redis.script('LOAD', WRITE_ENTITIES_SCRIPT);
      const createdAt = input.createdAt ?? now();
      // Registered before any data, so retention can find (and delete) a write that never completed.
      await redis.zadd(versionsKey, 'NX', createdAt.getTime(), input.version);
      await redis.unlink(k.meta);
      const ids = new Int32Array([...Array.from(input.train.ids), ...Array.from(input.test.ids)]);
      await redis.set(k.ids, bytes(ids));
      // The matrices travel while the entity batches are being packed and sent; both finish before `meta`.
      const matrices = (async () => {
        const trainX = packRows(input.train.X, cols);
        const tx = redis.pipeline();
        // Recipe v2's group table is its own key (the group entities), the rest of the recipe beside it.
        if (input.recipe.version === 2) {
          const { groups, ...recipe } = input.recipe;
          tx.set(k.recipe, JSON.stringify(recipe));
          tx.set(k.groups, JSON.stringify(groups));
        } else {
          tx.set(k.recipe, JSON.stringify(input.recipe));
        }
        tx.set(k.matrix('train', 'X'), bytes(trainX));
        tx.set(k.matrix('train', 'y'), bytes(packLabels(input.train.y)));
        tx.set(k.matrix('test', 'X'), bytes(packRows(input.test.X, cols)));
        tx.set(k.matrix('test', 'y'), bytes(packLabels(input.test.y)));
        tx.set(k.matrix('synthetic', 'X'), bytes(packRows(input.synthetic.X, cols)));
        tx.set(k.matrix('synthetic', 'y'), bytes(packLabels(input.synthetic.y)));
        const results = await tx.exec();
        const failed = results?.find(([e]) => e);
        if (failed) throw failed[0];
      })();
      matrices.catch(() => {});
      const [entitiesDone, matricesDone] = await Promise.allSettled([writeEntities(input, cols), matrices]);
      if (entitiesDone.status === 'rejected') throw entitiesDone.reason;
      if (matricesDone.status === 'rejected') throw matricesDone.reason;
      // Written last: a version is complete only once every other key of it exists.
      await redis.hset(k.meta, {
        status: 'complete',
        datasetId: input.datasetId,
        featureNames: JSON.stringify(input.featureNames),
        recipeVersion: String(input.recipe.version),
        trainRows: String(input.train.X.length),
        testRows: String(input.test.X.length),
        syntheticRows: String(input.synthetic.X.length),
        entities: String(ids.length),
        createdAt: createdAt.toISOString(),
        metadata: JSON.stringify(
          Object.fromEntries(Object.entries(input.metadata ?? {}).map(([key, v]) => [key, String(v)])),
        ),
        dtype: 'f64le',
      });
    }
    return { version: input.version, written, ...(await activate(input.version, retention)) };
  }

  async function activate(
    version: string,
    retention: RetentionOptions = {},
  ): Promise<{ current: string; pruned: string[] }> {
    checkVersion(version);
    const meta = keysFor(prefix, version).meta;
    const current = (await redis.eval(FLIP_SCRIPT, 3, currentKey, versionsKey, meta, version)) as string;
    return { current, pruned: await prune(current, retention) };
  }

  /**
   * Deletes every version beyond the newest `keep` (by creation time), never the current one, never one created
   * less than `pruneGraceMs` ago, and never one `retention.protect` names (the served model's).
   */
  async function prune(current: string, retention: RetentionOptions): Promise<string[]> {
    const flat = await redis.zrevrange(versionsKey, 0, -1, 'WITHSCORES');
    const cutoff = now().getTime() - pruneGraceMs;
    const candidates: string[] = [];
    for (let i = 2 * keep; i + 1 < flat.length; i += 2) {
      const version = flat[i]!;
      if (version !== current && Number(flat[i + 1]) < cutoff) candidates.push(version);
    }
    if (candidates.length === 0) return [];
    let kept: ReadonlySet<string> = new Set();
    if (retention.protect) {
      try {
        kept = new Set(await retention.protect());
      } catch (err) {
        // Not knowing what is served, delete nothing. The protect callback maps its own failures; anything else
        // is not the feature store's fault and must not be reported as Redis being unavailable.
        if (err instanceof AppError) throw err;
        throw new AppError('INTERNAL', 'could not learn which feature sets are served', undefined, { cause: err });
      }
    }
    const doomed = candidates.filter((version) => !kept.has(version));
    for (const version of doomed) await deleteFeatureSet(version);
    return doomed;
  }

  async function deleteFeatureSet(version: string): Promise<void> {
    checkVersion(version);
    const k = keysFor(prefix, version);
    metaCache.delete(version);
    // Mark incomplete first, so a reader never trusts a version that is being deleted.
    await redis.unlink(k.meta);
    const idsBuf = await redis.getBuffer(k.ids);
    if (idsBuf) {
      const ids = int32s(idsBuf);
      for (let i = 0; i < ids.length; i += 5_000) {
        const batch = Array.from(ids.subarray(i, i + 5_000), (id) => k.entity(id));
        await redis.unlink(...batch);
      }
    }
    await redis.unlink(...fixedKeys(prefix, version));
    await redis.zrem(versionsKey, version);
  }

  async function readMatrices(version: string): Promise<FeatureSetMatrices | null> {
    const meta = await readMeta(version);
    if (!meta) return null;
    const k = keysFor(prefix, version);
    const parts = ['train', 'synthetic', 'test'] as const;
    const values = await redis.mgetBuffer(
      k.recipe,
      k.ids,
      ...parts.flatMap((p) => [k.matrix(p, 'X'), k.matrix(p, 'y')]),
    );
    if (values.some((v) => v === null)) return null; // deleted concurrently by retention
    const [recipeJson, ids, ...packed] = values as Buffer[];
    let recipe = JSON.parse(recipeJson!.toString('utf8')) as FeatureRecipe;
    if (recipe.version === 2) {
      const groups = await redis.get(k.groups);
      if (groups === null) return null;
      recipe = { ...recipe, groups: JSON.parse(groups) as GroupTable };
    }
    const cols = meta.featureNames.length;
    const matrix = (i: number): PackedMatrix => {
      const X = float64s(packed[i * 2]!);
      return { rows: X.length / cols, cols, X, y: Uint8Array.from(packed[i * 2 + 1]!) };
    };
    const train = matrix(0);
    return {
      meta,
      recipe,
      train,
      trainIds: int32s(ids!).slice(0, train.rows),
      synthetic: matrix(1),
      test: matrix(2),
    };
  }

  async function readEntity(version: string, passengerId: number): Promise<EntityFeatures | null> {
    const meta = await readMeta(version);
    if (!meta) return null;
    const buf = await redis.hgetBuffer(keysFor(prefix, version).entity(passengerId), 'v');
    if (!buf) return null;
    const v = float64s(buf);
    const cols = meta.featureNames.length;
    const values = v.slice(0, cols);
    const features = Object.fromEntries(meta.featureNames.map((name, j) => [name, values[j]!])) as Record<
      FeatureName,
      number
    >;
    return {
      passengerId,
      features,
      values,
      label: v[cols]!,
      split: v[cols + 1] === SPLIT_CODES.test ? 'test' : 'train',
    };
  }

  return {
    writeFeatureSet: (input, retention) => guarded(() => writeFeatureSet(input, retention)),
    activate: (version, retention) => guarded(() => activate(version, retention)),
    currentVersion: () => guarded(() => redis.get(currentKey)),
    readMeta: (version) => guarded(() => readMeta(version)),
    readMatrices: (version) => guarded(() => readMatrices(version)),
    readEntity: (version, id) => guarded(() => readEntity(version, id)),
  };
}
