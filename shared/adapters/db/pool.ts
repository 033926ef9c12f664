/**
 * The Postgres connection pool, and which of its failures a retry can fix.
 */
import pg from 'pg';
import { AppError } from '../../errors.ts';

export type Pool = pg.Pool;

export interface PgConfig {
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  database: string;
  /** Pool size per instance; a function instance serves one request at a time, so a few suffice. */
  max?: number;
  /** The session's `statement_timeout`: the server cancels a statement running longer (SQLSTATE 57014). */
  statementTimeoutMs?: number | undefined;
  /** The session's `lock_timeout`: a statement waiting longer for a lock, advisory ones included, fails (55P03). */
  lockTimeoutMs?: number | undefined;
  /** The wait for a connection to be established and to answer its startup (a server that accepts and hangs). */
  connectTimeoutMs?: number | undefined;
  /**
   * PEM of the server's CA (Cloud SQL's instance server CA). When set, the connection is TLS and the server's
   * certificate must chain to this CA; its name is not compared with the host, because Cloud SQL's certificate
   * names the instance (`project:instance`), not the private IP the functions connect to.
   */
  tlsCa?: string | undefined;
}

/**
 * Session limits every connection sets at startup, so a statement stuck behind a lock or a server that stopped
 * answering ends as an error (a retryable 503) instead of holding the function until its deadline. The statement
 * limit leaves room for the largest COPY the load function accepts (100 MiB, about 20 s at the measured rate).
 */
export const DB_TIMEOUTS = { statementTimeoutMs: 300_000, lockTimeoutMs: 30_000, connectTimeoutMs: 10_000 } as const;

export function createPool(config: PgConfig): pg.Pool {
  return new pg.Pool({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    max: config.max ?? 4,
    connectionTimeoutMillis: config.connectTimeoutMs ?? DB_TIMEOUTS.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: config.statementTimeoutMs ?? DB_TIMEOUTS.statementTimeoutMs,
    lock_timeout: config.lockTimeoutMs ?? DB_TIMEOUTS.lockTimeoutMs,
    // A transaction left open by a crashed instance must not hold its locks for long.
    idle_in_transaction_session_timeout: 60_000,
    keepAlive: true,
    ...(config.tlsCa
      ? { ssl: { ca: config.tlsCa, rejectUnauthorized: true, checkServerIdentity: () => undefined } }
      : {}),
  });
}

const TRANSIENT_SQLSTATES = new Set([
  '08000',
  '08001',
  '08003',
  '08004',
  '08006', // connection exceptions
  '40001',
  '40P01', // serialization failure, deadlock
  '53300', // too many connections
  '55P03', // lock_not_available: lock_timeout ran out behind another session's lock
  '57014', // query_canceled: statement_timeout ran out
  '57P01',
  '57P02',
  '57P03', // admin / crash shutdown, cannot connect now
]);
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);

/** True for a database failure that a retry can fix: the connection went away or the server is busy. */
export function isTransientDbError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code))) return true;
  return /Connection terminated|terminating connection|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    err.message,
  );
}

/**
 * The adapter's own failure mapping: a database failure a retry can fix becomes the retryable UNAVAILABLE naming
 * the database; anything else (a constraint, a bug) is left as it is. Every exported query function of db/ maps
 * its failures through this.
 */
export function dbFailure(err: unknown): unknown {
  if (err instanceof AppError || !isTransientDbError(err)) return err;
  return new AppError('UNAVAILABLE', 'the database is unavailable', undefined, { cause: err });
}

/**
 * Runs `work` in one transaction on a client of `pool`: COMMIT when it resolves, ROLLBACK when it throws (the
 * error is rethrown); the client is released either way, and every failure goes through `dbFailure`.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  try {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  } catch (err) {
    throw dbFailure(err);
  }
}
