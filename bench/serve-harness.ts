/**
 * The parts of `npm run bench:serve` that `bench/serve-profile.ts` shares: bundling the server targets the way
 * the container image runs them, starting one in a child process, loading it with wrk (autocannon where wrk is
 * not installed), and reading a process's CPU time and RSS from /proc.
 */
import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
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
 * Bundles serve-target.ts (and with it the service) the way service/build.ts bundles server.ts, from the checkout
 * at `root` (this one by default; bench:serve --baseline bundles another). The bundle is written under that
 * checkout's node_modules/.cache so that the packages left external (the Google clients the service imports)
 * resolve from its node_modules, as they do from the image's.
 */
export async function bundleTarget(root = path.join(import.meta.dirname, '..')): Promise<string> {
  const cache = path.join(root, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(path.join(cache, 'survival-bench-'));
  const outfile = path.join(dir, 'serve-target.mjs');
  await build({
    entryPoints: [path.join(root, 'bench', 'serve-target.ts')],
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
    absWorkingDir: root,
  });
  copyFileSync(path.join(root, 'service', 'ui', 'style.css'), path.join(dir, 'style.css'));
  return outfile;
}

/**
 * The bench model as the checkout at `root` trains it (its own core and artifact format: `tinyArtifact` with 200
 * trees, from test/support/service.ts, or service/testing.ts in older checkouts), written to a file.
 */
export function baselineArtifact(root: string): string {
  const support = ['test/support/service.ts', 'service/testing.ts']
    .map((p) => path.join(root, p))
    .find((p) => existsSync(p));
  if (!support) throw new Error(`${root}: no tinyArtifact (test/support/service.ts or service/testing.ts)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'survival-bench-baseline-'));
  const file = path.join(dir, 'model.json');
  const script = path.join(dir, 'make.mts');
  writeFileSync(
    script,
    `import { writeFileSync } from 'node:fs';\nimport { tinyArtifact } from ${JSON.stringify(pathToFileURL(support).href)};\n` +
      `writeFileSync(${JSON.stringify(file)}, JSON.stringify(await tinyArtifact({ nEstimators: 200, modelVersion: 'bench-200' })));\n`,
  );
  execFileSync(path.join(root, 'node_modules', '.bin', 'tsx'), [script], { cwd: root, stdio: 'inherit' });
  return file;
}

/**
 * The node flags the service runs with in the checkout at `root` (its service/node-flags.ts; none in checkouts
 * older than that file), for its bench servers: each checkout's servers run as its image runs them.
 */
export async function serviceNodeFlags(root = path.join(import.meta.dirname, '..')): Promise<string[]> {
  const file = path.join(root, 'service', 'node-flags.ts');
  if (!existsSync(file)) return [];
  const { SERVICE_NODE_FLAGS } = (await import(pathToFileURL(file).href)) as { SERVICE_NODE_FLAGS: readonly string[] };
  return [...SERVICE_NODE_FLAGS];
}

/**
 * Starts a bundled target in its own process (`nodeArgs` before the script, e.g. `--cpu-prof`; `targetArgs` after
 * it, e.g. the floor's `--spin=US`).
 */
export function start(
  script: string,
  mode: TargetMode,
  artifactFile?: string,
  nodeArgs: string[] = [],
  targetArgs: string[] = [],
): Promise<Target> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, script, `--mode=${mode}`, ...(artifactFile ? [`--artifact=${artifactFile}`] : []), ...targetArgs],
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

/** What a load run reports, whichever client made it (wrk, or autocannon where wrk is not installed). */
export interface LoadResult {
  requests: { average: number; total: number };
  /** Milliseconds. */
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
  timeouts: number;
}

let wrkFound: boolean | undefined;
/**
 * The load client: wrk (Debian package `wrk`) when it is on the PATH. It is C
 * and takes a few microseconds of the other core per request, so the server stays the bottleneck even at the
 * framework floor's rate; autocannon is JavaScript and runs in this process, and near 20,000 requests a second it
 * becomes the bottleneck itself. `BENCH_CLIENT=autocannon` forces autocannon.
 */
export function loadClient(): 'wrk' | 'autocannon' {
  if (process.env.BENCH_CLIENT === 'autocannon') return 'autocannon';
  wrkFound ??= spawnSync('wrk', ['--version']).error === undefined;
  return wrkFound ? 'wrk' : 'autocannon';
}

/** A wrk latency figure ("470.00us", "1.51ms", "2.00s") in milliseconds. */
export function wrkMillis(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`unreadable wrk latency: ${text}`);
  const scale = { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[m[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(m[1]) * scale;
}

/** Reads wrk's report (run with --latency). */
export function readWrkReport(out: string): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  const perSecond = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!total || !perSecond || !p50 || !p99) throw new Error(`unreadable wrk report:\n${out}`);
  const sockets = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requests: { average: Number(perSecond[1]), total: Number(total[1]) },
    latency: { p50: wrkMillis(p50[1] as string), p99: wrkMillis(p99[1] as string) },
    errors: sockets ? Number(sockets[1]) + Number(sockets[2]) + Number(sockets[3]) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    timeouts: sockets ? Number(sockets[4]) : 0,
  };
}

let wrkScripts: Map<string, string> | undefined;
/** A wrk script that POSTs `body` as JSON, written once per body. */
function wrkScript(body: string): string {
  wrkScripts ??= new Map();
  let file = wrkScripts.get(body);
  if (file === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'survival-wrk-'));
    writeFileSync(path.join(dir, 'body.json'), body);
    file = path.join(dir, 'post.lua');
    writeFileSync(
      file,
      `wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n` +
        `local f = io.open(${JSON.stringify(path.join(dir, 'body.json'))}, "rb")\nwrk.body = f:read("*a")\nf:close()\n`,
    );
    wrkScripts.set(body, file);
  }
  return file;
}

/**
 * `CONNECTIONS` connections for `seconds`, POSTing `body` (GET when it is null) to `route`. wrk runs one thread
 * (the other core is the server's).
 */
export async function load(
  url: string,
  body: string | null,
  seconds: number,
  route = '/v1/predict',
): Promise<LoadResult> {
  if (loadClient() === 'wrk') {
    const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency'];
    if (body !== null) args.push('-s', wrkScript(body));
    const out = await new Promise<string>((resolve, reject) => {
      execFile('wrk', [...args, `${url}${route}`], { timeout: (seconds + 30) * 1000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
    });
    return readWrkReport(out);
  }
  const result = await autocannon({
    url: `${url}${route}`,
    ...(body === null ? {} : { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body }),
    connections: CONNECTIONS,
    duration: seconds,
  });
  return {
    requests: { average: result.requests.average, total: result.requests.total },
    latency: { p50: result.latency.p50, p99: result.latency.p99 },
    errors: result.errors,
    non2xx: result.non2xx,
    timeouts: result.timeouts,
  };
}

/**
 * A run under load, with the server's CPU time per answered request: on a machine shared with other work,
 * req/s depends on what else runs, CPU per request much less so.
 */
export async function measured(target: Target, body: string | null, seconds: number, route = '/v1/predict') {
  const cpu0 = cpuSeconds(target.pid);
  const result = await load(target.url, body, seconds, route);
  const cpuPerRequestUs = ((cpuSeconds(target.pid) - cpu0) / result.requests.total) * 1e6;
  return { result, cpuPerRequestUs };
}
