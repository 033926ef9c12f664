/**
 * The Executions REST API, driven by the real `@google-cloud/workflows` ExecutionsClient (REST transport,
 * plain HTTP, no credentials) as the trigger and the upload command use it.
 */
import type { ExecutionsClient, protos } from '@google-cloud/workflows';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExecutionsClient } from '../../shared/adapters/workflows.ts';
import { type EngineStepEvent, startWorkflowsEngine, type WorkflowsEngine } from './index.ts';

const ADD = `
main:
  params: [input]
  steps:
    - check:
        switch:
          - condition: \${input.x < 0}
            raise:
              message: "x must not be negative"
              tags: ["ValueError"]
    - wait:
        call: sys.sleep
        args:
          seconds: \${default(map.get(input, "wait"), 0)}
    - answer:
        return:
          sum: \${input.x + 1}
          project: \${sys.get_env("GOOGLE_CLOUD_PROJECT_ID")}
          greeting: \${sys.get_env("GREETING")}
`;

let engine: WorkflowsEngine;
let client: ExecutionsClient;
const steps: EngineStepEvent[] = [];

beforeAll(async () => {
  engine = await startWorkflowsEngine({
    workflows: { add: ADD },
    env: { GREETING: 'hi' },
    project: 'demo',
    location: 'europe-west1',
    onStep: (e) => steps.push(e),
    log: () => undefined,
  });
  client = createExecutionsClient(engine.url);
});
afterAll(async () => {
  await client.close();
  await engine.close();
});

async function settle(name: string): Promise<protos.google.cloud.workflows.executions.v1.IExecution> {
  for (;;) {
    const [execution] = await client.getExecution({ name });
    if (execution.state !== 'ACTIVE') return execution;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Executions API', () => {
  it('creates an execution that is ACTIVE, then SUCCEEDED with its result as a JSON string', async () => {
    const [created] = await client.createExecution({
      parent: engine.workflowPath('add'),
      execution: { argument: JSON.stringify({ x: 41, wait: 0.2 }) },
    });
    expect(created.name).toMatch(
      /^projects\/demo\/locations\/europe-west1\/workflows\/add\/executions\/[0-9a-f-]{36}$/,
    );
    expect(created.state).toBe('ACTIVE');
    const done = await settle(created.name!);
    expect(done.state).toBe('SUCCEEDED');
    expect(JSON.parse(done.result!)).toEqual({ sum: 42, project: 'demo', greeting: 'hi' });
    expect(done.argument).toBe(JSON.stringify({ x: 41, wait: 0.2 }));
    expect(Number(done.endTime!.seconds)).toBeGreaterThanOrEqual(Number(done.startTime!.seconds));
    expect(Number(done.duration!.seconds) + Number(done.duration!.nanos) / 1e9).toBeGreaterThanOrEqual(0.2);
  });

  it('ends FAILED with the raised error map in error.payload and its step and line in error.context', async () => {
    const [created] = await client.createExecution({
      parent: engine.workflowPath('add'),
      execution: { argument: JSON.stringify({ x: -1 }) },
    });
    const done = await settle(created.name!);
    expect(done.state).toBe('FAILED');
    expect(JSON.parse(done.error!.payload!)).toEqual({ message: 'x must not be negative', tags: ['ValueError'] });
    expect(done.error!.context).toContain('in step "check", routine "main", line: 5');
    expect(done.error!.stackTrace?.elements?.[0]).toMatchObject({ step: 'check', routine: 'main' });
  });

  it('lists executions newest first, with argument and result only in the FULL view', async () => {
    const [basic] = await client.listExecutions({ parent: engine.workflowPath('add') });
    expect(basic.length).toBeGreaterThanOrEqual(2);
    expect(basic.every((e) => e.name?.startsWith(engine.workflowPath('add')))).toBe(true);
    expect(basic[0]!.argument).toBe('');
    const [full] = await client.listExecutions({ parent: engine.workflowPath('add'), view: 'FULL' });
    expect(JSON.parse(full[0]!.argument!)).toEqual({ x: -1 });
    expect(JSON.parse(full[1]!.argument!)).toEqual({ x: 41, wait: 0.2 });
  });

  it('answers NOT_FOUND for an unknown workflow and INVALID_ARGUMENT for an argument that is not JSON', async () => {
    await expect(
      client.createExecution({ parent: 'projects/demo/locations/europe-west1/workflows/nope', execution: {} }),
    ).rejects.toMatchObject({ code: 5 });
    await expect(
      client.createExecution({ parent: engine.workflowPath('add'), execution: { argument: '{not json' } }),
    ).rejects.toMatchObject({ code: 3 });
  });

  it('cancels an ACTIVE execution', async () => {
    const [created] = await client.createExecution({
      parent: engine.workflowPath('add'),
      execution: { argument: JSON.stringify({ x: 1, wait: 30 }) },
    });
    const [cancelled] = await client.cancelExecution({ name: created.name! });
    expect(cancelled.state).toBe('CANCELLED');
  });

  it('reports step start/end events with the call target and duration, per execution', async () => {
    const [created] = await client.createExecution({
      parent: engine.workflowPath('add'),
      execution: { argument: JSON.stringify({ x: 2 }) },
    });
    await settle(created.name!);
    const mine = steps.filter((e) => e.execution === created.name);
    expect(mine.map((e) => `${e.type}:${e.step}`)).toEqual([
      'step-start:check',
      'step-end:check',
      'step-start:wait',
      'step-end:wait',
      'step-start:answer',
      'step-end:answer',
    ]);
    expect(mine[3]).toMatchObject({ call: 'sys.sleep', outcome: 'ok', workflow: 'add' });
  });

  it('exposes executions by state and step durations in the Prometheus format', async () => {
    const text = await (await fetch(`${engine.url}/metrics`)).text();
    expect(text).toMatch(/workflows_executions_total\{workflow="add",state="SUCCEEDED"\} 2/);
    expect(text).toMatch(/workflows_executions_total\{workflow="add",state="FAILED"\} 1/);
    expect(text).toMatch(/workflows_executions_total\{workflow="add",state="CANCELLED"\} 1/);
    expect(text).toMatch(
      /workflows_step_duration_seconds_count\{workflow="add",routine="main",step="wait",call="sys.sleep",outcome="ok"\} \d+/,
    );
  });

  it('refuses to start with a workflow it cannot run, naming the workflow and line', async () => {
    await expect(
      startWorkflowsEngine({ workflows: { broken: 'main:\n  steps:\n    - a:\n        call: experimental.x\n' } }),
    ).rejects.toThrow(/workflow "broken", line 4, column \d+: unsupported call target "experimental.x"/);
  });
});
