import type * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { MODEL_POINTER_OBJECT, MODELS_PREFIX } from '../../shared/adapters/model-store.ts';
import type { EnvVars } from '../../shared/env.ts';
import type { FunctionBundle } from '../bundle.ts';
import type { Settings } from '../settings.ts';
import type { Buckets } from './buckets.ts';
import type { Cache } from './cache.ts';
import type { Database } from './database.ts';
import type { Network } from './network.ts';
import { FunctionBuildAccount, PipelineFunction, type PipelineFunctionArgs } from './pipelineFunction.ts';
import type { StoredSecret } from './secret.ts';
import type { Topics } from './topics.ts';
import { TrainingWorkflow } from './trainingWorkflow.ts';

export const FINALIZED = 'google.cloud.storage.object.v1.finalized';

export interface TrainingPipelineArgs {
  settings: Settings;
  network: Network;
  database: Database;
  cache: Cache;
  buckets: Buckets;
  topics: Topics;
  bundles: Record<string, FunctionBundle>;
  /** workflows/training.yaml, unchanged. */
  workflowSource: string;
}

/**
 * Upload -> `trigger` (Eventarc) -> the training workflow -> `load`, `process`, (`fit` per search candidate, on large
 * uploads), `train`: five instances of PipelineFunction and the workflow, wired with the environment variable names of the team contract.
 * Secrets (PGPASSWORD, REDIS_PASSWORD, REDIS_TLS_CA) reach the functions only through Secret Manager.
 */
/**
 * What `train` may do in the models bucket, and nothing more: read the pointer and the artifacts; create new
 * objects under `models/` (an artifact is written once, `ifGenerationMatch: 0`); replace only `models/latest.json`.
 * Replacing an object needs `storage.objects.delete`, which the account holds on the pointer's name alone (an IAM
 * Condition on `resource.name`), so it can neither overwrite nor delete an artifact. The bucket keeps object
 * versions, so an overwritten pointer can be restored.
 */
export function modelBucketRolesForTrain(models: gcp.storage.Bucket) {
  const objects = pulumi.interpolate`projects/_/buckets/${models.name}/objects/`;
  return [
    { bucket: models, role: 'roles/storage.objectViewer' },
    {
      bucket: models,
      role: 'roles/storage.objectCreator',
      condition: {
        title: 'new-model-objects-only',
        description: 'create objects under models/ (never replace: that needs delete)',
        expression: pulumi.interpolate`resource.name.startsWith("${objects}${MODELS_PREFIX}")`,
      },
    },
    {
      bucket: models,
      role: 'roles/storage.objectUser',
      condition: {
        title: 'model-pointer-only',
        description: 'replace the model pointer, and nothing else',
        expression: pulumi.interpolate`resource.name == "${objects}${MODEL_POINTER_OBJECT}"`,
      },
    },
  ];
}

export class TrainingPipeline extends pulumi.ComponentResource {
  readonly load: PipelineFunction;
  readonly process: PipelineFunction;
  readonly train: PipelineFunction;
  readonly fit: PipelineFunction;
  readonly trigger: PipelineFunction;
  readonly workflow: TrainingWorkflow;

  constructor(name: string, args: TrainingPipelineArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:TrainingPipeline', name, {}, opts);
    const { settings: cfg, database: db, cache, buckets, topics } = args;
    const { project, region, namePrefix: prefix } = cfg;
    const builder = new FunctionBuildAccount(
      `${name}-build`,
      { project, accountId: `${prefix}-fn-build`, sourcesBucket: buckets.sources },
      { parent: this },
    );
    const common: EnvVars<pulumi.Input<string>> = { GOOGLE_CLOUD_PROJECT: project, LOG_LEVEL: cfg.logLevel };
    // Cloud SQL requires TLS (sslMode ENCRYPTED_ONLY). The functions verify the server's certificate against the
    // instance's own server CA (PG_TLS_CA, public, not a secret); see docs/deploy.md for exactly what is checked.
    const pg: EnvVars<pulumi.Input<string>> = {
      PGHOST: db.host,
      PGPORT: '5432',
      PGUSER: db.userName,
      PGDATABASE: db.databaseName,
      PG_TLS_CA: db.serverCa,
    };
    const redis: EnvVars<pulumi.Input<string>> = {
      REDIS_URL: cache.url,
      FEATURE_STORE_PREFIX: 'fs',
      FEATURE_SETS_KEEP: '3',
    };
    const pgSecret: EnvVars<StoredSecret> = { PGPASSWORD: db.password };
    const redisSecrets: EnvVars<StoredSecret> = { REDIS_PASSWORD: cache.authString, REDIS_TLS_CA: cache.caCert };
    const maxUploadBytes = `${cfg.maxUploadBytes}`;

    const fn = (
      entryPoint: string,
      extra: Pick<PipelineFunctionArgs, 'description' | 'env'> & Partial<PipelineFunctionArgs>,
    ): PipelineFunction => {
      const bundle = args.bundles[entryPoint];
      if (bundle === undefined) throw new pulumi.RunError(`no bundle was built for function ${entryPoint}`);
      return new PipelineFunction(
        `${name}-${entryPoint}`,
        {
          project,
          region,
          functionName: `${prefix}-${entryPoint}`,
          entryPoint,
          bundle,
          sourcesBucket: buckets.sources,
          buildServiceAccount: builder.serviceAccount.id,
          memory: cfg.functions.memory,
          cpu: cfg.functions.cpu,
          timeoutSeconds: cfg.functions.timeoutSeconds,
          maxInstances: cfg.functions.maxInstances,
          network: args.network,
          ...extra,
          env: { ...common, ...extra.env },
        },
        { parent: this },
      );
    };

    this.load = fn('load', {
      description: 'Uploaded CSV -> Cloud SQL',
      // The bucket and object come in each request; the account can read the data bucket only.
      env: { ...pg, MAX_UPLOAD_BYTES: maxUploadBytes, MAX_REJECTED_SHARE: '0.05' },
      secretEnv: pgSecret,
      bucketRoles: [{ bucket: buckets.data, role: 'roles/storage.objectViewer' }],
    });
    this.process = fn('process', {
      description: 'Cloud SQL -> features -> Redis feature store',
      env: { ...pg, ...redis, SPLIT_SEED: '42', TEST_SIZE: '0.2', MAX_TRAINING_ROWS: `${cfg.maxTrainingRows}` },
      secretEnv: { ...pgSecret, ...redisSecrets },
    });
    this.train = fn('train', {
      description: 'Feature store -> random forest -> model artifact in GCS, event on Pub/Sub',
      env: {
        ...pg,
        ...redis,
        MODELS_BUCKET: buckets.models.name,
        MODEL_PUBLISHED_TOPIC: topics.modelPublished.name,
        MIN_ACCURACY: `${cfg.minAccuracy}`,
        SEARCH_CANDIDATES: `${cfg.searchCandidates}`,
        SEARCH_SEED: '42',
        TRAIN_WORKERS: cfg.functions.trainCpu,
      },
      secretEnv: { ...pgSecret, ...redisSecrets },
      bucketRoles: modelBucketRolesForTrain(buckets.models),
      topicRoles: [{ topic: topics.modelPublished, role: 'roles/pubsub.publisher' }],
      memory: cfg.functions.trainMemory,
      cpu: cfg.functions.trainCpu,
      timeoutSeconds: cfg.functions.trainTimeoutSeconds,
    });
    // One search candidate on every fold per call; the same search settings as train, so both select alike.
    this.fit = fn('fit', {
      description: 'Feature store -> one search candidate scored on every cross-validation fold',
      env: {
        ...redis,
        SEARCH_CANDIDATES: `${cfg.searchCandidates}`,
        SEARCH_SEED: '42',
        TRAIN_WORKERS: cfg.functions.trainCpu,
      },
      secretEnv: redisSecrets,
      memory: cfg.functions.trainMemory,
      cpu: cfg.functions.trainCpu,
      timeoutSeconds: cfg.functions.trainTimeoutSeconds,
      maxInstances: cfg.fitConcurrency,
    });
    this.workflow = new TrainingWorkflow(
      `${name}-workflow`,
      {
        project,
        region,
        workflowName: `${prefix}-training`,
        source: args.workflowSource,
        steps: { LOAD_URL: this.load, PROCESS_URL: this.process, TRAIN_URL: this.train, FIT_URL: this.fit },
        env: {
          FANOUT_MIN_ROWS: `${cfg.fanOutMinRows}`,
          FIT_CONCURRENCY: `${cfg.fitConcurrency}`,
          SEARCH_CANDIDATES: `${cfg.searchCandidates}`,
        },
        deletionProtection: cfg.deletionProtection,
      },
      { parent: this },
    );
    this.trigger = fn('trigger', {
      description: 'Upload finalized -> training workflow execution',
      env: {
        DATA_BUCKET: buckets.data.name,
        WORKFLOW_NAME: this.workflow.fullName,
        UPLOAD_PREFIX: cfg.uploadPrefix,
        MAX_UPLOAD_BYTES: maxUploadBytes,
      },
      // The trigger talks only to Google APIs: no VPC egress needed.
      network: undefined,
      eventTrigger: { eventType: FINALIZED, bucket: buckets.data.name },
    });
    // Starting executions of this workflow only (a conditional grant of one permission, not workflows.invoker).
    this.workflow.allowExecutionsBy(
      `${name}-trigger-starts-workflow`,
      pulumi.interpolate`serviceAccount:${this.trigger.serviceAccount.email}`,
      project,
    );
    this.registerOutputs({ workflow: this.workflow.workflow.name });
  }
}
