/**
 * A Cloud Storage JSON-API server for one machine, that the real `@google-cloud/storage` client works against
 * (see `localStorageClient` for the options it needs). It serves:
 *
 *   GET|POST      /storage/v1/b                     list / create buckets
 *   GET|DELETE    /storage/v1/b/{bucket}            bucket metadata / delete (empty buckets only)
 *   GET           /storage/v1/b/{bucket}/o          list: prefix, delimiter, startOffset, endOffset, pageToken, maxResults
 *   GET           /storage/v1/b/{bucket}/o/{object} metadata, or the bytes with ?alt=media (Range honoured)
 *   PATCH|PUT     /storage/v1/b/{bucket}/o/{object} metadata update (new metageneration)
 *   DELETE        /storage/v1/b/{bucket}/o/{object}
 *   GET           /download/storage/v1/b/{bucket}/o/{object}   the object's mediaLink
 *   POST          /upload/storage/v1/b/{bucket}/o   uploadType=media | multipart | resumable (session start)
 *   PUT|POST      /upload/...?upload_id=ID          resumable chunks and status queries (Content-Range)
 *   DELETE        /upload/...?upload_id=ID          cancel a session (499, as GCS)
 *
 * Preconditions (ifGenerationMatch, ifGenerationNotMatch, ifMetagenerationMatch, ifMetagenerationNotMatch) apply
 * to reads, uploads, patches and deletes. Errors have GCS's JSON shape. Every finalized object is announced as a
 * binary-mode CloudEvent `google.cloud.storage.object.v1.finalized` POSTed to each sink, as Eventarc delivers it
 * to a function: in the background, retried with backoff on anything but a 2xx.
 *
 * Not implemented: object versioning (only the live generation is kept; `generation=` selects it or 404s),
 * copy/rewrite/compose, ACLs and IAM, signed URLs, XML API, HEAD, batch requests, notifications, matchGlob,
 * includeTrailingDelimiter, `versions=`, `fields=` projections, bucket PATCH, server-side gzip transcoding. Names are ordered by UTF-16 code units (GCS uses UTF-8 bytes; they differ only for
 * characters outside the BMP). Resumable sessions live in memory: a restart forgets unfinished uploads.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Storage } from '@google-cloud/storage';
import { createLogger, type Logger } from '../../shared/log.ts';
import { DeliveryQueue, type RetryPolicy } from '../net/delivery.ts';
import { closeHttp, httpUrl, listenHttp } from '../net/listen.ts';
import {
  checkPreconditions,
  GcsError,
  GcsStore,
  invalid,
  notFoundObject,
  type ObjectFields,
  type ObjectResource,
  type Preconditions,
  type Staging,
} from './gcs-store.ts';

export interface GcsEmulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Where objects are kept across restarts; without it, in memory. */
  dataDir?: string;
  /** Endpoints that receive a CloudEvent for every finalized object (of one bucket, when `bucket` is given). */
  sinks?: Array<string | EventSink>;
  /** Buckets created at start when missing. */
  buckets?: string[];
  /** Retries of CloudEvent deliveries (default: 6 attempts, 200 ms doubling up to 5 s, 60 s per attempt). */
  sinkRetry?: Partial<RetryPolicy>;
  /** Defaults to JSON lines at WARNING and above only. */
  logger?: Logger;
}

export interface GcsEmulator {
  /** `http://host:port`: the client's `apiEndpoint`, and `STORAGE_API_ENDPOINT` for the functions. */
  url: string;
  port: number;
  /** Stops listening, drops open connections, stops pending CloudEvent deliveries. */
  close(): Promise<void>;
  /** Adds a CloudEvent endpoint, for the objects of `bucket` only when given (as an Eventarc trigger's filter). */
  addSink(url: string, bucket?: string): void;
}

export interface EventSink {
  url: string;
  bucket?: string;
}

export const FINALIZED_EVENT_TYPE = 'google.cloud.storage.object.v1.finalized';

const DEFAULT_SINK_RETRY: RetryPolicy = {
  attempts: 6,
  initialDelayMs: 200,
  maxDelayMs: 5000,
  multiplier: 2,
  timeoutMs: 60_000,
};

/**
 * A `Storage` client for the emulator, with no credentials. `apiEndpoint` alone already makes the client skip
 * authentication (`useAuthWithCustomEndpoint` defaults to false: the JSON calls are sent unauthorized, and the
 * resumable uploader swaps its auth client for plain gaxios for any host outside googleapis.com); it is spelled
 * out so nobody "fixes" it to true. `projectId` is only needed for bucket creation and listing (sent as
 * `?project=`; without it the client asks the absent credentials and fails); object calls work without it, so
 * `new Storage({ apiEndpoint })` in a function is enough. Nothing reads STORAGE_EMULATOR_HOST here.
 */
export function localStorageClient(endpoint: string, projectId = 'local'): Storage {
  return new Storage({ apiEndpoint: endpoint, projectId, useAuthWithCustomEndpoint: false });
}

interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  fields: ObjectFields;
  pre: Preconditions;
  staging?: Staging;
  received: number;
  result?: ObjectResource;
  failed?: GcsError;
  /** Requests on one session are handled one at a time. */
  queue: Promise<void>;
}

type ContentRange =
  | { kind: 'query'; total: number | null }
  | { kind: 'data'; start: number; end: number | null; total: number | null };

const MAX_JSON_BODY = 1024 * 1024;

/**
 * A CloudEvents attribute as an HTTP header value, as the CloudEvents HTTP binding (3.1.3.2) asks and Eventarc
 * does: characters outside printable ASCII, space, `"` and `%` are percent-encoded as UTF-8. An object name
 * may hold any Unicode character (and a newline), which a raw header value cannot carry.
 */
export function cloudEventHeaderValue(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (code > 0x20 && code < 0x7f && ch !== '"' && ch !== '%') out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A percent-encoded path segment; a malformed encoding (`%ZZ`) is the caller's mistake, answered 400. */
function decodePathSegment(raw: string, what: 'bucket' | 'object'): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalid(`The ${what} name in the path has a malformed percent-encoding`);
  }
}

export async function startGcsEmulator(options: GcsEmulatorOptions = {}): Promise<GcsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const log = options.logger ?? createLogger({ fields: { component: 'gcs-emulator' }, minSeverity: 'WARNING' });
  const store = await GcsStore.open(options.dataDir);
  for (const bucket of options.buckets ?? []) await store.createBucket(bucket, {}, true);
  const sinks: EventSink[] = (options.sinks ?? []).map((s) => (typeof s === 'string' ? { url: s } : s));
  const deliveries = new DeliveryQueue({ ...DEFAULT_SINK_RETRY, ...options.sinkRetry }, log);
  const sessions = new Map<string, UploadSession>();
  let baseUrl = '';

  const objectPath = (bucket: string, name: string): string =>
    `/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`;
  /** The resource as the API returns it: with its links, which depend on where the emulator listens. */
  const present = (r: ObjectResource): Record<string, unknown> => ({
    ...r,
    selfLink: `${baseUrl}/storage/v1${objectPath(r.bucket, r.name)}`,
    mediaLink: `${baseUrl}/download/storage/v1${objectPath(r.bucket, r.name)}?generation=${r.generation}&alt=media`,
  });

  const announce = (r: ObjectResource): void => {
    const body = JSON.stringify(present(r));
    for (const { url, bucket } of sinks) {
      if (bucket !== undefined && bucket !== r.bucket) continue;
      const headers = {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': randomUUID(),
        'ce-type': FINALIZED_EVENT_TYPE,
        'ce-source': `//storage.googleapis.com/projects/_/buckets/${r.bucket}`,
        'ce-subject': cloudEventHeaderValue(`objects/${r.name}`),
        'ce-time': r.timeFinalized,
        'ce-bucket': r.bucket,
      };
      void deliveries.send({ url, headers, body }).then((outcome) => {
        if (outcome.delivered) log.debug('event delivered', { url, object: r.id, attempts: outcome.attempts });
      });
    }
  };

  const finalize = async (
    bucket: string,
    name: string,
    staging: Staging,
    fields: ObjectFields,
    pre: Preconditions,
    expected?: { md5Hash?: string; crc32c?: string },
  ): Promise<ObjectResource> => {
    const resource = await store.finalize(bucket, name, staging, fields, pre, expected);
    log.info('object finalized', { object: resource.id, size: resource.size });
    announce(resource);
    return resource;
  };

  // ---- handlers

  const download = async (
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    name: string,
    q: URLSearchParams,
  ) => {
    const generation = q.get('generation');
    let range: { start: number; end: number } | undefined;
    const { resource, stream } = await store.openObject(bucket, name, (r) => {
      if (generation && generation !== r.generation) throw notFoundObject(bucket, name);
      checkPreconditions(r, preconditions(q), true);
      const size = Number(r.size);
      range = parseRange(req.headers.range, size);
      return range ?? { start: 0, end: size - 1 };
    });
    const size = Number(resource.size);
    const headers: Record<string, string> = {
      'content-type': resource.contentType,
      'accept-ranges': 'bytes',
      etag: resource.etag,
      'last-modified': new Date(resource.updated).toUTCString(),
      'x-goog-generation': resource.generation,
      'x-goog-metageneration': resource.metageneration,
      'x-goog-hash': `crc32c=${resource.crc32c},md5=${resource.md5Hash}`,
      'x-goog-stored-content-length': resource.size,
      'x-goog-stored-content-encoding': resource.contentEncoding ?? 'identity',
    };
    if (resource.contentEncoding) headers['content-encoding'] = resource.contentEncoding;
    if (resource.cacheControl) headers['cache-control'] = resource.cacheControl;
    if (resource.contentDisposition) headers['content-disposition'] = resource.contentDisposition;
    if (range) {
      headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
      headers['content-length'] = String(range.end - range.start + 1);
      res.writeHead(206, headers);
    } else {
      headers['content-length'] = resource.size;
      res.writeHead(200, headers);
    }
    await pipeline(stream, res).catch((err: unknown) =>
      log.debug('download interrupted', { object: resource.id, err }),
    );
  };

  const simpleUpload = async (req: IncomingMessage, res: ServerResponse, bucket: string, q: URLSearchParams) => {
    const name = q.get('name');
    if (!name) throw new GcsError(400, 'required', 'Required parameter: name');
    store.getBucket(bucket);
    const staging = await store.stage();
    try {
      for await (const chunk of req) await staging.write(chunk as Buffer);
    } catch (err) {
      await staging.discard();
      throw err;
    }
    const fields: ObjectFields = {};
    const contentType = req.headers['content-type'];
    if (contentType) fields.contentType = contentType;
    const contentEncoding = q.get('contentEncoding');
    if (contentEncoding) fields.contentEncoding = contentEncoding;
    const resource = await finalize(bucket, name, staging, fields, preconditions(q), hashesOf(req));
    sendJson(res, 200, present(resource));
  };

  const multipartUpload = async (req: IncomingMessage, res: ServerResponse, bucket: string, q: URLSearchParams) => {
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(req.headers['content-type'] ?? '');
    if (!boundary) throw invalid('Multipart upload needs a multipart/related Content-Type with a boundary');
    store.getBucket(bucket);
    const staging = await store.stage();
    let metadata: Record<string, unknown>;
    let mediaType: string | undefined;
    try {
      ({ metadata, mediaType } = await readMultipart(req, (boundary[1] ?? boundary[2])!, staging));
    } catch (err) {
      await staging.discard();
      throw err;
    }
    const name = q.get('name') ?? (typeof metadata.name === 'string' ? metadata.name : undefined);
    if (!name) {
      await staging.discard();
      throw new GcsError(400, 'required', 'Required parameter: name');
    }
    const fields = fieldsOf(metadata);
    fields.contentType ??= mediaType;
    const expected = {
      ...(typeof metadata.md5Hash === 'string' ? { md5Hash: metadata.md5Hash } : {}),
      ...(typeof metadata.crc32c === 'string' ? { crc32c: metadata.crc32c } : {}),
    };
    const resource = await finalize(bucket, name, staging, fields, preconditions(q), expected);
    sendJson(res, 200, present(resource));
  };

  const startResumable = async (req: IncomingMessage, res: ServerResponse, bucket: string, q: URLSearchParams) => {
    const metadata = await readJson(req);
    const name = q.get('name') ?? (typeof metadata.name === 'string' ? metadata.name : undefined);
    if (!name) throw new GcsError(400, 'required', 'Required parameter: name');
    const pre = preconditions(q);
    // GCS checks preconditions when the session starts (and again when it completes).
    checkPreconditions(store.getObject(bucket, name), pre);
    const fields = fieldsOf(metadata);
    const uploadType = req.headers['x-upload-content-type'];
    if (!fields.contentType && typeof uploadType === 'string') fields.contentType = uploadType;
    const id = randomUUID().replaceAll('-', '');
    sessions.set(id, { id, bucket, name, fields, pre, received: 0, queue: Promise.resolve() });
    const origin = req.headers.host ? `http://${req.headers.host}` : baseUrl;
    const location = `${origin}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
    res.writeHead(200, { location, 'x-guploader-uploadid': id, 'content-length': '0' });
    res.end();
  };

  const resumableRequest = async (req: IncomingMessage, res: ServerResponse, session: UploadSession) => {
    const range = parseContentRange(req.headers['content-range']);
    if (session.result) {
      await drain(req);
      sendJson(res, 200, present(session.result));
      return;
    }
    if (session.failed) {
      await drain(req);
      throw session.failed;
    }
    session.staging ??= await store.stage();
    const staging = session.staging;
    let complete: boolean;
    if (range.kind === 'query') {
      await drain(req);
      complete = range.total !== null && range.total === session.received;
    } else {
      if (range.start > session.received) {
        await drain(req);
        throw invalid(`Content-Range starts at ${range.start} but only ${session.received} bytes were received`);
      }
      // Bytes the session already has (a client resending after a cut) are skipped, not written twice.
      let skip = session.received - range.start;
      try {
        for await (const raw of req) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.length === 0) continue;
          }
          await staging.write(chunk);
          session.received += chunk.length;
        }
      } catch (err) {
        // The client went away mid-chunk: what arrived is kept, and a status query reports it.
        log.debug('resumable chunk interrupted', { session: session.id, received: session.received, err });
        return;
      }
      if (range.total !== null && session.received > range.total) {
        throw invalid(`Received ${session.received} bytes, more than the declared total ${range.total}`);
      }
      complete = range.total !== null ? session.received === range.total : range.end === null;
    }
    if (!complete) {
      const headers: Record<string, string> = { 'content-length': '0' };
      if (session.received > 0) headers.range = `bytes=0-${session.received - 1}`;
      res.writeHead(308, headers);
      res.end();
      return;
    }
    try {
      session.result = await finalize(
        session.bucket,
        session.name,
        staging,
        session.fields,
        session.pre,
        hashesOf(req),
      );
    } catch (err) {
      if (err instanceof GcsError) session.failed = err;
      throw err;
    }
    sendJson(res, 200, present(session.result));
  };

  const handleResumable = async (req: IncomingMessage, res: ServerResponse, id: string) => {
    const session = sessions.get(id);
    if (!session) {
      await drain(req);
      throw new GcsError(404, 'notFound', 'No such upload session');
    }
    if (req.method === 'DELETE') {
      sessions.delete(id);
      await session.staging?.discard();
      await drain(req);
      sendJson(res, 499, new GcsError(499, 'clientClosedRequest', 'The upload session was cancelled').toJSON());
      return;
    }
    const turn = session.queue.then(() => resumableRequest(req, res, session));
    session.queue = turn.catch(() => undefined);
    await turn;
  };

  const routes = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const q = url.searchParams;
    const m = /^\/(upload\/|download\/)?storage\/v1\/b(?:\/([^/]+)(?:\/o(?:\/(.+))?)?)?\/?$/.exec(url.pathname);
    if (!m) throw new GcsError(404, 'notFound', `Not Found: ${req.method} ${url.pathname}`);
    const [, api, rawBucket, rawObject] = m;
    const bucket = rawBucket === undefined ? undefined : decodePathSegment(rawBucket, 'bucket');
    const name = rawObject === undefined ? undefined : decodePathSegment(rawObject, 'object');
    const method = req.method ?? 'GET';
    const isObjectList = bucket !== undefined && name === undefined && /\/o\/?$/.test(url.pathname);

    if (api === 'upload/') {
      const uploadId = q.get('upload_id');
      if (uploadId) return handleResumable(req, res, uploadId);
      if (method !== 'POST' || !bucket || !isObjectList)
        throw new GcsError(405, 'methodNotAllowed', 'Unsupported upload request');
      const uploadType = q.get('uploadType') ?? 'media';
      if (uploadType === 'resumable') return startResumable(req, res, bucket, q);
      if (uploadType === 'multipart') return multipartUpload(req, res, bucket, q);
      if (uploadType === 'media') return simpleUpload(req, res, bucket, q);
      throw invalid(`Unsupported uploadType: ${uploadType}`);
    }
    if (api === 'download/') {
      if (method !== 'GET' || !bucket || name === undefined) throw new GcsError(404, 'notFound', 'Not Found');
      return download(req, res, bucket, name, q);
    }
    if (bucket === undefined) {
      if (method === 'GET') return sendJson(res, 200, { kind: 'storage#buckets', items: store.listBuckets() });
      if (method === 'POST') {
        const body = await readJson(req);
        if (typeof body.name !== 'string') throw new GcsError(400, 'required', 'Required parameter: name');
        const created = await store.createBucket(body.name, {
          ...(typeof body.location === 'string' ? { location: body.location } : {}),
          ...(typeof body.storageClass === 'string' ? { storageClass: body.storageClass } : {}),
        });
        return sendJson(res, 200, created);
      }
    } else if (name === undefined && !isObjectList) {
      if (method === 'GET') return sendJson(res, 200, store.getBucket(bucket));
      if (method === 'DELETE') {
        await store.deleteBucket(bucket);
        return sendEmpty(res, 204);
      }
    } else if (name === undefined) {
      if (method === 'GET') {
        const maxResults = q.get('maxResults');
        const page = store.listObjects(bucket, {
          prefix: q.get('prefix') ?? '',
          delimiter: q.get('delimiter') ?? '',
          startOffset: q.get('startOffset') ?? '',
          endOffset: q.get('endOffset') ?? '',
          pageToken: q.get('pageToken') ?? '',
          ...(maxResults ? { maxResults: Number(maxResults) } : {}),
        });
        return sendJson(res, 200, {
          kind: 'storage#objects',
          ...(page.items.length ? { items: page.items.map(present) } : {}),
          ...(page.prefixes.length ? { prefixes: page.prefixes } : {}),
          ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
        });
      }
    } else {
      if (method === 'GET') {
        if (q.get('alt') === 'media') return download(req, res, bucket, name, q);
        const resource = store.getObject(bucket, name);
        const generation = q.get('generation');
        if (!resource || (generation && generation !== resource.generation)) throw notFoundObject(bucket, name);
        checkPreconditions(resource, preconditions(q), true);
        return sendJson(res, 200, present(resource));
      }
      if (method === 'PATCH' || method === 'PUT') {
        const body = await readJson(req);
        return sendJson(res, 200, present(await store.patchObject(bucket, name, fieldsOf(body), preconditions(q))));
      }
      if (method === 'DELETE') {
        await store.deleteObject(bucket, name, preconditions(q));
        log.info('object deleted', { bucket, name });
        return sendEmpty(res, 204);
      }
    }
    throw new GcsError(405, 'methodNotAllowed', `Method ${method} is not supported on ${url.pathname}`);
  };

  const server = createServer((req, res) => {
    const started = Date.now();
    routes(req, res)
      .catch(async (err: unknown) => {
        if (!(err instanceof GcsError)) log.error('request failed', { method: req.method, url: req.url, err });
        const error = err instanceof GcsError ? err : new GcsError(500, 'backendError', 'Internal error');
        if (res.headersSent) {
          res.destroy();
          return;
        }
        await drain(req);
        if (error.status === 304) sendEmpty(res, 304);
        else sendJson(res, error.status, error.toJSON());
      })
      .finally(() => {
        log.debug('request', { method: req.method, url: req.url, status: res.statusCode, ms: Date.now() - started });
      });
  });

  const port = await listenHttp(server, options.port ?? 0, host, 'GCS emulator');
  baseUrl = httpUrl(host, port);
  log.info('GCS emulator listening', { url: baseUrl, dataDir: options.dataDir ?? null, sinks });

  return {
    url: baseUrl,
    port,
    addSink: (url, bucket) => void sinks.push(bucket === undefined ? { url } : { url, bucket }),
    close: async () => {
      await closeHttp(server);
      await deliveries.stop();
      for (const session of sessions.values()) await session.staging?.discard().catch(() => undefined);
      sessions.clear();
    },
  };
}

// ---- helpers

function preconditions(q: URLSearchParams): Preconditions {
  const pre: Preconditions = {};
  for (const key of [
    'ifGenerationMatch',
    'ifGenerationNotMatch',
    'ifMetagenerationMatch',
    'ifMetagenerationNotMatch',
  ] as const) {
    const value = q.get(key);
    if (value !== null) pre[key] = value;
  }
  return pre;
}

function fieldsOf(body: Record<string, unknown>): ObjectFields {
  const fields: ObjectFields = {};
  for (const key of [
    'contentType',
    'contentEncoding',
    'contentDisposition',
    'contentLanguage',
    'cacheControl',
  ] as const) {
    const value = body[key];
    if (typeof value === 'string' || value === null) fields[key] = value;
  }
  const metadata = body.metadata;
  if (metadata === null) fields.metadata = null;
  else if (metadata && typeof metadata === 'object') {
    fields.metadata = Object.fromEntries(
      Object.entries(metadata as Record<string, unknown>).map(([k, v]) => [k, v === null ? null : String(v)]),
    );
  }
  return fields;
}

/** The client's `X-Goog-Hash: crc32c=...,md5=...`, checked against what arrived. */
function hashesOf(req: IncomingMessage): { md5Hash?: string; crc32c?: string } {
  const header = req.headers['x-goog-hash'];
  const out: { md5Hash?: string; crc32c?: string } = {};
  for (const part of (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',')) {
    const at = part.indexOf('=');
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === 'crc32c') out.crc32c = value;
    if (key === 'md5') out.md5Hash = value;
  }
  return out;
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined (whole object) when absent or not a single byte range. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '') || size === 0) return undefined;
  const unsatisfiable = (): never => {
    throw new GcsError(416, 'requestedRangeNotSatisfiable', 'The requested range cannot be satisfied.');
  };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) unsatisfiable();
  if (end < start) return undefined;
  return { start, end };
}

/** Content-Range of a resumable PUT: `bytes a-b/total`, `bytes a-*\/total` (rest of the stream), `bytes *\/total`. */
export function parseContentRange(header: string | undefined): ContentRange {
  if (!header) return { kind: 'data', start: 0, end: null, total: null };
  const m = /^bytes (?:\*|(\d+)-(\d+|\*))\/(\d+|\*)$/.exec(header.trim());
  if (!m) throw invalid(`Invalid Content-Range: ${header}`);
  const total = m[3] === '*' ? null : Number(m[3]);
  if (m[1] === undefined) return { kind: 'query', total };
  return { kind: 'data', start: Number(m[1]), end: m[2] === '*' ? null : Number(m[2]), total };
}

/**
 * Reads a `multipart/related` upload (JSON metadata part, then the media part) and streams the media into
 * `staging` as it arrives: only a short tail is held back, to strip the closing boundary at the end.
 */
export async function readMultipart(
  body: AsyncIterable<Buffer>,
  boundary: string,
  staging: Staging,
): Promise<{ metadata: Record<string, unknown>; mediaType?: string }> {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const it = body[Symbol.asyncIterator]();
  // The stream is read as if preceded by CRLF, so the first delimiter looks like every other one.
  let buf = Buffer.from('\r\n');
  const more = async (): Promise<boolean> => {
    const next = await it.next();
    if (next.done) return false;
    buf = Buffer.concat([buf, next.value]);
    if (buf.length > MAX_JSON_BODY) throw invalid('Multipart metadata part is too large');
    return true;
  };
  const find = async (needle: Buffer | string, from: number): Promise<number> => {
    for (;;) {
      const at = buf.indexOf(needle, from);
      if (at >= 0) return at;
      if (!(await more())) throw invalid('Malformed multipart body');
    }
  };
  const first = await find(delimiter, 0);
  const headersEnd1 = await find('\r\n\r\n', first + delimiter.length);
  const second = await find(delimiter, headersEnd1 + 4);
  const part1 = buf.subarray(headersEnd1 + 4, second).toString('utf8');
  const headersEnd2 = await find('\r\n\r\n', second + delimiter.length);
  const part2Headers = buf.subarray(second + delimiter.length, headersEnd2).toString('utf8');
  let metadata: Record<string, unknown>;
  try {
    metadata = part1.trim() ? (JSON.parse(part1) as Record<string, unknown>) : {};
  } catch {
    throw new GcsError(400, 'parseError', 'Multipart metadata part is not valid JSON');
  }
  const mediaType = /^content-type:\s*(.+)$/im.exec(part2Headers)?.[1]?.trim();
  // Hold back enough to contain the closing delimiter (`\r\n--boundary--\r\n`) and a short epilogue.
  const hold = delimiter.length + 64;
  let pending = buf.subarray(headersEnd2 + 4);
  for (;;) {
    if (pending.length > hold) {
      await staging.write(pending.subarray(0, pending.length - hold));
      pending = pending.subarray(pending.length - hold);
    }
    const next = await it.next();
    if (next.done) break;
    pending = Buffer.concat([pending, next.value]);
  }
  const end = pending.lastIndexOf(delimiter);
  if (end < 0) throw invalid('Multipart body is missing its closing boundary');
  await staging.write(pending.subarray(0, end));
  return { metadata, ...(mediaType ? { mediaType } : {}) };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BODY) throw invalid('Request body is too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new GcsError(400, 'parseError', 'Parse Error');
}

async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  try {
    for await (const _ of req) {
      // discard
    }
  } catch {
    // the client is gone; nothing to answer
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': '0' });
  res.end();
}
