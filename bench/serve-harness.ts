/**
 * The parts of `npm run bench:serve` that `bench/serve-profile.ts` shares: bundling the server targets the way
 * the container image runs them, starting one in a child process, loading it with autocannon, and reading a
 * process's CPU time and RSS from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { build } from 'esbuild';

export const CONNECTIONS = 16;

export interface Target {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export type TargetMode = 'app' | 'bare' | 'floor';

/**
 * Bundles serve-target.ts (and with it the service) the way service/build.ts bundles server.ts. The bundle is
 * written under the repository's node_modules/.cache so that the packages left external (the Google clients the
 * service imports) resolve from the repository's node_modules, as they do from the image's.
 */
export async function bundleTarget(): Promise<string> {
  const cache = path.join(import.meta.dirname, '..', 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(path.join(cache, 'survival-bench-'));
  const outfile = path.join(dir, 'serve-target.mjs');
  await build({
    entryPoints: [path.join(import.meta.dirname, 'serve-target.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['@google-cloud/*', 'google-gax', '@grpc/*', 'pg-native'],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  copyFileSync(path.join(import.meta.dirname, '..', 'service', 'ui', 'style.css'), path.join(dir, 'style.css'));
  return outfile;
}

/** Starts a bundled target in its own process (`nodeArgs` before the script, e.g. `--cpu-prof`). */
export function start(
  script: string,
  mode: TargetMode,
  artifactFile?: string,
  nodeArgs: string[] = [],
): Promise<Target> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, script, `--mode=${mode}`, ...(artifactFile ? [`--artifact=${artifactFile}`] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening (\d+)/.exec(out);
      if (!m) return;
      child.removeAllListeners('exit');
      resolve({
        url: `http://127.0.0.1:${m[1]}`,
        pid: child.pid!,
        stop: () =>
          new Promise<void>((done) => {
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** CPU seconds (user + system) a process has used: /proc/<pid>/stat fields 14 and 15, in clock ticks of 10 ms. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return kb * 1024;
}

export async function load(url: string, body: string, seconds: number, route = '/v1/predict') {
  return autocannon({
    url: `${url}${route}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    duration: seconds,
  });
}

/**
 * A run under load, with the server's CPU time per answered request: on a machine shared with other work,
 * req/s depends on what else runs, CPU per request much less so.
 */
export async function measured(target: Target, body: string, seconds: number, route = '/v1/predict') {
  const cpu0 = cpuSeconds(target.pid);
  const result = await load(target.url, body, seconds, route);
  const cpuPerRequestUs = ((cpuSeconds(target.pid) - cpu0) / result.requests.total) * 1e6;
  return { result, cpuPerRequestUs };
}
