/**
 * The whole product on one machine: real Postgres and Redis, the GCS and Pub/Sub emulators, the Workflows
 * engine running workflows/training.yaml, the Cloud Functions under functions-framework (one process and port
 * each, and the fit function's instances behind one URL) and the serving service. Every URL and variable is wired here, as infra/ wires them in the cloud.
 *
 * `startLocalStack` is what `npm run local` (run-local.ts) and the end-to-end test both use.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SERVICE_NODE_FLAGS } from '../../service/node-flags.ts';
import { migrate } from '../../shared/adapters/db/migrations.ts';
import { FUNCTION_ROLES } from '../../shared/adapters/db/roles.ts';
import type { EnvVars } from '../../shared/env.ts';
import { startGcsEmulator } from '../gcs/gcs-emulator.ts';
import { localPubSubClient, startPubSubEmulator } from '../pubsub/pubsub-emulator.ts';
import { type EngineStepEvent, startWorkflowsEngine } from '../workflows-engine/index.ts';
import { startInstancePool } from './instances.ts';
import { type ManagedProcess, spawnFunction, spawnNode } from './processes.ts';
import { assertPortFree, ensurePostgres, ensureRedis } from './services.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LocalPorts {
  gcs: number;
  pubsub: number;
  workflows: number;
  migrate: number;
  load: number;
  process: number;
  train: number;
  trigger: number;
  service: number;
  /** The fit function's URL (its instances listen on ports of their own). */
  fit: number;
}

export const DEFAULT_PORTS: LocalPorts = {
  gcs: 4443,
  pubsub: 8085,
  workflows: 8091,
  migrate: 8106,
  load: 8101,
  process: 8102,
  train: 8103,
  trigger: 8104,
  service: 8080,
  fit: 8105,
};

export interface LocalStackOptions {
  host?: string;
  ports?: Partial<LocalPorts>;
  /** Where the GCS emulator keeps objects and the processes write their logs. */
  dataDir?: string;
  pg?: { host: string; port: number; user: string; database: string };
  redisUrl?: string;
  /** Redis key prefix of the feature store (tests use their own). */
  featureStorePrefix?: string;
  project?: string;
  location?: string;
  dataBucket?: string;
  modelsBucket?: string;
  /** Search candidates for the train step (the default search when absent). */
  searchCandidates?: number;
  /** Training rows from which the search fans out over the fit function (default 20,000, as in infra/). */
  fanOutMinRows?: number;
  /** Processes of the fit function behind its URL (default 1), and the fit calls run at once. */
  fitInstances?: number;
  /** Worker threads of each fit process (TRAIN_WORKERS; default: the machine's available parallelism). */
  fitWorkers?: number;
  minAccuracy?: number;
  /** Start the serving service too (default true). */
  service?: boolean;
  onStep?: (event: EngineStepEvent) => void;
  log?: (message: string) => void;
}

export interface LocalStack {
  host: string;
  ports: LocalPorts;
  gcsUrl: string;
  pubsubHost: string;
  workflowsUrl: string;
  serviceUrl: string | null;
  project: string;
  location: string;
  workflowPath: string;
  dataBucket: string;
  modelsBucket: string;
  database: string;
  logDir: string;
  /** The child processes (functions and service) with their pids, e.g. to read their peak memory. */
  processes(): Array<{ name: string; pid: number | undefined }>;
  close(): Promise<void>;
}

/** The file `npm run upload` reads to find a running stack. */
export const STATE_FILE = path.join(ROOT, '.local-data', 'stack.json');

/** What a running stack writes to `<data dir>/stack.json` for `npm run upload` and `npm run models`. */
export interface StackState {
  gcsUrl: string;
  workflowsUrl: string;
  workflowPath: string;
  dataBucket: string;
  modelsBucket: string;
  serviceUrl: string | null;
  pubsubHost: string;
  project: string;
  pg: { host: string; port: number; user: string; database: string };
  /** The process that runs the stack (`npm run local`); the file is stale once it is gone. */
  pid: number;
}

/** True while process `pid` exists (signal 0 checks without signalling; EPERM means it exists as another user). */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The running stack's state (`--data-dir` of `npm run local`, default .local-data); throws when none runs,
 * including when the file was left by a stack whose process is gone (killed before it could remove it).
 */
export function readStackState(dataDir?: string): StackState {
  const file = dataDir ? path.join(dataDir, 'stack.json') : STATE_FILE;
  let state: Partial<StackState>;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as Partial<StackState>;
  } catch {
    throw new Error(`no local stack is running (no ${file}): start it with \`npm run local\` first`);
  }
  if (typeof state.pid !== 'number' || !processRuns(state.pid)) {
    throw new Error(
      `${file} is stale: the stack that wrote it (process ${state.pid ?? 'unknown'}) is no longer running; ` +
        `start it with \`npm run local\`${dataDir ? ` --data-dir ${dataDir}` : ''}, or delete the file`,
    );
  }
  return state as StackState;
}

async function ensureDatabase(cfg: { host: string; port: number; user: string; database: string }): Promise<void> {
  const client = new pg.Client({ host: cfg.host, port: cfg.port, user: cfg.user, database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [cfg.database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${cfg.database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
  // The function roles exist from the start (migration 3 creates them), so a function called before the first
  // execution's migrate step can connect as its role; that step then finds the schema current.
  const pool = new pg.Pool({ ...cfg, max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
}

/** Ports nothing listens on yet, chosen by the system. */
async function freeLocalPorts(host: string, count: number): Promise<number[]> {
  const { createServer } = await import('node:net');
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, host, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const host = options.host ?? '127.0.0.1';
  const ports: LocalPorts = { ...DEFAULT_PORTS, ...options.ports };
  const log = options.log ?? (() => undefined);
  const dataDir = path.resolve(options.dataDir ?? path.join(ROOT, '.local-data'));
  const logDir = path.join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  if (existsSync(path.join(dataDir, 'stack.json'))) {
    let running: StackState | undefined;
    try {
      running = readStackState(dataDir);
    } catch {
      // a stale file from a stack that is gone: this stack replaces it
    }
    if (running) {
      throw new Error(
        `a stack already runs with the data directory ${dataDir} (process ${running.pid}); stop it first`,
      );
    }
  }
  const pgCfg = options.pg ?? { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'survival_local' };
  const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379';
  const project = options.project ?? 'local-project';
  const location = options.location ?? 'local';
  const dataBucket = options.dataBucket ?? 'survival-data';
  const modelsBucket = options.modelsBucket ?? 'survival-models';
  const workflowPath = `projects/${project}/locations/${location}/workflows/training`;

  for (const [what, port] of Object.entries(ports)) {
    if (what === 'service' && options.service === false) continue;
    await assertPortFree(host, port, what);
  }
  const redis = new URL(redisUrl);
  await ensurePostgres(pgCfg.host, pgCfg.port, log);
  await ensureRedis(redis.hostname, Number(redis.port || 6379), log);
  await ensureDatabase(pgCfg);

  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const fn of closers.reverse()) await fn().catch(() => undefined);
  };
  try {
    const gcs = await startGcsEmulator({
      host,
      port: ports.gcs,
      dataDir: path.join(dataDir, 'gcs'),
      buckets: [dataBucket, modelsBucket],
    });
    closers.push(() => gcs.close());
    const gcsUrl = gcs.url;
    const pubsub = await startPubSubEmulator({ host, port: ports.pubsub });
    closers.push(() => pubsub.close());
    const pubsubClient = localPubSubClient(pubsub.host, project);
    for (const topic of ['model-published', 'drift-alerts']) {
      const [exists] = await pubsubClient.topic(topic).exists();
      if (!exists) await pubsubClient.createTopic(topic);
    }

    const common: EnvVars<string> = {
      GOOGLE_CLOUD_PROJECT: project,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'INFO',
      PGHOST: pgCfg.host,
      PGPORT: String(pgCfg.port),
      PGUSER: pgCfg.user,
      PGDATABASE: pgCfg.database,
      REDIS_URL: redisUrl,
      FEATURE_STORE_PREFIX: options.featureStorePrefix ?? 'fs',
      STORAGE_API_ENDPOINT: gcsUrl,
      PUBSUB_EMULATOR_HOST: pubsub.host,
      DATA_BUCKET: dataBucket,
      MODELS_BUCKET: modelsBucket,
      // No metadata server exists here: without this, Google clients probe for one (about 1 s) on first use.
      METADATA_SERVER_DETECTION: 'none',
    };
    const fnUrl = (port: number): string => `http://${host}:${port}`;
    // Every function logs in as the local user, and load, process and train then act as their own roles (SET ROLE
    // at connection start, PGOPTIONS, read by node-postgres): their grants are enforced here as in the cloud, without
    // per-function logins on a laptop's Postgres. migrate acts as the local user, the owner.
    const asRole = (fn: keyof typeof FUNCTION_ROLES): EnvVars<string> => ({
      PGOPTIONS: `-c role=${FUNCTION_ROLES[fn]}`,
    });
    const functionEnv: Record<string, EnvVars<string>> = {
      migrate: {},
      load: asRole('load'),
      process: asRole('process'),
      train: {
        ...asRole('train'),
        ...(options.searchCandidates ? { SEARCH_CANDIDATES: String(options.searchCandidates) } : {}),
        ...(options.minAccuracy !== undefined ? { MIN_ACCURACY: String(options.minAccuracy) } : {}),
      },
      trigger: { WORKFLOW_NAME: workflowPath, WORKFLOWS_API_ENDPOINT: fnUrl(ports.workflows) },
    };
    const searchCandidates = String(options.searchCandidates ?? 10);
    const fitInstances = options.fitInstances ?? 1;
    const fitEnv: EnvVars<string> = {
      ...common,
      SEARCH_CANDIDATES: searchCandidates,
      ...(options.fitWorkers !== undefined ? { TRAIN_WORKERS: String(options.fitWorkers) } : {}),
    };

    const engineLog = createWriteStream(path.join(logDir, 'workflows.log'), { flags: 'a' });
    closers.push(async () => {
      engineLog.end();
    });
    const engine = await startWorkflowsEngine({
      host,
      port: ports.workflows,
      project,
      location,
      workflows: { training: readFileSync(path.join(ROOT, 'workflows', 'training.yaml'), 'utf8') },
      env: {
        MIGRATE_URL: fnUrl(ports.migrate),
        LOAD_URL: fnUrl(ports.load),
        PROCESS_URL: fnUrl(ports.process),
        TRAIN_URL: fnUrl(ports.train),
        FIT_URL: fnUrl(ports.fit),
        FANOUT_MIN_ROWS: String(options.fanOutMinRows ?? 20_000),
        FIT_CONCURRENCY: String(fitInstances),
        SEARCH_CANDIDATES: searchCandidates,
      },
      ...(options.onStep ? { onStep: options.onStep } : {}),
      log: (entry) => engineLog.write(`${JSON.stringify(entry)}\n`),
    });
    closers.push(() => engine.close());

    const started = await Promise.all(
      (['migrate', 'load', 'process', 'train', 'trigger'] as const).map((name) =>
        spawnFunction(name, name === 'trigger' ? 'cloudevent' : 'http', {
          host,
          port: ports[name],
          env: { ...common, ...functionEnv[name] },
          logDir,
          cwd: ROOT,
        }),
      ),
    );
    const processes: ManagedProcess[] = [...started];
    closers.push(async () => {
      await Promise.all(processes.map((p) => p.stop()));
    });
    // The fit function's instances, each on a port of its own, behind its one URL.
    const fitPorts = await freeLocalPorts(host, fitInstances);
    const fits = await Promise.all(
      fitPorts.map((port, i) =>
        spawnFunction('fit', 'http', { host, port, env: fitEnv, logDir, cwd: ROOT, logName: `fit-${i + 1}` }),
      ),
    );
    processes.push(...fits);
    const fitPool = await startInstancePool(
      fits.map((f) => f.url),
      { host, port: ports.fit },
    );
    closers.push(() => fitPool.close());

    let serviceUrl: string | null = null;
    if (options.service !== false) {
      const service = await spawnNode({
        name: 'service',
        args: [...SERVICE_NODE_FLAGS, path.join(ROOT, 'service', 'server.ts')],
        host,
        port: ports.service,
        env: {
          ...common,
          PORT: String(ports.service),
          HOST: host,
          LOCAL_MODE: 'true',
          MODEL_POLL_SECONDS: '2',
        },
        logDir,
        cwd: ROOT,
      });
      processes.push(service);
      serviceUrl = service.url;
      // Each service instance also polls models/latest.json; the push makes a new model current at once.
      const [subExists] = await pubsubClient.subscription('model-published-service').exists();
      if (!subExists) {
        await pubsubClient.topic('model-published').createSubscription('model-published-service', {
          pushConfig: { pushEndpoint: `${serviceUrl}/events/model-published` },
        });
      }
    }
    await pubsubClient.close();

    // Eventarc's part: every finalized object in the data bucket is delivered to the trigger.
    gcs.addSink(fnUrl(ports.trigger), dataBucket);

    const stack: LocalStack = {
      host,
      ports,
      gcsUrl,
      pubsubHost: pubsub.host,
      workflowsUrl: fnUrl(ports.workflows),
      serviceUrl,
      project,
      location,
      workflowPath,
      dataBucket,
      modelsBucket,
      database: pgCfg.database,
      logDir,
      processes: () => processes.map((p) => ({ name: p.name, pid: p.child.pid })),
      close,
    };
    const stateFile = path.join(dataDir, 'stack.json');
    const state: StackState = {
      gcsUrl,
      workflowsUrl: stack.workflowsUrl,
      workflowPath,
      dataBucket,
      modelsBucket,
      serviceUrl,
      pubsubHost: pubsub.host,
      project,
      pg: pgCfg,
      pid: process.pid,
    };
    writeFileSync(stateFile, JSON.stringify(state, null, 2));
    // Removed first on close (closers run in reverse), and only while it is still this stack's file.
    closers.push(async () => {
      try {
        const onDisk = JSON.parse(readFileSync(stateFile, 'utf8')) as Partial<StackState>;
        if (onDisk.pid === process.pid && onDisk.gcsUrl === gcsUrl) rmSync(stateFile, { force: true });
      } catch {
        // already gone
      }
    });
    return stack;
  } catch (err) {
    await close();
    throw err;
  }
}
