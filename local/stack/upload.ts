/**
 * `npm run upload -- <csv> [--name uploads/x.csv] [--data-dir DIR]`: uploads a CSV into the running local stack's
 * data bucket (found through <data dir>/stack.json, written by `npm run local`; default .local-data), follows the
 * execution it triggers, and exits 0 only when it SUCCEEDED (promoted or not). The last stdout line is one JSON line: on success
 * `{promoted, modelVersion, ..., reason?}` (local/stack/outcome.ts), otherwise the execution's error.
 *
 * With `--bucket B --workflow projects/P/locations/L/workflows/W` it uses Application Default Credentials and
 * the real Google Cloud APIs instead (the same clients, default endpoints).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { createExecutionsClient } from '../../shared/adapters/workflows.ts';
import { localStorageClient } from '../gcs/gcs-emulator.ts';
import { findExecutionFor, waitForExecution } from './executions.ts';
import { describeOutcome, uploadOutcome } from './outcome.ts';
import { readStackState, type StackState } from './stack.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    bucket: { type: 'string' },
    workflow: { type: 'string', default: process.env.WORKFLOW_NAME },
    timeout: { type: 'string', default: '1800' },
    'data-dir': { type: 'string' },
  },
});

/** The message of a failure, whatever shape the client rejected with (a resumable upload rejects with a plain object). */
function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message === 'string') return message;
  return typeof err === 'string' ? err : JSON.stringify(err);
}

/** Cloud Storage's naming rules an upload can break; null when `name` is a valid object name. */
function objectNameProblem(name: string): string | null {
  if (name.length === 0 || Buffer.byteLength(name, 'utf8') > 1024) return 'must be 1 to 1024 bytes of UTF-8';
  if (/[\r\n]/.test(name)) return 'cannot contain a carriage return or a line feed';
  if (name === '.' || name === '..') return 'cannot be "." or ".."';
  return null;
}

function fail(message: string, code = 2): never {
  process.stderr.write(`npm run upload: ${message}\n`);
  process.stdout.write(`${JSON.stringify({ error: message })}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const file = positionals[0];
  if (!file) fail('usage: npm run upload -- <file.csv> [--name uploads/x.csv] [--bucket B --workflow W]');
  if (!existsSync(file)) fail(`no such file: ${file}`);
  const name = values.name ?? `uploads/${path.basename(file)}`;
  const problem = objectNameProblem(name);
  if (problem) fail(`the object name ${JSON.stringify(name)} ${problem}`);

  let storage: Storage;
  let bucket: string;
  let workflowPath: string;
  let workflowsEndpoint: string | undefined;
  if (values.bucket) {
    if (!values.workflow) fail('--bucket needs --workflow projects/P/locations/L/workflows/W (or WORKFLOW_NAME)');
    storage = new Storage();
    bucket = values.bucket;
    workflowPath = values.workflow;
  } else {
    let state: StackState;
    try {
      state = readStackState(values['data-dir'] ? path.resolve(values['data-dir']) : undefined);
    } catch (err) {
      fail((err as Error).message);
    }
    storage = localStorageClient(state.gcsUrl);
    bucket = state.dataBucket;
    workflowPath = state.workflowPath;
    workflowsEndpoint = state.workflowsUrl;
  }

  const [uploaded] = await storage
    .bucket(bucket)
    .upload(file, { destination: name })
    .catch((err: unknown) => {
      fail(`upload to gs://${bucket}/${name} failed: ${messageOf(err)}`);
    });
  const generation = String(uploaded.metadata.generation);
  process.stderr.write(`uploaded gs://${bucket}/${name} (generation ${generation})\n`);
  const executions = createExecutionsClient(workflowsEndpoint);
  const execution = await findExecutionFor(executions, workflowPath, { bucket, name, generation });
  process.stderr.write(`execution ${execution}\n`);
  const outcome = await waitForExecution(executions, execution, { timeoutMs: Number(values.timeout) * 1000 });
  await executions.close();
  process.stderr.write(`execution ${outcome.state}\n`);
  if (outcome.state === 'SUCCEEDED') {
    const result = uploadOutcome(outcome.result);
    for (const line of describeOutcome(result)) process.stderr.write(`${line}\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  let error: unknown = outcome.error?.payload ?? outcome.state;
  try {
    error = JSON.parse(String(error));
  } catch {
    // keep the payload as text
  }
  process.stdout.write(`${JSON.stringify({ state: outcome.state, error })}\n`);
  process.exit(1);
}

main().catch((err: unknown) => fail(messageOf(err), 1));
