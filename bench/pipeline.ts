/**
 * `npm run bench:pipeline`: upload-to-model-current time of the whole local pipeline for data/titanic.csv, and
 * where that time goes, against the train step alone measured in the same run.
 *
 * Starts the local stack once (free ports, its own Postgres database and feature-store prefix, the default train
 * search), then BENCH_RUNS times (default 3) uploads data/titanic.csv under a new object name with one passenger's
 * Ticket text changed (a new dataset, feature set and model each time: every run really loads, processes and
 * trains). Measured per run, all on this process's clock (the Workflows engine runs in this process):
 * - total: upload start -> `models/latest.json` names the new model ("model current");
 * - each pipeline step's HTTP call (load, process, train) from the engine's step events;
 * - the remainder: upload, trigger (finalize event -> execution start), orchestration between steps, and the
 *   delay until the pointer is visible to a reader;
 * - optionally, upload start -> the service's GET /v1/model answers the new version.
 * Target: total / train step <= 1.5.
 *
 * `-- --rows N` uploads N synthetic passengers instead (the Titanic distribution, as bench:data draws them; 1,000,000
 * rows are about 73 MB): above MAX_TRAINING_ROWS the model trains on a stratified sample, above FANOUT_MIN_ROWS the
 * search fans out over the fit function (its own row in the table). Each run also prints every step's time and peak
 * memory against the timeout and memory infra/ gives it. Use BENCH_MAX_SECONDS to allow the larger runs their time.
 *
 * `--champion` first trains a model on data/titanic.csv (untimed), so the timed runs' train steps also validate the
 * upload and compare against that champion (on a VALIDATION_MAX_ROWS sample of a larger upload).
 *
 * Bounded by BENCH_MAX_SECONDS (default 900): past it everything is stopped and the process exits non-zero, as it
 * does when an execution fails. BENCH_KEEP=1 keeps the stack's data directory (per-process logs) for inspection.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Storage } from '@google-cloud/storage';
import type { ExecutionsClient } from '@google-cloud/workflows';
import { Redis } from 'ioredis';
import pg from 'pg';
import { localStorageClient } from '../local/gcs/gcs-emulator.ts';
import { findExecutionFor, waitForExecution } from '../local/stack/executions.ts';
import { DEFAULT_PORTS, type LocalPorts, type LocalStack, ROOT, startLocalStack } from '../local/stack/stack.ts';
import type { EngineStepEvent } from '../local/workflows-engine/index.ts';
import { createExecutionsClient } from '../shared/adapters/workflows.ts';
import { freePorts } from '../test/support/ports.ts';
import { syntheticCsv } from '../test/support/synthetic.ts';

const { values: cli } = parseArgs({
  options: { rows: { type: 'string' }, champion: { type: 'boolean' } },
  strict: false,
});
/**
 * `--champion`: before the timed runs, train a model on data/titanic.csv (untimed), so the first timed run is judged
 * against a champion: the train step then also validates the upload and compares the two models on its rows (a
 * stratified sample of VALIDATION_MAX_ROWS of them above that), as every upload after the first does.
 */
const CHAMPION = cli.champion === true;
/** `--rows N`: upload N synthetic passengers (the Titanic distribution, as bench:data draws them) instead of titanic.csv. */
const SYNTHETIC_ROWS = cli.rows === undefined ? null : Number(cli.rows);
if (SYNTHETIC_ROWS !== null && !(Number.isInteger(SYNTHETIC_ROWS) && SYNTHETIC_ROWS > 0))
  throw new Error(`--rows must be a positive integer, got ${cli.rows}`);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/**
 * What infra/ gives each step (Pulumi.yaml defaults: functionMemory 512Mi for load and process, trainMemory 4Gi for
 * train and fit) and how long the workflow waits for each call (workflows/training.yaml).
 */
const LIMITS: Record<string, { memoryMiB: number; timeoutSeconds: number }> = {
  load: { memoryMiB: 512, timeoutSeconds: 900 },
  process: { memoryMiB: 512, timeoutSeconds: 900 },
  fit: { memoryMiB: 4096, timeoutSeconds: 1800 },
  train: { memoryMiB: 4096, timeoutSeconds: 1800 },
};
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 900);
const KEEP = process.env.BENCH_KEEP === '1';
const TARGET = 1.5;
const POINTER_POLL_MS = 100;
const SERVICE_POLL_MS = 100;

const say = (line: string): void => console.log(line);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.now();
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const loadavg = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

const suffix = randomBytes(4).toString('hex');
const database = `bench_pipeline_${suffix}`;
const prefix = `bench-pipeline-${suffix}`;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'survival-bench-pipeline-'));
const titanic = readFileSync(path.join(ROOT, 'data', 'titanic.csv'), 'utf8');

let stack: LocalStack | undefined;
let storage: Storage | undefined;
let executions: ExecutionsClient | undefined;
let cleaned: Promise<void> | undefined;

/** Stops the stack, drops the database, deletes the feature-store keys; safe to call more than once. */
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await executions?.close().catch(() => undefined);
    await stack?.close().catch(() => undefined);
    const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
    try {
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } catch (err) {
      say(`cleanup: could not drop database ${database}: ${(err as Error).message}`);
    } finally {
      await admin.end().catch(() => undefined);
    }
    const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 2 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
    } catch (err) {
      say(`cleanup: could not delete Redis keys ${prefix}*: ${(err as Error).message}`);
    } finally {
      redis.disconnect();
    }
    if (KEEP) say(`kept the stack's data directory (logs in ${path.join(dataDir, 'logs')})`);
    else rmSync(dataDir, { recursive: true, force: true });
  })();
  return cleaned;
}

let aborting = false;
async function abort(reason: string): Promise<void> {
  // The first reason is the one that matters: the clean-up makes the run in progress fail too.
  if (aborting) return;
  aborting = true;
  say(`bench:pipeline FAILED: ${reason}`);
  const hard = setTimeout(() => process.exit(1), 60_000);
  hard.unref();
  await cleanup();
  process.exit(1);
}

const watchdog = setTimeout(() => {
  void abort(`not finished after ${MAX_SECONDS} s (BENCH_MAX_SECONDS)`);
}, MAX_SECONDS * 1000);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void abort(`interrupted (${signal})`));

/** Step events as they arrive, stamped on this process's clock. */
const events: Array<EngineStepEvent & { at: number }> = [];

interface RunFigures {
  object: string;
  modelVersion: string;
  /** Seconds, all from the upload's start. */
  upload: number;
  trigger: number;
  beforeLoad: number;
  load: number;
  gapLoadProcess: number;
  process: number;
  gapProcessTrain: number;
  train: number;
  /** The fanned-out search (the parallel fit calls), 0 when train ran the search itself. */
  fanOut: number;
  /** The longest single fit call of the fan-out (the timeout applies per call). */
  longestFit: number;
  /** Pointer visible minus train step end (negative: seen before the train call returned). */
  pointerAfterTrain: number;
  total: number;
  remainder: number;
  served: number | null;
  /** trainModel's own seconds, from the train function's log line `trained` (null if not found). */
  trainCompute: number | null;
  loadavg: string;
}

/** The `seconds` of the train function's `trained` log line for this model (its log file in the stack's logDir). */
function trainComputeSeconds(modelVersion: string): number | null {
  try {
    for (const line of readFileSync(path.join(stack!.logDir, 'train.log'), 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { message?: string; modelVersion?: string; seconds?: number };
      if (entry.message === 'trained' && entry.modelVersion === modelVersion && typeof entry.seconds === 'number')
        return entry.seconds;
    }
  } catch {
    // no log: the figure is optional
  }
  return null;
}

/** Polls `models/latest.json` until it names a model other than `previous`; resolves with the time and version. */
async function watchPointer(
  previous: string | null,
  signal: AbortSignal,
): Promise<{ at: number; modelVersion: string } | null> {
  const file = storage!.bucket(stack!.modelsBucket).file('models/latest.json');
  while (!signal.aborted) {
    try {
      const [buf] = await file.download({ validation: false });
      const version = (JSON.parse(buf.toString('utf8')) as { modelVersion?: string }).modelVersion ?? null;
      if (version && version !== previous) return { at: now(), modelVersion: version };
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
    await sleep(POINTER_POLL_MS);
  }
  return null;
}

async function currentPointer(): Promise<string | null> {
  try {
    const [buf] = await storage!.bucket(stack!.modelsBucket).file('models/latest.json').download();
    return (JSON.parse(buf.toString('utf8')) as { modelVersion?: string }).modelVersion ?? null;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return null;
    throw err;
  }
}

async function watchService(version: string, deadline: number): Promise<number | null> {
  while (now() < deadline) {
    try {
      const res = await fetch(`${stack!.serviceUrl}/v1/model`);
      if (res.ok && ((await res.json()) as { modelVersion?: string }).modelVersion === version) return now();
      else if (!res.ok) await res.body?.cancel();
    } catch {
      // not up yet
    }
    await sleep(SERVICE_POLL_MS);
  }
  return null;
}

/** titanic.csv with passenger 1's Ticket text changed: same rows and labels, a different file. */
function variant(run: number): string {
  const from = ',A/5 21171,';
  if (!titanic.includes(from)) throw new Error('data/titanic.csv: passenger 1 has not the expected Ticket');
  return titanic.replace(from, `,A/5 21171 B${suffix}${run},`);
}

/** Peak resident memory (VmHWM) of each function process so far, MiB, by function name (the largest of its processes). */
function peakMemory(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { name, pid } of stack!.processes()) {
    if (pid === undefined) continue;
    try {
      const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      if (Number.isFinite(kb)) out[name] = Math.max(out[name] ?? 0, kb / 1024);
    } catch {
      // the process is gone: no figure
    }
  }
  return out;
}

/** Each step's time and peak memory against what infra/ gives it. */
function limitsTable(f: RunFigures): void {
  const memory = peakMemory();
  const seconds: Record<string, number> = { load: f.load, process: f.process, fit: f.longestFit, train: f.train };
  say('  step      seconds / timeout    peak RSS MiB / memory   inside');
  for (const [step, limit] of Object.entries(LIMITS)) {
    if (step === 'fit' && f.fanOut === 0) continue;
    const s = seconds[step] as number;
    const m = memory[step];
    const inside = s <= limit.timeoutSeconds && (m === undefined || m <= limit.memoryMiB);
    say(
      `  ${step.padEnd(8)} ${s.toFixed(1).padStart(8)} / ${String(limit.timeoutSeconds).padEnd(8)} ${(m === undefined ? '?' : m.toFixed(0)).padStart(10)} / ${String(limit.memoryMiB).padEnd(10)} ${inside ? 'yes' : 'NO'}`,
    );
  }
  say('  (peak RSS: VmHWM of the local process since it started, under tsx; fit: its longest single call)');
}

async function runOnce(run: number): Promise<RunFigures> {
  const s = stack!;
  const object = `uploads/bench-${suffix}-${run}.csv`;
  const contents = SYNTHETIC_ROWS === null ? variant(run) : await syntheticCsv(SYNTHETIC_ROWS, 20_260_101 + run);
  const previous = await currentPointer();
  const stop = new AbortController();
  const avg = loadavg();

  const t0 = now();
  const pointer = watchPointer(previous, stop.signal);
  pointer.catch(() => undefined);
  const file = storage!.bucket(s.dataBucket).file(object);
  await file.save(contents, { contentType: 'text/csv', resumable: contents.length > 8 * 1024 * 1024 });
  const tUploaded = now();
  const generation = String(file.metadata.generation ?? (await file.getMetadata())[0].generation);
  const name = await findExecutionFor(executions!, s.workflowPath, { bucket: s.dataBucket, name: object, generation });
  const outcome = await waitForExecution(executions!, name, { timeoutMs: MAX_SECONDS * 1000, intervalMs: 200 });
  if (outcome.state !== 'SUCCEEDED') {
    stop.abort();
    throw new Error(`run ${run}: execution ${name} ${outcome.state}: ${JSON.stringify(outcome.error)}`);
  }
  const result = outcome.result as { modelVersion: string; promoted: boolean; datasetId: string };
  if (!result.promoted) {
    // the steps ran: their times and memory are still the figures asked for
    const ended = events.filter((e) => e.execution === name && e.type === 'step-end' && e.routine === 'main');
    const memory = peakMemory();
    for (const e of ended)
      if (e.type === 'step-end' && e.step in LIMITS)
        say(`  ${e.step}: ${(e.durationMs / 1000).toFixed(1)} s, peak RSS ${memory[e.step]?.toFixed(0) ?? '?'} MiB`);
    throw new Error(
      `run ${run}: model ${result.modelVersion} was not promoted: ${JSON.stringify((result as { decision?: unknown }).decision ?? null).slice(0, 500)}`,
    );
  }
  const seen = await Promise.race([pointer, sleep(30_000).then(() => null)]);
  stop.abort();
  if (!seen) throw new Error(`run ${run}: models/latest.json did not change within 30 s of the execution's end`);
  if (seen.modelVersion !== result.modelVersion)
    throw new Error(`run ${run}: latest.json names ${seen.modelVersion}, the execution trained ${result.modelVersion}`);
  const servedAt = s.serviceUrl ? await watchService(result.modelVersion, now() + 60_000) : null;

  const mine = events.filter((e) => e.execution === name);
  const first = mine.find((e) => e.type === 'step-start');
  const http = (step: string) => {
    const start = mine.find((e) => e.type === 'step-start' && e.routine === 'main' && e.step === step);
    const end = mine.find((e) => e.type === 'step-end' && e.routine === 'main' && e.step === step);
    if (!start || !end || end.type !== 'step-end') throw new Error(`run ${run}: no step events for ${step}`);
    return { start: start.at, end: end.at, seconds: end.durationMs / 1000 };
  };
  if (!first) throw new Error(`run ${run}: no step events for ${name}`);
  const load = http('load');
  const proc = http('process');
  const train = http('train');
  const fanOutEnd = mine.find((e) => e.type === 'step-end' && e.routine === 'main' && e.step === 'fit_candidates');
  const fanOut = fanOutEnd?.type === 'step-end' ? fanOutEnd.durationMs / 1000 : 0;
  const fitCalls = mine.filter((e) => e.type === 'step-end' && e.step === 'fit');
  const longestFit = Math.max(0, ...fitCalls.map((e) => (e.type === 'step-end' ? e.durationMs / 1000 : 0)));
  const retries = mine.filter((e) => e.type === 'retry').length;
  if (retries > 0) say(`  note: ${retries} retried step call(s) in run ${run}`);
  const sec = (a: number, b: number): number => (b - a) / 1000;
  const total = sec(t0, seen.at);
  return {
    object,
    modelVersion: result.modelVersion,
    upload: sec(t0, tUploaded),
    trigger: sec(tUploaded, first.at),
    beforeLoad: sec(first.at, load.start),
    load: load.seconds,
    gapLoadProcess: sec(load.end, proc.start),
    process: proc.seconds,
    gapProcessTrain: sec(proc.end, train.start) - fanOut,
    train: train.seconds,
    fanOut,
    longestFit,
    pointerAfterTrain: sec(train.end, seen.at),
    total,
    remainder: total - load.seconds - proc.seconds - fanOut - train.seconds,
    served: servedAt === null ? null : sec(t0, servedAt),
    trainCompute: trainComputeSeconds(result.modelVersion),
    loadavg: avg,
  };
}

const ROWS: Array<[string, keyof RunFigures]> = [
  ['upload (client save)', 'upload'],
  ['trigger (finalize -> execution start)', 'trigger'],
  ['engine: start -> load call', 'beforeLoad'],
  ['load (HTTP call)', 'load'],
  ['engine: load -> process', 'gapLoadProcess'],
  ['process (HTTP call)', 'process'],
  ['search fan-out (parallel fit calls)', 'fanOut'],
  ['engine: process -> train (less fan-out)', 'gapProcessTrain'],
  ['train (HTTP call) = baseline', 'train'],
  ['pointer visible - train end', 'pointerAfterTrain'],
  ['remainder (total - steps)', 'remainder'],
  ['TOTAL upload -> model current', 'total'],
];

function table(title: string, f: (key: keyof RunFigures) => number, ratioLabel: string, extra: string[]): void {
  const total = f('total');
  say(title);
  say(`  ${'phase'.padEnd(40)} ${'seconds'.padStart(9)} ${'share'.padStart(7)}`);
  for (const [label, key] of ROWS) {
    const v = f(key);
    say(`  ${label.padEnd(40)} ${v.toFixed(3).padStart(9)} ${`${((100 * v) / total).toFixed(1)}%`.padStart(7)}`);
  }
  const ratio = total / f('train');
  say(`  ${ratioLabel}: ${ratio.toFixed(3)} (target <= ${TARGET}) -> ${ratio <= TARGET ? 'MET' : 'NOT MET'}`);
  for (const line of extra) say(`  ${line}`);
}

try {
  say(
    `bench:pipeline on ${os.cpus().length} cores, load average ${loadavg()}; ${RUNS} runs, default train search; ` +
      (SYNTHETIC_ROWS === null ? 'data/titanic.csv' : `${SYNTHETIC_ROWS} synthetic passengers per upload`),
  );
  const names = Object.keys(DEFAULT_PORTS) as Array<keyof LocalPorts>;
  const free = await freePorts(names.length);
  const ports = Object.fromEntries(names.map((n, i) => [n, free[i]])) as unknown as LocalPorts;
  const tStack = now();
  stack = await startLocalStack({
    ports,
    dataDir,
    pg: { host: '127.0.0.1', port: 5432, user: 'postgres', database },
    featureStorePrefix: prefix,
    onStep: (e) => events.push({ ...e, at: now() }),
    log: (m) => say(`  stack: ${m}`),
  });
  say(`stack up in ${((now() - tStack) / 1000).toFixed(1)} s (logs: ${stack.logDir})`);
  storage = localStorageClient(stack.gcsUrl);
  executions = createExecutionsClient(stack.workflowsUrl);

  if (CHAMPION) {
    const tChampion = now();
    const object = `uploads/bench-${suffix}-champion.csv`;
    const file = storage.bucket(stack.dataBucket).file(object);
    await file.save(variant(0), { contentType: 'text/csv', resumable: false });
    const generation = String(file.metadata.generation ?? (await file.getMetadata())[0].generation);
    const name = await findExecutionFor(executions, stack.workflowPath, {
      bucket: stack.dataBucket,
      name: object,
      generation,
    });
    const outcome = await waitForExecution(executions, name, { timeoutMs: MAX_SECONDS * 1000, intervalMs: 200 });
    if (outcome.state !== 'SUCCEEDED') throw new Error(`champion: execution ${name} ${outcome.state}`);
    say(
      `champion ${(outcome.result as { modelVersion: string }).modelVersion} trained on data/titanic.csv in ${((now() - tChampion) / 1000).toFixed(1)} s (untimed)`,
    );
  }
  const figures: RunFigures[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const f = await runOnce(run);
    figures.push(f);
    limitsTable(f);
    table(
      `run ${run}: ${f.object} -> ${f.modelVersion} (load average at start ${f.loadavg})`,
      (k) => f[k] as number,
      'ratio total / train',
      [
        f.trainCompute === null
          ? ''
          : `train step = trainModel ${f.trainCompute.toFixed(3)} s + rest of the train handler (read features, write artifact, register, promote, publish) ${(f.train - f.trainCompute).toFixed(3)} s`,
        f.served === null
          ? 'service: did not serve it within 60 s'
          : `service serves it (GET /v1/model) at ${f.served.toFixed(3)} s (+${(f.served - f.total).toFixed(3)} s after current)`,
      ].filter(Boolean),
    );
  }
  const med = (k: keyof RunFigures): number => median(figures.map((f) => f[k] as number));
  const served = figures.map((f) => f.served).filter((x): x is number => x !== null);
  const ratios = figures.map((f) => f.total / f.train);
  table(
    `median of ${figures.length} runs (each row its own median; shares of the median total)`,
    med,
    'ratio median total / median train',
    [
      `ratio per run: ${ratios.map((r) => r.toFixed(3)).join(', ')} -> median ${median(ratios).toFixed(3)}`,
      `totals per run: ${figures.map((f) => f.total.toFixed(2)).join(', ')} s; train per run: ${figures.map((f) => f.train.toFixed(2)).join(', ')} s`,
      served.length ? `service serves the new model: median ${median(served).toFixed(3)} s after upload start` : '',
    ].filter(Boolean),
  );
  clearTimeout(watchdog);
  await cleanup();
  process.exit(0);
} catch (err) {
  await abort((err as Error).stack ?? String(err));
}
