/**
 * Contract suite for the FeatureStore interface, against a real Redis (docs/feature-store.md is the spec).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  countByPrefix,
  deleteByPrefix,
  makeTlsFiles,
  startCuttingProxy,
  startRedisServer,
  uniquePrefix,
} from '../../../test/support/redis.ts';
import type { FeatureRecipe } from '../../core/features.ts';
import { FEATURE_NAMES } from '../../core/schema.ts';
import { AppError } from '../../errors.ts';
import { unpackRows } from './layout.ts';
import { createRedis } from './redis-client.ts';
import { createFeatureStore, type FeatureSetInput } from './store.ts';

const recipe = {
  version: 1,
  featureNames: [...FEATURE_NAMES],
  fills: { age: 28, fare: 14.45, embarked: 'S' },
  encoders: { sex: { male: 0, female: 1 }, embarked: { C: 0, Q: 1, S: 2 }, title: { Mr: 0 }, titleOther: 4 },
} as unknown as FeatureRecipe;

function rows(n: number, seed: number): number[][] {
  return Array.from({ length: n }, (_, i) => FEATURE_NAMES.map((_, j) => seed + i * 0.1 + j / 7));
}

function input(version: string, over: Partial<FeatureSetInput> = {}, n = 50): FeatureSetInput {
  return {
    version,
    datasetId: 'ds-1',
    featureNames: [...FEATURE_NAMES],
    recipe,
    train: {
      ids: Array.from({ length: n }, (_, i) => i + 1),
      X: rows(n, 1),
      y: Array.from({ length: n }, (_, i) => i % 2),
    },
    test: { ids: [1001, 1002], X: rows(2, 9), y: [1, 0] },
    synthetic: { X: rows(3, 5), y: [1, 1, 1] },
    metadata: { splitSeed: 42 },
    ...over,
  };
}

let redis: Redis;
let prefix: string;
beforeAll(() => {
  redis = connect();
});
afterEach(async () => {
  await deleteByPrefix(redis, prefix);
});
afterAll(async () => {
  await redis.quit();
});
const store = (opts: { keep?: number; now?: () => Date; pruneGraceMs?: number } = {}) => {
  prefix = uniquePrefix('fs-test');
  return createFeatureStore(redis, { prefix, ...opts });
};

/** A clock one second further on at every reading. */
function ticking(): () => Date {
  let t = Date.parse('2026-01-01T00:00:00Z');
  return () => {
    t += 1000;
    return new Date(t);
  };
}

describe('feature store contract', () => {
  it('reads back exactly the matrices, labels and recipe it wrote, and makes the set current', async () => {
    const fs = store();
    const data = input('v1');
    const out = await fs.writeFeatureSet(data);
    expect(out).toEqual({ version: 'v1', written: true, current: 'v1', pruned: [] });
    expect(await fs.currentVersion()).toBe('v1');
    const m = await fs.readMatrices('v1');
    expect(m).not.toBeNull();
    expect(unpackRows(m!.train)).toEqual({ X: data.train.X, y: data.train.y });
    expect(unpackRows(m!.test)).toEqual({ X: data.test.X, y: data.test.y });
    expect(unpackRows(m!.synthetic)).toEqual({ X: data.synthetic.X, y: data.synthetic.y });
    expect(m!.recipe).toEqual(recipe);
    expect(m!.meta).toMatchObject({ datasetId: 'ds-1', trainRows: 50, testRows: 2, syntheticRows: 3, entities: 52 });
    expect(m!.meta.metadata).toEqual({ splitSeed: '42' });
    // The drift reference travels in the model artifact; the store keeps no copy of it.
    expect(await redis.exists(`${prefix}:v1:drift`)).toBe(0);
  });

  it('looks up one entity by PassengerId with named features, its label and its split', async () => {
    const fs = store();
    const data = input('v1');
    await fs.writeFeatureSet(data);
    const e = await fs.readEntity('v1', 3);
    expect(e).toMatchObject({ passengerId: 3, label: 0, split: 'train' });
    expect(e!.features.Pclass).toBe(data.train.X[2]![0]);
    expect(Object.keys(e!.features)).toEqual([...FEATURE_NAMES]);
    expect((await fs.readEntity('v1', 1002))?.split).toBe('test');
    expect(await fs.readEntity('v1', 999_999)).toBeNull();
    expect(await fs.readEntity('v-unknown', 3)).toBeNull();
  });

  it('does not rewrite a version that is already complete', async () => {
    const fs = store();
    await fs.writeFeatureSet(input('v1'));
    await redis.unlink(`${prefix}:v1:e:5`);
    const again = await fs.writeFeatureSet(input('v1'));
    expect(again.written).toBe(false);
    expect(await redis.exists(`${prefix}:v1:e:5`)).toBe(0);
  });

  it('never reports or points at a version whose write did not complete', async () => {
    const fs = store();
    await fs.writeFeatureSet(input('v1'));
    // A version with data but no completed metadata (a writer that died midway).
    await redis.set(`${prefix}:v2:X:train`, Buffer.alloc(88));
    await redis.zadd(`${prefix}:versions`, Date.now() + 1000, 'v2');
    expect(await fs.readMeta('v2')).toBeNull();
    expect(await fs.readMatrices('v2')).toBeNull();
    expect(await fs.currentVersion()).toBe('v1');
  });

  it('keeps an older version from displacing a newer current one', async () => {
    const fs = store();
    await fs.writeFeatureSet(input('new', { createdAt: new Date('2026-02-01T00:00:00Z') }));
    const out = await fs.writeFeatureSet(input('old', { createdAt: new Date('2026-01-01T00:00:00Z') }));
    expect(out).toMatchObject({ written: true, current: 'new' });
    expect(await fs.currentVersion()).toBe('new');
    expect(await fs.readMeta('old')).not.toBeNull();
  });

  it('settles on the newest of two feature sets written concurrently', async () => {
    const fs = store();
    await Promise.all([
      fs.writeFeatureSet(input('a', { createdAt: new Date('2026-01-01T00:00:00Z') }, 3000)),
      fs.writeFeatureSet(input('b', { createdAt: new Date('2026-01-02T00:00:00Z') }, 3000)),
    ]);
    expect(await fs.currentVersion()).toBe('b');
  });

  it('deletes every key of the versions beyond the last N, never the current one', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const tick = (): Date => {
      t += 1000;
      return new Date(t);
    };
    const fs = store({ keep: 2, now: tick, pruneGraceMs: 0 });
    await fs.writeFeatureSet(input('v1'));
    // The drift key that earlier versions of the format wrote goes with its version too.
    await redis.set(`${prefix}:v1:drift`, Buffer.alloc(8));
    for (const v of ['v2', 'v3', 'v4']) await fs.writeFeatureSet(input(v));
    expect(await redis.zrevrange(`${prefix}:versions`, 0, -1)).toEqual(['v4', 'v3']);
    expect(await countByPrefix(redis, `${prefix}:v1:*`)).toBe(0);
    expect(await countByPrefix(redis, `${prefix}:v2:*`)).toBe(0);
    expect(await countByPrefix(redis, `${prefix}:v3:*`)).toBe(52 + 9); // entities + meta, recipe, ids, six matrices
    expect(await fs.currentVersion()).toBe('v4');
  });

  it("never prunes a version the protect callback names (the served model's set), asked only when deleting", async () => {
    const fs = store({ keep: 1, now: ticking(), pruneGraceMs: 0 });
    let asked = 0;
    const retention = {
      protect: async () => {
        asked++;
        return ['v1'];
      },
    };
    await fs.writeFeatureSet(input('v1'), retention);
    expect(asked).toBe(0); // nothing to delete: not asked
    const second = await fs.writeFeatureSet(input('v2'), retention);
    expect(second.pruned).toEqual([]);
    const third = await fs.writeFeatureSet(input('v3'), retention);
    expect(third.pruned).toEqual(['v2']);
    expect(await redis.zrevrange(`${prefix}:versions`, 0, -1)).toEqual(['v3', 'v1']);
    expect(await fs.readEntity('v1', 1)).not.toBeNull();
    // activate (a retried step) honours it too; once v1 is no longer protected it goes.
    expect((await fs.activate('v3', retention)).pruned).toEqual([]);
    expect((await fs.activate('v3', { protect: async () => [] })).pruned).toEqual(['v1']);
    expect(await countByPrefix(redis, `${prefix}:v1:*`)).toBe(0);
  });

  it('deletes nothing and fails when the protect callback fails (what is served is unknown)', async () => {
    const fs = store({ keep: 1, now: ticking(), pruneGraceMs: 0 });
    await fs.writeFeatureSet(input('v1'));
    const err = await fs
      .writeFeatureSet(input('v2'), {
        protect: async () => {
          throw new Error('connection terminated');
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INTERNAL');
    expect((err as AppError).message).toBe('could not learn which feature sets are served');
    // The write and the flip are done; only retention waited.
    expect(await fs.currentVersion()).toBe('v2');
    expect(await fs.readMeta('v1')).not.toBeNull();
    const unavailable = new AppError('UNAVAILABLE', 'the database is unavailable');
    const mapped = await fs
      .activate('v2', {
        protect: async () => {
          throw unavailable;
        },
      })
      .catch((e: unknown) => e);
    expect(mapped).toBe(unavailable);
    expect(await fs.readMeta('v1')).not.toBeNull();
  });

  it('keeps a set younger than the grace period beyond the last N, so a pipeline still running finds its set', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const clock = (): Date => new Date(t);
    const fs = store({ keep: 2, now: clock, pruneGraceMs: 60 * 60 * 1000 });
    // Five pipelines write within ten minutes (uploads at the same moment): none is pruned yet.
    for (const v of ['v1', 'v2', 'v3', 'v4', 'v5']) {
      await fs.writeFeatureSet(input(v));
      t += 2 * 60 * 1000;
    }
    expect(await redis.zrevrange(`${prefix}:versions`, 0, -1)).toEqual(['v5', 'v4', 'v3', 'v2', 'v1']);
    expect(await fs.readMatrices('v1')).not.toBeNull();
    // An hour later, the next write prunes everything beyond the newest two.
    t += 60 * 60 * 1000;
    const out = await fs.writeFeatureSet(input('v6'));
    expect(out.pruned.sort()).toEqual(['v1', 'v2', 'v3', 'v4']);
    expect(await redis.zrevrange(`${prefix}:versions`, 0, -1)).toEqual(['v6', 'v5']);
  });

  it('rejects a malformed version name', async () => {
    const fs = store();
    await expect(fs.readMatrices('a b')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('answers UNAVAILABLE quickly when Redis cannot be reached', async () => {
    prefix = uniquePrefix('fs-test');
    const down = createRedis({ url: 'redis://127.0.0.1:1' });
    const fs = createFeatureStore(down, { prefix });
    const started = Date.now();
    const err = await fs.writeFeatureSet(input('v1')).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(3000);
    down.disconnect();
  });

  it('leaves the previous set current when the connection dies in the middle of a write', async () => {
    const fs0 = store();
    await fs0.writeFeatureSet(input('v1'));
    const proxy = await startCuttingProxy(6379, 400_000);
    const viaProxy = createRedis({ url: proxy.url });
    try {
      const fs = createFeatureStore(viaProxy, { prefix });
      const err = await fs.writeFeatureSet(input('v2', {}, 5000)).catch((e) => e);
      expect(err).toMatchObject({ code: 'UNAVAILABLE' });
      expect(await fs0.currentVersion()).toBe('v1');
      expect(await fs0.readMeta('v2')).toBeNull();
      expect(await countByPrefix(redis, `${prefix}:v2:*`)).toBeGreaterThan(1); // more than the ids key: cut midway
      // Once the server is reachable again the same write completes and becomes current.
      expect((await fs0.writeFeatureSet(input('v2', {}, 5000))).current).toBe('v2');
    } finally {
      viaProxy.disconnect();
      await proxy.close();
    }
  });

  it('speaks TLS with the configured CA and AUTH, and refuses a server it cannot verify', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-tls-'));
    const files = makeTlsFiles(dir);
    const server = await startRedisServer(['--requirepass', 's3cret'], files);
    try {
      prefix = uniquePrefix('fs-test');
      const tlsCa = fs.readFileSync(files.ca, 'utf8');
      const ok = createRedis({ url: server.url, password: 's3cret', tlsCa });
      await createFeatureStore(ok, { prefix }).writeFeatureSet(input('v1'));
      expect(await createFeatureStore(ok, { prefix }).currentVersion()).toBe('v1');
      ok.disconnect();
      const unverified = createRedis({ url: server.url, password: 's3cret' });
      await expect(createFeatureStore(unverified, { prefix }).currentVersion()).rejects.toMatchObject({
        code: 'UNAVAILABLE',
      });
      unverified.disconnect();
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('authenticates with the configured password', async () => {
    const server = await startRedisServer(['--requirepass', 's3cret']);
    try {
      const ok = createRedis({ url: server.url, password: 's3cret' });
      prefix = uniquePrefix('fs-test');
      await createFeatureStore(ok, { prefix }).writeFeatureSet(input('v1'));
      expect(await createFeatureStore(ok, { prefix }).currentVersion()).toBe('v1');
      ok.disconnect();
      const noAuth = createRedis({ url: server.url });
      await expect(createFeatureStore(noAuth, { prefix }).currentVersion()).rejects.toThrow(/NOAUTH/);
      noAuth.disconnect();
    } finally {
      await server.stop();
    }
  });
});
