/**
 * `npm run bench:serve`: the service's serving speed against a bare node:http server measured in the same run.
 *
 *   1. throughput and latency: POST /v1/predict with one passenger (drift detection and metrics on), 16
 *      connections for 10 s, against a bare node:http server answering a constant JSON to the same request,
 *      and against the framework floor: the service's own fastify instance (service/app.ts createFramework: the
 *      same server, options, JSON and form body parsers, error and not-found handlers) with one trivial POST route
 *      that parses the JSON body and answers a 77-byte constant (what the framework costs before the service does
 *      anything);
 *   2. a 1,000-passenger batch, sent one at a time (client-side round trip);
 *   3. a 60 s soak at 16 connections, sampling the server's RSS every second;
 *   4. POST /v1/explain with the same passenger and load as 1, beside predict (req/s, CPU per request, latency),
 *      and the core's cost of explaining one passenger (exact TreeSHAP), p50 / p99 over the 891 Titanic rows.
 *
 * Each server runs in its own child process, bundled by esbuild as the container image runs it (not through a
 * TypeScript loader); autocannon runs here, so the load generator never shares an event loop with the server. The model is a real forest trained by the core with the largest tree count of the
 * default search space (200 trees), cached between runs.
 * Options: --duration=SECONDS (default 10), --soak=SECONDS (default 60).
 */
import { writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { readInstances } from '../service/instances.ts';
import { serializePrediction } from '../service/routes/predict.ts';
import { driftReferenceOf } from '../shared/core/artifact.ts';
import { RequestDrift } from '../shared/core/drift.ts';
import { WindowDrift } from '../shared/core/drift-window.ts';
import { loadModel } from '../shared/core/model.ts';
import { tinyArtifact, titanicInstances } from '../test/support/service.ts';
import { bundleTarget, CONNECTIONS, cpuSeconds, load, measured, rssBytes, start } from './serve-harness.ts';

const arg = (name: string, fallback: number): number => {
  const v = process.argv.find((a) => a.startsWith(`--${name}=`));
  return v ? Number(v.split('=')[1]) : fallback;
};
const DURATION = arg('duration', 10);
const SOAK = arg('soak', 60);
const TARGETS = {
  ratio: 0.7,
  p99Ms: 10,
  batchMs: 20,
  rssDrift: 0.1,
  floorRatio: 0.85,
  addedShare: 0.15,
  floorP99Ratio: 1.5,
};

/** Microseconds per call of `f`, after a warm-up. */
function micros(f: () => unknown, n: number): number {
  for (let i = 0; i < Math.min(n, 100); i++) f();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f();
  return ((performance.now() - t0) / n) * 1000;
}

/** Where one request's CPU goes, measured in this process on the same model: the parts the service composes. */
function breakdown(artifact: unknown, instances: Array<Record<string, unknown>>): Array<[string, number]> {
  const model = loadModel(artifact);
  const one = { instances: [instances[1]] };
  const passengers = readInstances({ instances }, instances.length);
  const rows = model.predict(passengers).map((p) => p.features);
  const ks = new RequestDrift(driftReferenceOf(model.artifact));
  const window = new WindowDrift(driftReferenceOf(model.artifact));
  // Each passenger's answer as the route writes it (its own probability, p-values and statistics), written once
  // first: the texts the serializer keeps are then there, as they are in a serving process.
  const answers = model.predict(passengers).map((p) => ({
    modelVersion: model.version,
    featureNames: ks.featureNames,
    predictions: [p],
    drift: ks.predict([p.features]),
  }));
  for (const answer of answers) serializePrediction(answer);
  let i = 0;
  return [
    ['validate one passenger (core parsePassengerRecord)', micros(() => readInstances(one, 1), 5000)],
    ['features + 200-tree forest, one passenger', micros(() => model.predict([passengers[1]!]), 5000)],
    ['per-request drift verdict, one row', micros(() => ks.predict([rows[1]!]), 5000)],
    [
      'window drift, one row (evaluation every 10 requests, amortized)',
      micros(() => window.add([rows[i++ % rows.length]!]), 5000),
    ],
    [
      'answer JSON, one passenger (serializePrediction, flattened as sent)',
      micros(() => Buffer.byteLength(serializePrediction(answers[i++ % answers.length]!)), 5000),
    ],
  ];
}

/**
 * Microseconds to explain one passenger (its features already computed), each of the rows timed on its own,
 * in wall time and in this process's CPU time (on a shared machine the wall time includes waiting for a core):
 * sorted, for p50 and p99. Predicting the same row, for scale, in wall time.
 */
function explainCost(artifact: unknown, instances: Array<Record<string, unknown>>) {
  const model = loadModel(artifact);
  const passengers = readInstances({ instances }, instances.length);
  const rows = model.predict(passengers).map((p) => p.features);
  const time = (f: (row: number[]) => unknown, cpu: boolean): { wall: number[]; cpu: number[] } => {
    for (const row of rows.slice(0, 100)) f(row); // warm-up
    const wall: number[] = [];
    const used: number[] = [];
    for (const row of rows) {
      const c0 = cpu ? process.cpuUsage() : null;
      const t0 = performance.now();
      f(row);
      wall.push((performance.now() - t0) * 1000);
      if (c0 !== null) {
        const c = process.cpuUsage(c0);
        used.push(c.user + c.system);
      }
    }
    return { wall: wall.sort((a, b) => a - b), cpu: used.sort((a, b) => a - b) };
  };
  const explain = time((row) => model.explainer.contributions(row), true);
  const predict = time((row) => model.forest.probability(row), false);
  return { explain, predict: predict.wall, rows: rows.length };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

async function main(): Promise<void> {
  const artifact = await tinyArtifact({ nEstimators: 200, modelVersion: 'bench-200' });
  const artifactFile = path.join(tmpdir(), 'survival-bench-model.json');
  writeFileSync(artifactFile, JSON.stringify(artifact));
  const passengers = await titanicInstances(891);
  const one = JSON.stringify({ instances: [passengers[1]] });
  const batch = JSON.stringify({
    instances: Array.from({ length: 1000 }, (_, i) => ({ ...passengers[i % passengers.length], PassengerId: i + 1 })),
  });
  const script = await bundleTarget();
  console.log(
    `model: ${artifact.params.nEstimators} trees; ${CONNECTIONS} connections, ${DURATION} s per run; load average ${loadavg()[0]!.toFixed(2)}`,
  );

  console.log(
    "framework floor: the service's fastify instance (createFramework: same server, options, JSON and form parsers, " +
      'error and not-found handlers) with one trivial POST /v1/predict parsing the body and answering a 77-byte constant',
  );
  const cpu = breakdown(artifact, passengers);
  const costs = explainCost(artifact, passengers);

  // 1. bare node:http baseline, then the service, same request, same load generator.
  const bare = await start(script, 'bare');
  await load(bare.url, one, 2); // warm-up
  const { result: baseline, cpuPerRequestUs: bareCpu } = await measured(bare, one, DURATION);
  await bare.stop();

  const trivial = await start(script, 'floor');
  await load(trivial.url, one, 2); // warm-up
  const { result: floorPost, cpuPerRequestUs: floorPostCpu } = await measured(trivial, one, DURATION);
  await trivial.stop();

  const app = await start(script, 'app', artifactFile);
  await load(app.url, one, 2); // warm-up: JIT, first window evaluations
  const { result: served, cpuPerRequestUs: servedCpu } = await measured(app, one, DURATION);
  await load(app.url, one, 2, '/v1/explain'); // warm-up
  const { result: explained, cpuPerRequestUs: explainCpu } = await measured(app, one, DURATION, '/v1/explain');
  const floorCpu0 = cpuSeconds(app.pid);
  const floor = await autocannon({ url: `${app.url}/healthz`, connections: CONNECTIONS, duration: DURATION });
  const floorCpu = ((cpuSeconds(app.pid) - floorCpu0) / floor.requests.total) * 1e6;
  const failures =
    served.errors + served.non2xx + served.timeouts + explained.errors + explained.non2xx + explained.timeouts;

  // 2. 1,000-passenger batches, one at a time.
  const times: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now();
    const res = await fetch(`${app.url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: batch,
    });
    const json = (await res.json()) as { predictions?: unknown[] };
    const ms = performance.now() - t0;
    if (res.status !== 200 || json.predictions?.length !== 1000) throw new Error(`batch failed: ${res.status}`);
    if (i >= 10) times.push(ms); // the first ten warm up
  }
  times.sort((a, b) => a - b);

  // 3. soak: RSS every second under load.
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rssBytes(app.pid)), 1000);
  const soak = await load(app.url, one, SOAK);
  clearInterval(sampler);
  await app.stop();

  const window = Math.max(1, Math.min(10, Math.floor(samples.length / 3)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const early = mean(samples.slice(0, window));
  const late = mean(samples.slice(-window));
  const rssChange = (late - early) / early;

  const ratio = served.requests.average / baseline.requests.average;
  const batchP50 = percentile(times, 0.5);
  const rows: Array<[string, string, string]> = [
    ['bare node:http req/s', baseline.requests.average.toFixed(0), ''],
    ['service req/s', served.requests.average.toFixed(0), ''],
    ['throughput ratio', ratio.toFixed(2), `${verdict(ratio >= TARGETS.ratio)} (>= ${TARGETS.ratio})`],
    [
      'server CPU per request: bare / service GET /healthz / service predict',
      `${bareCpu.toFixed(0)} / ${floorCpu.toFixed(0)} / ${servedCpu.toFixed(0)} us`,
      '',
    ],
    [
      'CPU-bound throughput ratio (bare CPU / service CPU)',
      (bareCpu / servedCpu).toFixed(2),
      `${verdict(bareCpu / servedCpu >= TARGETS.ratio)} (>= ${TARGETS.ratio})`,
    ],
    [
      'service latency p50 / p99',
      `${served.latency.p50} / ${served.latency.p99} ms`,
      `${verdict(served.latency.p99 <= TARGETS.p99Ms)} (p99 <= ${TARGETS.p99Ms} ms)`,
    ],
    ['bare latency p50 / p99', `${baseline.latency.p50} / ${baseline.latency.p99} ms`, ''],
    [
      'POST /v1/explain req/s, ratio to predict',
      `${explained.requests.average.toFixed(0)}, ${(explained.requests.average / served.requests.average).toFixed(2)}`,
      '',
    ],
    [
      'server CPU per request: explain, ratio to predict',
      `${explainCpu.toFixed(0)} us, ${(explainCpu / servedCpu).toFixed(2)}`,
      '',
    ],
    ['explain latency p50 / p99', `${explained.latency.p50} / ${explained.latency.p99} ms`, ''],
    [
      `core: explain one passenger, wall p50 / p99 (${costs.rows} rows)`,
      `${percentile(costs.explain.wall, 0.5).toFixed(0)} / ${percentile(costs.explain.wall, 0.99).toFixed(0)} us`,
      '',
    ],
    [
      'core: explain one passenger, CPU p50 / p99',
      `${percentile(costs.explain.cpu, 0.5).toFixed(0)} / ${percentile(costs.explain.cpu, 0.99).toFixed(0)} us`,
      '',
    ],
    [
      'core: predict one passenger (features given) p50 / p99',
      `${percentile(costs.predict, 0.5).toFixed(1)} / ${percentile(costs.predict, 0.99).toFixed(1)} us`,
      '',
    ],
    ['service GET /healthz req/s', floor.requests.average.toFixed(0), ''],
    [
      "framework floor: trivial route on the service's fastify req/s, ratio to bare",
      `${floorPost.requests.average.toFixed(0)}, ${(floorPost.requests.average / baseline.requests.average).toFixed(2)}`,
      '',
    ],
    [
      'framework floor: CPU per request, CPU-bound ratio (bare CPU / floor CPU)',
      `${floorPostCpu.toFixed(0)} us, ${(bareCpu / floorPostCpu).toFixed(2)}`,
      '',
    ],
    ['framework floor latency p50 / p99', `${floorPost.latency.p50} / ${floorPost.latency.p99} ms`, ''],
    [
      'service predict / framework floor: req/s ratio',
      (served.requests.average / floorPost.requests.average).toFixed(2),
      `${verdict(served.requests.average / floorPost.requests.average >= TARGETS.floorRatio)} (>= ${TARGETS.floorRatio})`,
    ],
    [
      'service predict / framework floor: what the service adds, in CPU per request',
      `${(servedCpu - floorPostCpu).toFixed(0)} us = ${((servedCpu / floorPostCpu - 1) * 100).toFixed(0)}% of the floor`,
      `${verdict(servedCpu / floorPostCpu - 1 < TARGETS.addedShare)} (< ${TARGETS.addedShare * 100}%)`,
    ],
    [
      'service predict / framework floor: p99 ratio',
      (served.latency.p99 / Math.max(1, floorPost.latency.p99)).toFixed(2),
      `${verdict(served.latency.p99 <= TARGETS.floorP99Ratio * Math.max(1, floorPost.latency.p99))} (<= ${TARGETS.floorP99Ratio})`,
    ],
    ['errors, non-2xx, timeouts', String(failures), verdict(failures === 0)],
    [
      '1,000-passenger batch p50 / p95 / max',
      `${batchP50.toFixed(1)} / ${percentile(times, 0.95).toFixed(1)} / ${times.at(-1)!.toFixed(1)} ms`,
      `${verdict(batchP50 <= TARGETS.batchMs)} (p50 <= ${TARGETS.batchMs} ms)`,
    ],
    [`soak ${SOAK} s req/s`, soak.requests.average.toFixed(0), ''],
    [
      'soak RSS first / last 10 s',
      `${mb(early)} / ${mb(late)} (min ${mb(Math.min(...samples))}, max ${mb(Math.max(...samples))})`,
      `${verdict(Math.abs(rssChange) <= TARGETS.rssDrift)} (${(rssChange * 100).toFixed(1)}%, within ±${TARGETS.rssDrift * 100}%)`,
    ],
  ];
  for (const [name, us] of cpu) rows.push([`cpu: ${name}`, `${us.toFixed(1)} us`, '']);
  rows.push(['load average at the end', loadavg()[0]!.toFixed(2), '']);
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [name, value, target] of rows) console.log(`${name.padEnd(width)}  ${value.padEnd(44)} ${target}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
