// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Workflows expressions are written ${...} inside plain strings
/**
 * The trigger as deployed: functions-framework serving `index.ts`, binary-mode CloudEvents as Eventarc posts
 * them, and the real Executions client talking to the local Workflows engine.
 */

import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { ExecutionsClient } from '@google-cloud/workflows';
import supertest from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startWorkflowsEngine, type WorkflowsEngine } from '../../local/workflows-engine/index.ts';
import { createExecutionsClient } from '../../shared/adapters/workflows.ts';
import { createLogger } from '../../shared/log.ts';
import { parseTriggerConfig } from './config.ts';
import { FINALIZED, makeTriggerHandler } from './handler.ts';

/** The smallest workflow that shows what the trigger passed: it returns its argument. */
const ECHO = 'main:\n  params: [event]\n  steps:\n    - echo:\n        return: ${event}\n';

let engine: WorkflowsEngine;
let client: ExecutionsClient;
const stdout: string[] = [];

beforeAll(async () => {
  engine = await startWorkflowsEngine({ workflows: { training: ECHO }, project: 'demo', location: 'local' });
  Object.assign(process.env, {
    DATA_BUCKET: 'data',
    WORKFLOW_NAME: engine.workflowPath('training'),
    WORKFLOWS_API_ENDPOINT: engine.url,
    MAX_UPLOAD_BYTES: '1000',
  });
  delete process.env.UPLOAD_PREFIX;
  await import('./index.ts');
  client = createExecutionsClient(engine.url);
});
afterAll(async () => {
  await client.close();
  await engine.close();
});
beforeEach(() => {
  stdout.length = 0;
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout.push(String(chunk));
    return true;
  });
  return () => vi.restoreAllMocks();
});

let eventCount = 0;
function finalized(object: Record<string, unknown>, type = FINALIZED) {
  eventCount++;
  return supertest(getTestServer('trigger'))
    .post('/')
    .set('ce-specversion', '1.0')
    .set('ce-type', type)
    .set('ce-source', `//storage.googleapis.com/projects/_/buckets/${String(object.bucket)}`)
    .set('ce-subject', `objects/${String(object.name)}`)
    .set('ce-id', `event-${eventCount}`)
    .set('ce-time', new Date().toISOString())
    .set('content-type', 'application/json')
    .send(object);
}

async function executions(): Promise<Array<Record<string, unknown>>> {
  const [list] = await client.listExecutions({ parent: engine.workflowPath('training'), view: 'FULL' });
  return list.map((e) => JSON.parse(e.argument ?? 'null') as Record<string, unknown>);
}

const upload = {
  bucket: 'data',
  name: 'uploads/passengers.csv',
  generation: '1700000000000123',
  metageneration: '1',
  size: '512',
  md5Hash: 'XrY7u+Ae7tCTyyK7j1rNww==',
  contentType: 'text/csv',
};

describe('trigger', () => {
  it('starts one execution with {bucket, name, generation, size, md5Hash} for a CSV upload and logs its name', async () => {
    const before = (await executions()).length;
    const res = await finalized(upload);
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    const all = await executions();
    expect(all).toHaveLength(before + 1);
    expect(all[0]).toEqual({
      bucket: 'data',
      name: 'uploads/passengers.csv',
      generation: '1700000000000123',
      size: '512',
      md5Hash: 'XrY7u+Ae7tCTyyK7j1rNww==',
    });
    const [listed] = await client.listExecutions({ parent: engine.workflowPath('training') });
    const started = stdout.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.execution);
    expect(started?.execution).toBe(listed[0]!.name);
    expect(started?.severity).toBe('INFO');
    const done = await engine.waitForExecution(String(started?.execution));
    expect(JSON.parse(done.result!)).toEqual(all[0]);
  });

  it('accepts the .csv extension in any case', async () => {
    const before = (await executions()).length;
    await finalized({ ...upload, name: 'uploads/UPPER.CSV' }).expect((r) => expect(r.status).toBeLessThan(300));
    expect(await executions()).toHaveLength(before + 1);
  });

  it.each([
    ['another bucket', { ...upload, bucket: 'models' }, 'is not the data bucket'],
    ['outside the upload prefix', { ...upload, name: 'exports/passengers.csv' }, 'outside the upload prefix'],
    ['not a CSV', { ...upload, name: 'uploads/notes.txt' }, 'not a .csv'],
    ['over the size limit', { ...upload, size: '1001' }, 'over the limit of 1000 bytes'],
  ])('ignores an object in %s with one log line and a 2xx, starting nothing', async (_what, object, reason) => {
    const before = (await executions()).length;
    const res = await finalized(object);
    expect(res.status).toBeLessThan(300);
    expect(await executions()).toHaveLength(before);
    expect(stdout).toHaveLength(1);
    expect(JSON.parse(stdout[0]!).message).toContain(reason);
  });

  it('ignores events of another type', async () => {
    const before = (await executions()).length;
    const res = await finalized(upload, 'google.cloud.storage.object.v1.deleted');
    expect(res.status).toBeLessThan(300);
    expect(await executions()).toHaveLength(before);
  });
});

describe('makeTriggerHandler', () => {
  it('throws when the execution cannot be started, so that Eventarc retries the delivery', async () => {
    const lines: string[] = [];
    const handler = makeTriggerHandler({
      config: { dataBucket: 'data', uploadPrefix: 'uploads/', maxUploadBytes: 1000 },
      logger: createLogger({ sink: (l) => lines.push(l) }),
      startExecution: () => Promise.reject(new Error('14 UNAVAILABLE: connection refused')),
    });
    await expect(
      handler({ id: '1', type: FINALIZED, source: 's', specversion: '1.0', data: upload } as Parameters<
        typeof handler
      >[0]),
    ).rejects.toThrow('UNAVAILABLE');
    expect(JSON.parse(lines[0]!)).toMatchObject({ severity: 'ERROR', object: 'gs://data/uploads/passengers.csv' });
  });
});

describe('parseTriggerConfig', () => {
  it('defaults the upload prefix and size limit and requires the bucket and workflow name', () => {
    expect(parseTriggerConfig({ DATA_BUCKET: 'd', WORKFLOW_NAME: 'projects/p/locations/l/workflows/w' })).toEqual({
      dataBucket: 'd',
      uploadPrefix: 'uploads/',
      maxUploadBytes: 104_857_600,
      workflowName: 'projects/p/locations/l/workflows/w',
      workflowsApiEndpoint: undefined,
      logLevel: 'INFO',
    });
    expect(() => parseTriggerConfig({})).toThrow(/DATA_BUCKET is required; WORKFLOW_NAME is required/);
  });
});
