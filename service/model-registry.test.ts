import { beforeAll, describe, expect, it } from 'vitest';
import type { EntityReader } from '../shared/adapters/feature-store/store.ts';
import { PointerCorruptError, sha256Hex } from '../shared/adapters/model-store.ts';
import { type ArtifactLimits, DEFAULT_ARTIFACT_LIMITS, type ModelArtifact } from '../shared/core/artifact.ts';
import {
  MemoryModelSource,
  memoryLogger,
  rawPassenger,
  type TestApp,
  tinyArtifact,
  withVersion,
} from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';
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
  it('reads the one spelling a pointer carries: object models/<modelVersion>/model.json', () => {
    expect(artifactObjectName({ modelVersion: 'a', object: 'models/a/model.json' })).toBe('models/a/model.json');
  });

  it.each([
    [{ object: 'models/a/model.json' }],
    [{ uri: 'gs://bucket/models/b/model.json' }],
    [{ modelVersion: 'c-1' }],
    [{ modelVersion: 'c-1', object: '/models/c-1/model.json' }],
    [{ modelVersion: 'c-1', object: 'models/other/model.json' }],
    [{ modelVersion: 'c-1', objectName: 'models/c-1/model.json' }],
  ])('refuses %j as corrupt', (pointer) => {
    expect(() => artifactObjectName(pointer)).toThrow(/corrupt/);
  });

  it('refuses a version that would escape the models folder', () => {
    expect(() => artifactObjectName({ modelVersion: '../../etc', object: 'models/../../etc/model.json' })).toThrow(
      /not a model version/,
    );
  });
});

describe('artifact integrity and limits', () => {
  const bytesOf = (a: unknown) => Buffer.from(JSON.stringify(a));
  /** A format 2 pointer to `artifact`'s bytes, with the hash and size given (defaults: the true ones). */
  function pointTo(source: MemoryModelSource, artifact: ModelArtifact, over: { sha256?: string; size?: number } = {}) {
    const bytes = bytesOf(artifact);
    const object = `models/${artifact.modelVersion}/model.json`;
    source.objects.set(object, bytes);
    source.pointer = {
      value: {
        pointerFormat: 2,
        modelVersion: artifact.modelVersion,
        object,
        sha256: over.sha256 ?? sha256Hex(bytes),
        size: over.size ?? bytes.length,
      },
      generation: String(Math.random()),
    };
  }

  async function servingV1ThenRefresh(change: (source: MemoryModelSource) => void, limits?: ArtifactLimits) {
    const { logger, entries } = memoryLogger();
    const source = new MemoryModelSource();
    const registry = new ModelRegistry({ source, logger, ...(limits ? { limits } : {}) });
    pointTo(source, v1);
    expect(await registry.refresh()).toBe('loaded');
    change(source);
    const outcome = await registry.refresh();
    const errors = entries.filter((e) => e.severity === 'ERROR');
    return { outcome, errors, serving: registry.current()?.version, registry };
  }

  it('loads a format 2 pointer whose sha256 and size match the artifact', async () => {
    const { outcome, serving } = await servingV1ThenRefresh((s) => pointTo(s, v2));
    expect(outcome).toBe('loaded');
    expect(serving).toBe('tiny-2');
  });

  it('refuses an artifact whose sha256 differs from the pointer with one ERROR line, and keeps serving', async () => {
    const { outcome, errors, serving } = await servingV1ThenRefresh((s) => pointTo(s, v2, { sha256: 'f'.repeat(64) }));
    expect(outcome).toBe('refused');
    expect(serving).toBe('tiny-1');
    expect(errors).toHaveLength(1);
    expect(JSON.stringify(errors[0])).toMatch(/sha256/);
  });

  it('refuses an artifact whose size differs from the pointer', async () => {
    const { outcome, serving, errors } = await servingV1ThenRefresh((s) => pointTo(s, v2, { size: 12 }));
    expect([outcome, serving, errors.length]).toEqual(['refused', 'tiny-1', 1]);
  });

  it.each([
    ['maxTrees', { maxTrees: 10 }, /trees, over the limit/],
    ['maxNodesPerTree', { maxNodesPerTree: 5 }, /more than 5 nodes/],
    ['maxDepth', { maxDepth: 2 }, /deeper than 2/],
    ['maxBytes', { maxBytes: 10_000 }, /over the limit of 10000/],
  ])('refuses an artifact over %s with one ERROR line and keeps serving', async (_name, limit, message) => {
    const { logger, entries } = memoryLogger();
    const source = new MemoryModelSource();
    // The registry reads its options at each load: serve v1 under the defaults, then tighten one limit.
    const options: ConstructorParameters<typeof ModelRegistry>[0] = { source, logger, limits: DEFAULT_ARTIFACT_LIMITS };
    const registry = new ModelRegistry(options);
    pointTo(source, v1);
    expect(await registry.refresh()).toBe('loaded');
    options.limits = { ...DEFAULT_ARTIFACT_LIMITS, ...limit };
    pointTo(source, v2);
    expect(await registry.refresh()).toBe('refused');
    expect(registry.current()?.version).toBe('tiny-1');
    const errors = entries.filter((e) => e.severity === 'ERROR');
    expect(errors).toHaveLength(1);
    expect(JSON.stringify(errors[0])).toMatch(message);
  });

  it('refuses a tree that is a long chain from its bytes, before parsing it', async () => {
    const n = 5000;
    const chain = `${'{"splitColumn":0,"splitValue":1,"left":{"distribution":[[0,1]]},"right":'.repeat(n)}{"distribution":[[1,0]]}${'}'.repeat(n)}`;
    const text = JSON.stringify({ ...v2, forest: '__CHAIN__' }).replace('"__CHAIN__"', chain);
    const { logger, entries } = memoryLogger();
    const source = new MemoryModelSource();
    const registry = new ModelRegistry({ source, logger });
    pointTo(source, v1);
    await registry.refresh();
    const bytes = Buffer.from(text);
    source.objects.set('models/tiny-2/model.json', bytes);
    source.pointer = {
      value: {
        pointerFormat: 2,
        modelVersion: 'tiny-2',
        object: 'models/tiny-2/model.json',
        sha256: sha256Hex(bytes),
        size: bytes.length,
      },
      generation: 'chain',
    };
    expect(await registry.refresh()).toBe('refused');
    const errors = entries.filter((e) => e.severity === 'ERROR');
    expect(errors).toHaveLength(1);
    expect(JSON.stringify(errors[0])).toMatch(/nests 50\d\d levels deep: a tree deeper than 64/);
    expect(registry.current()?.version).toBe('tiny-1');
  });

  it('refuses a lineage featureSetVersion that is not an id when the model loads', async () => {
    const evil = { ...v2, lineage: { datasetId: 'ds-1', featureSetVersion: '../../etc passwd' } };
    const { outcome, serving, errors } = await servingV1ThenRefresh((s) => pointTo(s, evil));
    expect([outcome, serving, errors.length]).toEqual(['refused', 'tiny-1', 1]);
    expect(JSON.stringify(errors[0])).toMatch(/featureSetVersion/);
  });

  it('refuses a pointer that is not JSON as corrupt, once per generation, and keeps serving', async () => {
    const { logger, entries } = memoryLogger();
    const source = new MemoryModelSource();
    const registry = new ModelRegistry({ source, logger });
    pointTo(source, v1);
    await registry.refresh();
    const corrupt = new PointerCorruptError('not JSON (Unexpected token)');
    corrupt.generation = '99';
    source.readPointer = async () => {
      throw corrupt;
    };
    expect(await registry.refresh()).toBe('refused');
    expect(await registry.refresh()).toBe('refused');
    const errors = entries.filter((e) => e.severity === 'ERROR');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/corrupt/);
    expect(registry.current()?.version).toBe('tiny-1');
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
