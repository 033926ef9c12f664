/**
 * The service's model polling with a Cloud Storage that accepts the connection and stalls (the real GCS emulator
 * behind a proxy that sends the status line and headers, maybe a few bytes, then nothing). Every call the service
 * makes to the models bucket is bounded: a poll or a push fails within its budget instead of hanging, the model
 * already loaded keeps serving, the failure is logged and shown on /healthz and /metrics, and the next poll after
 * GCS answers again loads the newer model.
 */
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GcsEmulator, localStorageClient, startGcsEmulator } from '../local/gcs/gcs-emulator.ts';
import { gcsModelStore, pointerFor } from '../shared/adapters/model-store.ts';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { type StallingProxy, startStallingProxy, timed } from '../test/support/hang.ts';
import { memoryLogger, rawPassenger, tinyArtifact, withVersion } from '../test/support/service.ts';
import { buildApp } from './app.ts';
import { gcsModelSource } from './gcs-model-source.ts';
import { ModelRegistry, type ModelSource, ModelSourceError } from './model-registry.ts';
import { acceptLocalPushes } from './push-auth.ts';
import { serviceStorage } from './storage-client.ts';

const BUCKET = 'models';
/** Small budgets so the file stays fast; the production defaults are STORAGE_TIMEOUT_MS=10000, 2 retries. */
const LIMITS = { timeoutMs: 1_000, maxRetries: 1 };
/** A failed poll must end well inside this: its calls' budgets and retries, plus the slow shared machine. */
const WALL_LIMIT_MS = 8_000;

let gcs: GcsEmulator;
let direct: Storage;
let artifact: ModelArtifact;
let stalledAll: StallingProxy;
let stalledArtifact: StallingProxy;

/** Writes the artifact and moves the pointer to it, as `train` does. */
async function promote(a: ModelArtifact): Promise<void> {
  const store = gcsModelStore(direct, BUCKET);
  const stored = await store.writeArtifact(a.modelVersion, a);
  await store.movePointer((previous) =>
    pointerFor(
      a,
      stored,
      store.uriOf(a.modelVersion),
      {
        action: 'promote',
        modelVersion: a.modelVersion,
        previousVersion: previous?.modelVersion ?? null,
        at: new Date().toISOString(),
        actor: 'test',
        reason: 'test',
      },
      previous,
    ),
  );
}

/** The service's own source (serviceStorage + gcsModelSource) through `endpoint`. */
const sourceVia = (endpoint: string): ModelSource =>
  gcsModelSource(
    serviceStorage({
      projectId: 'local',
      storageApiEndpoint: endpoint,
      storageTimeoutMs: LIMITS.timeoutMs,
      storageMaxRetries: LIMITS.maxRetries,
    }),
    BUCKET,
  );

/** A source whose route to GCS can be switched between the emulator and a stalling proxy. */
function switchableSource(first: ModelSource): { source: ModelSource; use(next: ModelSource): void } {
  let via = first;
  return {
    source: {
      readPointer: () => via.readPointer(),
      readArtifact: (name, opts) => via.readArtifact(name, opts),
    },
    use: (next) => {
      via = next;
    },
  };
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  artifact = await tinyArtifact();
  gcs = await startGcsEmulator({ buckets: [BUCKET] });
  direct = localStorageClient(gcs.url);
  stalledAll = await startStallingProxy(gcs.url, () => true);
  // Only the artifact's download stalls, after its headers and 200 bytes; the pointer reads go through.
  stalledArtifact = await startStallingProxy(
    gcs.url,
    (req) => (req.url ?? '').includes('alt=media') && (req.url ?? '').includes('model.json'),
    { bodyBytes: 200 },
  );
  await promote(withVersion(artifact, 'tiny-a'));
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([stalledAll?.close(), stalledArtifact?.close()]);
  await gcs?.close();
});

describe('model polling against a GCS that accepts and stalls', () => {
  it('fails a poll within its budget when every call stalls after the headers, and keeps serving the model it has', async () => {
    const { logger } = memoryLogger();
    const route = switchableSource(sourceVia(gcs.url));
    const registry = new ModelRegistry({ source: route.source, logger });
    expect(await registry.refresh()).toBe('loaded');
    await promote(withVersion(artifact, 'tiny-b'));

    route.use(sourceVia(stalledAll.url));
    const { value: err, ms } = await timed(() =>
      registry.refresh().then(
        () => null,
        (e: unknown) => e,
      ),
    );
    console.log(`model poll, GCS stalls after the headers (pointer metadata): failed after ${ms} ms`);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(stalledAll.stalled()).toBeGreaterThan(0);
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(registry.current()?.version).toBe('tiny-a');
    expect(registry.sourceHealth()).toMatchObject({ state: 'failing', consecutiveFailures: 1, failures: 1 });

    route.use(sourceVia(gcs.url));
    expect(await registry.refresh()).toBe('loaded');
    expect(registry.current()?.version).toBe('tiny-b');
    expect(registry.sourceHealth()).toMatchObject({ state: 'ok', consecutiveFailures: 0, failures: 1 });
  }, 30_000);

  it('fails a poll within its budget when the artifact download sends 200 bytes and stalls', async () => {
    const { logger } = memoryLogger();
    const route = switchableSource(sourceVia(gcs.url));
    const registry = new ModelRegistry({ source: route.source, logger });
    expect(await registry.refresh()).toBe('loaded');
    const serving = registry.current()?.version;
    await promote(withVersion(artifact, `tiny-c${Date.now()}`));

    route.use(sourceVia(stalledArtifact.url));
    const { value: err, ms } = await timed(() =>
      registry.refresh().then(
        () => null,
        (e: unknown) => e,
      ),
    );
    console.log(`model poll, artifact download stalls after headers + 200 bytes: failed after ${ms} ms`);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(stalledArtifact.stalled()).toBeGreaterThan(0);
    expect(ms).toBeLessThan(WALL_LIMIT_MS);
    expect(registry.current()?.version).toBe(serving);
  }, 30_000);

  it('logs the failed polls, shows them on /healthz and /metrics, answers a push 503, and recovers by polling', async () => {
    const { logger, entries } = memoryLogger();
    const route = switchableSource(sourceVia(gcs.url));
    const registry = new ModelRegistry({ source: route.source, logger });
    expect(await registry.refresh()).toBe('loaded');
    const serving = registry.current()!.version;
    const app = buildApp({ models: registry, verifyPush: acceptLocalPushes(), publishAlert: async () => {}, logger });
    try {
      await promote(withVersion(artifact, `tiny-d${Date.now()}`));
      route.use(sourceVia(stalledAll.url));

      const push = await timed(() =>
        app.inject({ method: 'POST', url: '/events/model-published', payload: { message: { messageId: '1' } } }),
      );
      console.log(`push, GCS stalls after the headers: ${push.value.statusCode} after ${push.ms} ms`);
      expect(push.value.statusCode).toBe(503);
      expect(push.value.json().error.code).toBe('UNAVAILABLE');
      expect(push.ms).toBeLessThan(WALL_LIMIT_MS);

      registry.startPolling(0.2);
      await until('a failed poll to be logged', () =>
        entries.some((e) => e.message === 'model poll failed; the current model keeps serving'),
      );
      const warned = entries.find((e) => e.message === 'model poll failed; the current model keeps serving')!;
      expect(warned).toMatchObject({ severity: 'WARNING', servingVersion: serving });
      expect(warned.consecutiveFailures).toBeGreaterThanOrEqual(2); // the push's failure, then the poll's

      // Predictions go on from memory meanwhile.
      const predicted = await app.inject({
        method: 'POST',
        url: '/v1/predict',
        payload: { instances: [rawPassenger()] },
      });
      expect(predicted.statusCode).toBe(200);
      expect(predicted.json().modelVersion).toBe(serving);

      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(200); // alive: restarting the instance would not bring GCS back
      expect(health.json()).toMatchObject({
        status: 'ok',
        modelVersion: serving,
        modelSource: {
          state: 'failing',
          consecutiveFailures: expect.any(Number),
          lastFailureAt: expect.any(String),
          lastSuccessAt: expect.any(String),
        },
      });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/^model_source_consecutive_failures [1-9]\d*$/m);
      expect(metrics).toMatch(/^model_source_failures_total [1-9]\d*$/m);
      expect(metrics).toMatch(/^model_source_last_success_timestamp_seconds \d{10}/m);

      route.use(sourceVia(gcs.url));
      await until('the newer model to be loaded by polling', () => registry.current()?.version !== serving);
      expect(registry.sourceHealth()).toMatchObject({ state: 'ok', consecutiveFailures: 0 });
      expect((await app.inject({ method: 'GET', url: '/healthz' })).json().modelSource.state).toBe('ok');
    } finally {
      registry.stopPolling();
      await app.close();
    }
  }, 60_000);
});
