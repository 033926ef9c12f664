/**
 * `pulumi up`: the whole pipeline in one Google Cloud project. Config is declared in Pulumi.yaml and checked
 * in settings.ts; each unit is a component in components/; docs/deploy.md walks through a first deploy.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as gcp from '@pulumi/gcp';
import { bundleFunctions, REPO_ROOT } from './bundle.ts';
import { ProjectApis } from './components/apis.ts';
import { Buckets } from './components/buckets.ts';
import { Cache } from './components/cache.ts';
import { Database } from './components/database.ts';
import { grafanaPanels, Monitoring } from './components/monitoring.ts';
import { Network } from './components/network.ts';
import { ServingService } from './components/servingService.ts';
import { Topics } from './components/topics.ts';
import { TrainingPipeline } from './components/trainingPipeline.ts';
import { readSettings } from './settings.ts';

const settings = readSettings();
const { project, region, namePrefix: prefix, deletionProtection } = settings;
const provider = new gcp.Provider('gcp', { project, region });
const apis = new ProjectApis(prefix, { project }, { provider });
const opts = { provider, dependsOn: [apis] };

const network = new Network(`${prefix}-net`, { project, region }, opts);
const database = new Database(`${prefix}-db`, { project, region, network, ...settings.db, deletionProtection }, opts);
const { tier, memorySizeGb, version: redisVersion } = settings.redis;
const cache = new Cache(`${prefix}-cache`, { project, region, network, tier, memorySizeGb, redisVersion }, opts);
const buckets = new Buckets(`${prefix}-buckets`, settings, opts);
const topics = new Topics(`${prefix}-topics`, { project }, opts);

const pipeline = new TrainingPipeline(
  `${prefix}-pipeline`,
  {
    settings,
    network,
    database,
    cache,
    buckets,
    topics,
    bundles: await bundleFunctions(),
    workflowSource: readFileSync(path.join(REPO_ROOT, 'workflows', 'training.yaml'), 'utf8'),
  },
  opts,
);

const service = new ServingService(
  `${prefix}-service`,
  {
    ...settings.service,
    project,
    region,
    serviceName: prefix,
    logLevel: settings.logLevel,
    network,
    cache,
    modelsBucket: buckets.models,
    modelPublishedTopic: topics.modelPublished,
    driftAlertsTopic: topics.driftAlerts,
    deletionProtection,
  },
  opts,
);

new Monitoring(
  `${prefix}-monitoring`,
  {
    project,
    namePrefix: prefix,
    workflowName: pipeline.workflow.workflow.name,
    alertEmail: settings.alertEmail,
    panels: grafanaPanels(path.join(REPO_ROOT, 'grafana', 'dashboards', 'survival.json')),
  },
  opts,
);

export const dataBucket = buckets.data.name;
export const modelsBucket = buckets.models.name;
export const serviceUrl = service.url;
export const workflowName = pipeline.workflow.workflow.name;
