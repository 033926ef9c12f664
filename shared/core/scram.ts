/**
 * The SCRAM-SHA-256 secret Postgres stores for a password (RFC 5802 / RFC 7677, as `pg_authid.rolpassword`):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. A role whose password is set to this string
 * (`ALTER ROLE r PASSWORD 'SCRAM-SHA-256$...'`) logs in with the password, and the password itself never reaches
 * the server or its statement log, the same as psql's \password. The secret lets a server check a password; it
 * does not let anyone log in (that needs the ClientKey, which only the password gives).
 */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';

/** Postgres's default `scram_iterations`. */
export const SCRAM_ITERATIONS = 4096;

/** What `scramSha256Secret` produces, and all the migrate step accepts as a function's login secret. */
export const SCRAM_SECRET_PATTERN =
  /^SCRAM-SHA-256\$[1-9][0-9]{0,6}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/;

export function scramSha256Secret(password: string, salt: Buffer, iterations = SCRAM_ITERATIONS): string {
  // Postgres normalises a password with SASLprep before hashing; printable ASCII is left as it is, so a secret
  // computed here matches only for such passwords (the generated ones are letters and digits).
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error('the password must be non-empty printable ASCII');
  if (salt.length < 16) throw new Error('the salt must be at least 16 bytes');
  if (!Number.isInteger(iterations) || iterations < 4096) throw new Error('iterations must be an integer >= 4096');
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
