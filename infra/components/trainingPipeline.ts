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
 * Upload -> `trigger` (Eventarc) -> the training workflow -> `migrate`, `load`, `process`, (`fit` per search candidate,
 * on large uploads), `train`: six instances of PipelineFunction and the workflow, wired with the environment variable
 * names of the team contract. Secrets (PGPASSWORD, PG_LOGIN_SECRETS, REDIS_PASSWORD, REDIS_TLS_CA) reach the
 * functions only through Secret Manager, each function's PGPASSWORD being its own database user's.
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
  readonly migrate: PipelineFunction;
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
    // Each function connects as its own user (db.logins); only migrate connects as the owner.
    const pg: EnvVars<pulumi.Input<string>> = {
      PGHOST: db.host,
      PGPORT: '5432',
      PGDATABASE: db.databaseName,
      PG_TLS_CA: db.serverCa,
    };
    const login = (fn: keyof Database['logins']) => ({
      env: { PGUSER: db.logins[fn].user } as EnvVars<pulumi.Input<string>>,
      secretEnv: { PGPASSWORD: db.logins[fn].password } as EnvVars<StoredSecret>,
    });
    const redis: EnvVars<pulumi.Input<string>> = {
      REDIS_URL: cache.url,
      FEATURE_STORE_PREFIX: 'fs',
      FEATURE_SETS_KEEP: '3',
    };
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

    // The workflow's first step: applies the migrations as the owner and sets the functions' logins.
    this.migrate = fn('migrate', {
      description: 'Schema migrations as the owner; LOGIN and password of each function role',
      env: { ...pg, PGUSER: db.ownerName },
      secretEnv: { PGPASSWORD: db.ownerPassword, PG_LOGIN_SECRETS: db.loginSecrets },
      memory: '256Mi',
      cpu: '1',
      timeoutSeconds: 300,
      maxInstances: 1,
    });
    this.load = fn('load', {
      description: 'Uploaded CSV -> Cloud SQL',
      // The bucket and object come in each request; the account can read the data bucket only.
      env: { ...pg, ...login('load').env, MAX_UPLOAD_BYTES: maxUploadBytes, MAX_REJECTED_SHARE: '0.05' },
      secretEnv: login('load').secretEnv,
      bucketRoles: [{ bucket: buckets.data, role: 'roles/storage.objectViewer' }],
    });
    this.process = fn('process', {
      description: 'Cloud SQL -> features -> Redis feature store',
      env: {
        ...pg,
        ...login('process').env,
        ...redis,
        SPLIT_SEED: '42',
        TEST_SIZE: '0.2',
        MAX_TRAINING_ROWS: `${cfg.maxTrainingRows}`,
      },
      secretEnv: { ...login('process').secretEnv, ...redisSecrets },
    });
    // The search settings train and fit share: the same values, or a fanned-out search would score other rows.
    const search = {
      SEARCH_CANDIDATES: `${cfg.searchCandidates}`,
      SEARCH_SEED: '42',
      SEARCH_MAX_ROWS: `${cfg.searchMaxRows}`,
      TRAIN_WORKERS: cfg.functions.trainCpu,
    };
    this.train = fn('train', {
      description: 'Feature store -> random forest -> model artifact in GCS, event on Pub/Sub',
      env: {
        ...pg,
        ...login('train').env,
        ...redis,
        MODELS_BUCKET: buckets.models.name,
        MODEL_PUBLISHED_TOPIC: topics.modelPublished.name,
        MIN_ACCURACY: `${cfg.minAccuracy}`,
        VALIDATION_MAX_ROWS: `${cfg.validationMaxRows}`,
        ...search,
      },
      secretEnv: { ...login('train').secretEnv, ...redisSecrets },
      bucketRoles: modelBucketRolesForTrain(buckets.models),
      topicRoles: [{ topic: topics.modelPublished, role: 'roles/pubsub.publisher' }],
      memory: cfg.functions.trainMemory,
      cpu: cfg.functions.trainCpu,
      timeoutSeconds: cfg.functions.trainTimeoutSeconds,
    });
    // One search candidate on every fold per call; the same search settings as train, so both select alike.
    this.fit = fn('fit', {
      description: 'Feature store -> one search candidate scored on every cross-validation fold',
      env: { ...redis, ...search },
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
        steps: {
          MIGRATE_URL: this.migrate,
          LOAD_URL: this.load,
          PROCESS_URL: this.process,
          TRAIN_URL: this.train,
          FIT_URL: this.fit,
        },
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
