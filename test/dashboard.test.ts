/**
 * The Grafana dashboard against real data: Debian's `prometheus`, configured from the repository's
 * prometheus.yml (its jobs, paths and alert rules; only the target ports and the scrape interval changed),
 * scrapes the prediction service (buildApp with a small real model, listening on a free port) and the local
 * Workflows engine (running workflows/training.yaml against stand-in load/process/train endpoints). After
 * ordinary and drifted prediction traffic and one training execution, every PromQL expression of the
 * dashboard is evaluated through Prometheus' HTTP API and must return data.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startWorkflowsEngine, type WorkflowsEngine } from '../local/workflows-engine/server.ts';
import { dashboardExpressions } from './support/dashboard.ts';
import { buildTestApp, type TestApp, tinyArtifact, titanicInstances } from './support/service.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const hasPrometheus = (() => {
  try {
    execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let service: TestApp | undefined;
let engine: WorkflowsEngine | undefined;
let stubs: http.Server | undefined;
let prometheus: ChildProcess | undefined;
let prometheusUrl = '';
let prometheusLog = '';

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Stand-ins for the three functions: the answers the workflow reads, as the real ones give them. */
function startFunctionStubs(): Promise<http.Server> {
  const answers: Record<string, unknown> = {
    '/migrate': { applied: [], logins: [] },
    '/load': { datasetId: 'ds-1', rows: 891, rejected: 0, alreadyLoaded: false },
    '/process': { featureSetVersion: 'ds-1.r1', trainRows: 712, testRows: 179, syntheticRows: 150 },
    '/train': { modelVersion: 'm-1', metrics: { accuracy: 0.82 }, promoted: true, uri: 'gs://models/m-1' },
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = answers[req.url ?? ''];
      res.writeHead(answer ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer ?? { error: { code: 'NOT_FOUND', message: req.url } }));
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

/** prometheus.yml with the live ports, a 1 s scrape interval, and the alert rules by absolute path. */
function prometheusConfig(targets: Record<string, string>): string {
  const config = parse(readFileSync(path.join(ROOT, 'prometheus.yml'), 'utf8')) as {
    global: Record<string, unknown>;
    rule_files: string[];
    scrape_configs: Array<{
      job_name: string;
      scrape_interval?: string;
      scrape_timeout?: string;
      static_configs: Array<{ targets: string[] }>;
    }>;
  };
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  config.rule_files = config.rule_files.map((f) => path.join(ROOT, f));
  for (const job of config.scrape_configs) {
    const target = targets[job.job_name];
    if (!target) throw new Error(`no live target for job ${job.job_name}`);
    job.scrape_interval = '1s';
    job.scrape_timeout = '1s';
    job.static_configs = [{ targets: [target] }];
  }
  return stringify(config);
}

async function query(expr: string): Promise<{ status: string; data: { resultType: string; result: unknown[] } }> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as { status: string; data: { resultType: string; result: unknown[] } };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}\n${prometheusLog.slice(-2000)}`);
}

async function predict(instances: Array<Record<string, unknown>>): Promise<void> {
  const res = await fetch(`${service!.app.listeningOrigin}/v1/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instances }),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

beforeAll(async () => {
  if (!hasPrometheus) return;
  service = await buildTestApp(await tinyArtifact(), { driftWindow: 40, driftEvery: 20 });
  await service.app.listen({ port: 0, host: '127.0.0.1' });

  stubs = await startFunctionStubs();
  const stubUrl = `http://127.0.0.1:${(stubs.address() as AddressInfo).port}`;
  engine = await startWorkflowsEngine({
    workflows: { training: readFileSync(path.join(ROOT, 'workflows', 'training.yaml'), 'utf8') },
    env: {
      MIGRATE_URL: `${stubUrl}/migrate`,
      LOAD_URL: `${stubUrl}/load`,
      PROCESS_URL: `${stubUrl}/process`,
      TRAIN_URL: `${stubUrl}/train`,
    },
    log: () => {},
  });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'dashboard-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(
    configFile,
    prometheusConfig({
      service: `127.0.0.1:${(service.app.server.address() as AddressInfo).port}`,
      workflows: `127.0.0.1:${engine.port}`,
    }),
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout?.on('data', (d) => {
    prometheusLog += d;
  });
  prometheus.stderr?.on('data', (d) => {
    prometheusLog += d;
  });
  await waitFor('Prometheus to be ready', async () => (await fetch(`${prometheusUrl}/-/ready`)).ok);
  await waitFor('both targets to be up', async () => {
    const up = await query('sum(up)');
    return Number((up.data.result[0] as { value: [number, string] } | undefined)?.value[1]) === 2;
  });

  // Traffic: ordinary passengers (no drift), then passengers unlike the training data (drift), enough rows
  // for several evaluations of the sliding window; and one training execution through the engine.
  const ordinary = await titanicInstances(60);
  for (let i = 0; i < 6; i++) await predict(ordinary.slice(i * 10, i * 10 + 10));
  const drifted = ordinary.slice(0, 20).map((p, i) => ({ ...p, Pclass: 1, Fare: 400 + i, Age: 70 + (i % 5) }));
  for (let i = 0; i < 4; i++) await predict(drifted);
  const created = await fetch(`${engine.url}/v1/${engine.workflowPath('training')}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      argument: JSON.stringify({ bucket: 'data', name: 'uploads/t.csv', generation: '1', size: 10 }),
    }),
  });
  const execution = (await created.json()) as { name: string };
  const finished = await engine.waitForExecution(execution.name);
  expect(finished.state).toBe('SUCCEEDED');
  // Let a few scrapes see the counters after the traffic, so rate() and increase() have two samples.
  await waitFor('the traffic to be scraped', async () => {
    const seen = await query('prediction_count_total');
    const value = Number((seen.data.result[0] as { value: [number, string] } | undefined)?.value[1]);
    return value >= 140;
  });
  await new Promise((r) => setTimeout(r, 3_000));
}, 180_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await service?.app.close();
  await engine?.close();
  await new Promise((r) => (stubs ? stubs.close(r) : r(undefined)));
});

describe.skipIf(!hasPrometheus)(
  'the Grafana dashboard on Prometheus scraping the running service and Workflows engine',
  () => {
    it('loads the repository alert rules, drift alerts included', async () => {
      const res = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as {
        data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> };
      };
      const rules = res.data.groups.flatMap((g) => g.rules);
      expect(rules.map((r) => r.name)).toContain('WindowDriftDetected');
      for (const rule of rules) expect(rule.health, rule.name).not.toBe('err');
    });

    it('sees drift in what it scraped: the per-request counter rose and the window evaluated p-values', async () => {
      const drift = await query('sum(drift_count_total)');
      expect(Number((drift.data.result[0] as { value: [number, string] }).value[1])).toBeGreaterThan(0);
      const features = await query('count(drift_window_p_value)');
      expect(Number((features.data.result[0] as { value: [number, string] }).value[1])).toBe(11);
    });

    for (const { panel, expr } of dashboardExpressions()) {
      it(`returns data for "${panel}": ${expr}`, async () => {
        const answer = await query(expr);
        expect(answer.status).toBe('success');
        expect(answer.data.result.length, prometheusLog.slice(-1000)).toBeGreaterThan(0);
      });
    }
  },
);
