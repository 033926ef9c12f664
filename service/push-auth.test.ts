import { createSign, generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { AppError } from '../shared/errors.ts';
import { startBlackHole } from '../test/support/hang.ts';
import { memoryLogger, tinyArtifact } from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';
import { acceptLocalPushes, createOidcPushVerifier, type IdTokenVerifier } from './push-auth.ts';

const AUDIENCE = 'https://service.example/events/model-published';
const ACCOUNT = 'push@project.iam.gserviceaccount.com';

/** A JWT-shaped stand-in token `<kind>.<base64url email>.sig` for the fake below. */
const token = (kind: string, email: string): string => `${kind}.${Buffer.from(email).toString('base64url')}.sig`;

/** Stands in for OAuth2Client: accepts tokens `token('valid', email)` for AUDIENCE only. */
function fakeGoogle(calls: Array<{ idToken: string; audience: string }> = []): IdTokenVerifier {
  return {
    async verifyIdToken(options) {
      calls.push(options);
      const [kind, encoded] = options.idToken.split('.');
      const email = Buffer.from(encoded ?? '', 'base64url').toString();
      if (kind !== 'valid' || options.audience !== AUDIENCE)
        throw new Error('Wrong recipient, payload audience != requiredAudience');
      return { getPayload: () => ({ email, email_verified: true }) };
    },
  };
}

async function codeOf(p: Promise<void>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (err) {
    return err instanceof AppError ? err.code : 'not an AppError';
  }
}

describe('OIDC push verification', () => {
  it('accepts a token for the configured audience signed for the push service account, checking that audience', async () => {
    const calls: Array<{ idToken: string; audience: string }> = [];
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client: fakeGoogle(calls) });
    expect(await codeOf(verify(`Bearer ${token('valid', ACCOUNT)}`))).toBeNull();
    expect(calls).toEqual([{ idToken: token('valid', ACCOUNT), audience: AUDIENCE }]);
  });

  it('refuses a push without a bearer token as UNAUTHENTICATED', async () => {
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client: fakeGoogle() });
    expect(await codeOf(verify(undefined))).toBe('UNAUTHENTICATED');
    expect(await codeOf(verify('Basic abc'))).toBe('UNAUTHENTICATED');
  });

  it('refuses a token the library cannot verify (bad signature, expired, other audience) as UNAUTHENTICATED', async () => {
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client: fakeGoogle() });
    expect(await codeOf(verify(`Bearer ${token('forged', ACCOUNT)}`))).toBe('UNAUTHENTICATED');
  });

  it('refuses a valid token of another account as PERMISSION_DENIED', async () => {
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client: fakeGoogle() });
    expect(await codeOf(verify(`Bearer ${token('valid', 'someone@else.iam.gserviceaccount.com')}`))).toBe(
      'PERMISSION_DENIED',
    );
  });

  it('refuses a token whose email is not verified', async () => {
    const client: IdTokenVerifier = {
      verifyIdToken: async () => ({ getPayload: () => ({ email: ACCOUNT, email_verified: false }) }),
    };
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client });
    expect(await codeOf(verify(`Bearer ${token('any', ACCOUNT)}`))).toBe('PERMISSION_DENIED');
  });

  it('with the real google-auth-library client, refuses a token that is not a signed JWT without a network call', async () => {
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT });
    expect(await codeOf(verify('Bearer not-a-jwt'))).toBe('UNAUTHENTICATED');
  });

  it('in local mode accepts pushes without a token', async () => {
    expect(await codeOf(acceptLocalPushes()(undefined))).toBeNull();
  });
});

/**
 * The real google-auth-library client against a certificate endpoint of our own (Google's format: key id ->
 * PEM), through the push route of the app: what an unauthenticated caller sees, and what the log keeps.
 */
describe('push verification through the route, with the real client', () => {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const KID = 'test-key-1';
  let certs: http.Server;
  let certsUrl: string;
  let artifact: ModelArtifact;
  const testApp = testAppsClosedAfterEach();

  /** A signed Google-style ID token (RS256). */
  function idToken(claims: Record<string, unknown>, key = keys.privateKey): string {
    const now = Math.floor(Date.now() / 1000);
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: KID, typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(
      JSON.stringify({
        iss: 'https://accounts.google.com',
        aud: AUDIENCE,
        email: ACCOUNT,
        email_verified: true,
        iat: now,
        exp: now + 600,
        ...claims,
      }),
    ).toString('base64url');
    const signature = createSign('RSA-SHA256').update(`${header}.${body}`).sign(key).toString('base64url');
    return `${header}.${body}.${signature}`;
  }

  beforeAll(async () => {
    artifact = await tinyArtifact();
    certs = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'public, max-age=60');
      res.end(JSON.stringify({ [KID]: keys.publicKey.export({ type: 'spki', format: 'pem' }) }));
    });
    await new Promise<void>((resolve) => certs.listen(0, '127.0.0.1', resolve));
    certsUrl = `http://127.0.0.1:${(certs.address() as AddressInfo).port}/oauth2/v1/certs`;
  });
  afterAll(async () => {
    await new Promise((resolve) => certs?.close(resolve));
  });

  /** The app with the real verifier; returns the response and the log. */
  async function pushThroughApp(url: string, authorization: string, certificateTimeoutMs?: number) {
    const { logger, entries } = memoryLogger();
    const verifyPush = createOidcPushVerifier({
      audience: AUDIENCE,
      serviceAccount: ACCOUNT,
      client: new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: url } }),
      logger,
      ...(certificateTimeoutMs === undefined ? {} : { certificateTimeoutMs }),
    });
    const t = await testApp(artifact, { verifyPush });
    const started = performance.now();
    const res = await t.app.inject({
      method: 'POST',
      url: '/events/model-published',
      headers: { authorization },
      payload: { message: { messageId: '1', data: '' }, subscription: 's' },
    });
    return { res, entries, ms: Math.round(performance.now() - started) };
  }

  it('accepts a token signed with the served key for the push account', async () => {
    const { res } = await pushThroughApp(certsUrl, `Bearer ${idToken({})}`);
    expect(res.statusCode).toBe(200);
  });

  it.each([
    ['signed with another key', () => idToken({}, other.privateKey)],
    ['for another audience', () => idToken({ aud: 'https://elsewhere.example/' })],
    ['expired', () => idToken({ iat: 1_000_000, exp: 1_000_600 })],
  ])('answers a token %s with a plain 401 and keeps the reason in the log', async (_label, make) => {
    const { res, entries } = await pushThroughApp(certsUrl, `Bearer ${make()}`);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'authentication is required' } });
    const logged = entries.find((e) => e.message === 'push refused: token not verified');
    expect(String(logged?.reason ?? '')).not.toBe('');
  });

  it('answers 503 without internals when the certificates cannot be fetched (nothing listens), and logs why', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const url = `http://127.0.0.1:${port}/oauth2/v1/certs`;
    const { res, entries, ms } = await pushThroughApp(url, `Bearer ${idToken({})}`);
    console.log(`push verification, certificate endpoint refused: 503 after ${ms} ms`);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      error: { code: 'UNAVAILABLE', message: 'the push could not be verified now; retry later' },
    });
    expect(res.body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|certs/);
    const logged = entries.find((e) => /certificates could not be fetched/.test(e.message));
    expect(JSON.stringify(logged)).toMatch(/ECONNREFUSED|Failed to retrieve verification certificates/);
  });

  it('answers 503 within its budget when the certificate endpoint accepts and never answers', async () => {
    const hole = await startBlackHole('http');
    try {
      const { res, ms } = await pushThroughApp(`${hole.url}/oauth2/v1/certs`, `Bearer ${idToken({})}`, 1_000);
      console.log(`push verification, certificate endpoint black hole: 503 after ${ms} ms`);
      expect(res.statusCode).toBe(503);
      expect(ms).toBeLessThan(3_000);
    } finally {
      await hole.close();
    }
  });
});
