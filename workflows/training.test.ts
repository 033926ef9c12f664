// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Workflows expressions are written ${...} inside plain strings
/**
 * workflows/training.yaml: valid against the published Workflows JSON schema, and run by the local engine
 * against stub load/process/train functions, driven through the real Executions client.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { ExecutionsClient } from '@google-cloud/workflows';
import Ajv, { type ErrorObject } from 'ajv';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type EngineLogEntry, startWorkflowsEngine, type WorkflowsEngine } from '../local/workflows-engine/index.ts';
import { createExecutionsClient } from '../shared/adapters/workflows.ts';

const here = path.dirname(new URL(import.meta.url).pathname);
const source = readFileSync(path.join(here, 'training.yaml'), 'utf8');
/** The part of the schema's shape this test touches. */
interface WorkflowsSchema {
  definitions: { step: { properties: { args: { properties: Record<string, unknown> } } } };
  [key: string]: unknown;
}
const schema = JSON.parse(readFileSync(path.join(here, 'schema', 'workflows.schema.json'), 'utf8')) as WorkflowsSchema;

/**
 * The published schema predates sys.log's documented arguments (text, severity, data, json) and rejects them;
 * this adds exactly those to the step `args` and changes nothing else.
 */
function withSysLogArgs(s: WorkflowsSchema): WorkflowsSchema {
  const patched = structuredClone(s);
  const args = patched.definitions.step.properties.args.properties;
  for (const name of ['text', 'severity', 'data', 'json']) args[name] = { description: `sys.log ${name}` };
  return patched;
}

function validate(schemaObject: WorkflowsSchema, doc: unknown): ErrorObject[] {
  // draft-07 schema; `format: uri` is one branch of an anyOf whose other branch accepts any string.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const check = ajv.compile(schemaObject);
  return check(doc) ? [] : (check.errors ?? []);
}

describe('training.yaml against the Workflows JSON schema', () => {
  it('is valid (with the sys.log arguments the published schema lacks)', () => {
    expect(validate(withSysLogArgs(schema), parse(source))).toEqual([]);
  });

  it('fails the published schema only on the sys.log arguments', () => {
    const extra = validate(schema, parse(source))
      .filter((e) => e.keyword === 'additionalProperties' && e.instancePath.endsWith('/args'))
      .map((e) => (e.params as { additionalProperty: string }).additionalProperty);
    expect(new Set(extra)).toEqual(new Set(['text', 'severity']));
  });

  it('rejects a misspelt argument, so the validation does bite', () => {
    const broken = parse(source.replace('timeout: 1800', 'timeuot: 1800'));
    expect(validate(withSysLogArgs(schema), broken).length).toBeGreaterThan(0);
  });
});

interface Seen {
  path: string;
  body: Record<string, unknown>;
}

/** What the stub functions answer: per path, a queue of [status, body] (the last one repeats). */
let script: Record<string, Array<[number, unknown]>> = {};
const seen: Seen[] = [];
const stub = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const p = req.url ?? '/';
    seen.push({ path: p, body: body ? (JSON.parse(body) as Record<string, unknown>) : {} });
    const queue = script[p] ?? [[404, { error: { code: 'NOT_FOUND', message: 'no such function' } }]];
    const [status, answer] = queue.length > 1 ? queue.shift()! : queue[0]!;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
});

const EVENT = {
  bucket: 'data',
  name: 'uploads/titanic.csv',
  generation: '1700000000000001',
  size: '61194',
  md5Hash: 'abc==',
};
const LOADED = { datasetId: 'ds-1', rows: 891, rejected: 0, alreadyLoaded: false };
const PROCESSED = { featureSetVersion: 'ds-1.r1', trainRows: 712, testRows: 179, syntheticRows: 150 };
const METRICS = { accuracy: 0.83, f1: 0.78 };
const TRAINED = {
  modelVersion: 'm-20260101',
  metrics: METRICS,
  promoted: true,
  uri: 'gs://models/models/m-20260101/model.json',
  decision: { code: 'PROMOTED', reasons: [] },
};

let engine: WorkflowsEngine;
let client: ExecutionsClient;
const sleeps: number[] = [];
const logs: EngineLogEntry[] = [];

beforeAll(async () => {
  await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
  const fn = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  engine = await startWorkflowsEngine({
    workflows: { training: source },
    // Nothing listens on port 1: the process URL of the "unreachable" workflow.
    env: { LOAD_URL: `${fn}/load`, PROCESS_URL: `${fn}/process`, TRAIN_URL: `${fn}/train` },
    sleep: async (ms) => void sleeps.push(ms),
    log: (e) => logs.push(e),
  });
  client = createExecutionsClient(engine.url);
});
afterAll(async () => {
  await client.close();
  await engine.close();
  stub.closeAllConnections();
  await new Promise((r) => stub.close(r));
});
beforeEach(() => {
  seen.length = 0;
  sleeps.length = 0;
  logs.length = 0;
  script = { '/load': [[200, LOADED]], '/process': [[200, PROCESSED]], '/train': [[200, TRAINED]] };
});

async function execute(argument: unknown = EVENT) {
  const [created] = await client.createExecution({
    parent: engine.workflowPath('training'),
    execution: { argument: JSON.stringify(argument) },
  });
  await engine.waitForExecution(created.name!);
  const [done] = await client.getExecution({ name: created.name! });
  return done;
}

describe('training.yaml on the local engine', () => {
  it('calls load, process and train in order and returns the documented result', async () => {
    const done = await execute();
    expect(done.state).toBe('SUCCEEDED');
    expect(JSON.parse(done.result!)).toEqual({
      datasetId: 'ds-1',
      featureSetVersion: 'ds-1.r1',
      modelVersion: 'm-20260101',
      metrics: METRICS,
      promoted: true,
      decision: { code: 'PROMOTED', reasons: [] },
    });
    expect(seen).toEqual([
      { path: '/load', body: { bucket: 'data', name: 'uploads/titanic.csv', generation: '1700000000000001' } },
      { path: '/process', body: { datasetId: 'ds-1' } },
      { path: '/train', body: { featureSetVersion: 'ds-1.r1' } },
    ]);
    expect(sleeps).toEqual([]);
  });

  it('retries a 503 from load after the initial backoff delay and then succeeds', async () => {
    script['/load'] = [
      [503, { error: { code: 'UNAVAILABLE', message: 'database is starting' } }],
      [200, LOADED],
    ];
    const done = await execute();
    expect(done.state).toBe('SUCCEEDED');
    expect(seen.map((s) => s.path)).toEqual(['/load', '/load', '/process', '/train']);
    expect(sleeps).toEqual([2000]);
  });

  it('backs off exponentially on 429, 502, 503 and 504 from train', async () => {
    script['/train'] = [
      [429, {}],
      [502, {}],
      [503, {}],
      [504, {}],
      [200, TRAINED],
    ];
    const done = await execute();
    expect(done.state).toBe('SUCCEEDED');
    expect(sleeps).toEqual([2000, 4000, 8000, 16000]);
  });

  it('fails at once on a 422 from load, with the load error in the execution error and in the log', async () => {
    const loadError = { error: { code: 'CSV_MISSING_COLUMN', message: 'the header lacks the column Survived' } };
    script['/load'] = [[422, loadError]];
    const done = await execute();
    expect(done.state).toBe('FAILED');
    const payload = JSON.parse(done.error!.payload!);
    expect(payload).toMatchObject({ code: 422, tags: ['HttpError'], body: loadError });
    expect(done.error!.context).toContain('routine "main"');
    expect(seen.map((s) => s.path)).toEqual(['/load']);
    expect(sleeps).toEqual([]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ severity: 'ERROR', step: 'log_load_failure' });
    expect(logs[0]!.text).toContain('load failed for gs://data/uploads/titanic.csv#1700000000000001');
    expect(logs[0]!.text).toContain('CSV_MISSING_COLUMN');
  });

  it('gives up after 5 retries of a function that keeps answering 503', async () => {
    script['/process'] = [[503, { error: { code: 'UNAVAILABLE', message: 'redis is down' } }]];
    const done = await execute();
    expect(done.state).toBe('FAILED');
    expect(JSON.parse(done.error!.payload!)).toMatchObject({ code: 503, body: { error: { code: 'UNAVAILABLE' } } });
    expect(sleeps).toEqual([2000, 4000, 8000, 16000, 32000]);
    expect(seen.filter((s) => s.path === '/process')).toHaveLength(6);
    expect(seen.some((s) => s.path === '/train')).toBe(false);
  });

  it('does not retry a 500 (a bug, not a transient state)', async () => {
    script['/train'] = [[500, { error: { code: 'INTERNAL', message: 'internal error' } }]];
    const done = await execute();
    expect(done.state).toBe('FAILED');
    expect(sleeps).toEqual([]);
  });
});

describe('training.yaml with an unreachable function', () => {
  it('retries connection failures with backoff, then fails with ConnectionFailedError', async () => {
    const unreachable = await startWorkflowsEngine({
      workflows: { training: source },
      env: {
        LOAD_URL: 'http://127.0.0.1:1/load',
        PROCESS_URL: 'http://127.0.0.1:1/p',
        TRAIN_URL: 'http://127.0.0.1:1/t',
      },
      sleep: async (ms) => void sleeps.push(ms),
      log: () => undefined,
    });
    const local = createExecutionsClient(unreachable.url);
    try {
      const [created] = await local.createExecution({
        parent: unreachable.workflowPath('training'),
        execution: { argument: JSON.stringify(EVENT) },
      });
      const done = await unreachable.waitForExecution(created.name!);
      expect(done.state).toBe('FAILED');
      expect(JSON.parse(done.error!.payload)).toMatchObject({ tags: ['ConnectionFailedError'] });
      expect(sleeps).toEqual([2000, 4000, 8000, 16000, 32000]);
    } finally {
      await local.close();
      await unreachable.close();
    }
  });
});
