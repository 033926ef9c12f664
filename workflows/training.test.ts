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
 * The published schema predates sys.log's documented arguments (text, severity, data, json) and the `parallel` step
 * (Google's "Parallel steps" reference: `exception_policy`, `shared`, `concurrency_limit`, and `branches` or a
 * `for`), and rejects them; this adds exactly those and changes nothing else.
 */
function withDocumentedSyntax(s: WorkflowsSchema): WorkflowsSchema {
  const patched = structuredClone(s);
  const args = patched.definitions.step.properties.args.properties;
  for (const name of ['text', 'severity', 'data', 'json']) args[name] = { description: `sys.log ${name}` };
  const steps = { $ref: '#/definitions/stepArray' };
  (patched.definitions.step.properties as Record<string, unknown>).parallel = {
    type: 'object',
    additionalProperties: false,
    properties: {
      exception_policy: { enum: ['continueAll'] },
      shared: { type: 'array', items: { type: 'string' } },
      concurrency_limit: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string' }] },
      branches: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          minProperties: 1,
          maxProperties: 1,
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['steps'],
            properties: { steps },
          },
        },
      },
      for: {
        type: 'object',
        additionalProperties: false,
        required: ['value', 'steps'],
        properties: {
          value: { type: 'string' },
          index: { type: 'string' },
          in: { anyOf: [{ type: 'array' }, { type: 'string' }] },
          range: { anyOf: [{ type: 'array', minItems: 2, maxItems: 2 }, { type: 'string' }] },
          steps,
        },
      },
    },
    oneOf: [{ required: ['branches'] }, { required: ['for'] }],
  };
  return patched;
}

function validate(schemaObject: WorkflowsSchema, doc: unknown): ErrorObject[] {
  // draft-07 schema; `format: uri` is one branch of an anyOf whose other branch accepts any string.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const check = ajv.compile(schemaObject);
  return check(doc) ? [] : (check.errors ?? []);
}

describe('training.yaml against the Workflows JSON schema', () => {
  it('is valid (with the sys.log arguments and the parallel step the published schema lacks)', () => {
    expect(validate(withDocumentedSyntax(schema), parse(source))).toEqual([]);
  });

  it('fails the published schema only on the sys.log arguments and the parallel step', () => {
    const unknown = validate(schema, parse(source))
      .filter((e) => e.keyword === 'additionalProperties')
      .map((e) => ({ at: e.instancePath, key: (e.params as { additionalProperty: string }).additionalProperty }));
    expect(new Set(unknown.filter((u) => u.at.endsWith('/args')).map((u) => u.key))).toEqual(
      new Set(['text', 'severity']),
    );
    // (an `except` with `as` and `steps` fails one alternative of the schema's oneOf and passes the other)
    expect(unknown.filter((u) => !u.at.endsWith('/args') && !u.at.endsWith('/except'))).toEqual([
      { at: expect.stringMatching(/^\/main\/steps\/\d+\/fit_candidates\/try$/), key: 'parallel' },
    ]);
  });

  it('rejects a parallel step the reference does not allow (another exception policy, branches and for together)', () => {
    const policy = parse(
      source.replace('shared: [fold_scores]', 'exception_policy: unhandled\n            shared: [fold_scores]'),
    );
    expect(validate(withDocumentedSyntax(schema), policy).length).toBeGreaterThan(0);
    const both = parse(
      source.replace(
        'shared: [fold_scores]',
        'branches: [{a: {steps: [{s: {return: 1}}]}}]\n            shared: [fold_scores]',
      ),
    );
    expect(validate(withDocumentedSyntax(schema), both).length).toBeGreaterThan(0);
  });

  it('rejects a misspelt argument, so the validation does bite', () => {
    const broken = parse(source.replace('timeout: 1800', 'timeuot: 1800'));
    expect(validate(withDocumentedSyntax(schema), broken).length).toBeGreaterThan(0);
  });
});

interface Seen {
  path: string;
  body: Record<string, unknown>;
}

/** What the stub functions answer: per path, a queue of [status, body] (the last one repeats). */
let script: Record<string, Array<[number, unknown]>> = {};
const seen: Seen[] = [];
/** The stub fit function: candidate c scores [c/10, c/10 + 0.01, c/10 + 0.02] unless `answer` is replaced. */
const fitScores = (c: number): number[] => [c / 10, c / 10 + 0.01, c / 10 + 0.02];
const fit = {
  inFlight: 0,
  peak: 0,
  answer: (c: number): [number, unknown] => [200, { candidate: c, scores: fitScores(c) }],
};
const stub = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const p = req.url ?? '/';
    seen.push({ path: p, body: body ? (JSON.parse(body) as Record<string, unknown>) : {} });
    if (p === '/fit') {
      // each fit takes 30 ms, so the concurrency of the calls shows
      fit.inFlight++;
      fit.peak = Math.max(fit.peak, fit.inFlight);
      const candidate = seen.at(-1)!.body.candidate as number;
      setTimeout(() => {
        fit.inFlight--;
        const [status, answer] = fit.answer(candidate);
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      }, 30);
      return;
    }
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
const MIGRATED = { applied: [], logins: ['pipeline_load', 'pipeline_process', 'pipeline_train'] };
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
    env: {
      MIGRATE_URL: `${fn}/migrate`,
      LOAD_URL: `${fn}/load`,
      PROCESS_URL: `${fn}/process`,
      TRAIN_URL: `${fn}/train`,
    },
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
  script = {
    '/migrate': [[200, MIGRATED]],
    '/load': [[200, LOADED]],
    '/process': [[200, PROCESSED]],
    '/train': [[200, TRAINED]],
  };
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
  it('calls migrate, load, process and train in order and returns the documented result', async () => {
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
      { path: '/migrate', body: {} },
      { path: '/load', body: { bucket: 'data', name: 'uploads/titanic.csv', generation: '1700000000000001' } },
      { path: '/process', body: { datasetId: 'ds-1' } },
      { path: '/train', body: { featureSetVersion: 'ds-1.r1', foldScores: null } },
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
    expect(seen.map((s) => s.path)).toEqual(['/migrate', '/load', '/load', '/process', '/train']);
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
    expect(seen.map((s) => s.path)).toEqual(['/migrate', '/load']);
    expect(sleeps).toEqual([]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ severity: 'ERROR', step: 'log_load_failure' });
    expect(logs[0]!.text).toContain('load failed for gs://data/uploads/titanic.csv#1700000000000001');
    expect(logs[0]!.text).toContain('CSV_MISSING_COLUMN');
  });

  it('stops before load when migrate fails, with its error in the execution error and in the log', async () => {
    const refused = { error: { code: 'CONFIG_INVALID', message: 'function roles hold more than their grants' } };
    script['/migrate'] = [[500, refused]];
    const done = await execute();
    expect(done.state).toBe('FAILED');
    expect(JSON.parse(done.error!.payload!)).toMatchObject({ code: 500, tags: ['HttpError'], body: refused });
    expect(seen.map((s) => s.path)).toEqual(['/migrate']);
    expect(sleeps).toEqual([]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ severity: 'ERROR', step: 'log_migrate_failure' });
    expect(logs[0]!.text).toContain('migrate failed before loading gs://data/uploads/titanic.csv#1700000000000001');
  });

  it('retries a 503 from migrate (the database is starting) before loading', async () => {
    script['/migrate'] = [
      [503, { error: { code: 'UNAVAILABLE', message: 'the database is unavailable' } }],
      [200, MIGRATED],
    ];
    const done = await execute();
    expect(done.state).toBe('SUCCEEDED');
    expect(seen.map((s) => s.path)).toEqual(['/migrate', '/migrate', '/load', '/process', '/train']);
    expect(sleeps).toEqual([2000]);
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
        MIGRATE_URL: 'http://127.0.0.1:1/migrate',
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

describe('training.yaml fanning the search out over the fit function', () => {
  let fanout: WorkflowsEngine;
  let local: ExecutionsClient;
  beforeAll(async () => {
    const fn = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    fanout = await startWorkflowsEngine({
      workflows: { training: source },
      env: {
        MIGRATE_URL: `${fn}/migrate`,
        LOAD_URL: `${fn}/load`,
        PROCESS_URL: `${fn}/process`,
        TRAIN_URL: `${fn}/train`,
        FIT_URL: `${fn}/fit`,
        FANOUT_MIN_ROWS: '500',
        FIT_CONCURRENCY: '2',
        SEARCH_CANDIDATES: '5',
      },
      sleep: async (ms) => void sleeps.push(ms),
      log: (e) => logs.push(e),
    });
    local = createExecutionsClient(fanout.url);
  });
  afterAll(async () => {
    await local.close();
    await fanout.close();
  });
  beforeEach(() => {
    fit.peak = 0;
    fit.answer = (c) => [200, { candidate: c, scores: fitScores(c) }];
  });

  async function run() {
    const [created] = await local.createExecution({
      parent: fanout.workflowPath('training'),
      execution: { argument: JSON.stringify(EVENT) },
    });
    return fanout.waitForExecution(created.name!);
  }

  it('calls fit once per candidate, at most FIT_CONCURRENCY at once, then train with every fold score', async () => {
    const done = await run();
    expect(done.state).toBe('SUCCEEDED');
    const fits = seen.filter((s) => s.path === '/fit');
    expect(fits.map((s) => s.body.candidate).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(fits.every((s) => s.body.featureSetVersion === 'ds-1.r1')).toBe(true);
    expect(fit.peak).toBe(2);
    expect(seen.map((s) => s.path).filter((p) => p !== '/fit')).toEqual(['/migrate', '/load', '/process', '/train']);
    expect(seen.at(-1)).toEqual({
      path: '/train',
      body: {
        featureSetVersion: 'ds-1.r1',
        foldScores: Object.fromEntries([0, 1, 2, 3, 4].map((c) => [String(c), fitScores(c)])),
      },
    });
  });

  it('keeps the single train call below FANOUT_MIN_ROWS', async () => {
    script['/process'] = [[200, { ...PROCESSED, trainRows: 499 }]];
    const done = await run();
    expect(done.state).toBe('SUCCEEDED');
    expect(seen.map((s) => s.path)).toEqual(['/migrate', '/load', '/process', '/train']);
    expect(seen.at(-1)!.body).toEqual({ featureSetVersion: 'ds-1.r1', foldScores: null });
  });

  it('retries a transient fit failure, and fails without training when a fit fails for good', async () => {
    const failures = new Map<number, number>([[1, 1]]);
    fit.answer = (c) => {
      const left = failures.get(c) ?? 0;
      if (left > 0) {
        failures.set(c, left - 1);
        return [503, { error: { code: 'UNAVAILABLE', message: 'cold start' } }];
      }
      return c === 3
        ? [422, { error: { code: 'BAD_REQUEST', message: 'no such candidate' } }]
        : [200, { scores: fitScores(c) }];
    };
    const done = await run();
    expect(done.state).toBe('FAILED');
    expect(JSON.parse(done.error!.payload)).toMatchObject({
      tags: ['UnhandledBranchError'],
      branches: [{ id: '3', error: { code: 422, tags: ['HttpError'] } }],
      totalUnhandledErrors: 1,
    });
    expect(seen.filter((s) => s.path === '/fit' && s.body.candidate === 1)).toHaveLength(2);
    expect(sleeps).toEqual([2000]);
    expect(seen.some((s) => s.path === '/train')).toBe(false);
    expect(logs.at(-1)).toMatchObject({ severity: 'ERROR', step: 'log_fit_failure' });
  });
});
