import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.ts';
import { acceptLocalPushes, createOidcPushVerifier, type IdTokenVerifier } from './push-auth.ts';

const AUDIENCE = 'https://service.example/events/model-published';
const ACCOUNT = 'push@project.iam.gserviceaccount.com';

/** Stands in for OAuth2Client: accepts tokens of the form "valid:<email>" for AUDIENCE only. */
function fakeGoogle(calls: Array<{ idToken: string; audience: string }> = []): IdTokenVerifier {
  return {
    async verifyIdToken(options) {
      calls.push(options);
      const [kind, email] = options.idToken.split(':');
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
    expect(await codeOf(verify(`Bearer valid:${ACCOUNT}`))).toBeNull();
    expect(calls).toEqual([{ idToken: `valid:${ACCOUNT}`, audience: AUDIENCE }]);
  });

  it('refuses a push without a bearer token as UNAUTHENTICATED', async () => {
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client: fakeGoogle() });
    expect(await codeOf(verify(undefined))).toBe('UNAUTHENTICATED');
    expect(await codeOf(verify('Basic abc'))).toBe('UNAUTHENTICATED');
  });

  it('refuses a token the library cannot verify (bad signature, expired, other audience) as UNAUTHENTICATED', async () => {
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client: fakeGoogle() });
    expect(await codeOf(verify('Bearer forged'))).toBe('UNAUTHENTICATED');
  });

  it('refuses a valid token of another account as PERMISSION_DENIED', async () => {
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client: fakeGoogle() });
    expect(await codeOf(verify('Bearer valid:someone@else.iam.gserviceaccount.com'))).toBe('PERMISSION_DENIED');
  });

  it('refuses a token whose email is not verified', async () => {
    const client: IdTokenVerifier = {
      verifyIdToken: async () => ({ getPayload: () => ({ email: ACCOUNT, email_verified: false }) }),
    };
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT, client });
    expect(await codeOf(verify('Bearer anything'))).toBe('PERMISSION_DENIED');
  });

  it('with the real google-auth-library client, refuses a token that is not a signed JWT without a network call', async () => {
    const verify = createOidcPushVerifier({ audience: AUDIENCE, serviceAccount: ACCOUNT });
    expect(await codeOf(verify('Bearer not-a-jwt'))).toBe('UNAUTHENTICATED');
  });

  it('in local mode accepts pushes without a token', async () => {
    expect(await codeOf(acceptLocalPushes()(undefined))).toBeNull();
  });
});
