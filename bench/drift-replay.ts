/**
 * `npx tsx bench/drift-replay.ts`: the drift detectors checked the way an operator would, through the running
 * service: passengers replayed one per request over HTTP (`POST /v1/predict`), `isDrift` read from
 * `GET /v1/drift` after every request.
 *
 *   1. N in-distribution requests (passengers drawn at random from data/titanic.csv): alerts (transitions of
 *      `isDrift` into true) and the share of requests flagged one by one (the answer's `drift.isDrift`);
 *   2. for each of the four shifts: after 300 in-distribution requests, shifted passengers until `isDrift`.
 *
 * The service is built by `buildApp` with its default drift settings, over a model trained by the core's pipeline
 * on data/titanic.csv (test/support/service.ts, split seed 7, not the seed bench:drift uses).
 * Options: --requests=N (default 50,000), --recipe=1|2 (default 1), --seed=N.
 */
import type { AddressInfo } from 'node:net';
import { passengerRecord } from '../shared/core/passenger-validation.ts';
import { createRng } from '../shared/core/rng.ts';
import type { Passenger } from '../shared/core/schema.ts';
import { loadDriftWorld, SHIFTS, shiftPassenger } from '../test/support/drift-streams.ts';
import { buildTestApp, tinyArtifact } from '../test/support/service.ts';

const arg = (name: string, fallback: number): number => {
  const v = process.argv.find((a) => a.startsWith(`--${name}=`));
  return v ? Number(v.split('=')[1]) : fallback;
};
const REQUESTS = arg('requests', 50_000);
const RECIPE = arg('recipe', 1) as 1 | 2;
const SEED = arg('seed', 1);

const world = await loadDriftWorld(42);
const artifact = await tinyArtifact({ recipeVersion: RECIPE });
const t = await buildTestApp(artifact);
await t.app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
const rng = createRng(SEED);
const pick = () => world.passengers[rng.int(world.passengers.length)]!;

async function send(p: Passenger): Promise<boolean> {
  const res = await fetch(`${base}/v1/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(passengerRecord(p)),
  });
  if (!res.ok) throw new Error(`predict answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { drift: { isDrift: boolean } }).drift.isDrift;
}

async function windowDrifts(): Promise<boolean> {
  return ((await (await fetch(`${base}/v1/drift`)).json()) as { isDrift: boolean }).isDrift;
}

console.log(
  `service over HTTP, model ${artifact.modelVersion} (recipe v${RECIPE}, ${artifact.driftReference.featureNames.length} features), default drift settings`,
);
const t0 = performance.now();
let flagged = 0;
let alerts = 0;
let was = false;
for (let i = 0; i < REQUESTS; i++) {
  if (await send(pick())) flagged++;
  const now = await windowDrifts();
  if (now && !was) alerts++;
  was = now;
}
console.log(
  `1. ${REQUESTS.toLocaleString('en-US')} in-distribution requests (${((performance.now() - t0) / 1000).toFixed(0)} s): ` +
    `${alerts} alerts; ${flagged} flagged one by one (${((100 * flagged) / REQUESTS).toFixed(3)}%)`,
);

for (const shift of SHIFTS) {
  const app = await buildTestApp(artifact);
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}`;
  const post = (p: Passenger) =>
    fetch(`${url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(passengerRecord(p)),
    }).then((r) => r.text());
  const drifts = async () => ((await (await fetch(`${url}/v1/drift`)).json()) as { isDrift: boolean }).isDrift;
  for (let i = 0; i < 300; i++) await post(pick());
  const before = await drifts();
  let delay = 0;
  while (delay < 2000) {
    delay++;
    await post(shiftPassenger(world, pick(), shift, rng));
    if (await drifts()) break;
  }
  console.log(
    `2. ${shift}: detected after ${delay} shifted requests${before ? ' (the window was already in drift)' : ''}`,
  );
  await app.app.close();
}
await t.app.close();
console.log(`${t.alerts.length} drift-alerts events published during step 1`);
