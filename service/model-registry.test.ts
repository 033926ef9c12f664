import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import {
  MemoryModelSource,
  memoryLogger,
  rawPassenger,
  type TestApp,
  tinyArtifact,
  withVersion,
} from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';
import type { EntityReader } from './context.ts';
import { artifactObjectName, ModelRegistry, ModelSourceError } from './model-registry.ts';

let v1: ModelArtifact;
let v2: ModelArtifact;

beforeAll(async () => {
  v1 = await tinyArtifact();
  v2 = withVersion(v1, 'tiny-2');
});

const testApp = testAppsClosedAfterEach();

const push = (t: TestApp, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: '/events/model-published',
    headers,
    payload: {
      message: { messageId: '1', data: Buffer.from('{"modelVersion":"tiny-2"}').toString('base64') },
      subscription: 's',
    },
  });

describe('ModelRegistry', () => {
  it('loads the artifact that models/latest.json points at', async () => {
    const { logger, entries } = memoryLogger();
    const source = new MemoryModelSource();
    source.promote(v1);
    const registry = new ModelRegistry({ source, logger });
    expect(await registry.refresh()).toBe('loaded');
    expect(registry.current()?.version).toBe('tiny-1');
    expect(registry.current()?.objectName).toBe('models/tiny-1/model.json');
    expect(entries.some((e) => e.severity === 'INFO' && e.message === 'model loaded')).toBe(true);
  });

  it('reports "missing" while nothing is promoted, and serves nothing', async () => {
    const registry = new ModelRegistry({ source: new MemoryModelSource(), logger: memoryLogger().logger });
    expect(await registry.refresh()).toBe('missing');
    expect(registry.current()).toBeNull();
  });

  it('does not reload while the pointer generation is unchanged', async () => {
    const source = new MemoryModelSource();
    source.promote(v1);
    const registry = new ModelRegistry({ source, logger: memoryLogger().logger });
    await registry.refresh();
    const first = registry.current();
    expect(await registry.refresh()).toBe('unchanged');
    expect(registry.current()).toBe(first);
    expect(source.reads).toBe(1);
  });

  it('shares one refresh between concurrent callers', async () => {
    const source = new MemoryModelSource();
    source.promote(v1);
    const registry = new ModelRegistry({ source, logger: memoryLogger().logger });
    const outcomes = await Promise.all([registry.refresh(), registry.refresh(), registry.refresh()]);
    expect(outcomes).toEqual(['loaded', 'loaded', 'loaded']);
    expect(source.reads).toBe(1);
  });

  it.each([
    ['a truncated JSON file', (json: string) => json.slice(0, json.length / 2)],
    ['a foreign JSON document', () => ({ hello: 'world' })],
    ['a newer format version', (json: string) => ({ ...JSON.parse(json), formatVersion: 99 })],
    [
      'an artifact whose drift reference lacks a feature',
      (json: string) => {
        const a = JSON.parse(json);
        a.driftReference.columns.pop();
        return a;
      },
    ],
    ['an artifact whose forest is garbage', (json: string) => ({ ...JSON.parse(json), forest: { trees: 'nope' } })],
  ])('refuses %s with an ERROR log and keeps the old model serving', async (_what, corrupt) => {
    const { logger, entries } = memoryLogger();
    const source = new MemoryModelSource();
    source.promote(v1);
    const registry = new ModelRegistry({ source, logger });
    await registry.refresh();
    const old = registry.current();

    source.promote(corrupt(JSON.stringify(v2)), 'tiny-2');
    expect(await registry.refresh()).toBe('refused');
    expect(registry.current()).toBe(old);
    const error = entries.find((e) => e.severity === 'ERROR');
    expect(error?.message).toContain('refused');
    expect(error).toMatchObject({ object: 'models/tiny-2/model.json', servingVersion: 'tiny-1' });
    // The refused generation is not re-read on every poll.
    const reads = source.reads;
    expect(await registry.refresh()).toBe('refused');
    expect(source.reads).toBe(reads);
    expect(entries.filter((e) => e.severity === 'ERROR')).toHaveLength(1);
  });

  it('refuses a pointer that names no artifact', async () => {
    const source = new MemoryModelSource();
    source.pointer = { value: { nothing: true }, generation: '5' };
    const registry = new ModelRegistry({ source, logger: memoryLogger().logger });
    expect(await registry.refresh()).toBe('refused');
  });

  it('lets a read failure propagate (retryable), without marking the generation as refused', async () => {
    const source = new MemoryModelSource();
    source.promote(v1);
    const registry = new ModelRegistry({ source, logger: memoryLogger().logger });
    source.failWith = new ModelSourceError('bucket unreachable');
    await expect(registry.refresh()).rejects.toBeInstanceOf(ModelSourceError);
    source.failWith = null;
    expect(await registry.refresh()).toBe('loaded');
  });

  it('picks up a newly promoted model by polling the pointer', async () => {
    const source = new MemoryModelSource();
    source.promote(v1);
    const registry = new ModelRegistry({ source, logger: memoryLogger().logger });
    await registry.refresh();
    registry.startPolling(0.02);
    try {
      source.promote(v2);
      const deadline = Date.now() + 2_000;
      while (registry.current()?.version !== 'tiny-2' && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      expect(registry.current()?.version).toBe('tiny-2');
    } finally {
      registry.stopPolling();
    }
  });

  it('gives every model its own fresh sliding window', async () => {
    const source = new MemoryModelSource();
    source.promote(v1);
    const registry = new ModelRegistry({ source, logger: memoryLogger().logger, driftWindow: 10, driftEvery: 5 });
    await registry.refresh();
    registry.current()!.windowDrift.add([new Array(11).fill(1)]);
    expect(registry.current()!.windowDrift.state().rowsSeen).toBe(1);
    source.promote(v2);
    await registry.refresh();
    expect(registry.current()!.windowDrift.state().rowsSeen).toBe(0);
    expect(registry.current()!.windowDrift.windowSize).toBe(10);
  });
});

describe('artifactObjectName', () => {
  it.each([
    [{ object: 'models/a/model.json' }, 'models/a/model.json'],
    [{ uri: 'gs://bucket/models/b/model.json' }, 'models/b/model.json'],
    [{ modelVersion: 'c-1' }, 'models/c-1/model.json'],
  ])('reads %j as %s', (pointer, name) => {
    expect(artifactObjectName(pointer)).toBe(name);
  });

  it('refuses a version that would escape the models folder', () => {
    expect(() => artifactObjectName({ modelVersion: '../../etc' })).toThrow(/does not name/);
  });
});

describe('atomic swap', () => {
  it('lets an in-flight request finish on the model it started with while new requests get the new one', async () => {
    let release!: () => void;
    let entered!: () => void;
    const readStarted = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slowStore: EntityReader = {
      currentVersion: async () => 'fs-1',
      readEntity: async (_version, passengerId) => {
        entered();
        await gate;
        return {
          passengerId,
          features: {} as never,
          values: new Float64Array([3, 0, 22, 7.25, 2, 2, 0, 0, 0, 21.75, 159.5]),
          label: 0,
          split: 'train',
        };
      },
    };
    const t = await testApp(v1, { featureStore: slowStore });
    const inFlight = t.app.inject({ method: 'GET', url: '/v1/passengers/1' });
    await readStarted;

    t.source.promote(v2);
    const pushed = await push(t);
    expect(pushed.json()).toEqual({ outcome: 'loaded', modelVersion: 'tiny-2' });
    const fresh = await t.app.inject({ method: 'POST', url: '/v1/predict', payload: rawPassenger() });
    expect(fresh.json().modelVersion).toBe('tiny-2');

    release();
    const old = await inFlight;
    expect(old.statusCode).toBe(200);
    expect(old.json().modelVersion).toBe('tiny-1');
  });
});

describe('POST /events/model-published', () => {
  it('reloads the promoted model on a push and acknowledges it', async () => {
    const t = await testApp(v1);
    t.source.promote(v2);
    const res = await push(t);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ outcome: 'loaded', modelVersion: 'tiny-2' });
    const info = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(info.body).toMatch(/^model_info\{version="tiny-2"\} 1$/m);
    expect(info.body).not.toContain('version="tiny-1"');
  });

  it('acknowledges a redelivered push without reloading', async () => {
    const t = await testApp(v1);
    expect((await push(t)).json()).toEqual({ outcome: 'unchanged', modelVersion: 'tiny-1' });
  });

  it('acknowledges a push for a bad artifact, logs an ERROR and keeps serving the old model', async () => {
    const t = await testApp(v1);
    t.source.promote({ formatVersion: 1, modelVersion: 'broken' }, 'broken');
    const res = await push(t);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ outcome: 'refused', modelVersion: 'tiny-1' });
    expect(t.logs.some((l) => l.severity === 'ERROR' && l.message.includes('refused'))).toBe(true);
    const predicted = await t.app.inject({ method: 'POST', url: '/v1/predict', payload: rawPassenger() });
    expect(predicted.json().modelVersion).toBe('tiny-1');
  });

  it('answers 503 when the models bucket cannot be read, so Pub/Sub redelivers', async () => {
    const t = await testApp(v1);
    t.source.failWith = new ModelSourceError('bucket unreachable');
    const res = await push(t);
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('UNAVAILABLE');
  });

  it('refuses a push that fails verification with the verifier status, before touching the bucket', async () => {
    const { AppError } = await import('../shared/errors.ts');
    const t = await testApp(v1, {
      verifyPush: async (authorization) => {
        if (!authorization) throw new AppError('UNAUTHENTICATED', 'the push carries no bearer token');
        throw new AppError('PERMISSION_DENIED', 'the push token belongs to another account');
      },
    });
    t.source.promote(v2);
    const anonymous = await push(t);
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json().error.code).toBe('UNAUTHENTICATED');
    const stranger = await push(t, { authorization: 'Bearer x.y.z' });
    expect(stranger.statusCode).toBe(403);
    expect(t.registry.current()?.version).toBe('tiny-1');
  });
});
