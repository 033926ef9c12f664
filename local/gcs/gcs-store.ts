/**
 * The GCS emulator's storage: buckets, the live generation of each object, and the object bytes, either in a
 * directory (so a restart keeps everything) or in memory. No HTTP here; the server in gcs-emulator.ts maps
 * requests onto this and `GcsError`s onto GCS's JSON error bodies.
 *
 * On disk (`dataDir`):
 *   buckets/<bucket>.json        the bucket resource
 *   objects/<sha256(bucket NUL name)>.json   { bucket, name, blob, resource }   (the live generation)
 *   blobs/<uuid>                 object bytes, immutable; an overwrite writes a new blob, then drops the old one
 *   staging/<uuid>               bytes of uploads in progress (removed on start: sessions do not survive a restart)
 * Every JSON file is written to a temporary name and renamed, so a crash leaves the old or the new version.
 * Writes to one object are serialized, so a precondition check and the write it guards are one step.
 */
import { createHash, randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Crc32c } from './crc32c.ts';

/** Object metadata as the JSON API returns it (links are added by the server, which knows its own URL). */
export interface ObjectResource {
  kind: 'storage#object';
  id: string;
  name: string;
  bucket: string;
  generation: string;
  metageneration: string;
  contentType: string;
  storageClass: string;
  size: string;
  md5Hash: string;
  crc32c: string;
  etag: string;
  timeCreated: string;
  updated: string;
  timeStorageClassUpdated: string;
  timeFinalized: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  metadata?: Record<string, string>;
}

export interface BucketResource {
  kind: 'storage#bucket';
  id: string;
  name: string;
  projectNumber: string;
  metageneration: string;
  location: string;
  locationType: string;
  storageClass: string;
  etag: string;
  timeCreated: string;
  updated: string;
  iamConfiguration: { uniformBucketLevelAccess: { enabled: boolean }; publicAccessPrevention: string };
}

/** Writable object fields a client may set on upload or patch. */
export interface ObjectFields {
  contentType?: string | null;
  contentEncoding?: string | null;
  contentDisposition?: string | null;
  contentLanguage?: string | null;
  cacheControl?: string | null;
  /** Merged into the custom metadata; a null value removes that key, a null map removes them all. */
  metadata?: Record<string, string | null> | null;
}

export interface Preconditions {
  ifGenerationMatch?: string;
  ifGenerationNotMatch?: string;
  ifMetagenerationMatch?: string;
  ifMetagenerationNotMatch?: string;
}

/** An error the API answers with: status, GCS `reason`, message (rendered as GCS's JSON error body). */
export class GcsError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'GcsError';
  }

  toJSON(): { error: { code: number; message: string; errors: Array<Record<string, string>> } } {
    return {
      error: {
        code: this.status,
        message: this.message,
        errors: [{ message: this.message, domain: 'global', reason: this.reason }],
      },
    };
  }
}

export const notFoundObject = (bucket: string, name: string): GcsError =>
  new GcsError(404, 'notFound', `No such object: ${bucket}/${name}`);
const notFoundBucket = (): GcsError => new GcsError(404, 'notFound', 'The specified bucket does not exist.');
const conditionNotMet = (): GcsError =>
  new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
export const invalid = (message: string): GcsError => new GcsError(400, 'invalid', message);

/**
 * GCS precondition semantics: ifGenerationMatch=0 means "must not exist"; ifGenerationNotMatch=0 means "must
 * exist"; the metageneration conditions need an existing object. On reads a failed *NotMatch is 304, else 412.
 */
export function checkPreconditions(current: ObjectResource | undefined, pre: Preconditions, read = false): void {
  for (const [key, value] of Object.entries(pre)) {
    if (value !== undefined && !/^\d+$/.test(value)) throw invalid(`Invalid value for ${key}: ${value}`);
  }
  const gen = current?.generation ?? '0';
  const meta = current?.metageneration;
  const fail = (notMatch: boolean): never => {
    throw read && notMatch ? new GcsError(304, 'notModified', 'Not Modified') : conditionNotMet();
  };
  if (pre.ifGenerationMatch !== undefined && pre.ifGenerationMatch !== gen) fail(false);
  if (pre.ifGenerationNotMatch !== undefined && pre.ifGenerationNotMatch === gen) fail(true);
  if (pre.ifMetagenerationMatch !== undefined && pre.ifMetagenerationMatch !== meta) fail(false);
  if (pre.ifMetagenerationNotMatch !== undefined && current && pre.ifMetagenerationNotMatch === meta) fail(true);
}

/** Bytes of an upload in progress, hashed (md5 and crc32c) as they arrive. */
export interface Staging {
  readonly size: number;
  write(chunk: Buffer): Promise<void>;
  /** md5Hash and crc32c in base64, as GCS reports them; call once, when all bytes are in. */
  digests(): { md5Hash: string; crc32c: string };
  discard(): Promise<void>;
}

interface ObjectRecord {
  bucket: string;
  name: string;
  blob: string;
  resource: ObjectResource;
}

interface BucketState {
  resource: BucketResource;
  objects: Map<string, ObjectRecord>;
  sortedNames: string[] | null;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  startOffset?: string;
  endOffset?: string;
  pageToken?: string;
  maxResults?: number;
}

export interface ListPage {
  items: ObjectResource[];
  prefixes: string[];
  nextPageToken?: string;
}

/** Where bytes live: files under dataDir, or buffers in memory. */
interface BlobBackend {
  stage(): Promise<{ write(chunk: Buffer): Promise<void>; commit(): Promise<string>; discard(): Promise<void> }>;
  /** Opens before resolving, so a blob removed afterwards (by an overwrite) still reads to the end. */
  read(blob: string, start: number, end: number): Promise<Readable>;
  remove(blob: string): Promise<void>;
}

class DiskBlobs implements BlobBackend {
  constructor(private readonly dir: string) {}

  async stage() {
    const id = randomUUID();
    const stagingPath = path.join(this.dir, 'staging', id);
    const fh = await fsp.open(stagingPath, 'w');
    let closed = false;
    const close = async (): Promise<void> => {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    };
    return {
      write: async (chunk: Buffer): Promise<void> => {
        let offset = 0;
        while (offset < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, offset);
          offset += bytesWritten;
        }
      },
      commit: async (): Promise<string> => {
        await close();
        await fsp.rename(stagingPath, path.join(this.dir, 'blobs', id));
        return id;
      },
      discard: async (): Promise<void> => {
        await close();
        await fsp.rm(stagingPath, { force: true });
      },
    };
  }

  async read(blob: string, start: number, end: number): Promise<Readable> {
    const fh = await fsp.open(path.join(this.dir, 'blobs', blob), 'r');
    // An empty range (start > end) is not expressible with createReadStream's inclusive `end`.
    if (end < start) {
      await fh.close();
      return Readable.from([]);
    }
    return fh.createReadStream({ start, end });
  }

  async remove(blob: string): Promise<void> {
    await fsp.rm(path.join(this.dir, 'blobs', blob), { force: true });
  }
}

class MemoryBlobs implements BlobBackend {
  readonly #blobs = new Map<string, Buffer>();

  async stage() {
    const chunks: Buffer[] = [];
    return {
      write: async (chunk: Buffer): Promise<void> => {
        chunks.push(chunk);
      },
      commit: async (): Promise<string> => {
        const id = randomUUID();
        this.#blobs.set(id, Buffer.concat(chunks));
        return id;
      },
      discard: async (): Promise<void> => {
        chunks.length = 0;
      },
    };
  }

  async read(blob: string, start: number, end: number): Promise<Readable> {
    const data = this.#blobs.get(blob) ?? Buffer.alloc(0);
    return Readable.from([data.subarray(start, end + 1)]);
  }

  async remove(blob: string): Promise<void> {
    this.#blobs.delete(blob);
  }
}

const OBJECT_FIELDS = ['contentEncoding', 'contentDisposition', 'contentLanguage', 'cacheControl'] as const;

function objectFileName(bucket: string, name: string): string {
  return `${createHash('sha256').update(`${bucket}\0${name}`).digest('hex')}.json`;
}

async function writeJsonAtomically(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(value));
  await fsp.rename(tmp, file);
}

function checkObjectName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > 1024 || /[\r\n]/.test(name) || name === '.' || name === '..') {
    throw invalid(`Invalid object name: ${JSON.stringify(name)}`);
  }
}

function checkBucketName(name: string): void {
  if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(name)) throw invalid(`Invalid bucket name: '${name}'`);
}

interface PageToken {
  /** The last entry returned: an object name, or a prefix (then every name under it was returned too). */
  after: string;
  prefix: boolean;
}

function encodeToken(token: PageToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeToken(raw: string): PageToken {
  try {
    const t = JSON.parse(Buffer.from(raw, 'base64url').toString()) as PageToken;
    if (typeof t.after === 'string' && typeof t.prefix === 'boolean') return t;
  } catch {
    // fall through
  }
  throw invalid('Invalid pageToken');
}

export class GcsStore {
  readonly #buckets = new Map<string, BucketState>();
  readonly #locks = new Map<string, Promise<void>>();
  #lastGeneration = 0;

  private constructor(
    private readonly blobs: BlobBackend,
    private readonly dataDir: string | undefined,
  ) {}

  /** Opens (and creates) a store in `dataDir`, reloading what is there; without a directory, in memory. */
  static async open(dataDir?: string): Promise<GcsStore> {
    if (!dataDir) return new GcsStore(new MemoryBlobs(), undefined);
    const dir = path.resolve(dataDir);
    for (const sub of ['buckets', 'objects', 'blobs', 'staging'])
      await fsp.mkdir(path.join(dir, sub), { recursive: true });
    const store = new GcsStore(new DiskBlobs(dir), dir);
    await store.#load(dir);
    return store;
  }

  async #load(dir: string): Promise<void> {
    for (const file of await fsp.readdir(path.join(dir, 'buckets'))) {
      if (!file.endsWith('.json')) continue;
      const resource = JSON.parse(await fsp.readFile(path.join(dir, 'buckets', file), 'utf8')) as BucketResource;
      this.#buckets.set(resource.name, { resource, objects: new Map(), sortedNames: null });
    }
    const referenced = new Set<string>();
    for (const file of await fsp.readdir(path.join(dir, 'objects'))) {
      const full = path.join(dir, 'objects', file);
      if (!file.endsWith('.json')) {
        await fsp.rm(full, { force: true }); // an interrupted atomic write
        continue;
      }
      const record = JSON.parse(await fsp.readFile(full, 'utf8')) as ObjectRecord;
      const bucket = this.#buckets.get(record.bucket);
      if (!bucket) continue;
      bucket.objects.set(record.name, record);
      referenced.add(record.blob);
      this.#lastGeneration = Math.max(this.#lastGeneration, Number(record.resource.generation));
    }
    for (const blob of await fsp.readdir(path.join(dir, 'blobs'))) {
      if (!referenced.has(blob)) await fsp.rm(path.join(dir, 'blobs', blob), { force: true });
    }
    for (const file of await fsp.readdir(path.join(dir, 'staging'))) {
      await fsp.rm(path.join(dir, 'staging', file), { force: true });
    }
  }

  /** Microseconds since the epoch, like GCS, and strictly increasing even within one microsecond. */
  #nextGeneration(): string {
    this.#lastGeneration = Math.max(this.#lastGeneration + 1, Date.now() * 1000);
    return String(this.#lastGeneration);
  }

  async #exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = previous.then(() => new Promise<void>((r) => (release = r)));
    this.#locks.set(key, mine);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#locks.get(key) === mine) this.#locks.delete(key);
    }
  }

  #bucket(name: string): BucketState {
    const bucket = this.#buckets.get(name);
    if (!bucket) throw notFoundBucket();
    return bucket;
  }

  // ---- buckets

  async createBucket(
    name: string,
    opts: { location?: string; storageClass?: string } = {},
    ifAbsent = false,
  ): Promise<BucketResource> {
    checkBucketName(name);
    return this.#exclusive(`b:${name}`, async () => {
      const existing = this.#buckets.get(name);
      if (existing) {
        if (ifAbsent) return existing.resource;
        throw new GcsError(
          409,
          'conflict',
          'Your previous request to create the named bucket succeeded and you already own it.',
        );
      }
      const now = new Date().toISOString();
      const resource: BucketResource = {
        kind: 'storage#bucket',
        id: name,
        name,
        projectNumber: '0',
        metageneration: '1',
        location: (opts.location ?? 'US').toUpperCase(),
        locationType: 'multi-region',
        storageClass: opts.storageClass ?? 'STANDARD',
        etag: 'CAE=',
        timeCreated: now,
        updated: now,
        iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
      };
      if (this.dataDir) await writeJsonAtomically(path.join(this.dataDir, 'buckets', `${name}.json`), resource);
      this.#buckets.set(name, { resource, objects: new Map(), sortedNames: null });
      return resource;
    });
  }

  getBucket(name: string): BucketResource {
    return this.#bucket(name).resource;
  }

  listBuckets(): BucketResource[] {
    return [...this.#buckets.values()].map((b) => b.resource).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async deleteBucket(name: string): Promise<void> {
    await this.#exclusive(`b:${name}`, async () => {
      const bucket = this.#bucket(name);
      if (bucket.objects.size > 0) throw new GcsError(409, 'conflict', 'The bucket you tried to delete is not empty.');
      if (this.dataDir) await fsp.rm(path.join(this.dataDir, 'buckets', `${name}.json`), { force: true });
      this.#buckets.delete(name);
    });
  }

  // ---- objects

  /** The live generation's metadata; throws 404 for a missing bucket, undefined for a missing object. */
  getObject(bucket: string, name: string): ObjectResource | undefined {
    return this.#bucket(bucket).objects.get(name)?.resource;
  }

  /**
   * Opens the live generation for reading: `choose` sees its metadata and picks the inclusive byte range (or
   * throws: 404, 412, 416). Serialized with writes, so the bytes are those of the metadata returned.
   */
  async openObject(
    bucket: string,
    name: string,
    choose: (resource: ObjectResource) => { start: number; end: number },
  ): Promise<{ resource: ObjectResource; stream: Readable }> {
    return this.#exclusive(`o:${bucket}\0${name}`, async () => {
      const record = this.#bucket(bucket).objects.get(name);
      if (!record) throw notFoundObject(bucket, name);
      const { start, end } = choose(record.resource);
      return { resource: record.resource, stream: await this.blobs.read(record.blob, start, end) };
    });
  }

  async stage(): Promise<Staging> {
    const sink = await this.blobs.stage();
    const md5 = createHash('md5');
    const crc = new Crc32c();
    let size = 0;
    let digests: { md5Hash: string; crc32c: string } | undefined;
    const staging: Staging & { commit(): Promise<string> } = {
      get size() {
        return size;
      },
      async write(chunk: Buffer) {
        md5.update(chunk);
        crc.update(chunk);
        size += chunk.length;
        await sink.write(chunk);
      },
      digests() {
        digests ??= { md5Hash: md5.digest('base64'), crc32c: crc.toString() };
        return digests;
      },
      commit: () => sink.commit(),
      discard: () => sink.discard(),
    };
    return staging;
  }

  /**
   * Makes staged bytes the object's new live generation, if the preconditions hold and the client's hashes
   * (when it sent any) match; otherwise discards them. The staging is consumed either way.
   */
  async finalize(
    bucket: string,
    name: string,
    staging: Staging,
    fields: ObjectFields,
    pre: Preconditions,
    expected: { md5Hash?: string; crc32c?: string } = {},
  ): Promise<ObjectResource> {
    const commit = (staging as Staging & { commit(): Promise<string> }).commit;
    try {
      checkObjectName(name);
      return await this.#exclusive(`o:${bucket}\0${name}`, async () => {
        const state = this.#bucket(bucket);
        const current = state.objects.get(name);
        checkPreconditions(current?.resource, pre);
        const { md5Hash, crc32c } = staging.digests();
        if (expected.crc32c && expected.crc32c !== crc32c) {
          throw invalid(`Provided CRC32C "${expected.crc32c}" doesn't match calculated CRC32C "${crc32c}".`);
        }
        if (expected.md5Hash && expected.md5Hash !== md5Hash) {
          throw invalid(`Provided MD5 hash "${expected.md5Hash}" doesn't match calculated MD5 hash "${md5Hash}".`);
        }
        const blob = await commit();
        const now = new Date().toISOString();
        const generation = this.#nextGeneration();
        const resource: ObjectResource = {
          kind: 'storage#object',
          id: `${bucket}/${name}/${generation}`,
          name,
          bucket,
          generation,
          metageneration: '1',
          contentType: fields.contentType || 'application/octet-stream',
          storageClass: state.resource.storageClass,
          size: String(staging.size),
          md5Hash,
          crc32c,
          etag: etagOf(generation, '1'),
          timeCreated: now,
          updated: now,
          timeStorageClassUpdated: now,
          timeFinalized: now,
        };
        applyFields(resource, fields);
        const record: ObjectRecord = { bucket, name, blob, resource };
        try {
          await this.#persist(record);
        } catch (err) {
          await this.blobs.remove(blob);
          throw err;
        }
        state.objects.set(name, record);
        if (!current) state.sortedNames = null;
        if (current) await this.blobs.remove(current.blob);
        return resource;
      });
    } catch (err) {
      await staging.discard().catch(() => undefined);
      throw err;
    }
  }

  async patchObject(bucket: string, name: string, fields: ObjectFields, pre: Preconditions): Promise<ObjectResource> {
    return this.#exclusive(`o:${bucket}\0${name}`, async () => {
      const record = this.#bucket(bucket).objects.get(name);
      if (!record) throw notFoundObject(bucket, name);
      checkPreconditions(record.resource, pre);
      const resource: ObjectResource = { ...record.resource, metadata: { ...record.resource.metadata } };
      resource.metageneration = String(Number(resource.metageneration) + 1);
      resource.updated = new Date().toISOString();
      resource.etag = etagOf(resource.generation, resource.metageneration);
      applyFields(resource, fields);
      const next = { ...record, resource };
      await this.#persist(next);
      this.#bucket(bucket).objects.set(name, next);
      return resource;
    });
  }

  async deleteObject(bucket: string, name: string, pre: Preconditions): Promise<void> {
    await this.#exclusive(`o:${bucket}\0${name}`, async () => {
      const state = this.#bucket(bucket);
      const record = state.objects.get(name);
      if (!record) throw notFoundObject(bucket, name);
      checkPreconditions(record.resource, pre);
      if (this.dataDir) await fsp.rm(path.join(this.dataDir, 'objects', objectFileName(bucket, name)), { force: true });
      state.objects.delete(name);
      state.sortedNames = null;
      await this.blobs.remove(record.blob);
    });
  }

  async #persist(record: ObjectRecord): Promise<void> {
    if (!this.dataDir) return;
    await writeJsonAtomically(path.join(this.dataDir, 'objects', objectFileName(record.bucket, record.name)), record);
  }

  /**
   * One page of a listing in name order. With a delimiter, names that continue past it below the prefix are
   * rolled up into `prefixes`; items and prefixes together count towards maxResults, as in GCS.
   */
  listObjects(bucket: string, opts: ListOptions): ListPage {
    const state = this.#bucket(bucket);
    state.sortedNames ??= [...state.objects.keys()].sort();
    const prefix = opts.prefix ?? '';
    const delimiter = opts.delimiter || undefined;
    const max = Math.max(1, Math.min(opts.maxResults ?? 1000, 1000));
    const token = opts.pageToken ? decodeToken(opts.pageToken) : undefined;
    const page: ListPage = { items: [], prefixes: [] };
    let last: PageToken | undefined;
    for (const name of state.sortedNames) {
      if (!name.startsWith(prefix)) continue;
      if (opts.startOffset && name < opts.startOffset) continue;
      if (opts.endOffset && name >= opts.endOffset) break;
      if (token && (name <= token.after || (token.prefix && name.startsWith(token.after)))) continue;
      let entry: PageToken = { after: name, prefix: false };
      if (delimiter) {
        const at = name.indexOf(delimiter, prefix.length);
        if (at >= 0) entry = { after: name.slice(0, at + delimiter.length), prefix: true };
      }
      if (entry.prefix && last?.prefix && last.after === entry.after) continue;
      if (page.items.length + page.prefixes.length === max) {
        if (last) page.nextPageToken = encodeToken(last);
        break;
      }
      if (entry.prefix) page.prefixes.push(entry.after);
      else page.items.push(state.objects.get(name)!.resource);
      last = entry;
    }
    return page;
  }
}

function etagOf(generation: string, metageneration: string): string {
  return Buffer.from(`${generation}/${metageneration}`).toString('base64');
}

function applyFields(resource: ObjectResource, fields: ObjectFields): void {
  if (fields.contentType) resource.contentType = fields.contentType;
  for (const key of OBJECT_FIELDS) {
    const value = fields[key];
    if (value === null) delete resource[key];
    else if (typeof value === 'string') resource[key] = value;
  }
  if (fields.metadata === null) {
    delete resource.metadata;
  } else if (fields.metadata) {
    const merged: Record<string, string> = { ...resource.metadata };
    for (const [k, v] of Object.entries(fields.metadata)) {
      if (v === null) delete merged[k];
      else merged[k] = String(v);
    }
    if (Object.keys(merged).length > 0) resource.metadata = merged;
    else delete resource.metadata;
  }
}
