/**
 * Cloud Storage adapter (the real client in the cloud, the same client pointed at the local emulator).
 * Thin on purpose: object streams, metadata, and JSON documents guarded by generation preconditions.
 */
import { PassThrough, type Readable } from 'node:stream';
import { Storage } from '@google-cloud/storage';
import { AppError } from '../errors.ts';

/** A write lost a generation race (HTTP 412): the object changed since it was read. Callers re-read and retry. */
export class PreconditionFailedError extends Error {
  readonly bucket: string;
  readonly object: string;
  constructor(bucket: string, object: string, options?: { cause?: unknown }) {
    super(`precondition failed for gs://${bucket}/${object}`, options);
    this.name = 'PreconditionFailedError';
    this.bucket = bucket;
    this.object = object;
  }
}

export interface ObjectMetadata {
  bucket: string;
  name: string;
  generation: string;
  size: number;
  md5Hash: string | undefined;
  crc32c: string | undefined;
  contentType: string | undefined;
}

const statusOf = (err: unknown): number | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
};

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/** True for a storage failure a retry can fix: 408, 429, 5xx, or the connection itself. */
export function isTransientStorageError(err: unknown): boolean {
  const status = statusOf(err);
  if (status !== undefined) return status === 408 || status === 429 || status >= 500;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_NODE_CODES.has(code)) return true;
  if ((err as { type?: unknown } | null)?.type === 'request-timeout') return true; // gaxios: no response in time
  const message = err instanceof Error ? err.message : '';
  return /socket hang up|ECONNRESET|ECONNREFUSED|network|premature close|aborted|timeout/i.test(message);
}

/** Used when the client was built without a `timeout` (the client library then waits up to 60 s per attempt). */
const DEFAULT_STALL_MS = 30_000;

/** A body that stopped arriving: the response's headers came, then no byte for `ms`. */
export class StorageStalledError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(bucket: string, name: string, ms: number) {
    super(`gs://${bucket}/${name}: no data for ${ms} ms (stalled download timeout)`);
    this.name = 'StorageStalledError';
  }
}

/**
 * The client's `timeout` bounds the wait for a response's headers, not for its body: a server that sends headers
 * and then stalls would hold a download forever. This fails `stream` once no byte arrived for `ms` while the
 * stream was flowing (time spent paused by a slow consumer does not count).
 */
function failWhenStalled(stream: Readable, ms: number, onStall: () => Error): Readable {
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  const arm = (): void => {
    stop();
    timer = setTimeout(() => stream.destroy(onStall()), ms);
    timer.unref?.();
  };
  stream.on('resume', arm);
  stream.on('data', () => {
    if (stream.readableFlowing) arm();
  });
  stream.on('pause', stop);
  stream.on('close', stop);
  stream.on('end', stop);
  stream.on('error', stop);
  return stream;
}

/** The no-progress budget of a client: its `timeout` option (one attempt's wait for an answer). */
function stallBudget(storage: Storage): number {
  const timeout = (storage as { timeout?: unknown }).timeout;
  return typeof timeout === 'number' && timeout > 0 ? timeout : DEFAULT_STALL_MS;
}

/**
 * The adapter's own failure mapping: a failure a retry can fix becomes the retryable UNAVAILABLE naming Cloud
 * Storage (Postgres and GCS fail with the same socket codes, so only the adapter that made the call can name the
 * backend); anything else (a 404, a 412, a bug) is left as it is for the caller to decide.
 */
export function storageFailure(err: unknown): unknown {
  if (err instanceof AppError || !isTransientStorageError(err)) return err;
  return new AppError('UNAVAILABLE', 'cloud storage is unavailable', undefined, { cause: err });
}

export interface StorageLimits {
  /** One attempt's wait for an answer, and the longest a download may go without a byte (STORAGE_TIMEOUT_MS). */
  timeoutMs: number;
  /** Retries of an idempotent call; the caller's own retry (the workflow's, the next poll) comes after that. */
  maxRetries: number;
}

/**
 * A storage client whose every call is bounded: the real API, or the emulator at `apiEndpoint` (no credentials
 * then). Without a `timeout` the library waits 60 s per attempt and retries for up to 10 minutes, so a GCS that
 * accepts and hangs would hold the caller that long; with one, an attempt ends after `timeoutMs`, at most
 * `maxRetries` retries follow, and the downloads of this adapter fail once no byte came for `timeoutMs`.
 */
export function boundedStorageClient(opts: {
  apiEndpoint: string | undefined;
  projectId: string | undefined;
  limits: StorageLimits;
}): Storage {
  const { limits } = opts;
  const bounded = {
    timeout: limits.timeoutMs,
    retryOptions: {
      maxRetries: limits.maxRetries,
      totalTimeout: Math.ceil((limits.timeoutMs * (limits.maxRetries + 1)) / 1000),
    },
  };
  return opts.apiEndpoint
    ? new Storage({
        apiEndpoint: opts.apiEndpoint,
        projectId: opts.projectId ?? 'local',
        useAuthWithCustomEndpoint: false,
        ...bounded,
      })
    : new Storage({ ...(opts.projectId ? { projectId: opts.projectId } : {}), ...bounded });
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** The object's content as a stream (a pinned generation reads exactly that version, or 404s). */
export function readObjectStream(
  storage: Storage,
  bucket: string,
  name: string,
  generation?: string | number,
  opts: { validation?: 'md5' | 'crc32c' | boolean } = {},
): Readable {
  const file = storage.bucket(bucket).file(name, generation === undefined ? {} : { generation });
  const stream = file.createReadStream(opts.validation === undefined ? {} : { validation: opts.validation });
  const ms = stallBudget(storage);
  failWhenStalled(stream, ms, () => new StorageStalledError(bucket, name, ms));
  // Read through a PassThrough that carries the source's failure already mapped (`storageFailure`), and that stops
  // the download when the consumer destroys it.
  const out = new PassThrough();
  stream.on('error', (err) => out.destroy(storageFailure(err) as Error));
  out.on('close', () => {
    if (!stream.destroyed) stream.destroy();
  });
  return stream.pipe(out);
}

/** The whole object in memory, read through the same stall guard as `readObjectStream`. */
export async function readObject(storage: Storage, bucket: string, name: string, generation?: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readObjectStream(storage, bucket, name, generation)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function getObjectMetadata(
  storage: Storage,
  bucket: string,
  name: string,
  generation?: string | number,
): Promise<ObjectMetadata | null> {
  const file = storage.bucket(bucket).file(name, generation === undefined ? {} : { generation });
  try {
    const [m] = await file.getMetadata();
    return {
      bucket,
      name,
      generation: String(m.generation),
      size: Number(m.size ?? 0),
      md5Hash: m.md5Hash,
      crc32c: m.crc32c,
      contentType: m.contentType,
    };
  } catch (err) {
    if (isNotFound(err)) return null;
    throw storageFailure(err);
  }
}

/** A JSON document and the generation it was read at (for a later conditional write); null when absent. */
export async function readJson(
  storage: Storage,
  bucket: string,
  name: string,
): Promise<{ value: unknown; generation: string } | null> {
  const meta = await getObjectMetadata(storage, bucket, name);
  if (!meta) return null;
  try {
    const content = await readObject(storage, bucket, name, meta.generation);
    return { value: JSON.parse(content.toString('utf8')), generation: meta.generation };
  } catch (err) {
    // Overwritten between the two calls: the caller sees the newer document on its next read.
    if (isNotFound(err)) return readJson(storage, bucket, name);
    if (err instanceof SyntaxError) throw new AppError('ARTIFACT_INVALID', `gs://${bucket}/${name} is not JSON`);
    throw storageFailure(err);
  }
}

/**
 * Writes a JSON document. `ifGenerationMatch: 0` means "only if absent"; a generation means "only if still at
 * that generation". A failed precondition throws `PreconditionFailedError`.
 */
export async function writeJson(
  storage: Storage,
  bucket: string,
  name: string,
  value: unknown,
  opts: { ifGenerationMatch?: number | string; cacheControl?: string } = {},
): Promise<{ generation: string }> {
  const file = storage.bucket(bucket).file(name);
  try {
    await file.save(JSON.stringify(value), {
      resumable: false,
      contentType: 'application/json',
      metadata: opts.cacheControl ? { cacheControl: opts.cacheControl } : {},
      ...(opts.ifGenerationMatch === undefined
        ? {}
        : { preconditionOpts: { ifGenerationMatch: opts.ifGenerationMatch } }),
    });
  } catch (err) {
    if (statusOf(err) === 412) throw new PreconditionFailedError(bucket, name, { cause: err });
    throw storageFailure(err);
  }
  return { generation: String(file.metadata.generation) };
}
