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

  /** Writes `head` at once, then `trickle` one byte a second; resolves with everything the server sent until it closed. */
  function trickle(head: string, slow: string): Promise<{ raw: string; ms: number }> {
    const started = performance.now();
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let raw = '';
      let timer: NodeJS.Timeout | undefined;
      let sent = 0;
      const done = () => {
        clearInterval(timer);
        socket.destroy();
        resolve({ raw, ms: Math.round(performance.now() - started) });
      };
      socket.on('data', (chunk) => {
        raw += chunk.toString('latin1');
      });
      socket.on('close', done);
      socket.on('error', done);
      socket.on('connect', () => {
        socket.write(head);
        timer = setInterval(() => {
          if (sent < slow.length) socket.write(slow[sent++]!);
        }, 1_000);
      });
    });
  }

  /** The status line, the headers (lower-cased names) and the body of a raw HTTP/1.1 answer. */
  function parseAnswer(raw: string): { status: string; headers: Record<string, string>; body: string } {
    const [head = '', body = ''] = raw.split('\r\n\r\n', 2);
    const [status = '', ...lines] = head.split('\r\n');
    const headers = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    return { status, headers, body };
  }

  it('cuts a body sent at one byte a second once the request timeout is spent, answering 408 in the catalogue format', async () => {
    const body = JSON.stringify(rawPassenger());
    const head = `POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const { raw, ms } = await trickle(head, body);
    const answer = parseAnswer(raw);
    console.log(`slow body: 1 byte/s answered "${answer.status}" ${answer.body} after ${ms} ms`);
    expect(answer.status).toBe('HTTP/1.1 408 Request Timeout');
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers.connection).toBe('close');
    expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
    expect(JSON.parse(answer.body)).toEqual({
      error: {
        code: 'REQUEST_TIMEOUT',
        message: `the request was not received within ${REQUEST_TIMEOUT_MS} ms; send it again, faster`,
        details: { timeoutMs: REQUEST_TIMEOUT_MS },
      },
    });
    expect(ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_500);
  });

  it('answers headers sent at one byte a second with the same catalogue 408', async () => {
    const { raw, ms } = await trickle('POST /v1/predict HTTP/1.1\r\n', 'host: x\r\ncontent-type: application/json\r\n');
    const answer = parseAnswer(raw);
    console.log(`slow headers: 1 byte/s answered "${answer.status}" after ${ms} ms`);
    expect(answer.status).toBe('HTTP/1.1 408 Request Timeout');
    expect(JSON.parse(answer.body).error.code).toBe('REQUEST_TIMEOUT');
    expect(ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_500);
  });

  it('answers a request that is not HTTP with 400 in the catalogue format', async () => {
    const { raw } = await trickle('GARBAGE / NOT-HTTP\r\n\r\n', '');
    const answer = parseAnswer(raw);
    expect(answer.status).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(answer.body)).toEqual({
      error: { code: 'BAD_REQUEST', message: 'the request is not valid HTTP/1.1' },
    });
  });

  it('answers request headers over the size limit with 431 in the catalogue format', async () => {
    const { raw } = await trickle(`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, '');
    const answer = parseAnswer(raw);
    expect(answer.status).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(JSON.parse(answer.body).error.code).toBe('HEADERS_TOO_LARGE');
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
