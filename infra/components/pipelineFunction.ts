import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { EnvVars } from '../../shared/env.ts';
import type { FunctionBundle } from '../bundle.ts';
import type { Network } from './network.ts';
import { allowSecretAccess, type StoredSecret } from './secret.ts';

export interface StorageEventTrigger {
  /** e.g. google.cloud.storage.object.v1.finalized */
  eventType: string;
  bucket: pulumi.Input<string>;
}

export interface PipelineFunctionArgs {
  project: string;
  region: string;
  /** Cloud Functions name, also the name of its Cloud Run service. */
  functionName: string;
  description: string;
  /** Registered name in functions/<name>/index.ts (`http('load', ...)`, `cloudEvent('trigger', ...)`). */
  entryPoint: string;
  bundle: FunctionBundle;
  sourcesBucket: gcp.storage.Bucket;
  buildServiceAccount: pulumi.Input<string>;
  env: EnvVars<pulumi.Input<string>>;
  /** Environment variables whose values come from Secret Manager (the function's account may read only these). */
  secretEnv?: EnvVars<StoredSecret>;
  memory: string;
  cpu: string;
  timeoutSeconds: number;
  maxInstances: number;
  /** Direct VPC egress into this network's subnet (for Cloud SQL and Memorystore private addresses). */
  network?: Network;
  /** Bucket roles, each optionally narrowed by an IAM Condition (e.g. to object names under a prefix). */
  bucketRoles?: Array<{
    bucket: gcp.storage.Bucket;
    role: string;
    condition?: { title: string; description: string; expression: pulumi.Input<string> };
  }>;
  topicRoles?: Array<{ topic: gcp.pubsub.Topic; role: string }>;
  projectRoles?: string[];
  /** An Eventarc trigger; the function's own account receives the events and is its only invoker. */
  eventTrigger?: StorageEventTrigger;
}

/**
 * One gen2 Cloud Function (Node.js 22) built from its esbuild bundle, with its own service account holding
 * only the roles given here. The zip object is named by the bundle's content hash, so the function's
 * source input changes exactly when its code does. Never public: HTTP functions get their invoker binding
 * from whoever calls them (the training workflow); an event function's only invoker is its trigger account.
 */
export class PipelineFunction extends pulumi.ComponentResource {
  readonly serviceAccount: gcp.serviceaccount.Account;
  readonly function: gcp.cloudfunctionsv2.Function;
  readonly url: pulumi.Output<string>;
  readonly sourceObject: gcp.storage.BucketObject;
  private readonly resourceName: string;

  constructor(name: string, args: PipelineFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:PipelineFunction', name, {}, opts);
    this.resourceName = name;
    this.serviceAccount = new gcp.serviceaccount.Account(
      `${name}-sa`,
      { project: args.project, accountId: `${args.functionName}-fn`, displayName: `${args.functionName} function` },
      { parent: this },
    );
    const member = pulumi.interpolate`serviceAccount:${this.serviceAccount.email}`;
    const grants: pulumi.Resource[] = [];
    for (const [key, stored] of Object.entries(args.secretEnv ?? {})) {
      grants.push(allowSecretAccess(`${name}-secret-${key.toLowerCase()}`, stored, member, this));
    }
    for (const [i, { bucket, role, condition }] of (args.bucketRoles ?? []).entries()) {
      grants.push(
        new gcp.storage.BucketIAMMember(
          `${name}-bucket-${i}`,
          { bucket: bucket.name, role, member, ...(condition ? { condition } : {}) },
          { parent: this },
        ),
      );
    }
    for (const [i, { topic, role }] of (args.topicRoles ?? []).entries()) {
      grants.push(
        new gcp.pubsub.TopicIAMMember(
          `${name}-topic-${i}`,
          { project: args.project, topic: topic.name, role, member },
          { parent: this },
        ),
      );
    }
    const projectRoles = [...(args.projectRoles ?? []), ...(args.eventTrigger ? ['roles/eventarc.eventReceiver'] : [])];
    for (const role of projectRoles) {
      grants.push(
        new gcp.projects.IAMMember(
          `${name}-${role.replace(/^roles\//, '').replace(/\./g, '-')}`,
          { project: args.project, role, member },
          { parent: this },
        ),
      );
    }
    if (args.eventTrigger) {
      // Eventarc delivers through a Pub/Sub push signed as this account: Pub/Sub's service agent may mint its
      // tokens (projects created before April 2021 lack the grant by default).
      const project = gcp.organizations.getProjectOutput({ projectId: args.project }, { parent: this });
      grants.push(
        new gcp.serviceaccount.IAMMember(
          `${name}-pubsub-token-creator`,
          {
            serviceAccountId: this.serviceAccount.name,
            role: 'roles/iam.serviceAccountTokenCreator',
            member: pulumi.interpolate`serviceAccount:service-${project.number}@gcp-sa-pubsub.iam.gserviceaccount.com`,
          },
          { parent: this },
        ),
      );
      // Cloud Storage events reach Eventarc through Pub/Sub, published by the project's GCS service agent.
      const gcsAgent = gcp.storage.getProjectServiceAccountOutput({ project: args.project }, { parent: this });
      grants.push(
        new gcp.projects.IAMMember(
          `${name}-gcs-agent-publisher`,
          {
            project: args.project,
            role: 'roles/pubsub.publisher',
            member: pulumi.interpolate`serviceAccount:${gcsAgent.emailAddress}`,
          },
          { parent: this },
        ),
      );
    }

    this.sourceObject = new gcp.storage.BucketObject(
      `${name}-source`,
      {
        bucket: args.sourcesBucket.name,
        name: args.bundle.objectName,
        source: new pulumi.asset.FileAsset(args.bundle.zipPath),
        contentType: 'application/zip',
      },
      { parent: this },
    );

    const secretEnvironmentVariables = Object.entries(args.secretEnv ?? {}).map(([key, stored]) => ({
      key,
      projectId: args.project,
      secret: stored.secret.secretId,
      version: stored.version.version,
    }));
    this.function = new gcp.cloudfunctionsv2.Function(
      `${name}-fn`,
      {
        project: args.project,
        location: args.region,
        name: args.functionName,
        description: args.description,
        buildConfig: {
          runtime: 'nodejs22',
          entryPoint: args.entryPoint,
          serviceAccount: args.buildServiceAccount,
          source: { storageSource: { bucket: args.sourcesBucket.name, object: this.sourceObject.name } },
        },
        serviceConfig: {
          serviceAccountEmail: this.serviceAccount.email,
          availableMemory: args.memory,
          availableCpu: args.cpu,
          timeoutSeconds: args.timeoutSeconds,
          maxInstanceCount: args.maxInstances,
          // One request per instance: each request gets the whole CPU (the train step is CPU bound).
          maxInstanceRequestConcurrency: 1,
          // Event functions take traffic only from Eventarc; the HTTP ones are called by Workflows, which is
          // not VPC-internal, so they are protected by IAM (no allUsers invoker) instead.
          ingressSettings: args.eventTrigger ? 'ALLOW_INTERNAL_ONLY' : 'ALLOW_ALL',
          allTrafficOnLatestRevision: true,
          environmentVariables: args.env,
          secretEnvironmentVariables,
          ...(args.network
            ? {
                directVpcNetworkInterfaces: [{ network: args.network.network.id, subnetwork: args.network.subnet.id }],
                directVpcEgress: 'VPC_EGRESS_PRIVATE_RANGES_ONLY',
              }
            : {}),
        },
        eventTrigger: args.eventTrigger
          ? {
              triggerRegion: args.region,
              eventType: args.eventTrigger.eventType,
              eventFilters: [{ attribute: 'bucket', value: args.eventTrigger.bucket }],
              retryPolicy: 'RETRY_POLICY_RETRY',
              serviceAccountEmail: this.serviceAccount.email,
            }
          : undefined,
      },
      { parent: this, dependsOn: grants },
    );
    this.url = this.function.url;
    if (args.eventTrigger) {
      this.allowInvokers('invoker', [member]);
    }
    this.registerOutputs({ url: this.url, serviceAccount: this.serviceAccount.email });
  }

  /**
   * Sets the complete list of members allowed to invoke this function: an authoritative binding of
   * roles/run.invoker on its Cloud Run service, so nobody else (and never allUsers) can call it.
   */
  allowInvokers(
    suffix: string,
    members: pulumi.Input<string>[],
    parent: pulumi.Resource = this,
  ): gcp.cloudrunv2.ServiceIamBinding {
    return new gcp.cloudrunv2.ServiceIamBinding(
      `${this.resourceName}-${suffix}`,
      {
        project: this.function.project,
        location: this.function.location,
        name: this.function.name,
        role: 'roles/run.invoker',
        members,
      },
      { parent },
    );
  }
}

/**
 * The account Cloud Build uses to build the functions from their zips (instead of the default compute
 * account): it may run builds and read the sources bucket, nothing else.
 */
export class FunctionBuildAccount extends pulumi.ComponentResource {
  readonly serviceAccount: gcp.serviceaccount.Account;

  constructor(
    name: string,
    args: { project: string; accountId: string; sourcesBucket: gcp.storage.Bucket },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super('survival:infra:FunctionBuildAccount', name, {}, opts);
    this.serviceAccount = new gcp.serviceaccount.Account(
      `${name}-sa`,
      { project: args.project, accountId: args.accountId, displayName: 'Builds the pipeline functions' },
      { parent: this },
    );
    const member = pulumi.interpolate`serviceAccount:${this.serviceAccount.email}`;
    new gcp.projects.IAMMember(
      `${name}-builder`,
      { project: args.project, role: 'roles/cloudbuild.builds.builder', member },
      { parent: this },
    );
    new gcp.storage.BucketIAMMember(
      `${name}-sources`,
      { bucket: args.sourcesBucket.name, role: 'roles/storage.objectViewer', member },
      { parent: this },
    );
    this.registerOutputs({ email: this.serviceAccount.email });
  }
}
