/**
 * Following a training execution through the Executions API, with the same `@google-cloud/workflows` client
 * against the local engine or Google Cloud: find the execution that an upload started, then poll it to its end.
 */
import type { ExecutionsClient } from '@google-cloud/workflows';

export interface ExecutionOutcome {
  name: string;
  state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | string;
  result: unknown;
  error: { payload?: string; context?: string } | null;
  startTime: string | null;
  endTime: string | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseArgument(raw: unknown): Record<string, unknown> {
  if (typeof raw !== 'string' || raw === '') return {};
  try {
    const value = JSON.parse(raw) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Waits for the execution whose argument names this object generation (the trigger starts it asynchronously). */
export async function findExecutionFor(
  client: ExecutionsClient,
  workflowPath: string,
  object: { bucket: string; name: string; generation: string },
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [executions] = await client.listExecutions({ parent: workflowPath, view: 'FULL' });
    for (const execution of executions) {
      const arg = parseArgument(execution.argument);
      if (arg.bucket === object.bucket && arg.name === object.name && String(arg.generation) === object.generation) {
        if (execution.name) return execution.name;
      }
    }
    await sleep(250);
  }
  throw new Error(
    `no execution of ${workflowPath} started for gs://${object.bucket}/${object.name}#${object.generation}`,
  );
}

export async function waitForExecution(
  client: ExecutionsClient,
  name: string,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<ExecutionOutcome> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  for (;;) {
    const [execution] = await client.getExecution({ name });
    const state = String(execution.state ?? 'STATE_UNSPECIFIED');
    if (state !== 'ACTIVE' && state !== 'QUEUED' && state !== 'STATE_UNSPECIFIED') {
      let result: unknown = null;
      if (execution.result) {
        try {
          result = JSON.parse(execution.result);
        } catch {
          result = execution.result;
        }
      }
      const ts = (t: { seconds?: unknown; nanos?: unknown } | null | undefined): string | null =>
        t?.seconds !== undefined && t.seconds !== null
          ? new Date(Number(t.seconds) * 1000 + Math.round(Number(t.nanos ?? 0) / 1e6)).toISOString()
          : null;
      return {
        name,
        state,
        result,
        error: execution.error
          ? { payload: execution.error.payload ?? '', context: execution.error.context ?? '' }
          : null,
        startTime: ts(execution.startTime),
        endTime: ts(execution.endTime),
      };
    }
    if (Date.now() > deadline) throw new Error(`execution ${name} still ${state} after the timeout`);
    await sleep(opts.intervalMs ?? 300);
  }
}
