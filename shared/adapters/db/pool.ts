/**
 * The Postgres connection pool, and which of its failures a retry can fix.
 */
import pg from 'pg';

export type Pool = pg.Pool;

export interface PgConfig {
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  database: string;
  /** Pool size per instance; a function instance serves one request at a time, so a few suffice. */
  max?: number;
}

export function createPool(config: PgConfig): pg.Pool {
  return new pg.Pool({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    max: config.max ?? 4,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
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
