/**
 * Listening and shutting down for the emulators' servers (HTTP and gRPC share the same failure modes):
 * a port already in use is a `PortInUseError` that names the emulator and the port, not a bare EADDRINUSE.
 */
import type { Server } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';

export class PortInUseError extends Error {
  readonly code = 'EADDRINUSE';
  constructor(
    readonly what: string,
    readonly host: string,
    readonly port: number,
  ) {
    super(
      `${what}: port ${port} on ${host} is already in use; stop what listens there or choose another port (0 = any free port)`,
    );
    this.name = 'PortInUseError';
  }
}

/**
 * How long an idle keep-alive connection stays open. Google's clients keep idle sockets for reuse; if the server
 * closes one first (Node's default is 5 s) a request written on it at that moment fails with EPIPE or ECONNRESET.
 * Google's front ends keep idle connections far longer, so the emulators do too.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 10 * 60_000;

/** Starts listening and resolves with the bound port (the real one when `port` is 0). */
export function listenHttp(server: Server, port: number, host: string, what: string): Promise<number> {
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(what, host, port) : err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Closes the server and every open connection (clients keep sockets alive), so the port is free on resolve. */
export function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

/** `http://host:port`, with IPv6 literals bracketed. */
export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Fails with a PortInUseError when `port` cannot be bound on `host` (for servers that report it less clearly,
 * such as gRPC's, which also prints its own error line). Port 0 always passes.
 */
export async function assertPortAvailable(host: string, port: number, what: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(what, host, port) : err),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
