/**
 * A tiny HTTP endpoint for tests of push deliveries (CloudEvents from the GCS emulator, Pub/Sub pushes): it
 * records every request and answers with the statuses it is told, in order (then 200 for the rest).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { closeHttp, httpUrl, listenHttp } from '../../local/net/listen.ts';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

export interface TestSink {
  url: string;
  received: ReceivedRequest[];
  /** Resolves once `count` requests have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startTestSink(statuses: number[] = []): Promise<TestSink> {
  const received: ReceivedRequest[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = statuses.shift() ?? 200;
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status,
      });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'failed');
      for (const wake of waiters.splice(0)) wake();
    });
  });
  const port = await listenHttp(server, 0, '127.0.0.1', 'test sink');
  return {
    url: `${httpUrl('127.0.0.1', port)}/events`,
    received,
    waitFor: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`test sink: ${received.length} of ${count} requests after ${timeoutMs} ms`)),
          timeoutMs,
        );
        const check = (): void => {
          if (received.length >= count) {
            clearTimeout(timer);
            resolve(received.slice(0, count));
          } else waiters.push(check);
        };
        check();
      }),
    close: () => closeHttp(server),
  };
}
