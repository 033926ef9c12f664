/**
 * Builds the deployable source of each Cloud Function: `functions/<name>/index.ts` bundled by esbuild into
 * `dist/functions/<name>/index.mjs`, a package.json naming `main` and the few runtime dependencies that must
 * stay external, and a zip of both. The zip's object name carries a hash of exactly those bytes, so a code
 * change in one function (or in shared code it imports) renames only that function's object, and only that
 * function redeploys.
 *
 *   npm run build:bundles            # all of them
 *   tsx infra/bundle.ts load train   # some
 */
import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import archiver from 'archiver';
import { type BuildOptions, build, type Metafile } from 'esbuild';

export const FUNCTION_NAMES = ['trigger', 'migrate', 'load', 'process', 'train', 'fit'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/**
 * Packages that must not be inlined. The functions framework must be the very module instance the runtime
 * starts (registrations made through a bundled copy would be invisible to it); the Google client libraries
 * read proto and JSON files beside their code at run time. Cloud Build installs these from package.json.
 */
const EXTERNAL_PACKAGES = [
  '@google-cloud/functions-framework',
  '@google-cloud/pubsub',
  '@google-cloud/storage',
  '@google-cloud/workflows',
  'google-gax',
  '@grpc/grpc-js',
  '@grpc/proto-loader',
];
/** Optional requires of bundled packages that are never installed (pg's native binding). */
const NEVER_INSTALLED = ['pg-native'];

/**
 * Worker-thread entries that a module loads from beside itself (`new URL('./x.mjs', import.meta.url)`): when
 * a bundle includes the module, the worker is bundled too and shipped next to index.mjs.
 */
const WORKER_ENTRIES = [{ importedBy: 'shared/runtime/search-pool.ts', entry: 'shared/runtime/search-worker.mjs' }];

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface FunctionBundle {
  name: string;
  dir: string;
  zipPath: string;
  /** sha256 over the zip's files (names and contents), first 16 hex digits. */
  hash: string;
  /** Object name of the zip in the sources bucket. */
  objectName: string;
}

export interface BundleOptions {
  root?: string;
  outDir?: string;
  /** Entry file per function, instead of functions/<name>/index.ts (tests use this to change one function). */
  entries?: Partial<Record<string, string>>;
}

export function sourceObjectName(name: string, hash: string): string {
  return `functions/${name}-${hash}.zip`;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** The external packages the bundle really imports, with the versions the repository pins. */
function runtimeDependencies(metafiles: Metafile[], root: string): Record<string, string> {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const deps: Record<string, string> = {};
  for (const output of metafiles.flatMap((m) => Object.values(m.outputs))) {
    for (const imp of output.imports) {
      if (!imp.external || imp.path.startsWith('node:')) continue;
      const name = packageName(imp.path);
      if (builtinModules.includes(name)) continue;
      if (NEVER_INSTALLED.includes(name)) continue;
      const version = pkg.dependencies?.[name];
      if (version === undefined) throw new Error(`${name} is imported at run time but not a dependency`);
      deps[name] = version;
    }
  }
  return Object.fromEntries(Object.entries(deps).sort(([a], [b]) => a.localeCompare(b)));
}

/** A zip whose bytes depend only on the files' contents (fixed dates and order). */
async function zipDeterministic(files: Array<{ name: string; content: Buffer }>, zipPath: string): Promise<void> {
  const archive = archiver('zip', { zlib: { level: 9 } });
  const out = createWriteStream(zipPath);
  const done = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    archive.on('error', reject);
  });
  archive.pipe(out);
  for (const file of files) archive.append(file.content, { name: file.name, date: new Date('1980-01-01T00:00:00Z') });
  await archive.finalize();
  await done;
}

export async function bundleFunction(name: string, opts: BundleOptions = {}): Promise<FunctionBundle> {
  const root = opts.root ?? REPO_ROOT;
  const dir = path.join(opts.outDir ?? path.join(root, 'dist', 'functions'), name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const common = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...EXTERNAL_PACKAGES, ...NEVER_INSTALLED],
    // Bundled CommonJS code calls require() for Node built-ins; give the ES module one.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
    },
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  } satisfies BuildOptions;
  const result = await build({
    ...common,
    entryPoints: [opts.entries?.[name] ?? path.join(root, 'functions', name, 'index.ts')],
    outfile: path.join(dir, 'index.mjs'),
  });
  const files = ['index.mjs'];
  const metafiles = [result.metafile];
  for (const worker of WORKER_ENTRIES) {
    if (!(worker.importedBy in result.metafile.inputs)) continue;
    const file = path.basename(worker.entry).replace(/\.[cm]?[jt]s$/, '.mjs');
    const built = await build({
      ...common,
      entryPoints: [path.join(root, worker.entry)],
      outfile: path.join(dir, file),
    });
    files.push(file);
    metafiles.push(built.metafile);
  }
  const manifest = {
    name: `survival-${name}`,
    private: true,
    type: 'module',
    main: 'index.mjs',
    engines: { node: '>=20' },
    dependencies: runtimeDependencies(metafiles, root),
  };
  const packageJson = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(dir, 'package.json'), packageJson);
  const contents = await Promise.all(
    files.map(async (file) => ({ name: file, content: await readFile(path.join(dir, file)) })),
  );
  contents.push({ name: 'package.json', content: packageJson });
  const hash = createHash('sha256');
  for (const file of contents) hash.update(file.name).update('\0').update(file.content).update('\0');
  const digest = hash.digest('hex').slice(0, 16);
  const zipPath = path.join(dir, '..', `${name}.zip`);
  await zipDeterministic(contents, zipPath);
  return { name, dir, zipPath, hash: digest, objectName: sourceObjectName(name, digest) };
}

export async function bundleFunctions(
  names: readonly string[] = FUNCTION_NAMES,
  opts: BundleOptions = {},
): Promise<Record<string, FunctionBundle>> {
  const bundles = await Promise.all(names.map((name) => bundleFunction(name, opts)));
  return Object.fromEntries(bundles.map((b) => [b.name, b]));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2);
  const bundles = await bundleFunctions(names.length > 0 ? names : FUNCTION_NAMES);
  for (const b of Object.values(bundles))
    console.log(`${b.name}: ${path.relative(REPO_ROOT, b.zipPath)} ${b.objectName}`);
}
