/**
 * Authentication of Pub/Sub push requests. In the cloud the push subscription signs an OIDC token for the
 * configured audience as the configured service account; the service verifies the signature (Google's
 * certificates), the audience, and that the token is that account's. Locally the emulator sends no token and
 * local mode accepts the push.
 */
import { OAuth2Client } from 'google-auth-library';
import { AppError } from '../shared/errors.ts';

/** Resolves when the push may be processed; throws AppError UNAUTHENTICATED / PERMISSION_DENIED otherwise. */
export type PushVerifier = (authorization: string | undefined) => Promise<void>;

/** The part of OAuth2Client this module uses (tests pass a fake that does not reach Google). */
export interface IdTokenVerifier {
  verifyIdToken(options: {
    idToken: string;
    audience: string;
  }): Promise<{ getPayload(): { email?: string; email_verified?: boolean } | undefined }>;
}

export function acceptLocalPushes(): PushVerifier {
  return async () => {};
}

export function createOidcPushVerifier(opts: {
  audience: string;
  serviceAccount: string;
  client?: IdTokenVerifier;
}): PushVerifier {
  const client = opts.client ?? new OAuth2Client();
  return async (authorization) => {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match?.[1]) throw new AppError('UNAUTHENTICATED', 'the push carries no bearer token');
    let payload: { email?: string; email_verified?: boolean } | undefined;
    try {
      const ticket = await client.verifyIdToken({ idToken: match[1], audience: opts.audience });
      payload = ticket.getPayload();
    } catch (err) {
      // The library's message says why (expired, wrong audience, bad signature); it names no secret.
      throw new AppError(
        'UNAUTHENTICATED',
        'the push token could not be verified',
        { reason: err instanceof Error ? err.message : String(err) },
        { cause: err },
      );
    }
    if (payload?.email !== opts.serviceAccount || payload.email_verified !== true) {
      throw new AppError('PERMISSION_DENIED', 'the push token belongs to another account');
    }
  };
}
