/**
 * Cost of the drift detectors as the service uses them: KSDrift on every request (a few rows against the ~712-row
 * training reference, 11 features) and WindowDrift on every scored row. The baseline, measured in the same run, is
 * the straightforward per-request use of `ks2samp` (both samples sorted on every call).
 *
 *   npm run bench:drift
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { KSDrift, WindowDrift } from '../shared/core/drift.ts';
import { FEATURE_NAMES } from '../shared/core/schema.ts';
import { ks2samp } from '../shared/core/stats/index.ts';

/** Recipe-v1-like features from data/titanic.csv, enough for realistic values and ties (not the product's recipe). */
function titanicFeatures(): number[][] {
  const records = parse(readFileSync(new URL('../data/titanic.csv', import.meta.url)), { columns: true }) as Array<
    Record<string, string>
  >;
  const titles: Record<string, number> = { Mr: 0, Miss: 1, Mrs: 2, Master: 3 };
  return records.map((r) => {
    const pclass = Number(r.Pclass);
    const age = r.Age ? Number(r.Age) : 28;
    const fare = r.Fare ? Number(r.Fare) : 14.45;
    const family = Number(r.SibSp) + Number(r.Parch) + 1;
    const title = titles[/ ([A-Za-z]+)\./.exec(r.Name ?? '')?.[1] ?? ''] ?? 4;
    const embarked = { C: 0, Q: 1, S: 2 }[r.Embarked as 'C' | 'Q' | 'S'] ?? 2;
    return [
      pclass,
      r.Sex === 'female' ? 1 : 0,
      age,
      fare,
      embarked,
      family,
      family === 1 ? 1 : 0,
      r.Cabin ? 1 : 0,
      title,
      pclass * fare,
      age * fare,
    ];
  });
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Per-call wall-clock latency in microseconds (p50, p99, mean) over `calls` timed calls after a warm-up, and the
 * process CPU time per call (`cpu`), which a busy machine's preemptions do not inflate the way they inflate p99.
 */
function measure(calls: number, fn: (i: number) => unknown): { p50: number; p99: number; mean: number; cpu: number } {
  for (let i = 0; i < Math.min(calls, 2000); i++) fn(i);
  const times = new Float64Array(calls);
  let sink = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    const out = fn(i);
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
    if (out) sink++;
  }
  const cpuUsed = process.cpuUsage(cpu0);
  if (sink < 0) console.log(sink);
  const mean = times.reduce((a, b) => a + b, 0) / calls;
  times.sort();
  return {
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    mean,
    cpu: (cpuUsed.user + cpuUsed.system) / calls,
  };
}

const rows = titanicFeatures();
const referenceRows = rows.slice(0, 712);
const incoming = rows.slice(712);
const reference = {
  featureNames: [...FEATURE_NAMES],
  columns: FEATURE_NAMES.map((_, f) => referenceRows.map((r) => r[f]!)),
};
const detector = new KSDrift(reference);

function batch(i: number, size: number): number[][] {
  const out: number[][] = [];
  for (let k = 0; k < size; k++) out.push(incoming[(i * size + k) % incoming.length]!);
  return out;
}

/** Batches drawn at random from all 891 rows: statistics rarely repeat, so memoised p-values rarely help. */
function freshBatches(count: number, size: number): number[][][] {
  let s = 12345;
  const next = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: size }, () => rows[Math.floor(next() * rows.length)]!),
  );
}

function naive(batchRows: number[][]): boolean {
  let drift = false;
  for (let f = 0; f < FEATURE_NAMES.length; f++) {
    const { pValue } = ks2samp(
      batchRows.map((r) => r[f]!),
      reference.columns[f]!,
      'asymp',
    );
    if (pValue < 0.05 / FEATURE_NAMES.length) drift = true;
  }
  return drift;
}

console.log(
  `KSDrift.predict, 11 features, reference ${referenceRows.length} rows, method 'asymp' (microseconds per call)`,
);
for (const size of [1, 10, 100, 1000]) {
  const calls = size >= 1000 ? 500 : size >= 100 ? 3000 : 20000;
  const batches = Array.from({ length: 64 }, (_, i) => batch(i, size));
  const ours = measure(calls, (i) => detector.predict(batches[i % 64]!).isDrift);
  const fresh = freshBatches(Math.min(calls, 3000), size);
  const cold = new KSDrift(reference);
  const unseen = measure(fresh.length, (i) => cold.predict(fresh[i]!).isDrift);
  const base = measure(Math.ceil(calls / 4), (i) => naive(batches[i % 64]!));
  console.log(
    `  ${String(size).padStart(4)} rows, recurring batches: p50 ${ours.p50.toFixed(1)}  p99 ${ours.p99.toFixed(1)}  mean ${ours.mean.toFixed(1)}  cpu ${ours.cpu.toFixed(1)}` +
      ` | random batches: p50 ${unseen.p50.toFixed(1)}  p99 ${unseen.p99.toFixed(1)}  mean ${unseen.mean.toFixed(1)}  cpu ${unseen.cpu.toFixed(1)}` +
      ` | baseline (ks2samp per feature) p50 ${base.p50.toFixed(1)}, ratio ${(ours.p50 / base.p50).toFixed(3)}`,
  );
}

const window = new WindowDrift(reference);
const perRow = measure(50000, (i) => window.add([incoming[i % incoming.length]!]));
console.log(
  `WindowDrift.add, 1 row (200-row window, evaluated every 50): p50 ${perRow.p50.toFixed(2)}  p99 ${perRow.p99.toFixed(1)}  mean ${perRow.mean.toFixed(2)}  cpu ${perRow.cpu.toFixed(2)}`,
);

const exactRef = reference.columns[3]!;
const exact = measure(
  200,
  (i) =>
    ks2samp(
      batch(i, 179).map((r) => r[3]!),
      exactRef,
      'exact',
    ).pValue,
);
console.log(`ks2samp 'exact', 179 vs 712 rows: p50 ${exact.p50.toFixed(1)}  p99 ${exact.p99.toFixed(1)}`);
