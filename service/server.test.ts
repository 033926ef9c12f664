/**
 * server.ts as deployed: a child process with real clients, against the GCS emulator. It loads the promoted
 * model at start, polls the pointer, refuses a bad artifact while serving the old model, and exits cleanly on
 * SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GcsEmulator, localStorageClient, startGcsEmulator } from '../local/gcs/gcs-emulator.ts';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { freePort } from '../test/support/redis.ts';
import { rawPassenger, tinyArtifact, withVersion } from '../test/support/service.ts';

const BUCKET = 'models';
let gcs: GcsEmulator;
let storage: Storage;
let artifact: ModelArtifact;
let server: ChildProcess;
let url: string;
let stderr = '';

async function promote(value: unknown, version: string): Promise<void> {
  const object = `models/${version}/model.json`;
  await storage
    .bucket(BUCKET)
    .file(object)
    .save(typeof value === 'string' ? value : JSON.stringify(value), { resumable: false });
  await storage
    .bucket(BUCKET)
    .file('models/latest.json')
    .save(JSON.stringify({ modelVersion: version, object, uri: `gs://${BUCKET}/${object}` }), { resumable: false });
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await probe();
      if (ok(v)) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; server stderr:\n${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const modelVersion = async () =>
  ((await (await fetch(`${url}/readyz`)).json()) as { modelVersion?: string }).modelVersion ?? null;

beforeAll(async () => {
  artifact = await tinyArtifact();
  gcs = await startGcsEmulator({ buckets: [BUCKET] });
  storage = localStorageClient(gcs.url);
  await promote(artifact, 'tiny-1');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'server.ts')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOCAL_MODE: 'true',
      MODELS_BUCKET: BUCKET,
      STORAGE_API_ENDPOINT: gcs.url,
      GOOGLE_CLOUD_PROJECT: 'local',
      MODEL_POLL_SECONDS: '0.2',
      PUBSUB_EMULATOR_HOST: '127.0.0.1:9',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  server.stderr?.on('data', (d) => (stderr += d));
  await until('the server to be ready', modelVersion, (v) => v === 'tiny-1');
}, 60_000);

afterAll(async () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  await gcs?.close();
});

describe('the service process', () => {
  it('serves the promoted model loaded from the models bucket at start', async () => {
    const res = await fetch(`${url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [rawPassenger()] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { modelVersion: string }).modelVersion).toBe('tiny-1');
  });

  it('picks up a newly promoted model by polling models/latest.json', async () => {
    await promote(withVersion(artifact, 'tiny-2'), 'tiny-2');
    expect(await until('tiny-2 to be served', modelVersion, (v) => v === 'tiny-2')).toBe('tiny-2');
  });

  it('refuses a truncated artifact with an ERROR log and keeps serving the model it has', async () => {
    await promote(JSON.stringify(withVersion(artifact, 'tiny-3')).slice(0, 5000), 'tiny-3');
    await until(
      'the refusal to be logged',
      async () => stderr,
      (s) => s.includes('refused the model artifact'),
    );
    const line = stderr.split('\n').find((l) => l.includes('refused the model artifact'))!;
    expect(JSON.parse(line)).toMatchObject({
      severity: 'ERROR',
      object: 'models/tiny-3/model.json',
      servingVersion: 'tiny-2',
    });
    expect(await modelVersion()).toBe('tiny-2');
  });

  it('closes gracefully on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
