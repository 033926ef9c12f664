/**
 * Hostile and slow requests: every refusal answers in the catalogue's error format with a message that says what
 * is wrong, and a client that sends its body slowly cannot hold a connection for long, while the largest
 * legitimate batch still gets through.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { buildTestApp, rawPassenger, type TestApp, tinyArtifact, titanicInstances } from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';
import { DEFAULT_OPTIONS } from './app.ts';

let artifact: ModelArtifact;
const testApp = testAppsClosedAfterEach();
beforeAll(async () => {
  artifact = await tinyArtifact();
});

const catalogueShape = (body: unknown) =>
  expect(body).toEqual({ error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }) });

describe('the catalogue error format everywhere', () => {
  it('answers a malformed percent-encoding in the path with 400 BAD_REQUEST in the catalogue format', async () => {
    const t = await testApp(artifact);
    for (const url of ['/v1/passengers/%zz', '/v1/passengers/%E0%A4%A', '/%ZZ']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      catalogueShape(res.json());
      expect(res.json().error).toMatchObject({
        code: 'BAD_REQUEST',
        message: expect.stringMatching(/percent-encoding/),
      });
    }
  });

  it.each([
    ['__proto__', '{"Pclass":3,"__proto__":{"isAdmin":true}}'],
    ['constructor', '{"Pclass":3,"constructor":{"prototype":{"isAdmin":true}}}'],
    ['escaped __proto__', '{"instances":[{"\\u005f_proto__":{"x":1}}]}'],
  ])('refuses a body with a %s key, saying so rather than calling it invalid JSON', async (_label, payload) => {
    const t = await testApp(artifact);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/predict',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(res.statusCode).toBe(400);
    catalogueShape(res.json());
    expect(res.json().error.code).toBe('BAD_REQUEST');
    expect(res.json().error.message).toMatch(/"__proto__" or "constructor"/);
    expect(res.json().error.message).not.toMatch(/not valid JSON/);
  });

  it('still says a body is not valid JSON when it is not, with where the parser stopped', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/predict',
      headers: { 'content-type': 'application/json' },
      payload: '{"Pclass": 3,',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/not valid JSON/) });
  });

  it('refuses a passenger whose keys differ only in case, naming both, instead of letting the last one win', async () => {
    const t = await testApp(artifact);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/predict',
      payload: { instances: [rawPassenger(), { ...rawPassenger({ Pclass: 3 }), pclass: '1' }] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({
      code: 'BAD_REQUEST',
      details: { instance: 1, field: 'Pclass' },
    });
    expect(res.json().error.message).toMatch(/instances\[1\]: Pclass appears twice \(keys "Pclass" and "pclass"\)/);
  });
});

describe('slow request bodies', () => {
  const REQUEST_TIMEOUT_MS = 2_000;
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    // Built outside testAppsClosedAfterEach: this app listens across the tests of this block.
    t = await buildTestApp(artifact, { options: { requestTimeoutMs: REQUEST_TIMEOUT_MS } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await t?.app.close();
  });

  /** Sends `body` in `parts` pieces spread over `spreadMs`; resolves with the status line (or how it ended) and the time. */
  function send(body: string, parts: number, spreadMs: number): Promise<{ answer: string; ms: number }> {
    const started = performance.now();
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let answer = '';
      const timers: NodeJS.Timeout[] = [];
      const done = (how: string) => {
        for (const timer of timers) clearTimeout(timer);
        socket.destroy();
        resolve({ answer: answer.split('\r\n')[0] || how, ms: Math.round(performance.now() - started) });
      };
      socket.on('data', (chunk) => {
        answer += chunk.toString('latin1');
        if (/\r\n\r\n/.test(answer)) done('answered');
      });
      socket.on('close', () => done('closed'));
      socket.on('error', () => done('reset'));
      socket.on('connect', () => {
        socket.write(
          `POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`,
        );
        const size = Math.ceil(body.length / parts);
        for (let i = 0; i < parts; i++) {
          timers.push(
            setTimeout(
              () => socket.write(body.slice(i * size, (i + 1) * size)),
              (spreadMs * i) / Math.max(1, parts - 1),
            ),
          );
        }
      });
    });
  }

  it('cuts a body sent at one byte a second once the request timeout is spent', async () => {
    const body = JSON.stringify(rawPassenger());
    const { answer, ms } = await send(body, body.length, body.length * 1_000);
    console.log(`slow body: 1 byte/s answered "${answer}" after ${ms} ms`);
    expect(answer).toMatch(/408|closed|reset/);
    expect(ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_500);
  });

  it(`lets the largest legitimate batch (${DEFAULT_OPTIONS.maxBatch} passengers) through when it arrives at a modest pace`, async () => {
    const instances = await titanicInstances(DEFAULT_OPTIONS.maxBatch);
    const body = JSON.stringify({ instances });
    const { answer, ms } = await send(body, 20, REQUEST_TIMEOUT_MS / 2);
    console.log(
      `largest batch: ${body.length} bytes in 20 parts over ${REQUEST_TIMEOUT_MS / 2} ms answered "${answer}" after ${ms} ms`,
    );
    expect(answer).toBe('HTTP/1.1 200 OK');
  });

  it('defaults to a request timeout that a full batch on a slow (64 kB/s) link still meets', () => {
    const largestBody = DEFAULT_OPTIONS.maxBatch * 1024; // the body limit a full batch is allowed
    expect(DEFAULT_OPTIONS.requestTimeoutMs).toBeGreaterThan((largestBody / 64_000) * 1000);
    expect(DEFAULT_OPTIONS.requestTimeoutMs).toBeLessThanOrEqual(60_000);
  });
});
