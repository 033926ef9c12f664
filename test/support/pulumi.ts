/**
 * Runs the Pulumi program (index.ts) against `pulumi.runtime.setMocks`, with the config the CLI would pass
 * (Pulumi.yaml's declared defaults plus overrides), and records every resource's inputs for assertions.
 * One program run per test file: Pulumi's runtime state is per process, and vitest gives each file its own.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../infra/bundle.ts';

export const PROJECT = 'test-project';
export const PROJECT_NUMBER = '123456789012';
export const REGION = 'europe-west1';
export const GCS_AGENT = `service-${PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com`;

/** Resource inputs as the mocks receive them: untyped JSON, indexed freely by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: provider inputs are untyped JSON here
export type Json = Record<string, any>;

export interface MockResource {
  type: string;
  /** Pulumi resource name (e.g. survival-pipeline-load-fn). */
  name: string;
  inputs: Json;
  state: Json;
  /** URN of the provider the resource was registered with (undefined: the default provider). */
  provider: string | undefined;
}

export interface ProgramRun {
  resources: MockResource[];
  outputs: Record<string, unknown>;
  config: Record<string, string>;
}

/** The stack config as the CLI builds it: every key declared in Pulumi.yaml at its default, then overrides. */
export function stackConfig(overrides: Record<string, string | number | boolean> = {}): Record<string, string> {
  const project = parse(readFileSync(path.join(REPO_ROOT, 'infra', 'Pulumi.yaml'), 'utf8')) as {
    name: string;
    config: Record<string, { default: unknown }>;
  };
  const values: Record<string, string> = {};
  for (const [key, decl] of Object.entries(project.config)) values[`${project.name}:${key}`] = String(decl.default);
  for (const [key, value] of Object.entries(overrides)) values[`${project.name}:${key}`] = String(value);
  return values;
}

export const DEFAULT_OVERRIDES = {
  project: PROJECT,
  serviceImage: `${REGION}-docker.pkg.dev/${PROJECT}/survival/service:1.0.0`,
};

const accountEmail = (accountId: string) => `${accountId}@${PROJECT}.iam.gserviceaccount.com`;

/** Output properties Google would compute, keyed by resource type. */
function computedState(type: string, name: string, inputs: Json): Json {
  switch (type) {
    case 'gcp:serviceaccount/account:Account':
      return {
        email: accountEmail(inputs.accountId),
        name: `projects/${PROJECT}/serviceAccounts/${accountEmail(inputs.accountId)}`,
        member: `serviceAccount:${accountEmail(inputs.accountId)}`,
      };
    case 'gcp:cloudfunctionsv2/function:Function':
      return { url: `https://${inputs.name}-mock.a.run.app`, state: 'ACTIVE' };
    case 'gcp:cloudrunv2/service:Service':
      return { uri: `https://${inputs.name}-mock.a.run.app` };
    case 'gcp:sql/databaseInstance:DatabaseInstance':
      return {
        name: `${name}-instance`,
        privateIpAddress: '10.20.0.3',
        connectionName: `${PROJECT}:${REGION}:${name}`,
        serverCaCerts: [{ cert: 'MOCK-SQL-SERVER-CA-PEM' }],
      };
    case 'gcp:redis/instance:Instance':
      return {
        host: '10.20.0.4',
        port: 6378,
        authString: 'mock-auth-string',
        serverCaCerts: [{ cert: 'MOCK-CA-PEM' }],
      };
    case 'gcp:secretmanager/secret:Secret':
      return { name: `projects/${PROJECT_NUMBER}/secrets/${inputs.secretId}` };
    case 'gcp:secretmanager/secretVersion:SecretVersion':
      return { version: '1', name: `${inputs.secret}/versions/1` };
    case 'random:index/randomPassword:RandomPassword':
      // One value per resource, so a test can tell which password went where.
      return { result: `mock-generated-password-${name}` };
    case 'random:index/randomBytes:RandomBytes': {
      const bytes = createHash('sha256').update(name).digest().subarray(0, inputs.length);
      return { base64: bytes.toString('base64'), hex: bytes.toString('hex') };
    }
    case 'gcp:pubsub/topic:Topic':
      return { id: `projects/${PROJECT}/topics/${inputs.name}` };
    case 'gcp:projects/iAMCustomRole:IAMCustomRole':
      return { name: `projects/${PROJECT}/roles/${inputs.roleId}` };
    default:
      return {};
  }
}

/** Sets config and mocks, imports the program, and waits until every resource has registered. */
export async function runProgram(
  importProgram: () => Promise<Record<string, unknown>>,
  overrides: Record<string, string | number | boolean> = DEFAULT_OVERRIDES,
): Promise<ProgramRun> {
  const resources: MockResource[] = [];
  const config = stackConfig(overrides);
  pulumi.runtime.setAllConfig(config);
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = unwrapSecrets(args.inputs) as Json;
        const computed = computedState(args.type, args.name, inputs);
        const state = { project: PROJECT, ...inputs, name: inputs.name ?? args.name, ...computed };
        resources.push({ type: args.type, name: args.name, inputs, state, provider: args.provider || undefined });
        return { id: computed.id ?? state.name ?? `${args.name}-id`, state };
      },
      call(args) {
        switch (args.token) {
          case 'gcp:storage/getProjectServiceAccount:getProjectServiceAccount':
            return { emailAddress: GCS_AGENT, member: `serviceAccount:${GCS_AGENT}`, project: PROJECT };
          case 'gcp:organizations/getProject:getProject':
            return { number: PROJECT_NUMBER, projectId: PROJECT, name: PROJECT };
          default:
            throw new Error(`unexpected invoke ${args.token}`);
        }
      },
    },
    'survival',
    'test',
    false,
  );
  const program = await importProgram();
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(program)) {
    outputs[key] = pulumi.Output.isInstance(value) ? await resolve(value) : value;
  }
  // Registrations are asynchronous; wait until no new resource has appeared for a while.
  let seen = -1;
  while (seen !== resources.length) {
    seen = resources.length;
    await new Promise((r) => setTimeout(r, 150));
  }
  return { resources, outputs, config };
}

/** Secret inputs reach the mocks wrapped ({ <signature>: <secret sig>, value }); tests compare plain values. */
const SECRET_SIGNATURE = '4dabf18193072939515e22adb298388d';
function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (SECRET_SIGNATURE in obj) return unwrapSecrets(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

export function resolve<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((r) => output.apply((v) => r(v)));
}

export function ofType(run: ProgramRun, type: string): MockResource[] {
  return run.resources.filter((r) => r.type === type);
}

export function named(run: ProgramRun, type: string, name: string): MockResource {
  const found = run.resources.find((r) => r.type === type && r.name === name);
  if (!found) {
    const names = ofType(run, type).map((r) => r.name);
    throw new Error(`no ${type} named ${name}; have ${names.join(', ')}`);
  }
  return found;
}
