/**
 * `npm run bench:drift`: the drift detectors' calibration, by simulation from the training data.
 *
 * The reference is what a model trained on data/titanic.csv carries (recipe v1 fitted on the seeded 80/20
 * split's training rows); in-distribution traffic is one passenger per request drawn at random from the whole
 * file; the four shifts are applied to raw passengers (test/support/drift-streams.ts says how).
 *
 *   1. Window ERT: independent streams of in-distribution requests through WindowDrift with the service's
 *      defaults, counting alerts (transitions into drift). ERT = requests / alerts with an exact Poisson 95%
 *      interval (with no alert, the one-sided 95% lower bound requests / 3.0).
 *   2. Detection delay per shift: a window full of in-distribution traffic (a random number of extra requests,
 *      so the evaluation phase varies), then shifted requests until the window reports drift: median, p90, max.
 *   3. Per-request false flags: RequestDrift on single in-distribution passengers, (a) drawn from the whole file
 *      against the seed-42 reference, (b) the held-out passengers of 100 different splits (never in their
 *      reference), with a Wilson 95% interval.
 *   4. Cost: microseconds per request of each detector (one passenger per request).
 *
 * Options: --requests=N (in-distribution requests for the ERT, default 4,000,000), --trials=N (delay trials per
 * shift, default 400), --window=, --every=, --ert=, --rows-per-request= (detector settings; defaults are the
 * service's), --recipe=2 (recipe v2's 15 features instead of v1's 11).
 */
import { loadavg } from 'node:os';
import { RequestDrift } from '../shared/core/drift.ts';
import { WindowDrift, type WindowDriftOptions } from '../shared/core/drift-window.ts';
import { createRng } from '../shared/core/rng.ts';
import { chi2Sf } from '../shared/core/stats/index.ts';
import { driftWorldOf, loadDriftWorld, SHIFTS, sampler } from '../test/support/drift-streams.ts';

const arg = (name: string, fallback: number): number => {
  const v = process.argv.find((a) => a.startsWith(`--${name}=`));
  return v ? Number(v.split('=')[1]) : fallback;
};
const REQUESTS = arg('requests', 4_000_000);
const TRIALS = arg('trials', 400);
const OPTIONS: WindowDriftOptions = {
  windowSize: arg('window', 200),
  evaluateEvery: arg('every', 10),
  ert: arg('ert', 1_000_000),
  rowsPerRequest: arg('rows-per-request', 5),
};
const RECIPE = arg('recipe', 1) as 1 | 2;
const STREAMS = 8;

/** Exact (Garwood) 95% interval of a Poisson mean, from k events. */
function poissonInterval(k: number): [number, number] {
  const solve = (f: (lambda: number) => number, target: number): number => {
    let lo = 0;
    let hi = Math.max(10, 10 * k + 10);
    for (let i = 0; i < 200; i++) {
      const mid = (lo + hi) / 2;
      if (f(mid) < target) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  // P(X >= k | lambda) = 1 - chi2Sf(2 lambda, 2k) rises with lambda; P(X <= k | lambda) = chi2Sf(2 lambda, 2k + 2) falls.
  const lower = k === 0 ? 0 : solve((l) => 1 - chi2Sf(2 * l, 2 * k), 0.025);
  const upper = solve((l) => -chi2Sf(2 * l, 2 * k + 2), -0.025);
  return [lower, upper];
}

function wilson(successes: number, n: number): [number, number] {
  const z = 1.959963984540054;
  const p = successes / n;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const world = await loadDriftWorld(42, RECIPE);
console.log(
  `recipe v${RECIPE}; reference: ${world.reference.columns[0]!.length} rows, ${world.reference.featureNames.length} features ` +
    `(${world.reference.featureTypes.filter((t) => t === 'categorical').length} categorical); window ` +
    `${OPTIONS.windowSize} rows, evaluated every ${OPTIONS.evaluateEvery} requests, design ERT ${fmt(OPTIONS.ert!)} ` +
    `(level per evaluation ${OPTIONS.evaluateEvery! / OPTIONS.ert!}), at most ${OPTIONS.rowsPerRequest} rows per request; ` +
    `load average ${loadavg()[0]!.toFixed(2)} (machine shared)`,
);

// 1. ERT
function windowErt(): void {
  const t0 = performance.now();
  let alerts = 0;
  let alarmEvaluations = 0;
  let evaluations = 0;
  const perStream = Math.ceil(REQUESTS / STREAMS);
  const firstAlertAt: number[] = [];
  for (let s = 0; s < STREAMS; s++) {
    const window = new WindowDrift(world.reference, { ...OPTIONS, seed: 1000 + s });
    const stream = sampler(world, createRng(2000 + s));
    let first = -1;
    for (let i = 0; i < perStream; i++) {
      const e = window.add([stream.normal()]);
      if (e === null) continue;
      evaluations++;
      if (e.isDrift) alarmEvaluations++;
      if (e.transition === 'entered') {
        alerts++;
        if (first < 0) first = i + 1;
      }
    }
    if (first > 0) firstAlertAt.push(first);
  }
  const total = perStream * STREAMS;
  const [lo, hi] = poissonInterval(alerts);
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `\n1. window ERT: ${fmt(total)} in-distribution requests in ${STREAMS} streams (${fmt(evaluations)} evaluations, ` +
      `${seconds.toFixed(0)} s): ${alerts} alerts, ${alarmEvaluations} evaluations in drift`,
  );
  if (alerts === 0) {
    console.log(`   ERT >= ${fmt(total / 3)} requests (one-sided 95%: no alert in ${fmt(total)})`);
  } else {
    console.log(
      `   ERT = ${fmt(total / alerts)} requests, 95% interval [${fmt(total / hi)}, ${hi === 0 ? 'inf' : fmt(total / lo)}]` +
        (firstAlertAt.length ? `; first alert of each alerting stream at ${firstAlertAt.map(fmt).join(', ')}` : ''),
    );
  }
  const in50k = (50_000 * alerts) / total;
  console.log(
    `   expected alerts in 50,000 requests: ${in50k.toFixed(4)} (95% upper ${((50_000 * hi) / total).toFixed(4)})`,
  );
}

// 2. Detection delay
function detectionDelay(): void {
  console.log(
    `\n2. detection delay (requests after the shift starts, window full of in-distribution traffic), ${TRIALS} trials per shift:`,
  );
  for (const shift of SHIFTS) {
    const delays: number[] = [];
    let falseStart = 0;
    for (let t = 0; t < TRIALS; t++) {
      const rng = createRng(5000 + t);
      const window = new WindowDrift(world.reference, { ...OPTIONS, seed: 7000 + t });
      const stream = sampler(world, rng);
      const warmUp = OPTIONS.windowSize! + 100 + rng.int(OPTIONS.evaluateEvery!);
      for (let i = 0; i < warmUp; i++) window.add([stream.normal()]);
      if (window.state().isDrift) falseStart++;
      let delay = 0;
      while (delay < 5000) {
        delay++;
        window.add([stream.shifted(shift)]);
        if (window.state().isDrift) break;
      }
      delays.push(delay);
    }
    delays.sort((a, b) => a - b);
    console.log(
      `   ${shift.padEnd(22)} median ${quantile(delays, 0.5)}  p90 ${quantile(delays, 0.9)}  max ${delays.at(-1)}` +
        `  (over 300: ${delays.filter((d) => d > 300).length})${falseStart ? `  [${falseStart} trials in drift before the shift]` : ''}`,
    );
  }
}

// 3. Per-request false flags
function perRequestFlags(): void {
  const detector = new RequestDrift(world.reference);
  const flagged = world.features.filter((row) => detector.predict([row]).isDrift).length;
  const n = world.features.length;
  const [lo, hi] = wilson(flagged, n);
  console.log(
    `\n3. per-request verdict, single passengers: ${flagged} of ${n} file rows flagged against the seed-42 reference ` +
      `= ${((100 * flagged) / n).toFixed(2)}% (the rate for uniform draws from the file; 95% ${(100 * lo).toFixed(2)}-${(100 * hi).toFixed(2)}%)`,
  );
  let heldFlagged = 0;
  let heldTotal = 0;
  for (let seed = 1; seed <= 100; seed++) {
    const w = driftWorldOf(world.passengers, seed, RECIPE);
    const d = new RequestDrift(w.reference);
    for (const i of w.heldOut) {
      heldTotal++;
      if (d.predict([w.features[i]!]).isDrift) heldFlagged++;
    }
  }
  const [hlo, hhi] = wilson(heldFlagged, heldTotal);
  console.log(
    `   held-out passengers of 100 splits (never in their reference): ${heldFlagged} of ${heldTotal} flagged = ` +
      `${((100 * heldFlagged) / heldTotal).toFixed(2)}% (95% ${(100 * hlo).toFixed(2)}-${(100 * hhi).toFixed(2)}%)`,
  );
}

// 4. Cost per request
function costPerRequest(): void {
  const detector = new RequestDrift(world.reference);
  const window = new WindowDrift(world.reference, OPTIONS);
  const stream = sampler(world, createRng(9));
  const rows = Array.from({ length: 4096 }, () => stream.normal());
  const time = (f: (i: number) => unknown, n: number) => {
    for (let i = 0; i < 2000; i++) f(i);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f(i);
    return ((performance.now() - t0) / n) * 1000;
  };
  const request = time((i) => detector.predict([rows[i % rows.length]!]), 100_000);
  const add = time((i) => window.add([rows[i % rows.length]!]), 100_000);
  const read = time((i) => {
    window.add([rows[i % rows.length]!]);
    return window.state().last;
  }, 20_000);
  console.log(
    `\n4. cost (microseconds per request, one passenger): per-request verdict ${request.toFixed(2)}; window add with ` +
      `its evaluation every ${OPTIONS.evaluateEvery} requests, amortized ${add.toFixed(2)}; add + reading the full ` +
      `result (p-values, distances, histograms) after every request ${read.toFixed(2)}`,
  );
}

windowErt();
detectionDelay();
perRequestFlags();
costPerRequest();
