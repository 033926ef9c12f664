import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { CRC32C, type Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.ts';
import { startTestSink, type TestSink } from '../../test/support/push-sink.ts';
import { closeHttp, listenHttp, PortInUseError } from '../net/listen.ts';
import { FINALIZED_EVENT_TYPE, type GcsEmulator, localStorageClient, startGcsEmulator } from './gcs-emulator.ts';

const BUCKET = 'data-bucket';
const MiB = 1024 * 1024;

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');
const crc32c = (b: Buffer): string => {
  const c = new CRC32C();
  c.update(b);
  return c.toString();
};
const statusOf = async (p: Promise<unknown>): Promise<number | undefined> => {
  try {
    await p;
    return undefined;
  } catch (err) {
    // JSON-API calls fail with ApiError.code; a resumable session start fails with a GaxiosError (response.status).
    const e = err as { code?: unknown; response?: { status?: number } };
    return typeof e.code === 'number' ? e.code : e.response?.status;
  }
};

describe('GCS emulator with the real @google-cloud/storage client', () => {
  let tmp: string;
  let emulator: GcsEmulator;
  let storage: Storage;
  let sink: TestSink;
  const requests: Array<{ method: string; url: string; status: number }> = [];
  const big = randomBytes(12 * MiB);
  let bigPath: string;

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gcs-emulator-'));
    bigPath = path.join(tmp, 'big.bin');
    await fs.writeFile(bigPath, big);
    sink = await startTestSink();
    // The request log (DEBUG) tells the tests which requests the client made.
    const logger = createLogger({
      minSeverity: 'DEBUG',
      sink: (line) => {
        const entry = JSON.parse(line) as { message: string; method: string; url: string; status: number };
        if (entry.message === 'request') requests.push(entry);
      },
    });
    emulator = await startGcsEmulator({ dataDir: path.join(tmp, 'data'), sinks: [sink.url], logger });
    storage = localStorageClient(emulator.url);
    await storage.createBucket(BUCKET);
  });

  afterAll(async () => {
    await emulator?.close();
    await sink?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('creates buckets, reads their metadata, and answers 404 for a missing one and 409 for a duplicate', async () => {
    const [meta] = await storage.bucket(BUCKET).getMetadata();
    expect(meta.name).toBe(BUCKET);
    expect((await storage.bucket('no-such-bucket').exists())[0]).toBe(false);
    expect(await statusOf(storage.createBucket(BUCKET))).toBe(409);
  });

  it('stores a multipart upload with size, md5Hash, crc32c, generation and metageneration', async () => {
    const body = Buffer.from('PassengerId,Survived\n1,0\n');
    const file = storage.bucket(BUCKET).file('small/multipart.csv');
    await file.save(body, { resumable: false, contentType: 'text/csv', metadata: { metadata: { source: 'test' } } });
    const [meta] = await file.getMetadata();
    expect(meta).toMatchObject({
      name: 'small/multipart.csv',
      bucket: BUCKET,
      size: String(body.length),
      md5Hash: md5(body),
      crc32c: crc32c(body),
      contentType: 'text/csv',
      metageneration: '1',
      metadata: { source: 'test' },
    });
    expect(Number(meta.generation)).toBeGreaterThan(0);
    expect(requests.some((r) => r.method === 'POST' && r.url.includes('uploadType=multipart'))).toBe(true);
    const [downloaded] = await file.download();
    expect(downloaded.equals(body)).toBe(true);
  });

  it('uploads a 12 MB file in one resumable request and in 4 MiB chunks, and both download intact', async () => {
    const bucket = storage.bucket(BUCKET);
    const before = requests.length;
    await bucket.upload(bigPath, { destination: 'big/single.bin' });
    await bucket.upload(bigPath, { destination: 'big/chunked.bin', chunkSize: 4 * MiB });
    const made = requests.slice(before);
    expect(made.filter((r) => r.url.includes('uploadType=resumable') && r.method === 'POST')).toHaveLength(2);
    // 12 MiB in 4 MiB chunks: two partial chunks (308) and a final one (200).
    expect(made.filter((r) => r.method === 'PUT' && r.url.includes('chunked') && r.status === 308)).toHaveLength(2);
    for (const name of ['big/single.bin', 'big/chunked.bin']) {
      const [meta] = await bucket.file(name).getMetadata();
      expect(meta).toMatchObject({ size: String(big.length), md5Hash: md5(big), crc32c: crc32c(big) });
      const [data] = await bucket.file(name).download(); // the client validates crc32c from x-goog-hash
      expect(data.equals(big)).toBe(true);
    }
  });

  it('downloads byte ranges: start and end, an open end, and a suffix', async () => {
    const file = storage.bucket(BUCKET).file('big/single.bin');
    const [middle] = await file.download({ start: 1000, end: 1999 });
    expect(middle.equals(big.subarray(1000, 2000))).toBe(true);
    const [tail] = await file.download({ start: big.length - 10 });
    expect(tail.equals(big.subarray(big.length - 10))).toBe(true);
    const res = await fetch(`${emulator.url}/storage/v1/b/${BUCKET}/o/big%2Fsingle.bin?alt=media`, {
      headers: { range: 'bytes=-5' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${big.length - 5}-${big.length - 1}/${big.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(big.subarray(big.length - 5))).toBe(true);
    const beyond = await fetch(`${emulator.url}/storage/v1/b/${BUCKET}/o/big%2Fsingle.bin?alt=media`, {
      headers: { range: `bytes=${big.length}-` },
    });
    expect(beyond.status).toBe(416);
  });

  it('lists with prefix, delimiter and pagination, counting prefixes towards maxResults', async () => {
    const bucket = storage.bucket(BUCKET);
    const names = ['list/a.csv', 'list/b.csv', 'list/c.csv', 'list/sub1/x.csv', 'list/sub1/y.csv', 'list/sub2/z.csv'];
    for (const name of names) await bucket.file(name).save(name, { resumable: false });
    const [all] = await bucket.getFiles({ prefix: 'list/' });
    expect(all.map((f) => f.name)).toEqual(names);

    const items: string[] = [];
    const prefixes: string[] = [];
    let query: Record<string, unknown> | null = { prefix: 'list/', delimiter: '/', maxResults: 2, autoPaginate: false };
    let pages = 0;
    while (query) {
      const [files, next, raw] = await bucket.getFiles(query);
      pages++;
      items.push(...files.map((f) => f.name));
      prefixes.push(...(((raw as { prefixes?: string[] }).prefixes ?? []) as string[]));
      expect(files.length + ((raw as { prefixes?: string[] }).prefixes?.length ?? 0)).toBeLessThanOrEqual(2);
      query = next as Record<string, unknown> | null;
    }
    expect(items).toEqual(['list/a.csv', 'list/b.csv', 'list/c.csv']);
    expect(prefixes).toEqual(['list/sub1/', 'list/sub2/']);
    expect(pages).toBe(3);
  });

  it('gives an overwritten object a new, larger generation and new hashes', async () => {
    const file = storage.bucket(BUCKET).file('models/latest.json');
    await file.save('{"v":1}', { resumable: false });
    const [first] = await file.getMetadata();
    await file.save('{"v":2}');
    const [second] = await file.getMetadata();
    expect(BigInt(second.generation!)).toBeGreaterThan(BigInt(first.generation!));
    expect(second.metageneration).toBe('1');
    expect(second.md5Hash).toBe(md5(Buffer.from('{"v":2}')));
    expect((await file.download())[0].toString()).toBe('{"v":2}');
  });

  it('answers 412 when ifGenerationMatch, ifGenerationNotMatch or ifMetagenerationMatch does not hold', async () => {
    const file = storage.bucket(BUCKET).file('models/pointer.json');
    await file.save('a', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const [meta] = await file.getMetadata();
    const generation = Number(meta.generation);

    // 0 = "must not exist", through both upload paths.
    expect(await statusOf(file.save('b', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }))).toBe(412);
    expect(await statusOf(file.save('b', { resumable: true, preconditionOpts: { ifGenerationMatch: 0 } }))).toBe(412);
    expect(
      await statusOf(file.save('b', { resumable: false, preconditionOpts: { ifGenerationMatch: generation + 1 } })),
    ).toBe(412);
    expect(await statusOf(file.delete({ ifGenerationMatch: generation + 1 }))).toBe(412);
    expect(await statusOf(file.setMetadata({ metadata: { k: 'v' } }, { ifMetagenerationMatch: 7 }))).toBe(412);
    expect((await file.download())[0].toString()).toBe('a');

    await file.setMetadata({ metadata: { k: 'v' } }, { ifMetagenerationMatch: 1 });
    expect((await file.getMetadata())[0].metageneration).toBe('2');
    await file.save('c', { resumable: false, preconditionOpts: { ifGenerationMatch: generation } });
    expect((await file.download())[0].toString()).toBe('c');

    const res = await fetch(
      `${emulator.url}/storage/v1/b/${BUCKET}/o/models%2Fpointer.json?ifGenerationNotMatch=${(await file.getMetadata())[0].generation}`,
      { method: 'DELETE' },
    );
    expect(res.status).toBe(412);
  });

  it('lets exactly one of several racing writers guarded by the same generation win', async () => {
    const file = storage.bucket(BUCKET).file('models/raced.json');
    await file.save('{"v":0}', { resumable: false });
    const generation = Number((await file.getMetadata())[0].generation);
    const writers = [1, 2, 3, 4, 5].map((v) =>
      file.save(`{"v":${v}}`, { resumable: false, preconditionOpts: { ifGenerationMatch: generation } }),
    );
    const outcomes = await Promise.all(writers.map((w) => statusOf(w)));
    expect(outcomes.filter((s) => s === undefined)).toHaveLength(1);
    expect(outcomes.filter((s) => s === 412)).toHaveLength(4);
  });

  it('answers 404 to an upload into a bucket that does not exist', async () => {
    const status = await statusOf(storage.bucket('no-such-bucket').file('a.txt').save('x', { resumable: false }));
    expect(status).toBe(404);
  });

  it('answers 404 with a GCS-shaped JSON error for a missing object, and deletes objects', async () => {
    const file = storage.bucket(BUCKET).file('gone.txt');
    expect(await statusOf(file.getMetadata())).toBe(404);
    const res = await fetch(`${emulator.url}/storage/v1/b/${BUCKET}/o/gone.txt`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        code: 404,
        message: `No such object: ${BUCKET}/gone.txt`,
        errors: [{ message: `No such object: ${BUCKET}/gone.txt`, domain: 'global', reason: 'notFound' }],
      },
    });
    await file.save('x', { resumable: false });
    expect((await file.exists())[0]).toBe(true);
    await file.delete();
    expect((await file.exists())[0]).toBe(false);
    expect(await statusOf(file.delete())).toBe(404);
  });

  it('keeps a resumable session across cut chunks: status queries report the bytes received, 308 until complete', async () => {
    const payload = randomBytes(1000);
    const start = await fetch(
      `${emulator.url}/upload/storage/v1/b/${BUCKET}/o?uploadType=resumable&name=raw/resumable.bin`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ contentType: 'application/x-test' }),
      },
    );
    expect(start.status).toBe(200);
    const session = start.headers.get('location')!;
    expect(session.startsWith(`${emulator.url}/upload/storage/v1/b/${BUCKET}/o?`)).toBe(true);

    const empty = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */*' } });
    expect(empty.status).toBe(308);
    expect(empty.headers.get('range')).toBeNull();

    const part = await fetch(session, {
      method: 'PUT',
      headers: { 'content-range': 'bytes 0-599/*' },
      body: payload.subarray(0, 600),
    });
    expect(part.status).toBe(308);
    expect(part.headers.get('range')).toBe('bytes=0-599');
    const status = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */1000' } });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe('bytes=0-599');

    // A resend that overlaps what the session has is accepted; the overlap is not stored twice.
    const last = await fetch(session, {
      method: 'PUT',
      headers: { 'content-range': 'bytes 500-999/1000' },
      body: payload.subarray(500),
    });
    expect(last.status).toBe(200);
    const meta = (await last.json()) as { size: string; md5Hash: string; contentType: string };
    expect(meta).toMatchObject({ size: '1000', md5Hash: md5(payload), contentType: 'application/x-test' });
    const again = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */1000' } });
    expect(again.status).toBe(200);
  });

  it('rejects an upload whose declared crc32c does not match the bytes, and keeps nothing', async () => {
    const file = storage.bucket(BUCKET).file('bad-hash.txt');
    const status = await statusOf(
      file.save('hello', { resumable: false, metadata: { crc32c: crc32c(Buffer.from('other')) } }),
    );
    expect(status).toBe(400);
    expect((await file.exists())[0]).toBe(false);
  });

  it('posts a binary-mode finalized CloudEvent with the object metadata to every sink', async () => {
    const before = sink.received.length;
    const file = storage.bucket(BUCKET).file('uploads/titanic.csv');
    await file.save('PassengerId\n1\n', { resumable: false, contentType: 'text/csv' });
    const [meta] = await file.getMetadata();
    const received = await sink.waitFor(before + 1);
    const event = received.find((r) => r.headers['ce-subject'] === 'objects/uploads/titanic.csv')!;
    expect(event.method).toBe('POST');
    expect(event.headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-type': FINALIZED_EVENT_TYPE,
      'ce-source': `//storage.googleapis.com/projects/_/buckets/${BUCKET}`,
      'content-type': 'application/json',
    });
    expect(event.headers['ce-id']).toBeTruthy();
    expect(Number.isNaN(Date.parse(String(event.headers['ce-time'])))).toBe(false);
    expect(JSON.parse(event.body)).toMatchObject({
      bucket: BUCKET,
      name: 'uploads/titanic.csv',
      generation: meta.generation,
      size: '14',
      md5Hash: meta.md5Hash,
      crc32c: meta.crc32c,
    });
  });

  it('is read by the functions framework as the storage CloudEvent a trigger function expects', async () => {
    const events: functions.CloudEvent<{ name?: string; generation?: string }>[] = [];
    functions.cloudEvent(
      'gcsEmulatorTrigger',
      (event: functions.CloudEvent<{ name?: string; generation?: string }>) => {
        events.push(event);
      },
    );
    const server = getTestServer('gcsEmulatorTrigger');
    const port = await listenHttp(server, 0, '127.0.0.1', 'functions framework');
    try {
      emulator.addSink(`http://127.0.0.1:${port}/`, BUCKET);
      const file = storage.bucket(BUCKET).file('uploads/framework.csv');
      await file.save('a\n', { resumable: false });
      const [meta] = await file.getMetadata();
      for (let i = 0; i < 100 && !events.some((e) => e.subject === 'objects/uploads/framework.csv'); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const event = events.find((e) => e.subject === 'objects/uploads/framework.csv');
      expect(event).toMatchObject({
        type: FINALIZED_EVENT_TYPE,
        source: `//storage.googleapis.com/projects/_/buckets/${BUCKET}`,
        data: { name: 'uploads/framework.csv', generation: meta.generation },
      });
    } finally {
      await closeHttp(server);
    }
  });

  it.each([
    [
      'non-ASCII, an emoji and an encoded dot-dot-slash',
      'uploads/ünï😀%2e%2e%2F.csv',
      'objects/uploads/%C3%BCn%C3%AF%F0%9F%98%80%252e%252e%252F.csv',
    ],
    ['a space, a tab and a double quote', 'uploads/two\tparts "q".csv', 'objects/uploads/two%09parts%20%22q%22.csv'],
  ])(
    'delivers the event of an object named with %s, ce-subject percent-encoded as the CloudEvents HTTP binding asks',
    async (_label, name, subject) => {
      const before = sink.received.length;
      await storage.bucket(BUCKET).file(name).save('PassengerId\n1\n', { resumable: false, contentType: 'text/csv' });
      const received = await sink.waitFor(before + 1);
      const event = received.slice(before).find((r) => JSON.parse(r.body).name === name);
      expect(event?.headers['ce-subject']).toBe(subject);
      expect(decodeURIComponent(String(event?.headers['ce-subject']))).toBe(`objects/${name}`);
    },
  );

  it('answers 400, not 500, to a path whose percent-encoding is malformed', async () => {
    for (const url of [
      `/storage/v1/b/${BUCKET}/o/%ZZ`,
      `/download/storage/v1/b/${BUCKET}/o/%E0%A4%A?alt=media`,
      '/storage/v1/b/%ZZ/o',
    ]) {
      const res = await fetch(`${emulator.url}${url}`);
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
        /malformed percent-encoding/,
      );
    }
  });

  it('sends a sink added for one bucket only the events of that bucket', async () => {
    const filtered = await startTestSink();
    try {
      emulator.addSink(filtered.url, 'only-this-bucket');
      await storage.createBucket('only-this-bucket');
      await storage.bucket(BUCKET).file('uploads/elsewhere.csv').save('x', { resumable: false });
      await storage.bucket('only-this-bucket').file('uploads/here.csv').save('x', { resumable: false });
      const [event] = await filtered.waitFor(1);
      expect(event?.headers['ce-subject']).toBe('objects/uploads/here.csv');
      await new Promise((r) => setTimeout(r, 100));
      expect(filtered.received).toHaveLength(1);
    } finally {
      await filtered.close();
    }
  });

  it('retries a CloudEvent delivery with backoff until the sink answers 2xx, without delaying the upload', async () => {
    const flaky = await startTestSink([500, 503]);
    const other = await startGcsEmulator({ sinks: [flaky.url], sinkRetry: { initialDelayMs: 50 } });
    try {
      const client = localStorageClient(other.url);
      await client.createBucket('events');
      await client.bucket('events').file('a.csv').save('x', { resumable: false });
      const deliveries = await flaky.waitFor(3);
      expect(deliveries.map((d) => d.status)).toEqual([500, 503, 200]);
      expect(new Set(deliveries.map((d) => d.headers['ce-id'])).size).toBe(1);
    } finally {
      await other.close();
      await flaky.close();
    }
  });

  it('keeps objects and generations across a restart on the same data directory', async () => {
    const dataDir = path.join(tmp, 'restart');
    const first = await startGcsEmulator({ dataDir, buckets: ['keep'] });
    const file = localStorageClient(first.url).bucket('keep').file('a/b.json');
    await file.save('{"kept":true}', { resumable: false });
    const [before] = await file.getMetadata();
    await first.close();

    const second = await startGcsEmulator({ dataDir });
    try {
      const again = localStorageClient(second.url).bucket('keep').file('a/b.json');
      const [after] = await again.getMetadata();
      expect(after).toMatchObject({ generation: before.generation, md5Hash: before.md5Hash, size: before.size });
      expect((await again.download())[0].toString()).toBe('{"kept":true}');
      await again.save('{"kept":false}', { resumable: false });
      expect(BigInt((await again.getMetadata())[0].generation!)).toBeGreaterThan(BigInt(before.generation!));
    } finally {
      await second.close();
    }
  });

  it('frees its port on close, and reports a port in use with a clear error', async () => {
    const first = await startGcsEmulator();
    await expect(startGcsEmulator({ port: first.port })).rejects.toBeInstanceOf(PortInUseError);
    await expect(startGcsEmulator({ port: first.port })).rejects.toThrow(/port \d+ on 127\.0\.0\.1 is already in use/);
    await first.close();
    const reused = await startGcsEmulator({ port: first.port });
    expect(reused.port).toBe(first.port);
    await reused.close();
  });
});
