/**
 * The CLIs' launcher (cli/launch.mjs): the prebuilt esbuild bundles in dist/cli/ and the tsx source path give
 * the same model, the search's worker threads run from the bundle, and a changed input makes the bundle stale.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundles, isFresh } from '../cli/launch.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TITANIC = join(ROOT, 'data/titanic.csv');

function launch(runtime: 'bundle' | 'tsx', args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'cli', 'launch.mjs'), ...args],
      { cwd: ROOT, maxBuffer: 64 << 20, env: { ...process.env, CLI_RUNTIME: runtime } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-bundle-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cli/launch.mjs', () => {
  it('trains the identical model from the bundle and from the TypeScript source', async () => {
    const args = (out: string) => [
      'train',
      TITANIC,
      '--out',
      out,
      '--candidates',
      '2',
      '--folds',
      '3',
      '--repeats',
      '1',
      '--trees',
      '9',
      '--seed',
      '5',
      '--workers',
      '2',
    ];
    const bundled = await launch('bundle', args(join(dir, 'bundle.json')));
    const source = await launch('tsx', args(join(dir, 'source.json')));
    for (const run of [bundled, source]) {
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    }
    const summary = (run: { stdout: string }) => JSON.parse(run.stdout.trim().split('\n').at(-1) as string);
    // both searches ran on the calling thread plus one worker thread (the bundle found its worker beside it)
    expect(summary(bundled).searchWorkers).toBe(1);
    expect(summary(source).searchWorkers).toBe(1);
    // only the creation time, and the version named after it, may differ
    const model = (file: string) => {
      const { createdAt, modelVersion, ...rest } = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      expect(modelVersion).toBe(`local-${createdAt.replace(/[-:.]/g, '').replace('T', '-').slice(0, 15)}`);
      return JSON.stringify(rest);
    };
    expect(model('bundle.json')).toBe(model('source.json'));
    const { out: _a, modelVersion: _b, seconds: _c, ...fromBundle } = summary(bundled);
    const { out: _d, modelVersion: _e, seconds: _f, ...fromSource } = summary(source);
    expect(fromBundle).toEqual(fromSource);
  });

  it('runs the other CLIs from their bundles with the same exit codes and messages', async () => {
    for (const runtime of ['bundle', 'tsx'] as const) {
      const usage = await launch(runtime, ['predict']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/^usage: npm run predict/);
      const help = await launch(runtime, ['evaluate', '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/evaluate/);
    }
    const unknown = await launch('bundle', ['nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/usage: node cli\/launch\.mjs <train\|predict\|evaluate\|models>/);
  });

  it('treats a build as stale when an input changed, disappeared, or an output is missing', async () => {
    const out = join(dir, 'dist');
    const manifest = await buildBundles(out);
    expect(manifest.outputs.sort()).toEqual(
      ['evaluate.mjs', 'models.mjs', 'predict.mjs', 'search-worker.mjs', 'train.mjs'].sort(),
    );
    expect(Object.keys(manifest.inputs)).toEqual(expect.arrayContaining(['cli/train.ts', 'shared/core/training.ts']));
    // the patched ml-cart is inlined, so a re-applied patch must make the bundle stale too
    expect(Object.keys(manifest.inputs).some((f) => f.startsWith('node_modules/ml-cart/'))).toBe(true);
    expect(await isFresh(out)).toBe(true);

    const manifestPath = join(out, 'manifest.json');
    const original = readFileSync(manifestPath, 'utf8');
    const edit = (change: (m: typeof manifest) => void) => {
      const m = JSON.parse(original);
      change(m);
      writeFileSync(manifestPath, JSON.stringify(m));
    };
    edit((m) => {
      const [size, mtime] = m.inputs['shared/core/training.ts'] as [number, number];
      m.inputs['shared/core/training.ts'] = [size, mtime - 1000];
    });
    expect(await isFresh(out)).toBe(false);
    edit((m) => {
      const [size, mtime] = m.inputs['cli/train.ts'] as [number, number];
      m.inputs['cli/train.ts'] = [size + 1, mtime];
    });
    expect(await isFresh(out)).toBe(false);
    edit((m) => {
      m.inputs['shared/core/no-such-file.ts'] = [1, 1];
    });
    expect(await isFresh(out)).toBe(false);
    writeFileSync(manifestPath, original);
    expect(await isFresh(out)).toBe(true);
    rmSync(join(out, 'search-worker.mjs'));
    expect(await isFresh(out)).toBe(false);
  });
});
