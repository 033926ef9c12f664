/**
 * Redis helpers for tests: a unique key prefix per test on the shared 127.0.0.1:6379 server (cleaned with SCAN,
 * never KEYS), a private redis-server on a free port that a test may kill, and a TCP proxy that cuts the
 * connection after a number of bytes (a server dying in the middle of a write).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_URL = 'redis://127.0.0.1:6379';

export function uniquePrefix(label = 't'): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

export async function deleteByPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export async function countByPrefix(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on a free port (extra args e.g. `--requirepass x`); `stop()` kills it. With `tls`, the
 * port speaks TLS only (`--port 0 --tls-port`), with the given certificate files.
 */
export async function startRedisServer(
  args: string[] = [],
  tls?: { cert: string; key: string; ca: string },
): Promise<PrivateRedis> {
  const port = await freePort();
  const listen = tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        tls.cert,
        '--tls-key-file',
        tls.key,
        '--tls-ca-cert-file',
        tls.ca,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  const child = spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 5_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    port,
    process: child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

export interface CuttingProxy {
  url: string;
  /** Bytes forwarded client -> server before the "server" dies. */
  cutAfter: number;
  close(): Promise<void>;
}

/**
 * A proxy to `targetPort` that, once `cutAfter` bytes went upstream, dies like a crashed server: every
 * connection is destroyed and the port stops accepting.
 */
export async function startCuttingProxy(targetPort: number, cutAfter: number): Promise<CuttingProxy> {
  const sockets = new Set<net.Socket>();
  let forwarded = 0;
  const proxy: CuttingProxy = { url: '', cutAfter, close: async () => {} };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const cut = (): void => {
      server.close();
      // What was forwarded reaches the server (end flushes, destroy would drop queued bytes); the client is cut.
      upstream.end();
      for (const s of sockets) if (s !== upstream) s.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      const room = proxy.cutAfter - forwarded;
      forwarded += chunk.length;
      if (chunk.length <= room) return void upstream.write(chunk);
      // Exactly `cutAfter` bytes reach the server: the commands they hold completely are executed.
      if (room > 0) upstream.write(chunk.subarray(0, room));
      cut();
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  proxy.url = `redis://127.0.0.1:${port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  return proxy;
}

export function connect(url = REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1 });
}

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl), in `dir`. */
export function makeTlsFiles(dir: string): { ca: string; cert: string; key: string } {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  );
  ssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  );
  fs.writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    f('san.ext'),
    '-out',
    f('server.pem'),
  );
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}
