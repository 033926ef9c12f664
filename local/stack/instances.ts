/**
 * Several instances of one function behind one URL, as Cloud Functions (gen2, concurrency 1) runs them: each request
 * goes to an idle instance, and waits in order while every instance is busy. The local stack puts the `fit`
 * function's processes behind one of these, so a fanned-out search spreads over them as it would over instances.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenHttp } from '../net/listen.ts';

export interface InstancePool {
  url: string;
  close(): Promise<void>;
}

export async function startInstancePool(
  instances: readonly string[],
  opts: { host?: string; port?: number } = {},
): Promise<InstancePool> {
  if (instances.length === 0) throw new RangeError('an instance pool needs at least one instance');
  const idle = [...instances];
  const waiting: Array<(instance: string) => void> = [];
  const acquire = (): Promise<string> =>
    new Promise((resolve) => {
      const instance = idle.shift();
      if (instance !== undefined) resolve(instance);
      else waiting.push(resolve);
    });
  const release = (instance: string): void => {
    const next = waiting.shift();
    if (next) next(instance);
    else idle.push(instance);
  };
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const instance = await acquire();
      const target = new URL(req.url ?? '/', instance);
      const upstream = http.request(target, { method: req.method, headers: req.headers, agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => release(instance));
      });
      upstream.on('error', (err) => {
        release(instance);
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`instance ${instance} failed: ${err.message}`);
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await listenHttp(server, opts.port ?? 0, host, 'instance pool');
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
