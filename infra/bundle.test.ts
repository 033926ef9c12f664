/**
 * The function bundles: deterministic, renamed exactly when their code changes, self-describing (package.json
 * with `main` and the external runtime dependencies), and startable by the functions framework as Cloud
 * Functions starts them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/support/pg.ts';
import { bundleFunctions, FUNCTION_NAMES, type FunctionBundle, REPO_ROOT } from './bundle.ts';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'infra-bundles-'));
// A started bundle resolves its external packages as after Cloud Build's `npm install`: from node_modules above it.
symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(scratch, 'node_modules'), 'dir');
const ffMain = path.join(REPO_ROOT, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');
const rootPackage = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));

/** The bundles of the code as it is, built once; the tests below start and compare them. */
let built: Record<string, FunctionBundle>;
beforeAll(async () => {
  built = await bundleFunctions(FUNCTION_NAMES, { outDir: path.join(scratch, 'built') });
}, 120_000);

describe('function bundles', () => {
  it('are deterministic: the same code gives the same object names and the same zip bytes', async () => {
    const a = built;
    const b = await bundleFunctions(FUNCTION_NAMES, { outDir: path.join(scratch, 'again') });
    for (const name of FUNCTION_NAMES) {
      expect(b[name]?.objectName, name).toBe(a[name]?.objectName);
      expect(readFileSync(b[name]!.zipPath).equals(readFileSync(a[name]!.zipPath)), name).toBe(true);
      expect(a[name]?.objectName).toMatch(new RegExp(`^functions/${name}-[0-9a-f]{16}\\.zip$`));
    }
  });

  it('change only the changed function’s source object name when one function’s code changes', async () => {
    const before = built;
    // The load function with one more statement: the same entry imported, plus a side effect.
    const original = path.join(REPO_ROOT, 'functions', 'load', 'index.ts');
    const changed = path.join(scratch, 'load-changed.ts');
    writeFileSync(
      changed,
      `import ${JSON.stringify(original)};\n(globalThis as Record<string, unknown>).loadRevision = 2;\n`,
    );
    const after = await bundleFunctions(FUNCTION_NAMES, {
      outDir: path.join(scratch, 'after'),
      entries: { load: changed },
    });
    expect(after.load?.objectName).not.toBe(before.load?.objectName);
    for (const name of ['trigger', 'process', 'train'])
      expect(after[name]?.objectName, name).toBe(before[name]?.objectName);
  });

  it('carry a package.json naming index.mjs and only the external packages the code imports, at the pinned versions', async () => {
    const bundles = built;
    for (const name of FUNCTION_NAMES) {
      const manifest = JSON.parse(readFileSync(path.join(bundles[name]!.dir, 'package.json'), 'utf8'));
      expect(manifest.main).toBe('index.mjs');
      expect(manifest.type).toBe('module');
      // The framework must stay external: Cloud Functions starts its own copy, which must see the registration.
      expect(manifest.dependencies['@google-cloud/functions-framework']).toBe(
        rootPackage.dependencies['@google-cloud/functions-framework'],
      );
      for (const [dep, version] of Object.entries(manifest.dependencies)) {
        expect(rootPackage.dependencies[dep], `${name}: ${dep}`).toBe(version);
      }
      const code = readFileSync(path.join(bundles[name]!.dir, 'index.mjs'), 'utf8');
      expect(code).not.toMatch(/from ["']\.\.?\//); // everything of ours is inlined
    }
  });
  it('ship the training search’s worker thread beside the train bundle, and it runs there', async () => {
    const bundles = built;
    const worker = path.join(bundles.train!.dir, 'search-worker.mjs');
    const X = Array.from({ length: 40 }, (_, i) => [i % 2, (i + 1) % 2, i]);
    const y = X.map((_, i) => i % 2);
    const thread = new Worker(worker, {
      workerData: {
        folds: [
          {
            X,
            y,
            testX: [
              [0, 1, 3],
              [1, 0, 4],
            ],
          },
        ],
      },
    });
    try {
      const answer = await new Promise<{ id: number; votes?: Int32Array; error?: string }>((resolve, reject) => {
        thread.once('message', resolve);
        thread.once('error', reject);
        thread.postMessage({ id: 7, fold: 0, options: { nEstimators: 3, seed: 1, noOOB: true } });
      });
      expect(answer.error).toBeUndefined();
      expect(answer.id).toBe(7);
      expect(Array.from(answer.votes ?? [])).toHaveLength(2);
    } finally {
      await thread.terminate();
    }
    for (const name of ['trigger', 'load', 'process']) {
      expect(existsSync(path.join(built[name]!.dir, 'search-worker.mjs')), name).toBe(false);
    }
  });
});

// ------------------------------------------------------------------------------------------------- startup

const children: ChildProcess[] = [];
let database: TestDatabase | undefined;
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await database?.drop();
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts a built bundle the way Cloud Functions does: the framework, the bundle's directory, the target. */
async function startBundle(
  dir: string,
  target: string,
  env: Record<string, string>,
  opts: { expectServing?: boolean } = {},
): Promise<{ url: string; output: () => string; exited: Promise<number | null> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [ffMain, '--source', dir, '--target', target, '--port', String(port)], {
    cwd: os.tmpdir(),
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stopped = false;
  void exited.then(() => {
    stopped = true;
  });
  // NODE_ENV=production (as in Cloud Functions) silences the framework's banner: wait for the port instead.
  const deadline = Date.now() + 45_000;
  while (!stopped && !(await accepts(port)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if ((opts.expectServing ?? true) && !(await accepts(port))) throw new Error(`${target} is not serving:\n${output}`);
  return { url: `http://127.0.0.1:${port}/`, output: () => output, exited };
}

describe('a built bundle started by the functions framework', () => {
  it('trigger: handles a finalize CloudEvent outside the upload prefix with a 2xx and one log line', async () => {
    const bundles = built;
    const fn = await startBundle(bundles.trigger!.dir, 'trigger', {
      DATA_BUCKET: 'data-bucket',
      WORKFLOW_NAME: 'projects/p/locations/europe-west1/workflows/training',
      // Never reached: an ignored object starts no execution.
      WORKFLOWS_API_ENDPOINT: 'http://127.0.0.1:9',
    });
    const res = await fetch(fn.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-id': 'evt-1',
        'ce-specversion': '1.0',
        'ce-source': '//storage.googleapis.com/projects/_/buckets/data-bucket',
        'ce-type': 'google.cloud.storage.object.v1.finalized',
        'ce-subject': 'objects/elsewhere/passengers.csv',
      },
      body: JSON.stringify({ bucket: 'data-bucket', name: 'elsewhere/passengers.csv', generation: '1', size: '100' }),
    });
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 200));
    expect(fn.output()).toMatch(
      /ignored gs:\/\/data-bucket\/elsewhere\/passengers\.csv: object is outside the upload prefix/,
    );
  });

  it('trigger: refuses to start without its configuration, naming the missing variables', async () => {
    const bundles = built;
    const fn = await startBundle(bundles.trigger!.dir, 'trigger', {}, { expectServing: false });
    const code = await Promise.race([fn.exited, new Promise((r) => setTimeout(() => r('running'), 10_000))]);
    expect(code).not.toBe('running');
    expect(code).not.toBe(0);
    expect(fn.output()).toMatch(/DATA_BUCKET is required/);
    expect(fn.output()).toMatch(/WORKFLOW_NAME is required/);
  });

  for (const name of ['load', 'process', 'train'] as const) {
    it(`${name}: answers an empty POST with a JSON error, not a crash`, async () => {
      database ??= await createTestDatabase();
      const bundles = built;
      const fn = await startBundle(bundles[name]!.dir, name, {
        PGHOST: '127.0.0.1',
        PGPORT: '5432',
        PGUSER: 'postgres',
        PGDATABASE: database.name,
        REDIS_URL: 'redis://127.0.0.1:6379',
        DATA_BUCKET: 'data-bucket',
        MODELS_BUCKET: 'models-bucket',
        STORAGE_API_ENDPOINT: 'http://127.0.0.1:9',
        PUBSUB_EMULATOR_HOST: '127.0.0.1:9',
        GOOGLE_CLOUD_PROJECT: 'test-project',
      });
      const res = await fetch(fn.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const body = (await res.json()) as { error?: { code?: string } };
      expect(typeof body.error?.code).toBe('string');
    });
  }
});
