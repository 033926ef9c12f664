/**
 * The product's main job, end to end on this machine: the local stack (emulators, Workflows engine, the four
 * functions under functions-framework, the service), real Postgres and Redis, driven by the real clients.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Storage } from '@google-cloud/storage';
import type { ExecutionsClient } from '@google-cloud/workflows';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient } from '../local/gcs/gcs-emulator.ts';
import { type ExecutionOutcome, findExecutionFor, waitForExecution } from '../local/stack/executions.ts';
import { DEFAULT_PORTS, type LocalPorts, type LocalStack, ROOT, startLocalStack } from '../local/stack/stack.ts';
import { createExecutionsClient } from '../shared/adapters/workflows.ts';
import { freePorts } from './support/ports.ts';

const titanic = readFileSync(path.join(ROOT, 'data', 'titanic.csv'), 'utf8');

describe('the local pipeline, upload to served model', () => {
  const suffix = randomBytes(4).toString('hex');
  const database = `e2e_${suffix}`;
  const prefix = `e2e-${suffix}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'survival-e2e-'));
  let stack: LocalStack;
  let storage: Storage;
  let executions: ExecutionsClient;
  let db: pg.Client;

  async function upload(name: string, contents: string): Promise<ExecutionOutcome & { generation: string }> {
    const file = storage.bucket(stack.dataBucket).file(name);
    await file.save(contents, { contentType: 'text/csv', resumable: false });
    const [metadata] = await file.getMetadata();
    const generation = String(metadata.generation);
    const execution = await findExecutionFor(executions, stack.workflowPath, {
      bucket: stack.dataBucket,
      name,
      generation,
    });
    return { ...(await waitForExecution(executions, execution, { timeoutMs: 240_000 })), generation };
  }

  async function latest(): Promise<{ modelVersion: string; [k: string]: unknown }> {
    const [buf] = await storage.bucket(stack.modelsBucket).file('models/latest.json').download();
    return JSON.parse(buf.toString('utf8')) as { modelVersion: string };
  }

  beforeAll(async () => {
    const names = Object.keys(DEFAULT_PORTS) as Array<keyof LocalPorts>;
    const free = await freePorts(names.length);
    const ports = Object.fromEntries(names.map((n, i) => [n, free[i]])) as unknown as LocalPorts;
    stack = await startLocalStack({
      ports,
      dataDir,
      pg: { host: '127.0.0.1', port: 5432, user: 'postgres', database },
      featureStorePrefix: prefix,
      searchCandidates: 2,
      minAccuracy: 0.6,
    });
    storage = localStorageClient(stack.gcsUrl);
    executions = createExecutionsClient(stack.workflowsUrl);
    db = new pg.Client({ host: '127.0.0.1', user: 'postgres', database });
    await db.connect();
  }, 120_000);

  afterAll(async () => {
    await db?.end();
    await executions?.close();
    await stack?.close();
    const admin = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  let first: ExecutionOutcome & { generation: string };

  it('an upload runs the workflow to SUCCEEDED and latest.json names the trained model with its metrics', async () => {
    first = await upload('uploads/titanic.csv', titanic);
    expect(first.state, JSON.stringify(first.error)).toBe('SUCCEEDED');
    const result = first.result as { modelVersion: string; metrics: { accuracy: number }; promoted: boolean };
    expect(result.promoted).toBe(true);
    const pointer = await latest();
    expect(pointer.modelVersion).toBe(result.modelVersion);
    const [artifact] = await storage
      .bucket(stack.modelsBucket)
      .file(`models/${result.modelVersion}/model.json`)
      .download();
    const model = JSON.parse(artifact.toString('utf8')) as { metrics: unknown; modelVersion: string };
    expect(model.modelVersion).toBe(result.modelVersion);
    expect(model.metrics).toEqual(result.metrics);
    // Every function's log lines carry the execution's id (the workflow sends it with each call).
    const executionId = first.name.split('/').pop() ?? '';
    for (const fn of ['load', 'process', 'train']) {
      const lines = readFileSync(path.join(stack.logDir, `${fn}.log`), 'utf8').split('\n');
      expect(
        lines.some((l) => l.includes(`"executionId":"${executionId}"`)),
        fn,
      ).toBe(true);
    }
    // load, process and train ran as their own database roles (as in the cloud), and the migrate step came first:
    // load's partition is owned by pipeline_load, who created it.
    const { rows: owners } = await db.query<{ tableowner: string }>(
      `SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'passengers\\_%'`,
    );
    expect(owners).toEqual([{ tableowner: 'pipeline_load' }]);
    const migrated = readFileSync(path.join(stack.logDir, 'migrate.log'), 'utf8');
    expect(migrated).toContain(`"executionId":"${executionId}"`);
  });

  it('the service serves the promoted model', async () => {
    const expected = (first.result as { modelVersion: string }).modelVersion;
    const deadline = Date.now() + 30_000;
    let served: string | undefined;
    while (Date.now() < deadline) {
      const res = await fetch(`${stack.serviceUrl}/v1/model`);
      if (res.ok) served = ((await res.json()) as { modelVersion?: string; version?: string }).modelVersion;
      if (served === expected) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(served).toBe(expected);
    const sample = JSON.parse(readFileSync(path.join(ROOT, 'data', 'sample-passenger.json'), 'utf8')) as unknown;
    const res = await fetch(`${stack.serviceUrl}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [sample] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { predictions: Array<{ probability: number }>; modelVersion: string };
    expect(body.modelVersion).toBe(expected);
    expect(body.predictions[0]?.probability).toBeGreaterThanOrEqual(0);

    // the model the train function wrote explains itself from the covers it recorded
    const explained = await fetch(`${stack.serviceUrl}/v1/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [sample] }),
    });
    expect(explained.status).toBe(200);
    const answer = (await explained.json()) as {
      explanations: Array<{
        attributions: Array<{
          baselineOutputValue: number;
          instanceOutputValue: number;
          featureAttributions: Record<string, number>;
        }>;
      }>;
      explanationMetadata: { covers: string };
    };
    expect(answer.explanationMetadata.covers).toBe('bootstrap');
    const a = answer.explanations[0]?.attributions[0];
    expect(a?.instanceOutputValue).toBe(body.predictions[0]?.probability);
    const sum = Object.values(a?.featureAttributions ?? {}).reduce((x, y) => x + y, 0);
    expect(Math.abs((a?.baselineOutputValue ?? Number.NaN) + sum - (a?.instanceOutputValue ?? 0))).toBeLessThan(1e-9);
  });

  it('the same object finalized twice creates no second dataset, feature set or model', async () => {
    const before = await db.query('SELECT (SELECT count(*) FROM datasets) AS d, (SELECT count(*) FROM models) AS m');
    const [metadata] = await storage.bucket(stack.dataBucket).file('uploads/titanic.csv').getMetadata();
    // Eventarc delivers at least once: deliver the same finalize event to the trigger again.
    const res = await fetch(`http://${stack.host}:${stack.ports.trigger}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': `redelivery-${suffix}`,
        'ce-type': 'google.cloud.storage.object.v1.finalized',
        'ce-source': `//storage.googleapis.com/projects/_/buckets/${stack.dataBucket}`,
        'ce-subject': 'objects/uploads/titanic.csv',
        'ce-time': new Date().toISOString(),
      },
      body: JSON.stringify(metadata),
    });
    expect(res.status).toBeLessThan(300);
    const list = async (): Promise<string[]> => {
      const [all] = await executions.listExecutions({ parent: stack.workflowPath });
      return all.map((e) => e.name ?? '');
    };
    const deadline = Date.now() + 30_000;
    let names = await list();
    while (names.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      names = await list();
    }
    const second = names.find((n) => n !== first.name);
    expect(second).toBeDefined();
    const outcome = await waitForExecution(executions, second ?? '', { timeoutMs: 240_000 });
    expect(outcome.state, JSON.stringify(outcome.error)).toBe('SUCCEEDED');
    const a = first.result as Record<string, unknown>;
    const b = outcome.result as Record<string, unknown>;
    expect([b.datasetId, b.featureSetVersion, b.modelVersion]).toEqual([
      a.datasetId,
      a.featureSetVersion,
      a.modelVersion,
    ]);
    const after = await db.query('SELECT (SELECT count(*) FROM datasets) AS d, (SELECT count(*) FROM models) AS m');
    expect(after.rows[0]).toEqual(before.rows[0]);
  });

  it('a changed CSV produces a new model version that becomes current', async () => {
    const lines = titanic.trimEnd().split('\n');
    const changed = [lines[0], ...lines.slice(1).filter((_, i) => i % 10 !== 3)].join('\n');
    const second = await upload('uploads/titanic-v2.csv', `${changed}\n`);
    expect(second.state, JSON.stringify(second.error)).toBe('SUCCEEDED');
    const result = second.result as { modelVersion: string; datasetId: string };
    expect(result.modelVersion).not.toBe((first.result as { modelVersion: string }).modelVersion);
    expect(result.datasetId).not.toBe((first.result as { datasetId: string }).datasetId);
    expect((await latest()).modelVersion).toBe(result.modelVersion);
  });

  it('a bad CSV fails the execution with the load error, and the current model stays', async () => {
    const current = (await latest()).modelVersion;
    const noSurvived = titanic
      .split('\n')
      .map((line) => line.replace(/^(\d+),\d,/, '$1,').replace(/^PassengerId,Survived,/, 'PassengerId,'))
      .join('\n');
    const outcome = await upload('uploads/no-label.csv', noSurvived);
    expect(outcome.state).toBe('FAILED');
    expect(outcome.error?.payload ?? '').toMatch(/CSV_MISSING_COLUMN/);
    expect(outcome.error?.payload ?? '').toMatch(/Survived/);
    expect((await latest()).modelVersion).toBe(current);
  });
});
