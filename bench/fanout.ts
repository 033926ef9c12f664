/**
 * `npm run bench:fanout [-- --rows 20000 --candidates 6 --runs 3 --instances 1,2,4]`: wall time of the fanned-out
 * search with 1, 2 and 4 local `fit` processes, and a cloud projection from the per-fit times.
 *
 * A feature set of `--rows` synthetic passengers (the Titanic distribution) is written to Redis; up to 4 `fit`
 * processes (functions-framework, TRAIN_WORKERS=1: one thread each, so the instance count is the parallelism) are
 * started once and warmed (one call each); for each instance count k the workflow engine runs workflows/training.yaml
 * itself, with stub load/process/train functions, FIT_URL pointing at k of the processes behind one URL (one request
 * per instance at a time, as Cloud Functions runs them) and FIT_CONCURRENCY = k. The figure is the duration of the
 * `fit_candidates` step (the parallel for). Runs alternate the order of k; medians of `--runs`, ratios to k = 1 in the
 * same run, and the load average. Every run must hand train the same fold scores (checked).
 *
 * The projection: each call's compute time (`seconds` in its answer) and its overhead (call time - compute), from
 * the k = 1 runs (no other fit of ours competing); with C instances the calls are scheduled longest first on the
 * least-loaded instance, so the search takes that makespan. On this 2-core machine k = 4 cannot beat 2 cores; in the
 * cloud each instance has its own vCPUs (trainCpu), so the projection is what fanning out buys there.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { startInstancePool } from '../local/stack/instances.ts';
import { type ManagedProcess, spawnFunction } from '../local/stack/processes.ts';
import { ROOT } from '../local/stack/stack.ts';
import { loadWorkflow, runWorkflow, type StepEvent } from '../local/workflows-engine/index.ts';
import { createFeatureStore } from '../shared/adapters/feature-store/store.ts';
import { prepareFeatureSet, resolveFeatureSetOptions } from '../shared/core/pipeline.ts';
import { freePorts } from '../test/support/ports.ts';
import { connect, deleteByPrefix, REDIS_URL } from '../test/support/redis.ts';
import { syntheticPassengers } from '../test/support/synthetic.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '20000' },
    candidates: { type: 'string', default: '6' },
    runs: { type: 'string', default: '3' },
    instances: { type: 'string', default: '1,2,4' },
  },
});
const rows = Number(values.rows);
const candidates = Number(values.candidates);
const runs = Number(values.runs);
const counts = (values.instances as string).split(',').map(Number);
const maxInstances = Math.max(...counts);

const say = (line: string): void => console.log(line);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** Longest-first onto the least-loaded of `machines`: the makespan. */
function makespan(times: readonly number[], machines: number): number {
  const loads = new Array<number>(machines).fill(0);
  for (const t of [...times].sort((a, b) => b - a)) {
    const i = loads.indexOf(Math.min(...loads));
    loads[i] = (loads[i] as number) + t;
  }
  return Math.max(...loads);
}

const prefix = `bench-fanout-${randomBytes(4).toString('hex')}`;
const redisUrl = REDIS_URL;
const redis = connect();
const logDir = mkdtempSync(path.join(os.tmpdir(), 'bench-fanout-'));
const processes: ManagedProcess[] = [];
let stub: http.Server | undefined;

try {
  say(`bench:fanout on ${os.cpus().length} cores, load average ${load()}; ${rows} rows, ${candidates} candidates`);
  const passengers = await syntheticPassengers(rows);
  const prepared = prepareFeatureSet(passengers, resolveFeatureSetOptions({}));
  const version = `fs-bench-fanout-${rows}`;
  await createFeatureStore(redis, { prefix }).writeFeatureSet({
    version,
    datasetId: 'ds-bench',
    featureNames: prepared.recipe.featureNames,
    recipe: prepared.recipe,
    train: prepared.train,
    test: prepared.test,
    synthetic: prepared.synthetic,
  });
  say(`feature set: ${prepared.train.X.length} training rows`);

  const ports = await freePorts(maxInstances + 1);
  const env = {
    REDIS_URL: redisUrl,
    FEATURE_STORE_PREFIX: prefix,
    SEARCH_CANDIDATES: String(candidates),
    TRAIN_WORKERS: '1',
    LOG_LEVEL: 'WARNING',
  };
  const host = '127.0.0.1';
  for (let i = 0; i < maxInstances; i++)
    processes.push(
      await spawnFunction('fit', 'http', {
        host,
        port: ports[i] as number,
        env,
        logDir,
        cwd: ROOT,
        logName: `fit-${i}`,
      }),
    );
  // warm every instance once (JIT, Redis connection), as a cloud instance is warm after its first request
  await Promise.all(
    processes.map((p) =>
      fetch(p.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ featureSetVersion: version, candidate: candidates - 1 }),
      }).then((r) => r.text()),
    ),
  );

  // stub migrate/load/process/train: the workflow's other calls, answered at once
  let trained: unknown = null;
  stub = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/train') trained = JSON.parse(body).foldScores;
      const answer =
        req.url === '/migrate'
          ? { applied: [], logins: [] }
          : req.url === '/load'
            ? { datasetId: 'ds-bench' }
            : req.url === '/process'
              ? { featureSetVersion: version, trainRows: prepared.train.X.length }
              : { modelVersion: 'm-bench', metrics: {}, promoted: true };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => stub!.listen(ports[maxInstances], host, r));
  const fn = `http://${host}:${(stub.address() as AddressInfo).port}`;
  const program = loadWorkflow(readFileSync(path.join(ROOT, 'workflows', 'training.yaml'), 'utf8'));

  const wall: Record<number, number[]> = {};
  const ratios: Record<number, number[]> = {};
  const fitsAtOne: Array<{ compute: number; call: number }> = [];
  let reference: unknown = null;
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? counts : [...counts].reverse();
    const thisRun: Record<number, number> = {};
    for (const k of order) {
      const pool = await startInstancePool(processes.slice(0, k).map((p) => p.url));
      const events: StepEvent[] = [];
      try {
        await runWorkflow(program, {
          argument: { bucket: 'b', name: 'uploads/x.csv', generation: '1' },
          env: {
            MIGRATE_URL: `${fn}/migrate`,
            LOAD_URL: `${fn}/load`,
            PROCESS_URL: `${fn}/process`,
            TRAIN_URL: `${fn}/train`,
            FIT_URL: pool.url,
            FANOUT_MIN_ROWS: '1',
            FIT_CONCURRENCY: String(k),
            SEARCH_CANDIDATES: String(candidates),
          },
          onStep: (e) => events.push(e),
          log: () => undefined,
        });
      } finally {
        await pool.close();
      }
      const step = events.find((e) => e.type === 'step-end' && e.step === 'fit_candidates');
      if (step?.type !== 'step-end') throw new Error('no fit_candidates step');
      thisRun[k] = step.durationMs / 1000;
      wall[k] ??= [];
      wall[k].push(thisRun[k]);
      if (reference === null) reference = trained;
      else if (!isDeepStrictEqual(reference, trained)) throw new Error(`k=${k}: the fold scores differ between runs`);
      if (k === 1)
        for (const e of events)
          if (e.type === 'step-end' && e.step === 'fit' && e.outcome === 'ok') {
            const body = (e.result as { body: { seconds: number } }).body;
            fitsAtOne.push({ compute: body.seconds, call: e.durationMs / 1000 });
          }
    }
    for (const k of counts) {
      ratios[k] ??= [];
      ratios[k].push((thisRun[k] as number) / (thisRun[1] as number));
    }
    say(
      `run ${run + 1} (load average ${load()}): ${counts.map((k) => `${k} instance(s) ${(thisRun[k] as number).toFixed(2)} s`).join(', ')}`,
    );
  }
  say(
    'fanned-out search wall time (the parallel for), median of runs, ratio to 1 instance (median of per-run ratios):',
  );
  for (const k of counts) {
    const w = wall[k] as number[];
    say(
      `  ${k} instance(s): ${median(w).toFixed(2)} s (min ${Math.min(...w).toFixed(2)}, max ${Math.max(...w).toFixed(2)}); ratio ${median(ratios[k] as number[]).toFixed(3)} (${(ratios[k] as number[]).map((r) => r.toFixed(3)).join(', ')})`,
    );
  }
  say('  fold scores handed to train: identical in every run and instance count');
  // projection from the k = 1 calls: per candidate, the median over runs (the calls come in candidate order per run)
  const perCandidate = Array.from({ length: candidates }, (_, c) =>
    median(fitsAtOne.filter((_, i) => i % candidates === c).map((f) => f.call)),
  );
  const overhead = median(fitsAtOne.map((f) => f.call - f.compute));
  say(
    `cloud projection from the 1-instance calls: per-fit call ${perCandidate.map((t) => t.toFixed(2)).join(', ')} s (overhead median ${overhead.toFixed(3)} s)`,
  );
  const serial = perCandidate.reduce((a, b) => a + b, 0);
  for (const c of [1, 2, 4, candidates])
    say(
      `  ${c} instance(s): ${makespan(perCandidate, c).toFixed(2)} s = ${(makespan(perCandidate, c) / serial).toFixed(3)} x the 1-instance sum`,
    );
} finally {
  await Promise.all(processes.map((p) => p.stop()));
  stub?.closeAllConnections();
  stub?.close();
  await deleteByPrefix(redis, prefix).catch(() => undefined);
  redis.disconnect();
  rmSync(logDir, { recursive: true, force: true });
}
