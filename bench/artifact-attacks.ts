/**
 * `npm run bench:artifact-attacks -- [--data-dir DIR]`: hostile artifacts against the running local stack
 * (`npm run local`), as someone with write access to the models bucket would place them: an oversized artifact
 * (about 60 MB, 2,000 trees), too many trees under the byte limit, one tree of 100,000 chained nodes, an artifact
 * whose bytes differ from the pointer's sha256, and a pointer that is not JSON.
 *
 * For each: write the object(s) and the pointer, push `model-published` to the service (the request Pub/Sub's push
 * subscription makes), and sample GET /healthz every 2 ms from before the push until it is answered. Prints the
 * push's answer, the served version afterwards, the ERROR lines the service logged, and /healthz latency (p50, max,
 * samples). The good pointer is restored after each attack.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { localStorageClient } from '../local/gcs/gcs-emulator.ts';
import { readStackState } from '../local/stack/stack.ts';
import { MODEL_POINTER_OBJECT, type ModelPointer, sha256Hex } from '../shared/adapters/model-store.ts';

const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, runs: { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);
const dataDir = values['data-dir'] ? path.resolve(values['data-dir']) : undefined;
const state = readStackState(dataDir);
const storage = localStorageClient(state.gcsUrl);
const bucket = storage.bucket(state.modelsBucket);
const serviceLog = path.join(dataDir ?? path.join(process.cwd(), '.local-data'), 'logs', 'service.log');

const save = (name: string, bytes: Buffer | string) =>
  bucket.file(name).save(bytes, { resumable: false, contentType: 'application/json' });

async function served(): Promise<string> {
  const res = await fetch(`${state.serviceUrl}/v1/model`);
  return ((await res.json()) as { modelVersion: string }).modelVersion;
}

function errorLinesSince(offset: number): string[] {
  const text = readFileSync(serviceLog, 'utf8').slice(offset);
  return text
    .split('\n')
    .filter((l) => l.includes('"severity":"ERROR"'))
    .map((l) => {
      const e = JSON.parse(l) as { message: string; err?: { message?: string } };
      return `${e.message}: ${e.err?.message ?? ''}`.slice(0, 160);
    });
}

/** Pushes model-published while sampling /healthz; returns the push answer and the latencies (ms). */
async function pushWhileSampling(): Promise<{ answer: unknown; latencies: number[] }> {
  const latencies: number[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const t = performance.now();
      await fetch(`${state.serviceUrl}/healthz`).then((r) => r.arrayBuffer());
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  const res = await fetch(`${state.serviceUrl}/events/model-published`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: { messageId: `attack-${Date.now()}`, data: '' }, subscription: 'bench' }),
  });
  const answer = { status: res.status, body: await res.json() };
  await new Promise((r) => setTimeout(r, 50));
  done = true;
  await sampler;
  return { answer, latencies };
}

const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;

interface Forest {
  baseModel: { estimators: Array<{ root: Record<string, unknown> }>; indexes: number[][] };
}

/** A split node whose two children are leaves (a small valid tree). */
function smallestSubtree(node: Record<string, unknown>): Record<string, unknown> {
  const stack = [node];
  while (stack.length > 0) {
    const n = stack.pop() as Record<string, unknown>;
    const l = n.left as Record<string, unknown> | undefined;
    const r = n.right as Record<string, unknown> | undefined;
    if (l && r && l.distribution !== undefined && r.distribution !== undefined) return n;
    if (l) stack.push(l);
    if (r) stack.push(r);
  }
  throw new Error('no small subtree');
}

async function main(): Promise<void> {
  const [pointerBytes] = await bucket.file(MODEL_POINTER_OBJECT).download();
  const good = JSON.parse(pointerBytes.toString('utf8')) as ModelPointer;
  const [goodArtifactBytes] = await bucket.file(good.object).download();
  const goodArtifact = JSON.parse(goodArtifactBytes.toString('utf8')) as { forest: Forest; modelVersion: string };
  const trees = goodArtifact.forest.baseModel.estimators;
  const indexes = goodArtifact.forest.baseModel.indexes;
  console.log(`serving ${await served()} (${goodArtifactBytes.length} bytes, ${trees.length} trees)`);

  const withForest = (version: string, estimators: unknown[], idx: number[][]) => ({
    ...goodArtifact,
    modelVersion: version,
    forest: { ...goodArtifact.forest, baseModel: { ...goodArtifact.forest.baseModel, estimators, indexes: idx } },
  });

  const leaf = smallestSubtree(trees[0]?.root as Record<string, unknown>);
  const chainText = (() => {
    // Minimal nodes (what a loader reads), built as text: JSON.stringify recurses, and a 100,000-deep object is
    // deeper than its stack.
    const n = 100_000;
    const leafText = '{"distribution":[[1,0]]}';
    return `${'{"splitColumn":0,"splitValue":1,"left":{"distribution":[[0,1]]},"right":'.repeat(n)}${leafText}${'}'.repeat(n)}`;
  })();

  const attacks: Array<{ name: string; place: () => Promise<void> }> = [
    {
      name: 'oversized (2,000 trees)',
      place: async () => {
        const est = Array.from({ length: 2000 }, (_, i) => trees[i % trees.length]);
        const idx = Array.from({ length: 2000 }, (_, i) => indexes[i % indexes.length] as number[]);
        await placeArtifact(
          'm-attack-oversized',
          Buffer.from(JSON.stringify(withForest('m-attack-oversized', est, idx))),
        );
      },
    },
    {
      name: 'too many trees (1,500 small trees, under the byte limit)',
      place: async () => {
        const est = Array.from({ length: 1500 }, () => ({ ...trees[0], root: leaf }));
        const idx = Array.from({ length: 1500 }, () => indexes[0] as number[]);
        await placeArtifact('m-attack-trees', Buffer.from(JSON.stringify(withForest('m-attack-trees', est, idx))));
      },
    },
    {
      name: 'deep chain (one tree of 100,000 chained nodes)',
      place: async () => {
        const marker = '"__CHAIN__"';
        const est = [{ ...trees[0], root: '__CHAIN__' }, ...trees.slice(1)];
        const text = JSON.stringify(withForest('m-attack-chain', est, indexes)).replace(marker, chainText);
        await placeArtifact('m-attack-chain', Buffer.from(text));
      },
    },
    {
      name: 'hash mismatch',
      place: async () => {
        const bytes = Buffer.from(JSON.stringify(withForest('m-attack-hash', trees, indexes)));
        await placeArtifact('m-attack-hash', bytes, { sha256: sha256Hex(Buffer.from('something else')) });
      },
    },
    { name: 'corrupt pointer (not JSON)', place: () => save(MODEL_POINTER_OBJECT, '{"modelVersion": "m-') },
  ];

  async function placeArtifact(version: string, bytes: Buffer, over: Partial<ModelPointer> = {}) {
    const object = `models/${version}/model.json`;
    await save(object, bytes);
    const pointer: ModelPointer = {
      ...good,
      modelVersion: version,
      object,
      sha256: sha256Hex(bytes),
      size: bytes.length,
      ...over,
    };
    await save(MODEL_POINTER_OBJECT, JSON.stringify(pointer));
    console.log(`  placed ${object}: ${(bytes.length / 1e6).toFixed(1)} MB`);
  }

  // Baseline in the same run: /healthz while a push finds the pointer unchanged.
  const idle: number[] = [];
  for (let run = 0; run < RUNS; run++) idle.push(...(await pushWhileSampling()).latencies);
  console.log(
    `\n/healthz during an unchanged-pointer push (baseline): p50 ${pct(idle, 0.5).toFixed(1)} ms, p99 ${pct(idle, 0.99).toFixed(1)} ms, max ${Math.max(...idle).toFixed(1)} ms (${idle.length} samples)`,
  );
  console.log(
    `\nattack | push answer | served after | ERROR lines per refusal | /healthz p50 / p99 / max ms over ${RUNS} runs (samples)`,
  );
  for (const attack of attacks) {
    await attack.place();
    const latencies: number[] = [];
    const errorCounts: number[] = [];
    let answer: unknown;
    let errors: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      // A new pointer generation each run (the service refuses a generation once and then remembers it).
      const [bytes] = await bucket.file(MODEL_POINTER_OBJECT).download();
      await save(MODEL_POINTER_OBJECT, bytes);
      const offset = readFileSync(serviceLog, 'utf8').length;
      const pushed = await pushWhileSampling();
      latencies.push(...pushed.latencies);
      answer = pushed.answer;
      await new Promise((r) => setTimeout(r, 200));
      errors = errorLinesSince(offset);
      errorCounts.push(errors.length);
    }
    console.log(
      `${attack.name} | ${JSON.stringify(answer)} | ${await served()} | ${errorCounts.join(',')}: ${errors.join(' / ')} | ${pct(latencies, 0.5).toFixed(1)} / ${pct(latencies, 0.99).toFixed(1)} / ${Math.max(...latencies).toFixed(1)} (${latencies.length})`,
    );
    await save(MODEL_POINTER_OBJECT, pointerBytes); // restore the good pointer
    await pushWhileSampling();
  }
  console.log(`\nserving ${await served()} after the attacks`);
}

await main();
