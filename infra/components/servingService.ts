import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { EnvVars } from '../../shared/env.ts';
import type { Settings } from '../settings.ts';
import type { Cache } from './cache.ts';
import { DeadLetter } from './deadLetter.ts';
import type { Network } from './network.ts';
import { allowSecretAccess, type StoredSecret, storeSecret } from './secret.ts';

export const SERVICE_PORT = 8080;
export const METRICS_PATH = '/metrics';
export const PUSH_PATH = '/events/model-published';

/** The service's own settings (image, scaling, sidecar) and what it is wired to. */
export type ServingServiceArgs = Settings['service'] & {
  project: string;
  region: string;
  serviceName: string;
  logLevel: string;
  /** The feature store, for `/v1/passengers`: REDIS_URL, and the AUTH string and CA from Secret Manager. */
  cache: Cache;
  modelsBucket: gcp.storage.Bucket;
  modelPublishedTopic: gcp.pubsub.Topic;
  driftAlertsTopic: gcp.pubsub.Topic;
  network?: Network;
  deletionProtection: boolean;
};

/**
 * The Cloud Run v2 prediction service with the Managed Service for Prometheus sidecar scraping its /metrics,
 * the OIDC push subscription that tells it a model was published, and the two accounts involved: the
 * service's own (reads the models bucket, publishes to drift-alerts, writes metrics) and the push account
 * (may only invoke the service).
 */
export class ServingService extends pulumi.ComponentResource {
  readonly serviceAccount: gcp.serviceaccount.Account;
  readonly pushServiceAccount: gcp.serviceaccount.Account;
  readonly service: gcp.cloudrunv2.Service;
  readonly subscription: gcp.pubsub.Subscription;
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: ServingServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:ServingService', name, {}, opts);
    this.serviceAccount = new gcp.serviceaccount.Account(
      `${name}-sa`,
      { project: args.project, accountId: `${args.serviceName}-run`, displayName: `${args.serviceName} service` },
      { parent: this },
    );
    this.pushServiceAccount = new gcp.serviceaccount.Account(
      `${name}-push-sa`,
      { project: args.project, accountId: `${args.serviceName}-push`, displayName: `${args.serviceName} push` },
      { parent: this },
    );
    const member = pulumi.interpolate`serviceAccount:${this.serviceAccount.email}`;
    const pushMember = pulumi.interpolate`serviceAccount:${this.pushServiceAccount.email}`;
    // The audience the push tokens carry: a fixed custom audience, so the service's env does not depend on
    // its own URL. Cloud Run accepts tokens for it (customAudiences) and the app verifies it (PUSH_AUDIENCE).
    const audience = `${args.serviceName}-model-published`;

    // RunMonitoring for the sidecar: the app's port and path, written here rather than left to the image default.
    const scrapeConfig = storeSecret(
      `${name}-scrape-config`,
      {
        project: args.project,
        secretId: `${args.serviceName}-rungmp-config`,
        value: runMonitoringConfig(args.serviceName, args.scrapeInterval),
      },
      this,
    );
    const plainEnv: EnvVars<pulumi.Input<string>> = {
      GOOGLE_CLOUD_PROJECT: args.project,
      LOG_LEVEL: args.logLevel,
      MODELS_BUCKET: args.modelsBucket.name,
      MODEL_POLL_SECONDS: '30',
      DRIFT_ALERTS_TOPIC: args.driftAlertsTopic.name,
      REDIS_URL: args.cache.url,
      FEATURE_STORE_PREFIX: 'fs',
      // allUsers may call it: the app hides labels, lineage and /metrics and rate limits each client address.
      ...(args.public ? { PUBLIC_MODE: 'true', RATE_LIMIT_PER_MINUTE: '120' } : {}),
    };
    const secretEnv: EnvVars<StoredSecret> = {
      REDIS_PASSWORD: args.cache.authString,
      REDIS_TLS_CA: args.cache.caCert,
    };
    const grants: pulumi.Resource[] = [
      allowSecretAccess(`${name}-secret-scrape-config`, scrapeConfig, member, this),
      ...Object.entries(secretEnv).map(([key, stored]) =>
        allowSecretAccess(`${name}-secret-${key.toLowerCase()}`, stored, member, this),
      ),
      new gcp.storage.BucketIAMMember(
        `${name}-models-reader`,
        { bucket: args.modelsBucket.name, role: 'roles/storage.objectViewer', member },
        { parent: this },
      ),
      new gcp.pubsub.TopicIAMMember(
        `${name}-drift-publisher`,
        { project: args.project, topic: args.driftAlertsTopic.name, role: 'roles/pubsub.publisher', member },
        { parent: this },
      ),
      // The sidecar writes the scraped series to Managed Service for Prometheus as this account.
      new gcp.projects.IAMMember(
        `${name}-metric-writer`,
        { project: args.project, role: 'roles/monitoring.metricWriter', member },
        { parent: this },
      ),
    ];

    const env = [
      ...Object.entries(plainEnv).map(([envName, value]) => ({ name: envName, value })),
      { name: 'PUSH_AUDIENCE', value: audience },
      { name: 'PUSH_SERVICE_ACCOUNT', value: this.pushServiceAccount.email },
      ...Object.entries(secretEnv).map(([envName, stored]) => ({
        name: envName,
        valueSource: { secretKeyRef: { secret: stored.secret.secretId, version: stored.version.version } },
      })),
    ];
    this.service = new gcp.cloudrunv2.Service(
      `${name}-service`,
      {
        project: args.project,
        location: args.region,
        name: args.serviceName,
        ingress: 'INGRESS_TRAFFIC_ALL',
        customAudiences: [audience],
        deletionProtection: args.deletionProtection,
        template: {
          serviceAccount: this.serviceAccount.email,
          scaling: { minInstanceCount: args.minInstances, maxInstanceCount: args.maxInstances },
          maxInstanceRequestConcurrency: args.concurrency,
          ...(args.network
            ? {
                vpcAccess: {
                  networkInterfaces: [{ network: args.network.network.id, subnetwork: args.network.subnet.id }],
                  egress: 'PRIVATE_RANGES_ONLY',
                },
              }
            : {}),
          volumes: [
            {
              name: 'rungmp-config',
              secret: {
                secret: scrapeConfig.secret.secretId,
                items: [{ path: 'config.yaml', version: scrapeConfig.version.version }],
              },
            },
          ],
          containers: [
            {
              name: 'app',
              image: args.image,
              ports: { containerPort: SERVICE_PORT, name: 'http1' },
              envs: env,
              resources: {
                limits: { cpu: args.cpu, memory: args.memory },
                // The drift window and the model poll run between requests.
                cpuIdle: false,
                startupCpuBoost: true,
              },
              // /healthz, not /readyz: a fresh project has no model yet, and the service must still start.
              startupProbe: {
                httpGet: { path: '/healthz', port: SERVICE_PORT },
                periodSeconds: 2,
                failureThreshold: 30,
              },
              livenessProbe: { httpGet: { path: '/healthz', port: SERVICE_PORT }, periodSeconds: 30 },
            },
            {
              name: 'collector',
              image: args.sidecarImage,
              dependsOns: ['app'],
              volumeMounts: [{ name: 'rungmp-config', mountPath: '/etc/rungmp' }],
              resources: { limits: { cpu: '0.5', memory: '256Mi' } },
            },
          ],
        },
      },
      { parent: this, dependsOn: grants },
    );
    this.url = this.service.uri;

    // Pub/Sub signs the push's OIDC token as the push account: its service agent may do that for this account
    // only (projects created before April 2021 lack the grant by default).
    const project = gcp.organizations.getProjectOutput({ projectId: args.project }, { parent: this });
    new gcp.serviceaccount.IAMMember(
      `${name}-push-token-creator`,
      {
        serviceAccountId: this.pushServiceAccount.name,
        role: 'roles/iam.serviceAccountTokenCreator',
        member: pulumi.interpolate`serviceAccount:service-${project.number}@gcp-sa-pubsub.iam.gserviceaccount.com`,
      },
      { parent: this },
    );

    const invokers: pulumi.Input<string>[] = [pushMember, ...(args.public ? ['allUsers'] : [])];
    const invoker = new gcp.cloudrunv2.ServiceIamBinding(
      `${name}-invokers`,
      {
        project: args.project,
        location: args.region,
        name: this.service.name,
        role: 'roles/run.invoker',
        members: invokers,
      },
      { parent: this },
    );
    // A push that keeps failing (a broken revision, say) goes to a dead-letter topic after 10 deliveries instead of
    // being retried until the retention runs out; the pointer poll still brings every instance the new model.
    const deadLetter = new DeadLetter(
      `${name}-dead-letter`,
      { project: args.project, topicName: `${args.serviceName}-model-published-dead-letter`, maxDeliveryAttempts: 10 },
      { parent: this },
    );
    this.subscription = new gcp.pubsub.Subscription(
      `${name}-model-published`,
      {
        project: args.project,
        name: `${args.serviceName}-model-published`,
        topic: args.modelPublishedTopic.id,
        ackDeadlineSeconds: 60,
        pushConfig: {
          pushEndpoint: pulumi.interpolate`${this.service.uri}${PUSH_PATH}`,
          oidcToken: { serviceAccountEmail: this.pushServiceAccount.email, audience },
        },
        retryPolicy: { minimumBackoff: '10s', maximumBackoff: '600s' },
        deadLetterPolicy: deadLetter.policy,
      },
      { parent: this, dependsOn: [invoker] },
    );
    deadLetter.allowFor(`${name}-dead-letter-acks`, this.subscription);
    this.registerOutputs({ url: this.url });
  }
}

/** The sidecar's RunMonitoring configuration (a subset of PodMonitoring), read from /etc/rungmp/config.yaml. */
export function runMonitoringConfig(serviceName: string, interval: string): string {
  return [
    'apiVersion: monitoring.googleapis.com/v1beta',
    'kind: RunMonitoring',
    'metadata:',
    `  name: ${serviceName}`,
    'spec:',
    '  endpoints:',
    `    - port: ${SERVICE_PORT}`,
    `      path: ${METRICS_PATH}`,
    `      interval: ${interval}`,
    '  targetLabels:',
    '    metadata:',
    '      - service',
    '      - revision',
    '',
  ].join('\n');
}
