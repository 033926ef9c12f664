/**
 * Dependencies that accept a connection and then never answer, for the hanging-dependency tests:
 * - a black hole: a TCP port that accepts, reads and discards everything, and never writes a byte (a Redis or a
 *   Postgres behind a proxy whose upstream went silent);
 * - a stalling HTTP proxy: forwards to a real server, but for the requests it is told to stall it sends the
 *   upstream's status line and headers, then holds the body forever (a GCS that sends headers and stalls).
 */
import http from 'node:http';
import net from 'node:net';

export interface Hole {
  port: number;
  url: string;
  /** Connections accepted so far (proof the client did connect). */
  accepted(): number;
  close(): Promise<void>;
}

export async function startBlackHole(scheme = 'tcp'): Promise<Hole> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    accepted: () => accepted,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface StallingProxy {
  url: string;
  /** Requests that were stalled after their headers. */
  stalled(): number;
  close(): Promise<void>;
}

/**
 * A proxy to `target` (an http:// origin). A request for which `stall(req)` is true gets the upstream's status and
 * headers (and with `bodyBytes`, that many bytes of its body), then nothing more, and the connection stays open.
 */
export async function startStallingProxy(
  target: string,
  stall: (req: http.IncomingMessage) => boolean,
  opts: { bodyBytes?: number } = {},
): Promise<StallingProxy> {
  const origin = new URL(target);
  const sockets = new Set<net.Socket>();
  let stalled = 0;
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      {
        host: origin.hostname,
        port: origin.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: origin.host },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (!stall(req)) {
          up.pipe(res);
          return;
        }
        stalled++;
        res.flushHeaders();
        let room = opts.bodyBytes ?? 0;
        up.on('data', (chunk: Buffer) => {
          if (room <= 0) return;
          res.write(chunk.subarray(0, room));
          room -= chunk.length;
        });
        // The response is never ended: the client sees headers (and maybe a few bytes), then silence.
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stalled: () => stalled,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Runs `work` and returns its result with the wall time it took, in milliseconds. */
export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: Math.round(performance.now() - started) };
}
