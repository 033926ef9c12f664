/**
 * Builds the service for its container: `service/server.ts` bundled by esbuild into `dist/service/server.mjs`,
 * the stylesheet beside it (ui/assets.ts reads `./style.css` next to the running module), and a package.json
 * naming the few runtime dependencies that stay external (the Google client libraries read proto and JSON files
 * beside their own code at run time), pinned to the repository's versions.
 *
 *   npm run build:service            # -> dist/service/
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
export const SERVICE_EXTERNALS = [
  '@google-cloud/pubsub',
  '@google-cloud/storage',
  'google-gax',
  '@grpc/grpc-js',
  '@grpc/proto-loader',
];

export async function buildService(outDir = path.join(ROOT, 'dist', 'service')): Promise<string> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [path.join(ROOT, 'service', 'server.ts')],
    outfile: path.join(outDir, 'server.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...SERVICE_EXTERNALS, 'pg-native'],
    sourcemap: 'linked',
    // Bundled CommonJS packages call require(); an ES module has none unless one is made.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  await copyFile(path.join(ROOT, 'service', 'ui', 'style.css'), path.join(outDir, 'style.css'));
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const dependencies = Object.fromEntries(
    SERVICE_EXTERNALS.filter((name) => pkg.dependencies[name]).map((name) => [name, pkg.dependencies[name]!]),
  );
  await writeFile(
    path.join(outDir, 'package.json'),
    `${JSON.stringify({ name: 'survival-service', private: true, type: 'module', main: 'server.mjs', engines: { node: '>=20' }, dependencies }, null, 2)}\n`,
  );
  return outDir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildService().then(
    (dir) => console.log(`service bundle in ${path.relative(ROOT, dir)}/`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
