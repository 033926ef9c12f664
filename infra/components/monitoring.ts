import { readFileSync } from 'node:fs';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

export interface PromQlPanel {
  title: string;
  queries: string[];
}

export interface MonitoringArgs {
  project: string;
  namePrefix: string;
  /** Charts over the service's metrics (Managed Service for Prometheus answers PromQL). */
  panels: PromQlPanel[];
  workflowName: pulumi.Input<string>;
  /** Notified when drift is detected; without one the policy only opens incidents in the console. */
  alertEmail?: string;
}

/**
 * Reads the PromQL panels of the Grafana dashboard (grafana/dashboards/survival.json), so the Cloud
 * Monitoring dashboard charts exactly the queries people use on a laptop. Panels over the local Workflows
 * engine's metrics are left out: in the cloud, Workflows reports its own executions.
 */
export function grafanaPanels(dashboardPath: string): PromQlPanel[] {
  const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as {
    panels?: Array<{ title?: string; targets?: Array<{ expr?: string }> }>;
  };
  return (dashboard.panels ?? [])
    .map((p) => ({ title: p.title ?? '', queries: (p.targets ?? []).flatMap((t) => (t.expr ? [t.expr] : [])) }))
    .filter((p) => p.queries.length > 0 && !p.queries.some((q) => /\bworkflows_/.test(q)));
}

/** A Cloud Monitoring dashboard (the service's PromQL panels and the workflow's executions) and a drift alert. */
export class Monitoring extends pulumi.ComponentResource {
  readonly dashboard: gcp.monitoring.Dashboard;
  readonly driftAlert: gcp.monitoring.AlertPolicy;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:Monitoring', name, {}, opts);
    const width = 24;
    const height = 16;
    const tile = (i: number, widget: unknown) => ({
      xPos: (i % 2) * width,
      yPos: Math.floor(i / 2) * height,
      width,
      height,
      widget,
    });
    const promTiles = args.panels.map((panel, i) =>
      tile(i, {
        title: panel.title,
        xyChart: {
          dataSets: panel.queries.map((q) => ({ timeSeriesQuery: { prometheusQuery: q }, plotType: 'LINE' })),
        },
      }),
    );
    const dashboardJson = pulumi.output(args.workflowName).apply((workflow) =>
      JSON.stringify({
        displayName: `${args.namePrefix}: predictions, drift and training`,
        mosaicLayout: {
          columns: 48,
          tiles: [
            ...promTiles,
            tile(promTiles.length, {
              title: 'Pipeline executions (finished, by status)',
              xyChart: {
                dataSets: [
                  {
                    plotType: 'STACKED_BAR',
                    timeSeriesQuery: {
                      timeSeriesFilter: {
                        filter: `metric.type="workflows.googleapis.com/finished_execution_count" AND resource.type="workflows.googleapis.com/Workflow" AND resource.label.workflow_id="${workflow}"`,
                        aggregation: {
                          alignmentPeriod: '300s',
                          perSeriesAligner: 'ALIGN_DELTA',
                          crossSeriesReducer: 'REDUCE_SUM',
                          groupByFields: ['metric.label.status'],
                        },
                      },
                    },
                  },
                ],
              },
            }),
          ],
        },
      }),
    );
    this.dashboard = new gcp.monitoring.Dashboard(
      `${name}-dashboard`,
      { project: args.project, dashboardJson },
      { parent: this },
    );

    const channels = args.alertEmail
      ? [
          new gcp.monitoring.NotificationChannel(
            `${name}-email`,
            {
              project: args.project,
              type: 'email',
              displayName: `${args.namePrefix} drift`,
              labels: { email_address: args.alertEmail },
            },
            { parent: this },
          ).name,
        ]
      : [];
    this.driftAlert = new gcp.monitoring.AlertPolicy(
      `${name}-drift-alert`,
      {
        project: args.project,
        displayName: `${args.namePrefix}: input drift detected`,
        combiner: 'OR',
        severity: 'WARNING',
        conditions: [
          {
            displayName: 'The sliding window of recent requests has drifted',
            conditionPrometheusQueryLanguage: {
              query: 'max(drift_window_detected) > 0',
              duration: '300s',
              evaluationInterval: '60s',
            },
          },
          {
            displayName: 'Prediction requests keep drifting',
            conditionPrometheusQueryLanguage: {
              query: 'sum(increase(drift_count_total[15m])) > 5',
              duration: '0s',
              evaluationInterval: '60s',
            },
          },
        ],
        documentation: {
          mimeType: 'text/markdown',
          subject: 'Input drift on the survival service',
          content:
            'The KS detector (Bonferroni) finds the passengers asked about unlike the training data. See the ' +
            'dashboard for the features whose p-values fell; retrain on recent data if the shift is real.',
        },
        notificationChannels: channels,
        alertStrategy: { autoClose: '86400s' },
      },
      { parent: this },
    );
    this.registerOutputs({ dashboard: this.dashboard.id });
  }
}
