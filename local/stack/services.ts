/**
 * Makes sure the machine's real Postgres and Redis are reachable for the local stack: starts the installed
 * servers when they are stopped, and otherwise fails with a message that says how to fix it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function isPortOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isPortOpen(host, port, 500)) return true;
    await new Promise((r) => setTimeout(r, 150));
  }
  return false;
}

/** Fails with a clear error when something else already listens on a port the stack wants. */
export async function assertPortFree(host: string, port: number, what: string): Promise<void> {
  if (port !== 0 && (await isPortOpen(host, port, 300))) {
    throw new Error(
      `port ${port} (${what}) is already in use on ${host}; choose another with --${what}-port or stop what uses it`,
    );
  }
}

async function commandExists(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

export async function ensurePostgres(host: string, port: number, log: (m: string) => void): Promise<void> {
  if (await isPortOpen(host, port)) return;
  if (existsSync('/etc/postgresql') && (await commandExists('pg_ctlcluster'))) {
    const version = readdirSync('/etc/postgresql')[0];
    if (version) {
      log(`Postgres is stopped; starting cluster ${version}/main`);
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']).catch(() => undefined);
      if (await waitForPort(host, port, 15_000)) return;
    }
  }
  throw new Error(
    `PostgreSQL is not reachable at ${host}:${port}. Install and start it (Debian: apt-get install postgresql; ` +
      `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start), or pass --pg-host/--pg-port.`,
  );
}

export async function ensureRedis(host: string, port: number, log: (m: string) => void): Promise<void> {
  if (await isPortOpen(host, port)) return;
  if (await commandExists('redis-server')) {
    log('Redis is stopped; starting redis-server');
    await run('redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      host,
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
    ]).catch(() => undefined);
    if (await waitForPort(host, port, 10_000)) return;
  }
  throw new Error(
    `Redis is not reachable at ${host}:${port}. Install and start it (Debian: apt-get install redis-server; ` +
      `redis-server --daemonize yes --port ${port} --save "" --appendonly no), or pass --redis-url.`,
  );
}
