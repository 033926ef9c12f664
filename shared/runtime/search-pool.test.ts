/**
 * The search's thread pool: the same result as the core's inline runner on any number of threads, and from an
 * esbuild bundle as a Cloud Function ships it (the bundle and the worker entry `search-worker.mjs`, a second
 * entry point, side by side in one folder, run by plain node), where the worker threads must be found and used.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTitanic } from '../../test/support/titanic.ts';
import { randomizedSearch, type SearchSpace } from '../core/search.ts';
import { threadPoolRunner } from './search-pool.ts';

const SPACE: SearchSpace = {
  nEstimators: [3],
  maxFeatures: [4, 8],
  maxDepth: [4],
  minNumSamples: [3],
  gainThreshold: [0],
};
const X = Array.from({ length: 80 }, (_, i) => [i % 7, (i * 13) % 11, i % 3, (i * 7) % 5]);
const y = X.map((row) => ((row[0] as number) + (row[2] as number) > 4 ? 1 : 0));

const dir = mkdtempSync(join(tmpdir(), 'search-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('threadPoolRunner in an esbuild bundle', () => {
  it('finds its worker entry beside the bundle, uses the threads, and matches the inline result', async () => {
    const entry = join(dir, 'entry.ts');
    const searchModule = fileURLToPath(new URL('../core/search.ts', import.meta.url));
    const poolModule = fileURLToPath(new URL('./search-pool.ts', import.meta.url));
    writeFileSync(
      entry,
      [
        `import { randomizedSearch } from ${JSON.stringify(searchModule)};`,
        `import { threadPoolRunner } from ${JSON.stringify(poolModule)};`,
        `const result = await randomizedSearch(${JSON.stringify(X)}, ${JSON.stringify(y)}, {`,
        `  candidates: 2, folds: 2, repeats: 1, seed: 4, runner: threadPoolRunner(2), space: ${JSON.stringify(SPACE)} });`,
        'process.stdout.write(JSON.stringify(result));',
      ].join('\n'),
    );
    await build({
      entryPoints: {
        index: entry,
        'search-worker': fileURLToPath(new URL('./search-worker.mjs', import.meta.url)),
      },
      outdir: join(dir, 'dist'),
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
    });
    const bundled = JSON.parse(execFileSync(process.execPath, [join(dir, 'dist', 'index.mjs')], { encoding: 'utf8' }));
    expect(bundled.workers).toBe(1);
    const inline = await randomizedSearch(X, y, { candidates: 2, folds: 2, repeats: 1, seed: 4, space: SPACE });
    expect({ ...bundled, workers: 0 }).toEqual(inline);
  });
});

/** Small forests keep this to seconds. */
const SMALL: SearchSpace = {
  nEstimators: [5, 7],
  maxFeatures: [4, 6, 11],
  maxDepth: [4, 8],
  minNumSamples: [3, 5],
  gainThreshold: [0, 0.01],
};

describe('threadPoolRunner', () => {
  it("gives the core's inline result on worker threads, whatever their number", async () => {
    const data = await loadTitanic();
    const X = data.input.train.X.slice(0, 300);
    const y = data.input.train.y.slice(0, 300);
    const opts = { candidates: 3, folds: 3, repeats: 1, seed: 5, space: SMALL };
    const onThreads = await randomizedSearch(X, y, { ...opts, runner: threadPoolRunner(3) });
    const again = await randomizedSearch(X, y, { ...opts, runner: threadPoolRunner(2) });
    const inline = await randomizedSearch(X, y, { ...opts });
    expect(onThreads.workers).toBe(2);
    expect(again.workers).toBe(1);
    expect(inline.workers).toBe(0);
    const strip = (r: typeof inline) => ({ ...r, workers: 0 });
    expect(strip(again)).toEqual(strip(onThreads));
    expect(strip(inline)).toEqual(strip(onThreads));
  });
});
