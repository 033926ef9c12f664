/**
 * `npm run local`: the whole pipeline on this machine, with no cloud account and no docker. Starts the stack
 * (local/stack/stack.ts), uploads data/titanic.csv to the data bucket (unless --no-seed), shows the execution step
 * by step, then serves the model until Ctrl-C.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createExecutionsClient } from '../../shared/adapters/workflows.ts';
import { localStorageClient } from '../gcs/gcs-emulator.ts';
import { findExecutionFor, waitForExecution } from './executions.ts';
import { createStepReporter, type StepReporter } from './progress.ts';
import { DEFAULT_PORTS, type LocalPorts, ROOT, startLocalStack } from './stack.ts';

const portFlags = Object.fromEntries(
  Object.keys(DEFAULT_PORTS).map((name) => [`${name}-port`, { type: 'string' as const }]),
) as Record<`${keyof LocalPorts}-port`, { type: 'string' }>;

const { values } = parseArgs({
  options: {
    'no-seed': { type: 'boolean', default: false },
    seed: { type: 'string', default: path.join(ROOT, 'data', 'titanic.csv') },
    host: { type: 'string', default: '127.0.0.1' },
    'data-dir': { type: 'string' },
    'pg-host': { type: 'string', default: '127.0.0.1' },
    'pg-port': { type: 'string', default: '5432' },
    'pg-user': { type: 'string', default: 'postgres' },
    'pg-database': { type: 'string', default: 'survival_local' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    candidates: { type: 'string' },
    help: { type: 'boolean', default: false },
    ...portFlags,
  },
});

if (values.help) {
  process.stdout.write(
    `Usage: npm run local -- [--no-seed] [--seed file.csv] [--candidates N] [--data-dir DIR]\n` +
      `  [--pg-host H --pg-port P --pg-user U --pg-database D] [--redis-url URL]\n` +
      `  [${Object.keys(DEFAULT_PORTS)
        .map((n) => `--${n}-port N`)
        .join(' ')}]\n`,
  );
  process.exit(0);
}

function toPort(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${flag} must be a port number, got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  const ports = Object.fromEntries(
    (Object.keys(DEFAULT_PORTS) as Array<keyof LocalPorts>).map((name) => [
      name,
      toPort(`${name}-port`, values[`${name}-port`], DEFAULT_PORTS[name]),
    ]),
  ) as unknown as LocalPorts;
  const reporter: StepReporter = createStepReporter(process.stdout);
  reporter.info(
    'Starting the local stack (Postgres, Redis, GCS and Pub/Sub emulators, Workflows engine, functions, service)',
  );
  const stack = await startLocalStack({
    host: values.host,
    ports,
    ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
    pg: {
      host: values['pg-host'],
      port: toPort('pg-port', values['pg-port'], 5432),
      user: values['pg-user'],
      database: values['pg-database'],
    },
    redisUrl: values['redis-url'],
    ...(values.candidates ? { searchCandidates: Number(values.candidates) } : {}),
    onStep: (event) => reporter.step(event),
    log: (m) => reporter.info(m),
  });
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    reporter.info(`${signal}: shutting down`);
    await stack.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  reporter.info(`GCS emulator ${stack.gcsUrl}, Pub/Sub emulator ${stack.pubsubHost}, Workflows ${stack.workflowsUrl}`);
  reporter.info(`Logs of each process: ${stack.logDir}`);

  if (!values['no-seed']) {
    const storage = localStorageClient(stack.gcsUrl);
    const name = 'uploads/titanic.csv';
    reporter.info(`Uploading ${path.relative(ROOT, values.seed)} to gs://${stack.dataBucket}/${name}`);
    const [file] = await storage.bucket(stack.dataBucket).upload(values.seed, { destination: name });
    const generation = String(file.metadata.generation);
    const executions = createExecutionsClient(stack.workflowsUrl);
    const execution = await findExecutionFor(executions, stack.workflowPath, {
      bucket: stack.dataBucket,
      name,
      generation,
    });
    reporter.info(`Execution ${execution}`);
    const outcome = await waitForExecution(executions, execution);
    await executions.close();
    if (outcome.state !== 'SUCCEEDED') {
      reporter.fail(`Execution ${outcome.state}: ${outcome.error?.payload ?? 'no error payload'}`);
    } else {
      reporter.info(`Execution SUCCEEDED: ${JSON.stringify(outcome.result)}`);
    }
  }

  if (stack.serviceUrl) {
    await showServing(stack.serviceUrl, reporter);
  }
  reporter.info('Running; press Ctrl-C to stop.');
}

/** Waits until the service serves a model, then prints its URL and one sample prediction. */
async function showServing(serviceUrl: string, reporter: StepReporter): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ready = await fetch(`${serviceUrl}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  process.stdout.write(`Service: ${serviceUrl}\n`);
  const sample = JSON.parse(readFileSync(path.join(ROOT, 'data', 'sample-passenger.json'), 'utf8')) as unknown;
  const response = await fetch(`${serviceUrl}/v1/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instances: [sample] }),
  }).catch((err: unknown) => ({ ok: false, status: 0, text: async () => String(err) }));
  const body = await response.text();
  if (response.ok) reporter.info(`Sample prediction for ${JSON.stringify(sample)}: ${body}`);
  else reporter.fail(`No model is served yet (${response.status}): ${body}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run local: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
