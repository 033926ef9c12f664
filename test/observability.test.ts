/**
 * Static checks of the laptop observability stack: docker-compose.local.yml's structure (no docker engine
 * runs here), prometheus.yml and its alert rules (promtool), and the Grafana dashboard (valid JSON, PromQL
 * that parses, and metric names that the code really exports).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_PORTS } from '../local/stack/stack.ts';
import { createMetrics } from '../service/metrics.ts';
import { dashboardExpressions } from './support/dashboard.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML documents are untyped
type Doc = Record<string, any>;
const compose = parse(read('docker-compose.local.yml')) as Doc;
const prometheus = parse(read('prometheus.yml')) as Doc;
const dashboard = JSON.parse(read('grafana/dashboards/survival.json')) as Doc;
const hasPromtool = (() => {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** host:container pairs of a service's bind mounts (./x:/y[:ro]). */
function binds(service: Doc): Array<{ host: string; container: string }> {
  return (service.volumes ?? [])
    .filter((v: string) => v.startsWith('./'))
    .map((v: string) => {
      const [host, container] = v.split(':');
      return { host: host!, container: container! };
    });
}

describe('docker-compose.local.yml', () => {
  const services = compose.services as Record<string, Doc>;

  it('runs Postgres, Redis, the app, Prometheus and Grafana, each with a health check', () => {
    expect(Object.keys(services).sort()).toEqual(['app', 'grafana', 'postgres', 'prometheus', 'redis']);
    for (const [name, service] of Object.entries(services)) {
      expect(service.healthcheck?.test, name).toBeDefined();
      expect(service.healthcheck.interval, name).toMatch(/^\d+s$/);
    }
    expect(services.postgres?.healthcheck.test.join(' ')).toMatch(/pg_isready/);
    expect(services.redis?.healthcheck.test.join(' ')).toMatch(/redis-cli ping/);
  });

  it('builds the app from Dockerfile.local running `npm run local` against the Postgres and Redis services', () => {
    const app = services.app!;
    expect(app.build).toEqual({ context: '.', dockerfile: 'Dockerfile.local' });
    const dockerfile = read('Dockerfile.local');
    expect(dockerfile).toMatch(/CMD \["npm", "run", "local"/);
    expect(dockerfile).toMatch(/"--pg-host", "postgres"/);
    expect(dockerfile).toMatch(/"--redis-url", "redis:\/\/redis:6379"/);
    expect(dockerfile).toMatch(/"--host", "0\.0\.0\.0"/);
    expect(app.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
    expect(app.healthcheck.test.join(' ')).toContain(`127.0.0.1:${DEFAULT_PORTS.service}/healthz`);
  });

  it('publishes the service, the Workflows engine, Prometheus and Grafana on their documented ports', () => {
    const published = Object.values(services).flatMap((s) => (s.ports ?? []).map((p: string) => p.split(':')[1]));
    for (const port of [DEFAULT_PORTS.service, DEFAULT_PORTS.workflows, DEFAULT_PORTS.gcs, 9090, 3000]) {
      expect(published).toContain(String(port));
    }
  });

  it('publishes every port on 127.0.0.1 only: none of these endpoints authenticates its callers', () => {
    const mappings = Object.values(services).flatMap((s) => (s.ports ?? []) as unknown[]);
    expect(mappings.length).toBeGreaterThanOrEqual(6);
    for (const mapping of mappings) {
      expect(typeof mapping, String(mapping)).toBe('string');
      expect(mapping).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
    expect(services.postgres?.ports, 'Postgres stays on the compose network').toBeUndefined();
    expect(services.redis?.ports, 'Redis stays on the compose network').toBeUndefined();
  });

  it("takes Grafana's admin password from the environment, with no default (compose refuses to start without it)", () => {
    const password = services.grafana?.environment.GF_SECURITY_ADMIN_PASSWORD as string;
    expect(password).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}$/);
    expect(read('docker-compose.local.yml')).not.toMatch(/admin\/admin|:-admin/);
  });

  it('lets Prometheus scrape the same 127.0.0.1 targets as on a laptop, and Grafana reach it as prometheus:9090', () => {
    const prom = services.prometheus!;
    expect(prom.network_mode).toBe('service:app');
    expect(services.app?.networks.default.aliases).toContain('prometheus');
    const configFlag = prom.command.find((c: string) => c.startsWith('--config.file='));
    const configPath = configFlag.split('=')[1];
    const mounts = binds(prom);
    expect(mounts).toContainEqual({ host: './prometheus.yml', container: configPath });
    // rule_files are relative to the config file's directory.
    for (const rules of prometheus.rule_files as string[]) {
      expect(mounts).toContainEqual({
        host: `./${rules}`,
        container: path.posix.join(path.posix.dirname(configPath), rules),
      });
    }
    const datasource = parse(read('grafana/provisioning/datasources/prometheus.yml')) as Doc;
    expect(datasource.datasources[0].url).toBe('http://prometheus:9090');
  });

  it('provisions Grafana: datasource and dashboards mounted where the provisioning files say, anonymous viewers', () => {
    const grafana = services.grafana!;
    const mounts = binds(grafana);
    expect(mounts).toContainEqual({ host: './grafana/provisioning', container: '/etc/grafana/provisioning' });
    const providers = parse(read('grafana/provisioning/dashboards/dashboards.yml')) as Doc;
    expect(mounts).toContainEqual({ host: './grafana/dashboards', container: providers.providers[0].options.path });
    expect(grafana.environment.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
    expect(grafana.environment.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
    expect(grafana.depends_on).toEqual({ prometheus: { condition: 'service_healthy' } });
  });

  it('keeps state in named volumes and mounts only files that exist', () => {
    const named = Object.keys(compose.volumes);
    for (const [name, service] of Object.entries(compose.services as Record<string, Doc>)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(path.join(ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(named, `${name}: ${source}`).toContain(source);
      }
    }
    expect(named.sort()).toEqual(['appdata', 'grafanadata', 'pgdata', 'promdata', 'redisdata']);
  });
});

describe('prometheus.yml', () => {
  it('scrapes the service (job "service") and the local Workflows engine at their default local ports', () => {
    const jobs: Record<string, Doc> = Object.fromEntries(
      (prometheus.scrape_configs as Doc[]).map((j) => [j.job_name, j]),
    );
    expect(jobs.service?.static_configs[0].targets).toEqual([`127.0.0.1:${DEFAULT_PORTS.service}`]);
    expect(jobs.workflows?.static_configs[0].targets).toEqual([`127.0.0.1:${DEFAULT_PORTS.workflows}`]);
    for (const job of Object.values(jobs)) expect(job.metrics_path).toBe('/metrics');
    const header = read('prometheus.yml').split('\n').slice(0, 5).join('\n');
    expect(header).toContain(`127.0.0.1:${DEFAULT_PORTS.service}`);
    expect(header).toContain(`127.0.0.1:${DEFAULT_PORTS.workflows}`);
  });

  it.skipIf(!hasPromtool)('is a valid configuration with valid alert rules, including drift alerts', () => {
    const out = execFileSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS/);
    const rules = parse(read('prometheus/alerts.yml')) as Doc;
    const exprs = rules.groups.flatMap((g: Doc) => g.rules.map((r: Doc) => r.expr)).join('\n');
    expect(exprs).toMatch(/drift_window_detected/);
    expect(exprs).toMatch(/drift_count_total/);
  });
});

describe('the Grafana dashboard', () => {
  it('is valid JSON with unique panel ids, on the provisioned datasource', () => {
    const ids = dashboard.panels.map((p: Doc) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const datasource = parse(read('grafana/provisioning/datasources/prometheus.yml')) as Doc;
    for (const panel of dashboard.panels as Doc[]) {
      expect(panel.datasource.uid, panel.title).toBe(datasource.datasources[0].uid);
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
    }
  });

  it('charts prediction rate, drift rate, the window drift gauge, p-values, latency percentiles, model version and executions', () => {
    const all = dashboardExpressions()
      .map((e) => e.expr)
      .join('\n');
    expect(all).toMatch(/rate\(prediction_count_total/);
    expect(all).toMatch(/rate\(drift_count_total/);
    expect(all).toMatch(/drift_window_detected/);
    expect(all).toMatch(/by \(feature\) \(drift_window_p_value\)/);
    for (const q of ['0.5', '0.95', '0.99']) {
      expect(all).toContain(`histogram_quantile(${q}, sum by (le) (rate(prediction_latency_seconds_bucket`);
    }
    expect(all).toMatch(/by \(version\) \(model_info\)/);
    expect(all).toMatch(/workflows_executions_total/);
  });

  it('uses only metric names the service and the Workflows engine export', () => {
    const service = createMetrics({ current: () => null, defaultMetrics: false });
    const exported = new Set<string>();
    for (const metric of service.registry.getMetricsAsArray()) {
      const name = (metric as unknown as { name: string }).name;
      exported.add(name);
      for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    }
    const engine = read('local/workflows-engine/server.ts');
    for (const [, name] of engine.matchAll(/name: '([a-z_]+)'/g)) {
      exported.add(name!);
      for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    }
    const functions = new Set(['sum', 'rate', 'increase', 'max', 'min', 'by', 'histogram_quantile', 'le']);
    for (const { panel, expr } of dashboardExpressions()) {
      const names = [...expr.matchAll(/\b([a-z_][a-z0-9_]*)\b(?=\s*[[{(]|\s*\)|\s*\[)/g)].map((m) => m[1]!);
      for (const name of names.filter((n) => !functions.has(n) && n.includes('_'))) {
        expect(exported.has(name), `${panel}: ${name}`).toBe(true);
      }
    }
  });

  it.skipIf(!hasPromtool)('has PromQL expressions that all parse (checked by promtool as recording rules)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dashboard-promql-'));
    const file = path.join(dir, 'rules.yml');
    const rules = dashboardExpressions().map(
      (e, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(e.expr)}`,
    );
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const out = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});
