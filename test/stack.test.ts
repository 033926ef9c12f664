/**
 * The local stack under hostile and concurrent use: `npm run upload --data-dir` finds the stack of that data
 * directory (and refuses a stale one), ten different CSVs uploaded at once each end in their own outcome with
 * exactly their rows, an object named with non-ASCII characters trains like any other, and stack.json goes away
 * when the stack stops.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const [header, ...rows] = titanic.trimEnd().split('\n');

/** Runs `npm run upload` (the tsx entry) and returns its exit code and last stdout line as JSON. */
function runUpload(args: string[]): Promise<{ code: number; last: Record<string, unknown>; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(ROOT, 'node_modules', '.bin', 'tsx'),
      [path.join(ROOT, 'local', 'stack', 'upload.ts'), ...args],
      { cwd: ROOT, timeout: 300_000 },
      (err, stdout, stderr) => {
        const lines = stdout.trimEnd().split('\n');
        let last: Record<string, unknown> = {};
        try {
          last = JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>;
        } catch {
          last = { unparsed: lines.at(-1) };
        }
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, last, stderr });
      },
    );
  });
}

describe('the local stack under concurrent and hostile use', () => {
  const suffix = randomBytes(4).toString('hex');
  const database = `stack_${suffix}`;
  const prefix = `stack-${suffix}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'survival-stack-'));
  const scratch = mkdtempSync(path.join(tmpdir(), 'survival-stack-files-'));
  let stack: LocalStack;
  let storage: Storage;
  let executions: ExecutionsClient;
  let db: pg.Client;

  beforeAll(async () => {
    const names = Object.keys(DEFAULT_PORTS) as Array<keyof LocalPorts>;
    const free = await freePorts(names.length);
    stack = await startLocalStack({
      ports: Object.fromEntries(names.map((n, i) => [n, free[i]])) as unknown as LocalPorts,
      dataDir,
      pg: { host: '127.0.0.1', port: 5432, user: 'postgres', database },
      featureStorePrefix: prefix,
      searchCandidates: 1,
      minAccuracy: 0.5,
      service: false,
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
    rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('writes stack.json into its data directory, naming the process that runs it', () => {
    const state = JSON.parse(readFileSync(path.join(dataDir, 'stack.json'), 'utf8'));
    expect(state).toMatchObject({ gcsUrl: stack.gcsUrl, workflowsUrl: stack.workflowsUrl, pid: process.pid });
  });

  it('ten different CSVs uploaded at the same moment each reach SUCCEEDED with exactly their rows; the pointer names one of them', async () => {
    // File i keeps rows whose index is not congruent to i mod 11, and drops i more rows at the end: ten different
    // datasets of different sizes.
    const files = Array.from({ length: 10 }, (_, i) => {
      const kept = rows.filter((_row, j) => j % 11 !== i).slice(0, 800 - i * 7);
      return { name: `uploads/concurrent-${i}.csv`, text: `${header}\n${kept.join('\n')}\n`, rows: kept.length };
    });
    const started = performance.now();
    const outcomes: Array<ExecutionOutcome & { generation: string }> = await Promise.all(
      files.map(async (f) => {
        const object = storage.bucket(stack.dataBucket).file(f.name);
        await object.save(f.text, { contentType: 'text/csv', resumable: false });
        const generation = String(object.metadata.generation);
        const execution = await findExecutionFor(executions, stack.workflowPath, {
          bucket: stack.dataBucket,
          name: f.name,
          generation,
        });
        return { ...(await waitForExecution(executions, execution, { timeoutMs: 280_000 })), generation };
      }),
    );
    console.log(
      `ten concurrent uploads: ${outcomes.map((o) => o.state).join(', ')} in ${Math.round(performance.now() - started)} ms`,
    );
    for (const [i, o] of outcomes.entries()) {
      expect(o.state, `${files[i]!.name}: ${o.error?.payload ?? ''}`).toBe('SUCCEEDED');
    }
    const models: string[] = [];
    for (const [i, f] of files.entries()) {
      const result = outcomes[i]!.result as { datasetId: string; modelVersion: string };
      const { rows: ds } = await db.query<{ object: string; row_count: number; generation: string }>(
        'SELECT object, row_count, generation FROM datasets WHERE id = $1',
        [result.datasetId],
      );
      expect(ds).toEqual([{ object: f.name, row_count: f.rows, generation: outcomes[i]!.generation }]);
      const { rows: stored } = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM passengers WHERE dataset_id = $1',
        [result.datasetId],
      );
      expect(stored[0]!.n).toBe(f.rows);
      models.push(result.modelVersion);
    }
    expect(new Set(models).size).toBe(10);
    const [pointer] = await storage.bucket(stack.modelsBucket).file('models/latest.json').download();
    const named = (JSON.parse(pointer.toString('utf8')) as { modelVersion: string }).modelVersion;
    expect(models).toContain(named);
  }, 300_000);

  it('refuses to start a second stack on the same data directory', async () => {
    await expect(startLocalStack({ dataDir, service: false })).rejects.toThrow(/already runs with the data directory/);
  });

  it('uploads with --data-dir to that stack: an object named with non-ASCII characters and %2e%2e%2F trains', async () => {
    const file = path.join(scratch, 'titanic.csv');
    writeFileSync(file, titanic);
    const name = 'uploads/ünï😀%2e%2e%2F.csv';
    const { code, last, stderr } = await runUpload([file, '--name', name, '--data-dir', dataDir]);
    expect(stderr).toContain('execution SUCCEEDED');
    expect(code).toBe(0);
    expect(last).toMatchObject({ modelVersion: expect.stringMatching(/^m-/), datasetId: expect.any(String) });
    const { rows: datasets } = await db.query('SELECT object, row_count FROM datasets WHERE id = $1', [last.datasetId]);
    expect(datasets).toEqual([{ object: name, row_count: 891 }]);
  }, 300_000);

  it('refuses a data directory without a stack, and a stale stack.json whose process is gone, saying so', async () => {
    const file = path.join(scratch, 'titanic.csv');
    const empty = path.join(scratch, 'no-stack');
    mkdirSync(empty, { recursive: true });
    const none = await runUpload([file, '--data-dir', empty]);
    expect(none.code).not.toBe(0);
    expect(String(none.last.error)).toMatch(/no local stack is running/);

    const stale = path.join(scratch, 'stale');
    mkdirSync(stale, { recursive: true });
    const state = JSON.parse(readFileSync(path.join(dataDir, 'stack.json'), 'utf8'));
    // A pid no process has: above the kernel's pid_max.
    writeFileSync(path.join(stale, 'stack.json'), JSON.stringify({ ...state, pid: 2 ** 22 + 7 }));
    const refused = await runUpload([file, '--data-dir', stale]);
    expect(refused.code).not.toBe(0);
    expect(String(refused.last.error)).toMatch(
      /is stale: the stack that wrote it \(process 4194311\) is no longer running/,
    );
  }, 120_000);

  it('refuses an object name with a newline with a clear message, not [object Object]', async () => {
    const file = path.join(scratch, 'titanic.csv');
    const { code, last } = await runUpload([file, '--name', 'uploads/two\nlines.csv', '--data-dir', dataDir]);
    expect(code).not.toBe(0);
    expect(String(last.error)).toMatch(/cannot contain a carriage return or a line feed/);
    expect(JSON.stringify(last)).not.toContain('[object Object]');
  }, 60_000);

  it('removes stack.json when the stack stops', async () => {
    expect(existsSync(path.join(dataDir, 'stack.json'))).toBe(true);
    await stack.close();
    expect(existsSync(path.join(dataDir, 'stack.json'))).toBe(false);
  }, 60_000);
});
