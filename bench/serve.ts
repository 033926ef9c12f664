/**
 * `npm run bench:serve`: the service's serving speed against a bare node:http server measured in the same run.
 *
 *   1. throughput and latency: POST /v1/predict with one passenger (drift detection and metrics on), 16
 *      connections, against a bare node:http server answering a constant JSON to the same request, and against
 *      the framework floor: the service's own fastify instance (service/app.ts createFramework: the same server,
 *      options, JSON and form body parsers, error and not-found handlers) with one trivial POST route that parses
 *      the JSON body and answers a 77-byte constant (what the framework costs before the service does anything).
 *      The three servers run side by side and are measured in turns: --rounds rounds (default 5) of --duration
 *      seconds (default 5) each, the order rotated every round. This machine's speed wanders by tens of percent
 *      within a minute, for every server alike, so each ratio is taken within a round, from runs seconds apart,
 *      and the median over the rounds is reported with every round's figure;
 *   2. a 1,000-passenger batch, sent one at a time (client-side round trip);
 *   3. a 60 s soak at 16 connections, sampling the server's RSS every second;
 *   4. POST /v1/explain with the same passenger and load as 1, beside predict (req/s, CPU per request, latency),
 *      and the core's cost of explaining one passenger (exact TreeSHAP), p50 / p99 over the 891 Titanic rows.
 *
 * Each server runs in its own child process, bundled by esbuild as the container image runs it (not through a
 * TypeScript loader); the load comes from wrk in its own process (autocannon in this one where wrk is not
 * installed: see serve-harness.ts `loadClient`). The model is a real forest trained by the core with 200 trees
 * (more than the default search space's largest, 150, and the size every earlier serving figure was taken at), cached
 * between runs.
 * Options: --duration=SECONDS (default 5), --rounds=N (default 5), --warmup=SECONDS of load on each server before the
 * turns (default 2), --soak=SECONDS (default 60), --baseline=DIR: another
 * checkout (with its node_modules installed) whose framework floor and service join the turns (its own
 * serve-target.ts and its own bench model, trained by its own code), and whose 1,000-passenger batches alternate
 * with this one's, so that before and after are measured in one run. --calibrate=US,US,...: for each, a floor whose
 * route first keeps the CPU busy for that many microseconds joins the turns (serve-target.ts --spin): what a known
 * amount of handler work adds to the measured CPU per request and takes from req/s, and so how many microseconds
 * of such work the service's measured cost stands for.
 */
import { writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { readInstances } from '../service/instances.ts';
import { serializePrediction } from '../service/routes/predict.ts';
import { driftReferenceOf } from '../shared/core/artifact.ts';
import { RequestDrift } from '../shared/core/drift.ts';
import { WindowDrift } from '../shared/core/drift-window.ts';
import { loadModel } from '../shared/core/model.ts';
import { tinyArtifact, titanicInstances } from '../test/support/service.ts';
import {
  baselineArtifact,
  bundleTarget,
  CONNECTIONS,
  cpuSeconds,
  type LoadResult,
  load,
  loadClient,
  measured,
  rssBytes,
  serviceNodeFlags,
  start,
  type Target,
} from './serve-harness.ts';

const arg = (name: string, fallback: number): number => {
  const v = process.argv.find((a) => a.startsWith(`--${name}=`));
  return v ? Number(v.split('=')[1]) : fallback;
};
const DURATION = arg('duration', 5);
const ROUNDS = arg('rounds', 5);
const WARMUP = arg('warmup', 2);
const SOAK = arg('soak', 60);
const BASELINE = process.argv.find((a) => a.startsWith('--baseline='))?.slice(11);
const CALIBRATE = (process.argv.find((a) => a.startsWith('--calibrate='))?.slice(12) ?? '')
  .split(',')
  .filter((v) => v !== '')
  .map(Number);
if (CALIBRATE.some((us) => !(us > 0))) throw new Error('--calibrate takes positive microseconds, e.g. --calibrate=4,8');
const spunFloor = (us: number) => `floor+${us}us`;
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
  // 20,000 calls first, so that the optimizing compiler has taken the code as it has in a serving process (after a
  // warm-up of 100 calls, the parts measured up to several times what they cost once optimized); then the median of
  // five batches of n.
  for (let i = 0; i < 20_000; i++) f();
  const batches: number[] = [];
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    batches.push(((performance.now() - t0) / n) * 1000);
  }
  return median(batches);
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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Run {
  result: LoadResult;
  cpuPerRequestUs: number;
}

/**
 * `rounds` rounds of one `seconds`-long run per target, the order rotated each round (a target is first in one
 * round, last in another), every target warmed up first. Returns each target's runs, round by round.
 */
async function inTurns(
  targets: Record<string, Target>,
  body: string,
  seconds: number,
  rounds: number,
): Promise<Record<string, Run[]>> {
  const names = Object.keys(targets);
  for (const name of names) await load(targets[name]!.url, body, WARMUP); // warm-up: JIT, first window evaluations
  const runs: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length]!;
      runs[name]!.push(await measured(targets[name]!, body, seconds));
    }
  }
  return runs;
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

  // 1. bare node:http, the framework floor and the service, side by side, measured in turns.
  // Every server of a checkout runs with that checkout's service node flags (service/node-flags.ts).
  const flags = await serviceNodeFlags();
  const bare = await start(script, 'bare', undefined, flags);
  const trivial = await start(script, 'floor', undefined, flags);
  const app = await start(script, 'app', artifactFile, flags);
  const targets: Record<string, Target> = { bare, floor: trivial, app };
  if (BASELINE) {
    const root = path.resolve(BASELINE);
    const baseScript = await bundleTarget(root);
    const baseFlags = await serviceNodeFlags(root);
    targets.baseFloor = await start(baseScript, 'floor', undefined, baseFlags);
    targets.baseApp = await start(baseScript, 'app', baselineArtifact(root), baseFlags);
  }
  for (const us of CALIBRATE) targets[spunFloor(us)] = await start(script, 'floor', undefined, flags, [`--spin=${us}`]);
  const turns = await inTurns(targets, one, DURATION, ROUNDS);
  // The services go on to the batches (and this one to the soak); the other servers are done.
  for (const [name, target] of Object.entries(targets)) if (name !== 'app' && name !== 'baseApp') await target.stop();
  const byRound = (f: (round: number) => number) => Array.from({ length: ROUNDS }, (_, r) => f(r));
  const run = (name: string, r: number) => turns[name]![r]!;
  const rps = (name: string, r: number) => run(name, r).result.requests.average;
  const cpuOf = (name: string, r: number) => run(name, r).cpuPerRequestUs;
  const p99Of = (name: string, r: number) => run(name, r).result.latency.p99;
  const series = {
    bareRps: byRound((r) => rps('bare', r)),
    floorRps: byRound((r) => rps('floor', r)),
    appRps: byRound((r) => rps('app', r)),
    bareCpu: byRound((r) => cpuOf('bare', r)),
    floorCpu: byRound((r) => cpuOf('floor', r)),
    appCpu: byRound((r) => cpuOf('app', r)),
    ratioBare: byRound((r) => rps('app', r) / rps('bare', r)),
    ratioFloor: byRound((r) => rps('app', r) / rps('floor', r)),
    added: byRound((r) => cpuOf('app', r) / cpuOf('floor', r) - 1),
    p99Ratio: byRound((r) => p99Of('app', r) / Math.max(1e-3, p99Of('floor', r))),
    cpuBound: byRound((r) => cpuOf('bare', r) / cpuOf('app', r)),
    floorToBare: byRound((r) => rps('floor', r) / rps('bare', r)),
    floorCpuBound: byRound((r) => cpuOf('bare', r) / cpuOf('floor', r)),
  };
  const all = (xs: number[], digits: number, scale = 1) => xs.map((x) => (x * scale).toFixed(digits)).join(', ');
  const med = (xs: number[], digits: number, scale = 1) =>
    `${(median(xs) * scale).toFixed(digits)} (${all(xs, digits, scale)})`;
  /** A share per round as percent: the median, then every round's. */
  const percents = (xs: number[]) => `${(median(xs) * 100).toFixed(0)}% (${all(xs, 0, 100)})`;
  /** A server's p50 and p99 latency, each the median over the rounds. */
  const latencyOf = (name: string) => ({
    p50: median(byRound((r) => run(name, r).result.latency.p50)),
    p99: median(byRound((r) => p99Of(name, r))),
  });
  const served = latencyOf('app');
  const floorLatency = latencyOf('floor');
  const bareLatency = latencyOf('bare');
  const servedRps = median(series.appRps);
  const servedCpu = median(series.appCpu);

  await load(app.url, one, 2, '/v1/explain'); // warm-up
  const { result: explained, cpuPerRequestUs: explainCpu } = await measured(app, one, DURATION, '/v1/explain');
  const floorCpu0 = cpuSeconds(app.pid);
  const floor = await load(app.url, null, DURATION, '/healthz');
  const floorCpu = ((cpuSeconds(app.pid) - floorCpu0) / floor.requests.total) * 1e6;
  const failures =
    [...turns.app!, ...(turns.baseApp ?? [])].reduce(
      (n, t) => n + t.result.errors + t.result.non2xx + t.result.timeouts,
      0,
    ) +
    explained.errors +
    explained.non2xx +
    explained.timeouts;

  // 2. 1,000-passenger batches, one at a time (alternating with the baseline's service when there is one).
  /** Milliseconds for one batch to `target`, the answer read and checked (the client-side round trip). */
  const batchMillis = async (target: Target, name: string): Promise<number> => {
    const t0 = performance.now();
    const res = await fetch(`${target.url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: batch,
    });
    const json = (await res.json()) as { predictions?: unknown[] };
    const ms = performance.now() - t0;
    if (res.status !== 200 || json.predictions?.length !== 1000) throw new Error(`${name} failed: ${res.status}`);
    return ms;
  };
  const times: number[] = [];
  const baseTimes: number[] = [];
  const baseApp = targets.baseApp;
  for (let i = 0; i < 60; i++) {
    // the first ten warm up
    if (baseApp) {
      const ms = await batchMillis(baseApp, 'baseline batch');
      if (i >= 10) baseTimes.push(ms);
    }
    const ms = await batchMillis(app, 'batch');
    if (i >= 10) times.push(ms);
  }
  times.sort((a, b) => a - b);
  baseTimes.sort((a, b) => a - b);
  await baseApp?.stop();

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

  const ratio = median(series.ratioBare);
  const floorRatio = median(series.ratioFloor);
  const added = median(series.added);
  const p99Ratio = median(series.p99Ratio);
  const cpuBound = median(series.cpuBound);
  const batchP50 = percentile(times, 0.5);
  /**
   * Each spun floor's CPU added and req/s against the plain floor, per round; then the CPU added per microsecond of
   * handler work (a least-squares line through the origin over the spun floors' medians) and the service's added
   * CPU in those microseconds.
   */
  const calibrationRows = (): Array<[string, string, string]> => {
    if (CALIBRATE.length === 0) return [];
    const addedUs = (name: string) => median(byRound((r) => cpuOf(name, r) - cpuOf('floor', r)));
    const rows: Array<[string, string, string]> = CALIBRATE.map((us) => [
      `calibration: floor + ${us} us of handler work: CPU added, share of the floor; req/s / floor, per round`,
      `${percents(byRound((r) => cpuOf(spunFloor(us), r) / cpuOf('floor', r) - 1))}; ${addedUs(spunFloor(us)).toFixed(1)} us; ` +
        med(
          byRound((r) => rps(spunFloor(us), r) / rps('floor', r)),
          2,
        ),
      '',
    ]);
    const slope =
      CALIBRATE.reduce((sum, us) => sum + us * addedUs(spunFloor(us)), 0) /
      CALIBRATE.reduce((sum, us) => sum + us * us, 0);
    rows.push([
      'calibration: CPU added per us of handler work; the service stands for',
      `${slope.toFixed(2)} us; ${(addedUs('app') / slope).toFixed(1)} us of handler work`,
      '',
    ]);
    return rows;
  };
  const rows: Array<[string, string, string]> = [
    [`load client; rounds x seconds`, `${loadClient()}, ${CONNECTIONS} connections; ${ROUNDS} x ${DURATION} s`, ''],
    ['bare node:http req/s, median (rounds)', med(series.bareRps, 0), ''],
    ['service req/s, median (rounds)', med(series.appRps, 0), ''],
    [
      'throughput ratio service / bare',
      med(series.ratioBare, 2),
      `${verdict(ratio >= TARGETS.ratio)} (>= ${TARGETS.ratio})`,
    ],
    ['server CPU per request, bare (rounds)', `${med(series.bareCpu, 0)} us`, ''],
    ['server CPU per request, service predict (rounds)', `${med(series.appCpu, 0)} us`, ''],
    ['server CPU per request, service GET /healthz', `${floorCpu.toFixed(0)} us`, ''],
    [
      'CPU-bound throughput ratio (bare CPU / service CPU)',
      med(series.cpuBound, 2),
      `${verdict(cpuBound >= TARGETS.ratio)} (>= ${TARGETS.ratio})`,
    ],
    [
      'service latency p50 / p99 (medians)',
      `${served.p50.toFixed(2)} / ${served.p99.toFixed(2)} ms`,
      `${verdict(served.p99 <= TARGETS.p99Ms)} (p99 <= ${TARGETS.p99Ms} ms)`,
    ],
    ['bare latency p50 / p99 (medians)', `${bareLatency.p50.toFixed(2)} / ${bareLatency.p99.toFixed(2)} ms`, ''],
    [
      'POST /v1/explain req/s, ratio to predict',
      `${explained.requests.average.toFixed(0)}, ${(explained.requests.average / servedRps).toFixed(2)}`,
      '',
    ],
    [
      'server CPU per request: explain, ratio to predict',
      `${explainCpu.toFixed(0)} us, ${(explainCpu / servedCpu).toFixed(2)}`,
      '',
    ],
    ['explain latency p50 / p99', `${explained.latency.p50.toFixed(2)} / ${explained.latency.p99.toFixed(2)} ms`, ''],
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
    ["framework floor: trivial route on the service's fastify req/s (rounds)", med(series.floorRps, 0), ''],
    ['framework floor / bare req/s', med(series.floorToBare, 2), ''],
    ['framework floor: CPU per request (rounds)', `${med(series.floorCpu, 0)} us`, ''],
    ['framework floor: CPU-bound ratio (bare CPU / floor CPU)', med(series.floorCpuBound, 2), ''],
    [
      'framework floor latency p50 / p99 (medians)',
      `${floorLatency.p50.toFixed(2)} / ${floorLatency.p99.toFixed(2)} ms`,
      '',
    ],
    [
      'service predict / framework floor: req/s ratio, per round',
      med(series.ratioFloor, 2),
      `${verdict(floorRatio >= TARGETS.floorRatio)} (>= ${TARGETS.floorRatio})`,
    ],
    [
      'service predict / framework floor: CPU the service adds, share of the floor, per round',
      `${percents(series.added)}; ${(servedCpu - median(series.floorCpu)).toFixed(1)} us`,
      `${verdict(added < TARGETS.addedShare)} (< ${TARGETS.addedShare * 100}%)`,
    ],
    [
      'service predict / framework floor: p99 ratio, per round',
      med(series.p99Ratio, 2),
      `${verdict(p99Ratio <= TARGETS.floorP99Ratio)} (<= ${TARGETS.floorP99Ratio})`,
    ],
    ...(BASELINE
      ? ([
          [
            `baseline (${BASELINE}): framework floor CPU per request (rounds)`,
            `${med(
              byRound((r) => cpuOf('baseFloor', r)),
              0,
            )} us`,
            '',
          ],
          [
            `baseline: service predict CPU per request (rounds)`,
            `${med(
              byRound((r) => cpuOf('baseApp', r)),
              0,
            )} us`,
            '',
          ],
          [
            `baseline: service req/s (rounds)`,
            med(
              byRound((r) => rps('baseApp', r)),
              0,
            ),
            '',
          ],
          [
            'baseline: service predict / its framework floor: req/s ratio, per round',
            med(
              byRound((r) => rps('baseApp', r) / rps('baseFloor', r)),
              2,
            ),
            '',
          ],
          [
            'baseline: CPU its service adds, share of its floor, per round',
            percents(byRound((r) => cpuOf('baseApp', r) / cpuOf('baseFloor', r) - 1)),
            '',
          ],
          [
            'baseline: service predict / its framework floor: p99 ratio, per round',
            med(
              byRound((r) => p99Of('baseApp', r) / Math.max(1e-3, p99Of('baseFloor', r))),
              2,
            ),
            '',
          ],
          [
            'service predict req/s, this checkout / baseline, per round',
            med(
              byRound((r) => rps('app', r) / rps('baseApp', r)),
              2,
            ),
            '',
          ],
          [
            'service predict CPU per request, this checkout / baseline, per round',
            med(
              byRound((r) => cpuOf('app', r) / cpuOf('baseApp', r)),
              2,
            ),
            '',
          ],
          [
            'baseline: 1,000-passenger batch p50 / p95 / max (alternating)',
            `${percentile(baseTimes, 0.5).toFixed(1)} / ${percentile(baseTimes, 0.95).toFixed(1)} / ${baseTimes.at(-1)!.toFixed(1)} ms`,
            '',
          ],
        ] as Array<[string, string, string]>)
      : []),
    ...calibrationRows(),
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
