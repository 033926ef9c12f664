/**
 * Authentication of Pub/Sub push requests. In the cloud the push subscription signs an OIDC token for the
 * configured audience as the configured service account; the service verifies the signature (Google's
 * certificates), the audience, and that the token is that account's. Locally the emulator sends no token and
 * local mode accepts the push.
 *
 * The caller is unauthenticated, so it learns only the outcome: a plain 401 for a token that does not verify, a
 * 403 for another account's token, and a 503 (Pub/Sub retries the push) when the verification itself could not be
 * done because Google's certificates could not be fetched. Why a token failed (the library's message, a
 * certificate URL, a DNS error) goes to the log only.
 */
import { OAuth2Client } from 'google-auth-library';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';

/** Resolves when the push may be processed; throws AppError UNAUTHENTICATED / PERMISSION_DENIED / UNAVAILABLE. */
export type PushVerifier = (authorization: string | undefined) => Promise<void>;

/** The part of OAuth2Client this module uses (tests pass a fake that does not reach Google). */
export interface IdTokenVerifier {
  verifyIdToken(options: {
    idToken: string;
    audience: string;
  }): Promise<{ getPayload(): { email?: string; email_verified?: boolean } | undefined }>;
}

/** The longest a verification may wait for Google's certificates before the push is answered 503. */
export const CERTIFICATE_FETCH_TIMEOUT_MS = 5_000;

/** A compact JWS: three base64url parts. Anything else is refused without fetching certificates. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function acceptLocalPushes(): PushVerifier {
  return async () => {};
}

class CertificateOutage extends Error {}

/** True when the library failed to obtain the signing certificates (network, DNS, Google's 5xx), not the token. */
function isCertificateOutage(err: unknown): boolean {
  if (err instanceof CertificateOutage) return true;
  const message = err instanceof Error ? err.message : '';
  return (
    /Failed to retrieve verification certificates/.test(message) || (err as { name?: unknown })?.name === 'GaxiosError'
  );
}

export function createOidcPushVerifier(opts: {
  audience: string;
  serviceAccount: string;
  client?: IdTokenVerifier;
  logger?: Logger;
  certificateTimeoutMs?: number;
}): PushVerifier {
  const client = opts.client ?? new OAuth2Client();
  const timeoutMs = opts.certificateTimeoutMs ?? CERTIFICATE_FETCH_TIMEOUT_MS;
  const refuse = (reason: string, err?: unknown): never => {
    opts.logger?.warn('push refused: token not verified', { reason, err });
    throw new AppError('UNAUTHENTICATED');
  };
  return async (authorization) => {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match?.[1]) return refuse('no bearer token');
    const idToken = match[1];
    if (!JWT_SHAPE.test(idToken)) return refuse('the bearer token is not a JWT');
    let payload: { email?: string; email_verified?: boolean } | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CertificateOutage(`no certificates within ${timeoutMs} ms`)), timeoutMs);
      });
      const ticket = await Promise.race([client.verifyIdToken({ idToken, audience: opts.audience }), timeout]);
      payload = ticket.getPayload();
    } catch (err) {
      if (isCertificateOutage(err)) {
        opts.logger?.error('push verification unavailable: Google certificates could not be fetched', { err });
        throw new AppError('UNAVAILABLE', 'the push could not be verified now; retry later', undefined, {
          cause: err,
        });
      }
      return refuse(err instanceof Error ? err.message : String(err), err);
    } finally {
      clearTimeout(timer);
    }
    if (payload?.email !== opts.serviceAccount || payload.email_verified !== true) {
      opts.logger?.warn('push refused: token of another account', { email: payload?.email ?? null });
      throw new AppError('PERMISSION_DENIED');
    }
  };
}
