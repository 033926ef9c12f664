/**
 * The Pulumi program under `pulumi.runtime.setMocks`: every property a reviewer checks before the first
 * deploy, asserted on the resources' inputs. Config is what the CLI would pass (Pulumi.yaml defaults).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import {
  GCS_AGENT,
  type Json,
  type MockResource,
  named,
  ofType,
  PROJECT,
  PROJECT_NUMBER,
  type ProgramRun,
  REGION,
  runProgram,
  stackConfig,
} from '../test/support/pulumi.ts';
import { FUNCTION_NAMES, type FunctionBundle, REPO_ROOT, sourceObjectName } from './bundle.ts';
import { FINALIZED } from './components/trainingPipeline.ts';

const WORKFLOW_FILE = path.join(REPO_ROOT, 'workflows', 'training.yaml');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'infra-program-'));
const built: Record<string, FunctionBundle> = {};

vi.mock('./bundle.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('./bundle.ts')>();
  return {
    ...real,
    // The real bundler, into a scratch directory, remembering what it built for the assertions.
    bundleFunctions: async (names: readonly string[] = real.FUNCTION_NAMES) => {
      const bundles = await real.bundleFunctions(names, { outDir: path.join(scratch, 'dist') });
      Object.assign(built, bundles);
      return bundles;
    },
  };
});

let run: ProgramRun;
beforeAll(async () => {
  run = await runProgram(() => import('./index.ts'));
}, 120_000);

const FN = 'gcp:cloudfunctionsv2/function:Function';
const fnNamed = (name: string) => named(run, FN, `survival-pipeline-${name}-fn`);
const account = (resourceName: string) => named(run, 'gcp:serviceaccount/account:Account', resourceName).state;
const member = (email: string) => `serviceAccount:${email}`;
const sa = {
  migrate: () => account('survival-pipeline-migrate-sa').email as string,
  load: () => account('survival-pipeline-load-sa').email as string,
  process: () => account('survival-pipeline-process-sa').email as string,
  train: () => account('survival-pipeline-train-sa').email as string,
  trigger: () => account('survival-pipeline-trigger-sa').email as string,
  workflow: () => account('survival-pipeline-workflow-sa').email as string,
  service: () => account('survival-service-sa').email as string,
  push: () => account('survival-service-push-sa').email as string,
};

/** Every IAM grant in the program, flattened to (resource type, target, role, member). */
function grants(): Array<{ type: string; target: string; role: string; member: string; resource: MockResource }> {
  const out: Array<{ type: string; target: string; role: string; member: string; resource: MockResource }> = [];
  for (const r of run.resources) {
    const role = r.inputs.role as string | undefined;
    if (role === undefined) continue;
    const target = String(
      r.inputs.bucket ??
        r.inputs.topic ??
        r.inputs.secretId ??
        r.inputs.serviceAccountId ??
        r.inputs.name ??
        r.inputs.project,
    );
    const members: string[] = r.inputs.members ?? [r.inputs.member];
    for (const m of members) out.push({ type: r.type, target, role, member: m, resource: r });
  }
  return out;
}

/** All string values anywhere inside a resource's inputs. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

describe('security', () => {
  it('makes every bucket private: uniform bucket-level access and public access prevention enforced', () => {
    const buckets = ofType(run, 'gcp:storage/bucket:Bucket');
    expect(buckets.map((b) => b.inputs.name).sort()).toEqual(
      [`${PROJECT}-survival-data`, `${PROJECT}-survival-models`, `${PROJECT}-survival-sources`].sort(),
    );
    for (const b of buckets) {
      expect(b.inputs.uniformBucketLevelAccess, b.name).toBe(true);
      expect(b.inputs.publicAccessPrevention, b.name).toBe('enforced');
    }
  });

  it('versions the models bucket and expires uploads under the upload prefix only', () => {
    const models = named(run, 'gcp:storage/bucket:Bucket', 'survival-buckets-models');
    expect(models.inputs.versioning).toEqual({ enabled: true });
    const data = named(run, 'gcp:storage/bucket:Bucket', 'survival-buckets-data');
    expect(data.inputs.lifecycleRules).toEqual([
      { action: { type: 'Delete' }, condition: { age: 30, matchesPrefixes: ['uploads/'] } },
    ]);
  });

  it('gives Cloud SQL a private address only, on the VPC, with TLS required', () => {
    const [instance] = ofType(run, 'gcp:sql/databaseInstance:DatabaseInstance');
    const ip = instance?.inputs.settings.ipConfiguration;
    expect(ip.ipv4Enabled).toBe(false);
    expect(ip.authorizedNetworks ?? []).toEqual([]);
    expect(ip.privateNetwork).toBe(named(run, 'gcp:compute/network:Network', 'survival-net-vpc').state.name);
    expect(ip.sslMode).toBe('ENCRYPTED_ONLY');
  });

  it("makes every function that talks to Postgres verify the server's certificate against the instance's server CA", () => {
    for (const fn of ['load', 'process', 'train']) {
      const env = fnNamed(fn).inputs.serviceConfig.environmentVariables;
      expect(env.PG_TLS_CA, fn).toBe('MOCK-SQL-SERVER-CA-PEM');
      expect(env.PGSSLMODE, fn).toBeUndefined();
    }
  });

  it('turns on Redis AUTH and in-transit encryption, on private service access, and clients use rediss://', () => {
    const [redis] = ofType(run, 'gcp:redis/instance:Instance');
    expect(redis?.inputs).toMatchObject({
      authEnabled: true,
      transitEncryptionMode: 'SERVER_AUTHENTICATION',
      connectMode: 'PRIVATE_SERVICE_ACCESS',
    });
    expect(fnNamed('process').inputs.serviceConfig.environmentVariables.REDIS_URL).toBe('rediss://10.20.0.4:6378');
  });

  it('never grants anything to allUsers or allAuthenticatedUsers (the service is private by default)', () => {
    const open = grants().filter((g) => g.member === 'allUsers' || g.member === 'allAuthenticatedUsers');
    expect(open).toEqual([]);
  });

  it('lets only the workflow account invoke migrate, load, process and train, and only the trigger account invoke trigger', () => {
    const invokerGrants = grants().filter(
      (g) => /invoker/.test(g.role) && g.type !== 'gcp:projects/iAMMember:IAMMember',
    );
    const byFunction = (fn: string) =>
      invokerGrants.filter((g) => g.target === `survival-${fn}`).map((g) => `${g.type} ${g.role} ${g.member}`);
    for (const fn of ['migrate', 'load', 'process', 'train']) {
      expect(byFunction(fn), fn).toEqual([
        `gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding roles/run.invoker ${member(sa.workflow())}`,
      ]);
    }
    expect(byFunction('trigger')).toEqual([
      `gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding roles/run.invoker ${member(sa.trigger())}`,
    ]);
    // Authoritative bindings: a member added by hand in the console would be removed on the next `pulumi up`.
    expect(ofType(run, 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember')).toEqual([]);
    expect(ofType(run, 'gcp:cloudfunctionsv2/functionIamMember:FunctionIamMember')).toEqual([]);
    expect(
      named(run, 'gcp:workflows/workflow:Workflow', 'survival-pipeline-workflow-workflow').inputs.serviceAccount,
    ).toBe(account('survival-pipeline-workflow-sa').name);
  });

  it('lets only the trigger account start executions, of the training workflow only, and nothing more', () => {
    expect(grants().filter((g) => g.role.startsWith('roles/workflows.'))).toEqual([]);
    const roles = ofType(run, 'gcp:projects/iAMCustomRole:IAMCustomRole').filter((r) =>
      (r.inputs.permissions as string[]).some((p) => p.startsWith('workflows.')),
    );
    expect(roles.map((r) => r.inputs.permissions)).toEqual([['workflows.executions.create']]);
    const starters = grants().filter((g) => g.role === roles[0]!.state.name);
    expect(starters.map((g) => g.member)).toEqual([member(sa.trigger())]);
    const workflow = `projects/${PROJECT}/locations/${REGION}/workflows/survival-training`;
    expect(starters[0]!.resource.inputs.condition).toMatchObject({
      title: 'this-workflow-only',
      expression: `resource.name == "${workflow}" || resource.name.startsWith("${workflow}/executions/")`,
    });
  });

  it('lets the service read only the models bucket and publish only to drift-alerts', () => {
    const mine = grants().filter((g) => g.member === member(sa.service()));
    const storage = mine.filter((g) => g.type.startsWith('gcp:storage/'));
    expect(storage.map((g) => `${g.target} ${g.role}`)).toEqual([
      `${PROJECT}-survival-models roles/storage.objectViewer`,
    ]);
    const pubsub = mine.filter((g) => g.type.startsWith('gcp:pubsub/'));
    expect(pubsub.map((g) => `${g.target} ${g.role}`)).toEqual(['drift-alerts roles/pubsub.publisher']);
    const project = mine.filter((g) => g.type === 'gcp:projects/iAMMember:IAMMember');
    expect(project.map((g) => g.role)).toEqual(['roles/monitoring.metricWriter']);
  });

  it('grants each function only what its step needs', () => {
    const rolesOf = (email: string) =>
      grants()
        .filter((g) => g.member === member(email) && g.type !== 'gcp:secretmanager/secretIamMember:SecretIamMember')
        .map((g) => `${g.target} ${g.role}`)
        .sort();
    expect(rolesOf(sa.migrate())).toEqual([]);
    expect(rolesOf(sa.load())).toEqual([`${PROJECT}-survival-data roles/storage.objectViewer`]);
    expect(rolesOf(sa.process())).toEqual([]);
    expect(rolesOf(sa.train())).toEqual(
      [
        `${PROJECT}-survival-models roles/storage.objectCreator`,
        `${PROJECT}-survival-models roles/storage.objectUser`,
        `${PROJECT}-survival-models roles/storage.objectViewer`,
        'model-published roles/pubsub.publisher',
      ].sort(),
    );
    expect(rolesOf(sa.trigger())).toEqual(
      [
        `${PROJECT} roles/eventarc.eventReceiver`,
        `${PROJECT} projects/${PROJECT}/roles/survival_training_starter`,
        `survival-trigger roles/run.invoker`,
      ].sort(),
    );
  });

  it('lets train create new model objects but replace only the pointer, through IAM Conditions on object names', () => {
    const models = `${PROJECT}-survival-models`;
    const objects = `projects/_/buckets/${models}/objects/`;
    const onModels = grants().filter((g) => g.member === member(sa.train()) && g.target === models);
    const conditionOf = (role: string) => onModels.find((g) => g.role === role)?.resource.inputs.condition;
    // Reading needs no condition; creating is limited to models/; replacing (delete + create) to the pointer alone.
    expect(conditionOf('roles/storage.objectViewer')).toBeUndefined();
    expect(conditionOf('roles/storage.objectCreator')).toMatchObject({
      expression: `resource.name.startsWith("${objects}models/")`,
    });
    expect(conditionOf('roles/storage.objectUser')).toMatchObject({
      expression: `resource.name == "${objects}models/latest.json"`,
    });
    // No other grant gives train delete (objectUser, objectAdmin, admin) on the bucket without a condition.
    const unconditionedWriters = onModels.filter(
      (g) => !g.resource.inputs.condition && !['roles/storage.objectViewer'].includes(g.role),
    );
    expect(unconditionedWriters).toEqual([]);
    expect(
      grants().filter((g) => g.member === member(sa.train()) && g.type === 'gcp:projects/iAMMember:IAMMember'),
    ).toEqual([]);
  });

  it('uses no primitive role anywhere', () => {
    const roles = run.resources.flatMap((r) => (typeof r.inputs.role === 'string' ? [r.inputs.role] : []));
    expect(roles.length).toBeGreaterThan(20);
    for (const role of roles) expect(['roles/owner', 'roles/editor', 'roles/viewer']).not.toContain(role);
    expect(ofType(run, 'gcp:projects/iAMPolicy:IAMPolicy')).toEqual([]);
    expect(ofType(run, 'gcp:projects/iAMBinding:IAMBinding')).toEqual([]);
  });

  it('keeps secrets out of plain environment variables: they come from Secret Manager, read only by their users', () => {
    const secretValues = ['mock-generated-password', 'mock-auth-string', 'MOCK-CA-PEM'];
    const holders = run.resources
      .filter((r) => strings(r.inputs).some((s) => secretValues.some((v) => s.includes(v))))
      .map((r) => r.type);
    // The owner's password goes to its SQL user and its secret; every other secret value only to its secret.
    expect([...new Set(holders)].sort()).toEqual([
      'gcp:secretmanager/secretVersion:SecretVersion',
      'gcp:sql/user:User',
    ]);

    const secretIds: Record<string, Record<string, string>> = {
      migrate: { PGPASSWORD: 'survival-db-pgpassword', PG_LOGIN_SECRETS: 'survival-db-pg-login-secrets' },
      load: { PGPASSWORD: 'survival-db-pgpassword-load' },
      process: {
        PGPASSWORD: 'survival-db-pgpassword-process',
        REDIS_PASSWORD: 'survival-cache-redis-auth',
        REDIS_TLS_CA: 'survival-cache-redis-ca',
      },
      train: {
        PGPASSWORD: 'survival-db-pgpassword-train',
        REDIS_PASSWORD: 'survival-cache-redis-auth',
        REDIS_TLS_CA: 'survival-cache-redis-ca',
      },
      fit: { REDIS_PASSWORD: 'survival-cache-redis-auth', REDIS_TLS_CA: 'survival-cache-redis-ca' },
      trigger: {},
    };
    const secretKeys = ['PGPASSWORD', 'PG_LOGIN_SECRETS', 'REDIS_PASSWORD', 'REDIS_TLS_CA'];
    for (const [fn, ids] of Object.entries(secretIds)) {
      const config = fnNamed(fn).inputs.serviceConfig;
      for (const key of secretKeys) expect(config.environmentVariables, fn).not.toHaveProperty(key);
      expect(
        (config.secretEnvironmentVariables ?? [])
          .map((s: { key: string; secret: string }) => `${s.key}=${s.secret}`)
          .sort(),
        fn,
      ).toEqual(
        Object.entries(ids)
          .map(([k, id]) => `${k}=${id}`)
          .sort(),
      );
      const readable = grants()
        .filter(
          (g) =>
            g.type === 'gcp:secretmanager/secretIamMember:SecretIamMember' &&
            g.member === member(account(`survival-pipeline-${fn}-sa`).email),
        )
        .map((g) => g.target)
        .sort();
      expect(readable, fn).toEqual(Object.values(ids).sort());
    }
    const redisIds = { REDIS_PASSWORD: 'survival-cache-redis-auth', REDIS_TLS_CA: 'survival-cache-redis-ca' };
    const app = named(run, 'gcp:cloudrunv2/service:Service', 'survival-service-service').inputs.template.containers[0];
    for (const key of ['REDIS_PASSWORD', 'REDIS_TLS_CA']) {
      const env = app.envs.find((e: { name: string }) => e.name === key);
      expect(env.value).toBeUndefined();
      expect(env.valueSource.secretKeyRef.secret).toBe(redisIds[key as keyof typeof redisIds]);
    }
  });
});

describe('database users', () => {
  const DB_FNS = ['load', 'process', 'train'] as const;
  const SECRET = 'gcp:secretmanager/secret:Secret';
  const VERSION = 'gcp:secretmanager/secretVersion:SecretVersion';
  const env = (fn: string) => fnNamed(fn).inputs.serviceConfig.environmentVariables as Record<string, string>;
  const secretEnv = (fn: string): Record<string, string> =>
    Object.fromEntries(
      (fnNamed(fn).inputs.serviceConfig.secretEnvironmentVariables ?? []).map((s: { key: string; secret: string }) => [
        s.key,
        s.secret,
      ]),
    );
  /** The value stored in a secret, by its secret id. */
  const secretValue = (secretId: string): string => {
    const secret = ofType(run, SECRET).find((r) => r.inputs.secretId === secretId);
    expect(secret, secretId).toBeDefined();
    const versions = ofType(run, VERSION).filter((v) => v.inputs.secret === secret!.state.name);
    expect(versions, secretId).toHaveLength(1);
    return versions[0]!.inputs.secretData as string;
  };
  const readersOf = (secretId: string) =>
    grants()
      .filter((g) => g.type === 'gcp:secretmanager/secretIamMember:SecretIamMember' && g.target === secretId)
      .map((g) => `${g.role} ${g.member}`);
  const owner = () => ofType(run, 'gcp:sql/user:User');

  it('creates one Cloud SQL API user, the owner, which only the migrate function connects as', () => {
    // A user created through the Cloud SQL API joins cloudsqlsuperuser (CREATEROLE): only the owner is one.
    expect(owner().map((u) => u.inputs.name)).toEqual(['survival']);
    expect(env('migrate').PGUSER).toBe('survival');
    for (const fn of FUNCTION_NAMES.filter((f) => f !== 'migrate')) expect(env(fn).PGUSER, fn).not.toBe('survival');
  });

  it('gives load, process and train each its own database user, and fit and trigger none', () => {
    const users = DB_FNS.map((fn) => env(fn).PGUSER);
    expect(users).toEqual(['pipeline_load', 'pipeline_process', 'pipeline_train']);
    expect(new Set(users).size).toBe(DB_FNS.length);
    for (const fn of ['fit', 'trigger']) {
      expect(env(fn), fn).not.toHaveProperty('PGUSER');
      expect(env(fn), fn).not.toHaveProperty('PGHOST');
      expect(secretEnv(fn), fn).not.toHaveProperty('PGPASSWORD');
    }
  });

  it("gives each function its own generated password, in a secret only that function's account may read", () => {
    const ids = DB_FNS.map((fn) => secretEnv(fn).PGPASSWORD!);
    expect(new Set(ids).size).toBe(DB_FNS.length);
    const values = ids.map(secretValue);
    expect(new Set(values).size).toBe(DB_FNS.length);
    for (const [i, fn] of DB_FNS.entries()) {
      expect(values[i], fn).toMatch(/^mock-generated-password-/);
      expect(readersOf(ids[i]!), fn).toEqual([`roles/secretmanager.secretAccessor ${member(sa[fn]())}`]);
      // No other function is handed this secret, under any variable.
      for (const other of FUNCTION_NAMES.filter((f) => f !== fn))
        expect(Object.values(secretEnv(other)), `${other} gets ${fn}'s password`).not.toContain(ids[i]);
    }
    // The owner's password is not any function's.
    expect(values).not.toContain(owner()[0]!.inputs.password);
  });

  it("keeps the owner's password and the login secrets to the migrate function alone", () => {
    const ownerSecret = secretEnv('migrate').PGPASSWORD!;
    const loginSecrets = secretEnv('migrate').PG_LOGIN_SECRETS!;
    expect(secretValue(ownerSecret)).toBe(owner()[0]!.inputs.password);
    for (const id of [ownerSecret, loginSecrets]) {
      expect(readersOf(id), id).toEqual([`roles/secretmanager.secretAccessor ${member(sa.migrate())}`]);
      for (const fn of FUNCTION_NAMES.filter((f) => f !== 'migrate'))
        expect(Object.values(secretEnv(fn)), `${fn} gets ${id}`).not.toContain(id);
    }
  });

  it("hands migrate each function's SCRAM secret, which checks that function's password, and never a password", async () => {
    const { scramSha256Secret } = await import('../shared/core/scram.ts');
    const logins = JSON.parse(secretValue(secretEnv('migrate').PG_LOGIN_SECRETS!)) as Record<string, string>;
    expect(Object.keys(logins).sort()).toEqual([...DB_FNS].sort());
    const passwords = DB_FNS.map((fn) => secretValue(secretEnv(fn).PGPASSWORD!));
    for (const [i, fn] of DB_FNS.entries()) {
      const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(logins[fn]!) ?? [];
      // Recomputed from the password in this function's own secret and the salt in the secret: they match.
      expect(scramSha256Secret(passwords[i]!, Buffer.from(salt!, 'base64'), Number(iterations))).toBe(logins[fn]);
      for (const p of passwords) expect(JSON.stringify(logins)).not.toContain(p);
    }
    expect(new Set(Object.values(logins).map((l) => l.split('$')[1])).size).toBe(DB_FNS.length);
  });

  it('makes migrate the first call of every execution, and gives it the database but no bucket, topic or cache', () => {
    const workflow = parse(readFileSync(WORKFLOW_FILE, 'utf8'));
    const steps = (workflow.main.steps as Array<Record<string, Json>>).map((s) => Object.keys(s)[0]);
    const firstCall = steps.find((name) => name !== 'init');
    expect(firstCall).toBe('migrate');
    const migrateStep = workflow.main.steps.find((s: Json) => s.migrate).migrate;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Workflows expression, not a JS template
    expect(migrateStep.try.args.url).toBe('${migrate_url}');
    expect(steps.indexOf('migrate')).toBeLessThan(steps.indexOf('load'));
    const config = fnNamed('migrate').inputs.serviceConfig;
    expect(config.directVpcNetworkInterfaces).toHaveLength(1);
    expect(config.environmentVariables.PG_TLS_CA).toBe('MOCK-SQL-SERVER-CA-PEM');
    expect(config.environmentVariables).not.toHaveProperty('REDIS_URL');
    expect(Object.keys(secretEnv('migrate')).sort()).toEqual(['PGPASSWORD', 'PG_LOGIN_SECRETS']);
  });
});

describe('wiring', () => {
  it('starts the trigger on object finalize in the data bucket, delivered as the trigger account', () => {
    const trigger = fnNamed('trigger').inputs;
    expect(trigger.eventTrigger).toMatchObject({
      eventType: FINALIZED,
      eventFilters: [{ attribute: 'bucket', value: `${PROJECT}-survival-data` }],
      serviceAccountEmail: sa.trigger(),
      triggerRegion: REGION,
      retryPolicy: 'RETRY_POLICY_RETRY',
    });
    expect(FINALIZED).toBe('google.cloud.storage.object.v1.finalized');
    // Cloud Storage publishes its events to Pub/Sub as the project's GCS service agent.
    expect(grants().some((g) => g.member === member(GCS_AGENT) && g.role === 'roles/pubsub.publisher')).toBe(true);
    expect(trigger.serviceConfig.environmentVariables).toMatchObject({
      WORKFLOW_NAME: `projects/${PROJECT}/locations/${REGION}/workflows/survival-training`,
      UPLOAD_PREFIX: 'uploads/',
    });
  });

  it('deploys workflows/training.yaml unchanged, with the five function URLs and the fan-out settings as user env vars', () => {
    const workflow = named(run, 'gcp:workflows/workflow:Workflow', 'survival-pipeline-workflow-workflow').inputs;
    expect(workflow.sourceContents).toBe(readFileSync(WORKFLOW_FILE, 'utf8'));
    expect(workflow.userEnvVars).toEqual({
      MIGRATE_URL: 'https://survival-migrate-mock.a.run.app',
      LOAD_URL: 'https://survival-load-mock.a.run.app',
      PROCESS_URL: 'https://survival-process-mock.a.run.app',
      TRAIN_URL: 'https://survival-train-mock.a.run.app',
      FIT_URL: 'https://survival-fit-mock.a.run.app',
      FANOUT_MIN_ROWS: '20000',
      FIT_CONCURRENCY: '10',
      SEARCH_CANDIDATES: '10',
    });
    // the fit function searches like train: the same candidates and seed, or the two would not select alike
    const fitEnv = fnNamed('fit').inputs.serviceConfig.environmentVariables;
    const trainEnv = fnNamed('train').inputs.serviceConfig.environmentVariables;
    for (const key of ['SEARCH_CANDIDATES', 'SEARCH_SEED', 'TRAIN_WORKERS'])
      expect(fitEnv[key], key).toBe(trainEnv[key]);
    expect(fitEnv.SEARCH_CANDIDATES).toBe(workflow.userEnvVars.SEARCH_CANDIDATES);
    expect(fnNamed('fit').inputs.serviceConfig.maxInstanceCount).toBe(10);
    for (const fn of ['migrate', 'load', 'process', 'train', 'fit']) {
      expect(Object.values(workflow.userEnvVars)).toContain(fnNamed(fn).state.url);
    }
  });

  it('pushes model-published to the service with an OIDC token of the push account for the audience the app checks', () => {
    const subscription = named(run, 'gcp:pubsub/subscription:Subscription', 'survival-service-model-published').inputs;
    const service = named(run, 'gcp:cloudrunv2/service:Service', 'survival-service-service');
    expect(subscription.topic).toBe(`projects/${PROJECT}/topics/model-published`);
    expect(subscription.pushConfig.pushEndpoint).toBe(`${service.state.uri}/events/model-published`);
    expect(subscription.pushConfig.oidcToken.serviceAccountEmail).toBe(sa.push());
    const env = Object.fromEntries(
      service.inputs.template.containers[0].envs.map((e: { name: string; value?: string }) => [e.name, e.value]),
    );
    expect(env.PUSH_SERVICE_ACCOUNT).toBe(sa.push());
    expect(env.PUSH_AUDIENCE).toBe(subscription.pushConfig.oidcToken.audience);
    expect(service.inputs.customAudiences).toEqual([env.PUSH_AUDIENCE]);
    const invokers = grants().filter((g) => g.target === 'survival' && g.role === 'roles/run.invoker');
    expect(invokers.map((g) => g.member)).toEqual([member(sa.push())]);
    // Pub/Sub's service agent may mint tokens for the two accounts pushes are signed as, and no other.
    const pubsubAgent = `serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`;
    const tokenCreator = grants().filter((g) => g.role === 'roles/iam.serviceAccountTokenCreator');
    expect(tokenCreator.map((g) => `${g.target} ${g.member}`).sort()).toEqual(
      [
        `projects/${PROJECT}/serviceAccounts/${sa.push()} ${pubsubAgent}`,
        `projects/${PROJECT}/serviceAccounts/${sa.trigger()} ${pubsubAgent}`,
      ].sort(),
    );
  });

  it('sends a push that keeps failing to a dead-letter topic that keeps it, with the grants Pub/Sub needs for that', () => {
    const subscription = named(run, 'gcp:pubsub/subscription:Subscription', 'survival-service-model-published').inputs;
    const dlq = `projects/${PROJECT}/topics/survival-model-published-dead-letter`;
    expect(subscription.deadLetterPolicy).toEqual({ deadLetterTopic: dlq, maxDeliveryAttempts: 10 });
    const kept = ofType(run, 'gcp:pubsub/subscription:Subscription').filter((s) => s.inputs.topic === dlq);
    expect(kept).toHaveLength(1);
    expect(kept[0]!.inputs.messageRetentionDuration).toBe('604800s');
    const pubsubAgent = `serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`;
    const agentGrants = grants()
      .filter((g) => g.member === pubsubAgent && g.role !== 'roles/iam.serviceAccountTokenCreator')
      .map((g) => `${g.resource.inputs.subscription ?? g.target} ${g.role}`)
      .sort();
    expect(agentGrants).toEqual(
      [
        'survival-model-published roles/pubsub.subscriber',
        'survival-model-published-dead-letter roles/pubsub.publisher',
      ].sort(),
    );
  });

  it('keeps a private service out of public mode', () => {
    const envs = named(run, 'gcp:cloudrunv2/service:Service', 'survival-service-service').inputs.template.containers[0]
      .envs as Array<{ name: string }>;
    expect(envs.map((e) => e.name)).not.toContain('PUBLIC_MODE');
  });

  it('runs the Managed Prometheus sidecar scraping the app container port at /metrics', () => {
    const template = named(run, 'gcp:cloudrunv2/service:Service', 'survival-service-service').inputs.template;
    const [app, collector] = template.containers;
    expect(collector.image).toMatch(/cloud-run-gmp-sidecar/);
    expect(collector.dependsOns).toEqual([app.name]);
    expect(collector.ports).toBeUndefined();
    const mount = collector.volumeMounts[0];
    expect(mount.mountPath).toBe('/etc/rungmp');
    const volume = template.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.secret.items).toEqual([{ path: 'config.yaml', version: '1' }]);
    const version = run.resources.find(
      (r) =>
        r.type === 'gcp:secretmanager/secretVersion:SecretVersion' &&
        r.inputs.secret === `projects/${PROJECT_NUMBER}/secrets/${volume.secret.secret}`,
    );
    const config = parse(version?.inputs.secretData);
    expect(config.kind).toBe('RunMonitoring');
    expect(config.spec.endpoints).toEqual([{ port: app.ports.containerPort, path: '/metrics', interval: '30s' }]);
    expect(app.ports.containerPort).toBe(8080);
  });

  it('sizes the service from config (instances, concurrency, CPU, memory) and gives it Direct VPC egress', () => {
    const service = named(run, 'gcp:cloudrunv2/service:Service', 'survival-service-service').inputs;
    expect(service.template.scaling).toEqual({ minInstanceCount: 0, maxInstanceCount: 3 });
    expect(service.template.maxInstanceRequestConcurrency).toBe(80);
    expect(service.template.containers[0].resources.limits).toEqual({ cpu: '1', memory: '1Gi' });
    expect(service.template.containers[0].image).toBe(run.config['survival:serviceImage']);
    // Direct VPC egress to reach Memorystore's private address; Google APIs still go out directly.
    expect(service.template.vpcAccess.egress).toBe('PRIVATE_RANGES_ONLY');
    expect(service.template.vpcAccess.networkInterfaces).toHaveLength(1);
  });

  it('builds each function on nodejs22 from its own hashed zip, with Direct VPC egress where it needs private IPs', () => {
    for (const fn of FUNCTION_NAMES) {
      const inputs = fnNamed(fn).inputs;
      const object = named(run, 'gcp:storage/bucketObject:BucketObject', `survival-pipeline-${fn}-source`).inputs;
      expect(inputs.buildConfig.runtime).toBe('nodejs22');
      expect(inputs.buildConfig.entryPoint).toBe(fn);
      expect(object.name).toBe(sourceObjectName(fn, built[fn]!.hash));
      expect(inputs.buildConfig.source.storageSource).toEqual({
        bucket: `${PROJECT}-survival-sources`,
        object: object.name,
      });
      const vpc = inputs.serviceConfig.directVpcNetworkInterfaces;
      if (fn === 'trigger') expect(vpc).toBeUndefined();
      else expect(vpc).toHaveLength(1);
    }
    expect(new Set(FUNCTION_NAMES.map((fn) => built[fn]!.hash)).size).toBe(FUNCTION_NAMES.length);
  });

  it('gives the functions only environment variable names from the team contract', () => {
    const contract = new Set([
      'GOOGLE_CLOUD_PROJECT',
      'LOG_LEVEL',
      'PGHOST',
      'PGPORT',
      'PGUSER',
      'PGDATABASE',
      'PG_TLS_CA',
      'REDIS_URL',
      'FEATURE_STORE_PREFIX',
      'FEATURE_SETS_KEEP',
      'DATA_BUCKET',
      'MODELS_BUCKET',
      'MODEL_PUBLISHED_TOPIC',
      'MAX_UPLOAD_BYTES',
      'MAX_REJECTED_SHARE',
      'SPLIT_SEED',
      'TEST_SIZE',
      'MAX_TRAINING_ROWS',
      'MIN_ACCURACY',
      'SEARCH_CANDIDATES',
      'SEARCH_SEED',
      'SEARCH_MAX_ROWS',
      'VALIDATION_MAX_ROWS',
      'TRAIN_WORKERS',
      'WORKFLOW_NAME',
      'UPLOAD_PREFIX',
    ]);
    for (const fn of FUNCTION_NAMES) {
      for (const key of Object.keys(fnNamed(fn).inputs.serviceConfig.environmentVariables)) {
        expect(contract.has(key), `${fn}: ${key}`).toBe(true);
      }
    }
    // train and fit search alike (same candidates, seed and search sample), else fanned-out scores would not match
    const searchVars = (fn: string) =>
      Object.fromEntries(
        Object.entries(fnNamed(fn).inputs.serviceConfig.environmentVariables as Record<string, string>).filter(
          ([k]) => k.startsWith('SEARCH_') || k === 'TRAIN_WORKERS',
        ),
      );
    expect(searchVars('fit')).toEqual(searchVars('train'));
    expect(searchVars('train')).toMatchObject({ SEARCH_MAX_ROWS: '5000', SEARCH_SEED: '42' });
    expect(fnNamed('train').inputs.serviceConfig.environmentVariables).toMatchObject({
      VALIDATION_MAX_ROWS: '50000',
      MIN_ACCURACY: '0.75',
      MODELS_BUCKET: `${PROJECT}-survival-models`,
      MODEL_PUBLISHED_TOPIC: 'model-published',
    });
  });

  it('sets every variable the code requires, and only variables the code reads', () => {
    // What a deployable reads (r.string('NAME'), env.NAME) in its own folder and the shared function wiring.
    const sources = (dir: string, shared: string[] = []) =>
      [
        ...readdirSync(dir)
          .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
          .map((f) => path.join(dir, f)),
        ...shared,
      ].map((file) => readFileSync(file, 'utf8'));
    const read = (texts: string[]) =>
      new Set(texts.flatMap((t) => [...t.matchAll(/\b(?:r\.\w+\('|env\.)([A-Z0-9_]+)/g)].map((m) => m[1])));
    const required = (texts: string[]) =>
      texts.flatMap((t) => [...t.matchAll(/\br\.(?:string|int|number|bool|url)\('([A-Z0-9_]+)'\)/g)].map((m) => m[1]));
    // Read by libraries rather than by our config: node-postgres reads PGSSLMODE itself.
    const libraryVars = new Set(['PGSSLMODE']);
    const functionsDir = path.join(REPO_ROOT, 'functions');
    const shared = readdirSync(functionsDir)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => path.join(functionsDir, f));
    for (const fn of FUNCTION_NAMES) {
      const texts = sources(path.join(functionsDir, fn), shared);
      const config = fnNamed(fn).inputs.serviceConfig;
      const provided = [
        ...Object.keys(config.environmentVariables),
        ...(config.secretEnvironmentVariables ?? []).map((s: { key: string }) => s.key),
      ];
      for (const name of required(texts)) expect(provided, `${fn} needs ${name}`).toContain(name);
      const known = read(texts);
      for (const name of provided)
        expect(known.has(name) || libraryVars.has(name), `${fn} never reads ${name}`).toBe(true);
    }
    const serviceTexts = sources(path.join(REPO_ROOT, 'service'));
    const envs = named(run, 'gcp:cloudrunv2/service:Service', 'survival-service-service').inputs.template.containers[0]
      .envs;
    const provided: string[] = envs.map((e: { name: string }) => e.name);
    for (const name of required(serviceTexts)) {
      // Cloud Run sets PORT itself.
      if (name !== 'PORT') expect(provided, `service needs ${name}`).toContain(name);
    }
    const known = read(serviceTexts);
    for (const name of provided) expect(known.has(name), `service never reads ${name}`).toBe(true);
  });

  it('gives each function a timeout at least as long as the workflow waits for it', () => {
    const workflow = parse(readFileSync(WORKFLOW_FILE, 'utf8'));
    const calls: Array<{ url: string; timeout: number }> = [];
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node && typeof node === 'object') {
        const n = node as Json;
        if (n.call === 'http.post' && typeof n.args?.url === 'string')
          calls.push({ url: n.args.url, timeout: n.args.timeout });
        Object.values(n).forEach(visit);
      }
    };
    visit(workflow);
    expect(calls.length).toBe(5);
    for (const call of calls) {
      const fn = /\$\{(\w+)_url\}/.exec(call.url)?.[1];
      expect(fn, call.url).toBeDefined();
      expect(fnNamed(fn!).inputs.serviceConfig.timeoutSeconds, fn).toBeGreaterThanOrEqual(call.timeout);
    }
  });

  it("creates every Google resource through the stack's provider, with the configured project and region", () => {
    const [provider] = ofType(run, 'pulumi:providers:gcp');
    expect(provider?.inputs).toMatchObject({ project: PROJECT, region: REGION });
    const google = run.resources.filter((r) => r.type.startsWith('gcp:'));
    expect(google.length).toBeGreaterThan(80);
    for (const r of google) expect(r.provider, `${r.type} ${r.name}`).toMatch(/::pulumi:providers:gcp::gcp::/);
  });

  it('exports the data bucket, models bucket, service URL and workflow name', () => {
    expect(run.outputs).toEqual({
      dataBucket: `${PROJECT}-survival-data`,
      modelsBucket: `${PROJECT}-survival-models`,
      serviceUrl: 'https://survival-mock.a.run.app',
      workflowName: 'survival-training',
    });
  });

  it('alerts on drift and charts the Grafana dashboard queries in Cloud Monitoring', () => {
    const policy = ofType(run, 'gcp:monitoring/alertPolicy:AlertPolicy')[0]?.inputs;
    const queries = policy?.conditions.map(
      (c: { conditionPrometheusQueryLanguage: { query: string } }) => c.conditionPrometheusQueryLanguage.query,
    );
    expect(queries.join(' ')).toMatch(/drift_window_detected/);
    expect(queries.join(' ')).toMatch(/drift_count_total/);
    const dashboard = JSON.parse(ofType(run, 'gcp:monitoring/dashboard:Dashboard')[0]?.inputs.dashboardJson);
    const promql = dashboard.mosaicLayout.tiles.flatMap((t: Json) =>
      t.widget.xyChart.dataSets.flatMap((d: Json) =>
        d.timeSeriesQuery.prometheusQuery ? [d.timeSeriesQuery.prometheusQuery] : [],
      ),
    );
    expect(promql).toContain('sum(rate(prediction_count_total[1m]))');
    // Local-engine panels stay out; the workflow's own execution metric takes their place.
    expect(promql.join(' ')).not.toMatch(/workflows_/);
    const filters = dashboard.mosaicLayout.tiles.flatMap((t: Json) =>
      t.widget.xyChart.dataSets.flatMap((d: Json) =>
        d.timeSeriesQuery.timeSeriesFilter ? [d.timeSeriesQuery.timeSeriesFilter.filter] : [],
      ),
    );
    expect(filters).toEqual([
      'metric.type="workflows.googleapis.com/finished_execution_count" AND resource.type="workflows.googleapis.com/Workflow" AND resource.label.workflow_id="survival-training"',
    ]);
  });
});

describe('configuration', () => {
  it('declares every key with a type Pulumi accepts, a description and a default of that type', () => {
    const project = parse(readFileSync(path.join(REPO_ROOT, 'infra', 'Pulumi.yaml'), 'utf8'));
    const javascriptType = { string: 'string', integer: 'number', boolean: 'boolean' } as const;
    for (const [key, decl] of Object.entries<Json>(project.config)) {
      // The project file schema's simple config types (no "number": fractions are strings).
      expect(['string', 'integer', 'boolean'], key).toContain(decl.type);
      expect(typeof decl.description, key).toBe('string');
      expect(decl, key).toHaveProperty('default');
      expect(typeof decl.default, key).toBe(javascriptType[decl.type as keyof typeof javascriptType]);
      if (decl.type === 'integer') expect(Number.isInteger(decl.default), key).toBe(true);
    }
    expect(project.runtime).toEqual({ name: 'nodejs', options: { typescript: false, nodeargs: '--import tsx' } });
    expect(project.main).toBe('index.ts');
  });

  it('refuses a stack without a project or a service image, naming the key', async () => {
    const { readSettings } = await import('./settings.ts');
    pulumi.runtime.setAllConfig(stackConfig({ serviceImage: 'x' }));
    expect(() => readSettings(new pulumi.Config('survival'))).toThrow(/project/);
    pulumi.runtime.setAllConfig(stackConfig({ project: PROJECT }));
    expect(() => readSettings(new pulumi.Config('survival'))).toThrow(/serviceImage/);
    pulumi.runtime.setAllConfig(stackConfig({ project: PROJECT, serviceImage: 'x', minAccuracy: 1.5 }));
    expect(() => readSettings(new pulumi.Config('survival'))).toThrow(/minAccuracy/);
  });
});
