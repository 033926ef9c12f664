/**
 * Debian's `prometheus` scrapes the running service with the repository's prometheus.yml (its `service` job
 * pointed at this test's port, every other setting as committed, rule files included), and a PromQL query for
 * `drift_count_total` over the HTTP API returns the increase caused by drifting predictions.
 * A missing prometheus binary fails the test with the install command, it never skips.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { freePort } from './support/redis.ts';
import { buildTestApp, rawPassenger, type TestApp, tinyArtifact } from './support/service.ts';

const ROOT = path.join(import.meta.dirname, '..');

interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  scrape_timeout?: string;
  static_configs?: Array<{ targets: string[] }>;
}

/** The repository's prometheus.yml with the service job aimed at `target` and scraping every second. */
function deriveConfig(repoConfig: string, target: string): string {
  const config = YAML.parse(repoConfig) as { rule_files?: string[]; scrape_configs?: ScrapeConfig[] };
  const service = config.scrape_configs?.find((c) => c.job_name === 'service');
  if (!service) throw new Error('prometheus.yml has no `service` scrape job');
  service.static_configs = [{ targets: [target] }];
  service.scrape_interval = '1s';
  service.scrape_timeout = '1s';
  // Rule files are relative to the config file; the derived file lives elsewhere.
  config.rule_files = config.rule_files?.map((f) => path.resolve(ROOT, f));
  return YAML.stringify(config);
}

let t: TestApp;
let prometheus: ChildProcess | undefined;
let promUrl: string;
let dir: string;
let promLog = '';

async function query(promql: string): Promise<number | null> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: Array<{ value: [number, string] }> } };
  if (body.status !== 'success') throw new Error(`query failed: ${JSON.stringify(body)}`);
  const first = body.data.result[0];
  return first ? Number(first.value[1]) : null;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null>,
  ok: (v: T) => boolean,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | null = null;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last !== null && ok(last)) return last;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `timed out waiting for ${what} (last value ${JSON.stringify(last)}); prometheus said:\n${promLog.slice(-2000)}`,
  );
}

beforeAll(async () => {
  let binary: string;
  try {
    binary = execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error("prometheus is not installed: install Debian's prometheus package (apt-get install prometheus).");
  }
  t = await buildTestApp(await tinyArtifact());
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const target = `127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;

  dir = mkdtempSync(path.join(tmpdir(), 'survival-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(configFile, deriveConfig(readFileSync(path.join(ROOT, 'prometheus.yml'), 'utf8'), target));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout?.on('data', (d) => (promLog += d));
  prometheus.stderr?.on('data', (d) => (promLog += d));
  await waitFor(
    'prometheus to answer',
    async () => (await fetch(`${promUrl}/-/ready`)).status,
    (s) => s === 200,
  );
}, 60_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
    const exited = new Promise((r) => prometheus?.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await t?.app.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Prometheus scraping the service', () => {
  it('loads the repository config and its rules, and sees the service target up', async () => {
    const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: unknown[] }> };
    };
    expect(rules.data.groups.flatMap((g) => g.rules).length).toBeGreaterThan(0);
    expect(
      await waitFor(
        'up{job="service"}',
        () => query('up{job="service"}'),
        (v) => v === 1,
      ),
    ).toBe(1);
  }, 30_000);

  it('answers a PromQL query for drift_count_total with the increase caused by drifting predictions', async () => {
    await waitFor(
      'a first scrape of drift_count_total',
      () => query('drift_count_total{job="service"}'),
      (v) => v === 0,
    );
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/predict',
        payload: rawPassenger({ Age: 1000, Fare: -500 }),
      });
      expect(res.json().drift.isDrift).toBe(true);
    }
    const raised = await waitFor(
      'drift_count_total to reach 3',
      () => query('drift_count_total{job="service"}'),
      (v) => v === 3,
    );
    expect(raised).toBe(3);
    const increase = await query(
      'max_over_time(drift_count_total{job="service"}[1m]) - min_over_time(drift_count_total{job="service"}[1m])',
    );
    expect(increase).toBe(3);
    expect(await query('increase(drift_count_total{job="service"}[1m])')).toBeGreaterThan(0);
    expect(await query('sum(prediction_count_total{job="service"})')).toBe(3);
    expect(await query('model_info{job="service",version="tiny-1"}')).toBe(1);
  }, 40_000);
});
