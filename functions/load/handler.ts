/**
 * `load`: one object generation of a CSV upload -> one dataset in Postgres.
 *
 * `{bucket, name, generation}` -> `{datasetId, rows, rejected, alreadyLoaded}`. The object is streamed from Cloud
 * Storage through the CSV validation into a COPY, and the dataset appears in one transaction or not at all. The
 * same generation loaded twice (in sequence or at once) gives the same dataset id and writes nothing the second time.
 */
import { type Readable, Transform } from 'node:stream';
import type { Storage } from '@google-cloud/storage';
import type pg from 'pg';
import { findDatasetBySource, type LoadOutcome, loadDataset } from '../../shared/adapters/db/datasets.ts';
import { getObjectMetadata, readObjectStream } from '../../shared/adapters/storage.ts';
import { type CsvProgress, maxRowsLeft, validatePassengerCsv } from '../../shared/core/csv-stream.ts';
import { AppError } from '../../shared/errors.ts';
import { asObject, type EdgeDeps, makeJsonHandler, requireString } from '../edge.ts';

export interface LoadConfig {
  /** MAX_UPLOAD_BYTES: larger objects are refused (422) without being read. */
  maxUploadBytes: number;
  /** MAX_REJECTED_SHARE: above this share of rejected rows the whole file is refused (422). */
  maxRejectedShare: number;
}

export interface LoadDeps extends EdgeDeps {
  pool: pg.Pool;
  storage: Storage;
  config: LoadConfig;
  now?: () => Date;
}

export interface LoadRequest {
  bucket: string;
  name: string;
  generation: string;
}

export function parseLoadRequest(body: unknown): LoadRequest {
  const o = asObject(body);
  const generation = typeof o.generation === 'number' ? String(o.generation) : o.generation;
  return {
    bucket: requireString(o, 'bucket', /^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/),
    name: requireString(o, 'name'),
    generation: requireString({ generation }, 'generation', /^[0-9]{1,20}$/),
  };
}

/** Counts bytes as they stream and fails the stream once the limit is passed (a guard behind the metadata check). */
function byteLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit)
        return done(new AppError('CSV_TOO_LARGE', `the file is over ${limit} bytes`, { maxBytes: limit }));
      done(null, chunk);
    },
  });
}

export async function loadObject(
  deps: LoadDeps,
  req: LoadRequest,
  onParser?: (parser: 'postgres' | 'node', notPlain?: string) => void,
): Promise<LoadOutcome> {
  const source = { bucket: req.bucket, object: req.name, generation: req.generation };
  const existing = await findDatasetBySource(deps.pool, source);
  if (existing) {
    return { datasetId: existing.id, rows: existing.rowCount, rejected: existing.rejectedCount, alreadyLoaded: true };
  }
  const meta = await getObjectMetadata(deps.storage, req.bucket, req.name, req.generation);
  if (!meta) {
    throw new AppError('NOT_FOUND', `gs://${req.bucket}/${req.name} has no generation ${req.generation}`, {
      bucket: req.bucket,
      name: req.name,
      generation: req.generation,
    });
  }
  if (meta.size > deps.config.maxUploadBytes) {
    throw new AppError(
      'CSV_TOO_LARGE',
      `the file is ${meta.size} bytes, over the limit of ${deps.config.maxUploadBytes}`,
      {
        size: meta.size,
        maxBytes: deps.config.maxUploadBytes,
      },
    );
  }
  const startedAt = (deps.now ?? (() => new Date()))();
  // Each read of the object is a fresh download of the pinned generation. The client checks the bytes against the
  // object's hash; MD5 (native) is far cheaper than its CRC32C, and every non-composite object has one. A composite
  // object has only a CRC32C.
  const opened: Readable[] = [];
  const open = (): Readable => {
    const download = readObjectStream(deps.storage, req.bucket, req.name, req.generation, {
      validation: meta.md5Hash ? 'md5' : 'crc32c',
    });
    const limited = byteLimit(deps.config.maxUploadBytes);
    download.on('error', (err) => limited.destroy(err));
    download.pipe(limited);
    opened.push(download, limited);
    return limited;
  };
  // The object's size bounds the rows still to come, so a file of bad rows is refused once it cannot pass.
  const progress: CsvProgress = { bytes: 0, minRowBytes: 0 };
  try {
    return await loadDataset(
      deps.pool,
      { ...source, md5Hash: meta.md5Hash, crc32c: meta.crc32c, sizeBytes: meta.size },
      {
        bytes: open,
        records: () => validatePassengerCsv(open(), { requireSurvived: true, progress }),
      },
      {
        maxRejectedShare: deps.config.maxRejectedShare,
        startedAt,
        maxRowsLeft: () => maxRowsLeft(progress, meta.size),
        onParser: (parser, notPlain) => onParser?.(parser, notPlain),
      },
    );
  } finally {
    for (const stream of opened) stream.destroy();
  }
}

export function makeLoadHandler(deps: LoadDeps) {
  return makeJsonHandler('load', deps, parseLoadRequest, async (req, { log }) => {
    let parser: { parser: string; notPlain?: string } | undefined;
    const out = await loadObject(deps, req, (name, notPlain) => {
      parser = notPlain === undefined ? { parser: name } : { parser: name, notPlain };
    });
    if (!out.alreadyLoaded) log.info('dataset loaded', { ...req, ...out, ...parser });
    return out;
  });
}
