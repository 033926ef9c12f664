/**
 * The search from an esbuild bundle, as a Cloud Function ships it: the bundle and the worker entry
 * (`search-worker.mjs`, a second entry point) side by side in one folder, run by plain node. The worker threads
 * must be found and used, and give the same result as the inline path.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { randomizedSearch, type SearchSpace } from './search.ts';

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

describe('randomizedSearch in an esbuild bundle', () => {
  it('finds its worker entry beside the bundle, uses the threads, and matches the inline result', async () => {
    const entry = join(dir, 'entry.ts');
    const searchModule = fileURLToPath(new URL('./search.ts', import.meta.url));
    writeFileSync(
      entry,
      [
        `import { randomizedSearch } from ${JSON.stringify(searchModule)};`,
        `const result = await randomizedSearch(${JSON.stringify(X)}, ${JSON.stringify(y)}, {`,
        `  candidates: 2, folds: 2, repeats: 1, seed: 4, workers: 2, space: ${JSON.stringify(SPACE)} });`,
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
    const inline = await randomizedSearch(X, y, {
      candidates: 2,
      folds: 2,
      repeats: 1,
      seed: 4,
      workers: 0,
      space: SPACE,
    });
    expect({ ...bundled, workers: 0 }).toEqual(inline);
  });
});
