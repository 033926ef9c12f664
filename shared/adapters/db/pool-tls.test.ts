/**
 * TLS to Postgres with `tlsCa`: against a server that speaks Postgres' SSLRequest and then TLS with a certificate
 * from a throwaway CA, the client completes the handshake only when the certificate chains to the CA it was given,
 * and it does not compare the certificate's name with the host (Cloud SQL's certificate names the instance).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTlsFiles } from '../../../test/support/redis.ts';
import { createPool } from './pool.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-tls-'));
const otherDir = mkdtempSync(path.join(os.tmpdir(), 'pg-tls-other-'));
let files: { ca: string; cert: string; key: string };
let otherCa: string;
let server: net.Server;
let port: number;
let handshakes = 0;

beforeAll(async () => {
  files = makeTlsFiles(dir);
  otherCa = readFileSync(makeTlsFiles(otherDir).ca, 'utf8');
  server = net.createServer((socket) => {
    socket.once('data', (request) => {
      // SSLRequest: length 8, code 80877103. Answer 'S' and continue in TLS.
      if (request.length !== 8 || request.readInt32BE(4) !== 80877103) {
        socket.destroy();
        return;
      }
      socket.write('S');
      const secure = new tls.TLSSocket(socket, {
        isServer: true,
        key: readFileSync(files.key),
        cert: readFileSync(files.cert),
      });
      secure.on('secure', () => {
        handshakes++;
        secure.destroy();
      });
      secure.on('error', () => socket.destroy());
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
  rmSync(otherDir, { recursive: true, force: true });
});

async function attempt(tlsCa: string | undefined, host = '127.0.0.1'): Promise<{ err: Error; handshook: boolean }> {
  const before = handshakes;
  const pool = createPool({ host, port, user: 'u', database: 'd', tlsCa, connectTimeoutMs: 3_000 });
  pool.on('error', () => {});
  const err = (await pool.query('SELECT 1').catch((e: unknown) => e)) as Error;
  await pool.end().catch(() => {});
  return { err, handshook: handshakes > before };
}

describe('Postgres TLS with the server CA', () => {
  it('completes the TLS handshake with a server whose certificate chains to the given CA', async () => {
    const { handshook } = await attempt(readFileSync(files.ca, 'utf8'));
    expect(handshook).toBe(true);
  });

  it('does not compare the certificate name with the host (the certificate names 127.0.0.1, the host is localhost)', async () => {
    const { handshook } = await attempt(readFileSync(files.ca, 'utf8'), 'localhost');
    expect(handshook).toBe(true);
  });

  it('refuses a server whose certificate does not chain to the given CA, before anything else is sent', async () => {
    const { err, handshook } = await attempt(otherCa);
    expect(handshook).toBe(false);
    expect(`${(err as { code?: string }).code} ${err.message}`).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|certificate/i);
  });
});
