/**
 * Child processes of the local stack: each Cloud Function runs under the real functions-framework CLI on its
 * own port (TypeScript loaded through tsx), and the service runs its own server entry. Their JSON logs go to
 * one file per process so the terminal shows only the pipeline's progress.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { waitForPort } from './services.ts';

const require = createRequire(import.meta.url);

export interface ManagedProcess {
  name: string;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  /** Arguments after `node --import tsx`. */
  args: string[];
  port: number;
  host: string;
  env: Record<string, string>;
  logDir: string;
  cwd: string;
  readyTimeoutMs?: number;
  /** Name of the log file (default: `name`), for several processes of one function. */
  logName?: string;
}

export async function spawnNode(opts: SpawnOptions): Promise<ManagedProcess> {
  mkdirSync(opts.logDir, { recursive: true });
  const logFile = path.join(opts.logDir, `${opts.logName ?? opts.name}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', ...opts.args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? -1;
  });
  const ready = await Promise.race([
    waitForPort(opts.host, opts.port, opts.readyTimeoutMs ?? 30_000),
    new Promise<false>((resolve) => child.once('exit', () => resolve(false))),
  ]);
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(
      `${opts.name} did not start on ${opts.host}:${opts.port} (exit code ${exited ?? 'none'}); see ${logFile}`,
    );
  }
  return {
    name: opts.name,
    url: `http://${opts.host}:${opts.port}`,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          out.end();
          resolve();
          return;
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          out.end();
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Starts `functions/<name>/index.ts` under the functions-framework CLI, as Cloud Functions' runtime does. */
export function spawnFunction(
  name: string,
  signatureType: 'http' | 'cloudevent',
  opts: Omit<SpawnOptions, 'name' | 'args'>,
): Promise<ManagedProcess> {
  const main = path.join(path.dirname(require.resolve('@google-cloud/functions-framework')), 'main.js');
  return spawnNode({
    ...opts,
    name,
    args: [
      main,
      `--target=${name}`,
      `--source=${path.join(opts.cwd, 'functions', name, 'index.ts')}`,
      `--signature-type=${signatureType}`,
      `--port=${opts.port}`,
    ],
    env: { ...opts.env, HOST: opts.host },
  });
}
