/**
 * The Workflow Executions REST API (v1) over the interpreter, so `@google-cloud/workflows`' ExecutionsClient
 * (REST transport) talks to it as to Google Cloud:
 *   POST /v1/projects/P/locations/L/workflows/W/executions            create (body: Execution, `argument` a JSON string)
 *   GET  /v1/projects/P/locations/L/workflows/W/executions            list (newest first; pageSize, pageToken, view)
 *   GET  /v1/projects/P/locations/L/workflows/W/executions/ID         get
 *   POST /v1/projects/P/locations/L/workflows/W/executions/ID:cancel  cancel
 *   GET  /metrics                                                     Prometheus text format
 * Executions run in the background: create answers ACTIVE at once, as the real API does.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type LogEntry, runWorkflow, type StepEvent } from './interpreter.ts';
import { loadWorkflow, type Program, WorkflowSyntaxError } from './program.ts';
import type { Value } from './values.ts';
import { WorkflowError } from './values.ts';

export type ExecutionState = 'ACTIVE' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** An execution as the REST API returns it (proto3 JSON of google.cloud.workflows.executions.v1.Execution). */
export interface ExecutionResource {
  name: string;
  startTime: string;
  endTime?: string;
  duration?: string;
  state: ExecutionState;
  argument: string;
  result?: string;
  error?: {
    payload: string;
    context: string;
    stackTrace?: { elements: Array<{ step: string; routine: string; position: { line: string; column: string } }> };
  };
  workflowRevisionId: string;
  callLogLevel: string;
  labels: Record<string, string>;
  status?: { currentSteps: Array<{ routine: string; step: string }> };
}

export type EngineStepEvent = StepEvent & { execution: string; workflow: string };
export type EngineLogEntry = LogEntry & { execution: string; workflow: string };

export interface WorkflowsEngineOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Workflow id -> YAML source. Each is loaded (and checked) at start. */
  workflows: Record<string, string>;
  /** User environment variables, read with sys.get_env. */
  env?: Record<string, string>;
  project?: string;
  location?: string;
  /** Step start/end and retry events of every execution. Also emitted as 'step' on `events`. */
  onStep?: (event: EngineStepEvent) => void;
  /** sys.log entries; by default one JSON line each on stdout. */
  log?: (entry: EngineLogEntry) => void;
  /** Waits between retries and for sys.sleep (tests shorten them). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Caps every HTTP call's timeout, in milliseconds. */
  maxHttpTimeoutMs?: number;
}

export interface WorkflowsEngine {
  /** e.g. http://127.0.0.1:8091: the value for WORKFLOWS_API_ENDPOINT. */
  url: string;
  port: number;
  /** projects/P/locations/L/workflows/ID: the value for WORKFLOW_NAME. */
  workflowPath(id: string): string;
  /** 'step' (EngineStepEvent), 'log' (EngineLogEntry), 'execution' (ExecutionResource, on create and on every end). */
  events: EventEmitter;
  /** The current state of an execution, by full name. */
  getExecution(name: string): ExecutionResource | undefined;
  /** Resolves when the execution is no longer ACTIVE. */
  waitForExecution(name: string): Promise<ExecutionResource>;
  registry: Registry;
  /** Stops accepting requests and cancels running executions. */
  close(): Promise<void>;
}

interface ExecutionRecord {
  resource: ExecutionResource;
  workflow: string;
  started: number;
  abort: AbortController;
  done: Promise<void>;
  currentStep?: { routine: string; step: string };
}

const REVISION = '000001-local';

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startWorkflowsEngine(options: WorkflowsEngineOptions): Promise<WorkflowsEngine> {
  const project = options.project ?? 'local-project';
  const location = options.location ?? 'us-central1';
  const host = options.host ?? '127.0.0.1';
  const programs = new Map<string, Program>();
  for (const [id, source] of Object.entries(options.workflows)) {
    try {
      programs.set(id, loadWorkflow(source));
    } catch (err) {
      if (err instanceof WorkflowSyntaxError) throw new WorkflowSyntaxError(err.reason, err.loc, id);
      throw err;
    }
  }

  const events = new EventEmitter();
  const executions = new Map<string, ExecutionRecord>();
  const registry = new Registry();
  const executionsTotal = new Counter({
    name: 'workflows_executions_total',
    help: 'Executions that entered each state (ACTIVE on start, then SUCCEEDED, FAILED or CANCELLED).',
    labelNames: ['workflow', 'state'],
    registers: [registry],
  });
  const executionsActive = new Gauge({
    name: 'workflows_executions_active',
    help: 'Executions currently running.',
    labelNames: ['workflow'],
    registers: [registry],
  });
  const executionSeconds = new Histogram({
    name: 'workflows_execution_duration_seconds',
    help: 'Execution wall time from create to end.',
    labelNames: ['workflow', 'state'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  const stepSeconds = new Histogram({
    name: 'workflows_step_duration_seconds',
    help: 'Step wall time, including retries inside it; call is the call target ("" for non-call steps).',
    labelNames: ['workflow', 'routine', 'step', 'call', 'outcome'],
    buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  const retriesTotal = new Counter({
    name: 'workflows_step_retries_total',
    help: 'Retries performed by try/retry blocks.',
    labelNames: ['workflow', 'step'],
    registers: [registry],
  });

  const prefix = `projects/${project}/locations/${location}/workflows/`;
  const workflowPath = (id: string): string => `${prefix}${id}`;

  const startExecution = (workflow: string, body: Record<string, unknown>): ExecutionResource => {
    const program = programs.get(workflow);
    if (!program) throw new ApiError(404, 'NOT_FOUND', `Resource '${workflowPath(workflow)}' was not found`);
    const rawArgument = typeof body.argument === 'string' ? body.argument : '';
    let argument: Value = null;
    if (rawArgument !== '') {
      try {
        argument = JSON.parse(rawArgument) as Value;
      } catch {
        throw new ApiError(400, 'INVALID_ARGUMENT', 'argument must be a valid JSON string');
      }
    }
    const id = randomUUID();
    const name = `${workflowPath(workflow)}/executions/${id}`;
    const resource: ExecutionResource = {
      name,
      startTime: new Date().toISOString(),
      state: 'ACTIVE',
      argument: rawArgument,
      workflowRevisionId: REVISION,
      callLogLevel: typeof body.callLogLevel === 'string' ? body.callLogLevel : 'CALL_LOG_LEVEL_UNSPECIFIED',
      labels: (body.labels as Record<string, string> | undefined) ?? {},
    };
    const abort = new AbortController();
    const record: ExecutionRecord = { resource, workflow, started: performance.now(), abort, done: Promise.resolve() };
    executions.set(name, record);
    executionsTotal.inc({ workflow, state: 'ACTIVE' });
    executionsActive.inc({ workflow });

    const finish = (state: ExecutionState, patch: Partial<ExecutionResource>): void => {
      if (record.resource.state !== 'ACTIVE') return;
      const seconds = (performance.now() - record.started) / 1000;
      record.resource = {
        ...record.resource,
        ...patch,
        state,
        endTime: new Date().toISOString(),
        duration: `${seconds.toFixed(6)}s`,
      };
      executionsTotal.inc({ workflow, state });
      executionsActive.dec({ workflow });
      executionSeconds.observe({ workflow, state }, seconds);
      events.emit('execution', record.resource);
    };

    record.done = runWorkflow(program, {
      argument,
      env: {
        ...options.env,
        GOOGLE_CLOUD_PROJECT_ID: project,
        GOOGLE_CLOUD_PROJECT_NUMBER: '0',
        GOOGLE_CLOUD_SERVICE_ACCOUNT_NAME: `workflows@${project}.iam.gserviceaccount.com`,
        GOOGLE_CLOUD_LOCATION: location,
        GOOGLE_CLOUD_WORKFLOW_ID: workflow,
        GOOGLE_CLOUD_WORKFLOW_REVISION_ID: REVISION,
        GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID: id,
      },
      signal: abort.signal,
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(options.maxHttpTimeoutMs !== undefined ? { maxHttpTimeoutMs: options.maxHttpTimeoutMs } : {}),
      log: (entry) => {
        const e: EngineLogEntry = { ...entry, execution: name, workflow };
        if (options.log) options.log(e);
        else
          process.stdout.write(
            `${JSON.stringify({ severity: entry.severity === 'DEFAULT' ? 'INFO' : entry.severity, message: entry.text ?? '', ...(entry.data !== undefined ? { data: entry.data } : {}), execution: name, step: `${entry.routine}.${entry.step}` })}\n`,
          );
        events.emit('log', e);
      },
      onStep: (event) => {
        if (event.type === 'step-start') record.currentStep = { routine: event.routine, step: event.step };
        if (event.type === 'step-end')
          stepSeconds.observe(
            { workflow, routine: event.routine, step: event.step, call: event.call ?? '', outcome: event.outcome },
            event.durationMs / 1000,
          );
        if (event.type === 'retry') retriesTotal.inc({ workflow, step: event.step });
        const e: EngineStepEvent = { ...event, execution: name, workflow };
        try {
          options.onStep?.(e);
          events.emit('step', e);
        } catch {
          // A listener's bug must not change the execution's outcome.
        }
      },
    }).then(
      (result) => finish('SUCCEEDED', { result: JSON.stringify(result) }),
      (err: unknown) => {
        if (abort.signal.aborted) return finish('CANCELLED', {});
        finish('FAILED', { error: executionError(err) });
      },
    );
    events.emit('execution', resource);
    return resource;
  };

  const view = (record: ExecutionRecord, full: boolean): ExecutionResource => {
    const r: ExecutionResource = { ...record.resource };
    if (r.state === 'ACTIVE' && record.currentStep) r.status = { currentSteps: [record.currentStep] };
    if (!full) {
      // BASIC view (the list default) leaves out the potentially large fields.
      delete (r as Partial<ExecutionResource>).argument;
      delete r.result;
      delete r.error;
    }
    return r;
  };

  const route = async (req: http.IncomingMessage, url: URL): Promise<{ status: number; body: unknown } | string> => {
    if (req.method === 'GET' && url.pathname === '/metrics') return registry.metrics();
    if (req.method === 'GET' && url.pathname === '/healthz') return { status: 200, body: { ok: true } };
    const m =
      /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/workflows\/([^/]+)\/executions(?:\/([^/:]+)(:cancel)?)?$/.exec(
        url.pathname,
      );
    if (!m) throw new ApiError(404, 'NOT_FOUND', `no such method: ${req.method} ${url.pathname}`);
    const [, p, l, workflow, id, cancel] = m as unknown as [string, string, string, string, string?, string?];
    if (decodeURIComponent(p) !== project || decodeURIComponent(l) !== location || !programs.has(workflow))
      throw new ApiError(
        404,
        'NOT_FOUND',
        `Resource 'projects/${p}/locations/${l}/workflows/${workflow}' was not found`,
      );
    if (id === undefined) {
      if (req.method === 'POST') return { status: 200, body: startExecution(workflow, await readJson(req)) };
      if (req.method === 'GET') {
        const pageSize = Math.min(Number(url.searchParams.get('pageSize') ?? 0) || 100, 10_000);
        const offset = Number(url.searchParams.get('pageToken') ?? 0) || 0;
        const full = url.searchParams.get('view') === 'FULL' || url.searchParams.get('view') === '2';
        const all = [...executions.values()]
          .filter((r) => r.workflow === workflow)
          .sort((a, b) => b.resource.startTime.localeCompare(a.resource.startTime));
        const page = all.slice(offset, offset + pageSize).map((r) => view(r, full));
        return {
          status: 200,
          body: {
            executions: page,
            ...(offset + pageSize < all.length ? { nextPageToken: String(offset + pageSize) } : {}),
          },
        };
      }
    } else {
      const record = executions.get(`${workflowPath(workflow)}/executions/${id}`);
      if (!record) throw new ApiError(404, 'NOT_FOUND', `Resource '${url.pathname.slice(4)}' was not found`);
      if (req.method === 'GET' && !cancel) return { status: 200, body: view(record, true) };
      if (req.method === 'POST' && cancel) {
        if (record.resource.state !== 'ACTIVE')
          throw new ApiError(400, 'FAILED_PRECONDITION', `execution is already ${record.resource.state}`);
        record.abort.abort();
        await record.done;
        return { status: 200, body: view(record, true) };
      }
    }
    throw new ApiError(405, 'UNIMPLEMENTED', `method ${req.method} is not supported here`);
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    route(req, url).then(
      (out) => {
        if (typeof out === 'string') {
          res.writeHead(200, { 'content-type': registry.contentType }).end(out);
          return;
        }
        // Enum values as numbers when the client asks for them ($alt=json;enum-encoding=int).
        const numeric = /enum-encoding=int/.test(url.searchParams.get('$alt') ?? '');
        res
          .writeHead(out.status, { 'content-type': 'application/json; charset=utf-8' })
          .end(JSON.stringify(out.body, numeric ? numericEnums : undefined));
      },
      (err: unknown) => {
        const e = err instanceof ApiError ? err : new ApiError(500, 'INTERNAL', (err as Error).message);
        res
          .writeHead(e.code, { 'content-type': 'application/json; charset=utf-8' })
          .end(JSON.stringify({ error: { code: e.code, message: e.message, status: e.status } }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    workflowPath,
    events,
    registry,
    getExecution: (name) => {
      const r = executions.get(name);
      return r ? view(r, true) : undefined;
    },
    waitForExecution: async (name) => {
      const r = executions.get(name);
      if (!r) throw new Error(`no execution named ${name}`);
      await r.done;
      return view(r, true);
    },
    close: async () => {
      for (const r of executions.values()) if (r.resource.state === 'ACTIVE') r.abort.abort();
      await Promise.all([...executions.values()].map((r) => r.done));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

const STATE_NUMBERS: Record<string, number> = { ACTIVE: 1, SUCCEEDED: 2, FAILED: 3, CANCELLED: 4 };

function numericEnums(key: string, value: unknown): unknown {
  if (key === 'state' && typeof value === 'string') return STATE_NUMBERS[value] ?? 0;
  return value;
}

/** The execution's `error` as the real API gives it: the error map as JSON in `payload`, where it happened in `context`. */
export function executionError(err: unknown): NonNullable<ExecutionResource['error']> {
  const wfErr =
    err instanceof WorkflowError
      ? err
      : new WorkflowError({ message: err instanceof Error ? err.message : String(err), tags: ['SystemError'] });
  const where = wfErr.where;
  const summary = typeof wfErr.value === 'string' ? wfErr.value : wfErr.message;
  return {
    payload: JSON.stringify(wfErr.value),
    context: where
      ? `RuntimeError: ${JSON.stringify(summary)}\nin step "${where.step}", routine "${where.routine}", line: ${where.line}`
      : `RuntimeError: ${JSON.stringify(summary)}`,
    ...(where
      ? {
          stackTrace: {
            elements: [
              {
                step: where.step,
                routine: where.routine,
                position: { line: String(where.line), column: String(where.column) },
              },
            ],
          },
        }
      : {}),
  };
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ApiError(400, 'INVALID_ARGUMENT', 'the request body must be a JSON object');
}
