/** The PromQL expressions of the Grafana dashboard, with the title of the panel each one belongs to. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'grafana',
  'dashboards',
  'survival.json',
);

interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
}

export function dashboardExpressions(file = DASHBOARD_FILE): Array<{ panel: string; expr: string }> {
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { panels: Panel[] };
  return dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
}
