/**
 * Starts a CLI (`npm run train|predict|evaluate|models`) from a prebuilt esbuild bundle instead of through tsx.
 *
 *   node cli/launch.mjs <train|predict|evaluate|models> [args...]
 *
 * tsx compiles and registers its loader hooks at every start (and its CLI starts a second Node process), about
 * a second of a run that is mostly start-up. The bundles in dist/cli/ (one `<name>.mjs` per CLI plus the
 * search's worker-thread entry `search-worker.mjs` beside them, where shared/runtime/search-pool.ts looks for
 * it) are plain JavaScript that Node loads directly. They are rebuilt here, on demand, whenever any file they
 * were built from changed: dist/cli/manifest.json lists every input (our sources and the node_modules files
 * inlined, so a re-applied patch-package patch counts) with its size and mtime. A rebuild takes well under a
 * second; `npm run build:cli` does it ahead of time. Nothing is downloaded: esbuild is a devDependency.
 *
 * When no bundle can be built (no esbuild, a read-only checkout, a compile error), the CLI runs from its
 * TypeScript source through tsx's loader, as before; the two paths run the same code. `CLI_RUNTIME=tsx` forces
 * the source path and `CLI_RUNTIME=bundle` forbids the fallback (a failed build is then an error).
 *
 * Plain JavaScript on purpose: it must run before anything can compile TypeScript.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const CLI_NAMES = ['train', 'predict', 'evaluate', 'models'];
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = path.join(ROOT, 'dist', 'cli');
const MANIFEST = 'manifest.json';
const MANIFEST_FORMAT = 1;

/**
 * Packages left out of the bundles and loaded from node_modules at run time: the Google client libraries read
 * proto and JSON files beside their code (as in infra/bundle.ts), and pg's native binding is never installed.
 */
const EXTERNAL = [
  '@google-cloud/*',
  'google-gax',
  'google-auth-library',
  '@grpc/grpc-js',
  '@grpc/proto-loader',
  'pg-native',
];

/** The esbuild entries: each CLI, and the worker-thread entry that search-pool.ts loads from beside its module. */
function entries(root) {
  return [
    ...CLI_NAMES.map((name) => ({ in: path.join(root, 'cli', `${name}.ts`), out: name })),
    { in: path.join(root, 'shared', 'runtime', 'search-worker.mjs'), out: 'search-worker' },
  ];
}

/**
 * True when `outDir` holds a complete build whose inputs are all unchanged (same size and mtime as when it was
 * built). Any missing or unreadable file counts as stale.
 */
export async function isFresh(outDir = OUT_DIR, root = ROOT) {
  let manifest;
  try {
    manifest = JSON.parse(await readFile(path.join(outDir, MANIFEST), 'utf8'));
  } catch {
    return false;
  }
  if (manifest?.format !== MANIFEST_FORMAT || manifest.node !== process.versions.node) return false;
  try {
    await Promise.all(manifest.outputs.map((file) => stat(path.join(outDir, file))));
    const inputs = Object.entries(manifest.inputs);
    const stats = await Promise.all(inputs.map(([file]) => stat(path.resolve(root, file))));
    return inputs.every(([, [size, mtimeMs]], i) => stats[i].size === size && stats[i].mtimeMs === mtimeMs);
  } catch {
    return false;
  }
}

/**
 * Builds every CLI bundle and the worker into `outDir`. Files are written under temporary names and renamed into
 * place (the manifest last), so a concurrent run sees either the old complete build or the new one.
 */
export async function buildBundles(outDir = OUT_DIR, root = ROOT) {
  const { build } = await import('esbuild');
  const tmp = path.join(outDir, `.build-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: entries(root),
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: `node${process.versions.node.split('.')[0]}`,
      external: EXTERNAL,
      // Bundled CommonJS code calls require() for Node built-ins; give the ES module one.
      banner: {
        js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
      },
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs).filter((file) => !file.includes(':'));
    const stats = await Promise.all(inputs.map((file) => stat(path.resolve(root, file))));
    const outputs = Object.keys(result.metafile.outputs).map((file) => path.basename(file));
    const manifest = {
      format: MANIFEST_FORMAT,
      node: process.versions.node,
      outputs,
      inputs: Object.fromEntries(inputs.map((file, i) => [file, [stats[i].size, stats[i].mtimeMs]])),
    };
    await writeFile(path.join(tmp, MANIFEST), JSON.stringify(manifest));
    // the worker first, then the CLIs, the manifest last: whoever reads a fresh manifest finds its files
    const order = [...outputs].sort((a, b) => Number(b === 'search-worker.mjs') - Number(a === 'search-worker.mjs'));
    for (const file of [...order, MANIFEST]) await rename(path.join(tmp, file), path.join(outDir, file));
    return manifest;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Imports `file` as if Node had been started on it with `args` (the CLIs read process.argv). */
async function runAsEntry(file, args) {
  process.argv.splice(1, process.argv.length - 1, file, ...args);
  await import(pathToFileURL(file).href);
}

async function main() {
  const [name, ...args] = process.argv.slice(2);
  if (!CLI_NAMES.includes(name)) {
    process.stderr.write(`usage: node cli/launch.mjs <${CLI_NAMES.join('|')}> [args...]\n`);
    process.exitCode = 2;
    return;
  }
  const mode = process.env.CLI_RUNTIME ?? 'auto';
  if (mode !== 'tsx') {
    let ready = await isFresh();
    if (!ready) {
      try {
        await buildBundles();
        ready = true;
      } catch (err) {
        if (mode === 'bundle') throw err;
        process.stderr.write(`cli bundle not built (${firstLine(err)}); running from source through tsx\n`);
      }
    }
    if (ready) return runAsEntry(path.join(OUT_DIR, `${name}.mjs`), args);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return runAsEntry(path.join(ROOT, 'cli', `${name}.ts`), args);
}

function firstLine(err) {
  return String(err instanceof Error ? err.message : err).split('\n')[0];
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--build') {
    const manifest = await buildBundles();
    process.stdout.write(
      `dist/cli: ${manifest.outputs.join(', ')} from ${Object.keys(manifest.inputs).length} input files\n`,
    );
  } else {
    await main();
  }
}
