/**
 * The database logins of the pipeline functions. Migration 3 creates one role per function (without LOGIN) with
 * only the grants that function uses; in the cloud the migrate step, running as the migrations' owner, then gives
 * each role LOGIN and the password its function holds, as a SCRAM secret (shared/core/scram.ts), so the password
 * never reaches the server. These roles are created in SQL by the owner, not through the Cloud SQL API: they are
 * not members of cloudsqlsuperuser and hold no CREATEROLE or CREATEDB, so a function cannot grant itself another
 * role or change anyone's password. Each call checks that this still holds and refuses a role that has gained
 * more (see docs/deploy.md, "Database roles").
 */
import type pg from 'pg';
import { SCRAM_SECRET_PATTERN } from '../../core/scram.ts';
import { AppError, ConfigError } from '../../errors.ts';
import { inTransaction } from './pool.ts';

/** The database user (PGUSER) of each function that uses the database; `fit` and `trigger` use none. */
export const FUNCTION_ROLES = { load: 'pipeline_load', process: 'pipeline_process', train: 'pipeline_train' } as const;
export type DbFunction = keyof typeof FUNCTION_ROLES;
export const DB_FUNCTIONS = Object.keys(FUNCTION_ROLES) as DbFunction[];

/** The roles each function's login may belong to: load owns passengers through pipeline_partitions (ATTACH). */
const ALLOWED_MEMBERSHIPS: Record<DbFunction, readonly string[]> = {
  load: ['pipeline_partitions'],
  process: [],
  train: [],
};

/** The role attributes no function login may hold (each would let it step outside its grants). */
const FORBIDDEN_ATTRIBUTES = ['rolsuper', 'rolcreaterole', 'rolcreatedb', 'rolreplication', 'rolbypassrls'] as const;

/** Parses PG_LOGIN_SECRETS: a JSON object of one SCRAM secret per function, `{"load": "SCRAM-SHA-256$...", ...}`. */
export function parseLoginSecrets(text: string): Record<DbFunction, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError('PG_LOGIN_SECRETS is not JSON', { field: 'PG_LOGIN_SECRETS' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError('PG_LOGIN_SECRETS must be a JSON object', { field: 'PG_LOGIN_SECRETS' });
  const obj = value as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !(k in FUNCTION_ROLES));
  if (unknown.length > 0)
    throw new ConfigError(`PG_LOGIN_SECRETS names no such function: ${unknown.join(', ')}`, {
      field: 'PG_LOGIN_SECRETS',
    });
  const out = {} as Record<DbFunction, string>;
  for (const fn of DB_FUNCTIONS) {
    const secret = obj[fn];
    // A plain password is refused too: it would reach the server (and any statement log) as it is.
    if (typeof secret !== 'string' || !SCRAM_SECRET_PATTERN.test(secret))
      throw new ConfigError(`PG_LOGIN_SECRETS.${fn} must be a SCRAM-SHA-256 secret`, {
        field: `PG_LOGIN_SECRETS.${fn}`,
      });
    out[fn] = secret;
  }
  return out;
}

/** What is wrong with a function's role, or an empty list. */
export async function roleProblems(client: pg.ClientBase, fn: DbFunction): Promise<string[]> {
  const role = FUNCTION_ROLES[fn];
  const { rows } = await client.query<Record<string, boolean>>(
    `SELECT ${FORBIDDEN_ATTRIBUTES.join(', ')} FROM pg_roles WHERE rolname = $1`,
    [role],
  );
  const attrs = rows[0];
  if (!attrs) return [`${role} does not exist (apply the migrations first)`];
  const problems = FORBIDDEN_ATTRIBUTES.filter((a) => attrs[a]).map((a) => `${role} has ${a.slice(3).toUpperCase()}`);
  const { rows: groups } = await client.query<{ rolname: string }>(
    `SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
      WHERE r.rolname = $1 ORDER BY 1`,
    [role],
  );
  for (const { rolname } of groups)
    if (!ALLOWED_MEMBERSHIPS[fn].includes(rolname)) problems.push(`${role} is a member of ${rolname}`);
  return problems;
}

/**
 * Gives each function's role LOGIN and its password (as a SCRAM secret), in one transaction, after checking that
 * no role holds more than its grants: a role that is a member of another role (e.g. cloudsqlsuperuser, which a
 * user created through the Cloud SQL API joins) or has CREATEROLE, CREATEDB, ... is refused with CONFIG_INVALID
 * naming it, and no login is changed. Run by the migrations' owner (it needs CREATEROLE and, from Postgres 16,
 * ADMIN on the roles, which their creator has). Returns the roles that may now log in.
 */
export async function enableFunctionLogins(pool: pg.Pool, secrets: Record<DbFunction, string>): Promise<string[]> {
  for (const fn of DB_FUNCTIONS) {
    if (!SCRAM_SECRET_PATTERN.test(secrets[fn] ?? ''))
      throw new AppError('CONFIG_INVALID', `the login secret of ${fn} is not a SCRAM-SHA-256 secret`);
  }
  return inTransaction(pool, async (client) => {
    const problems: string[] = [];
    for (const fn of DB_FUNCTIONS) problems.push(...(await roleProblems(client, fn)));
    if (problems.length > 0)
      throw new AppError('CONFIG_INVALID', `function roles hold more than their grants: ${problems.join('; ')}`, {
        problems,
      });
    for (const fn of DB_FUNCTIONS) {
      // Utility statements take no parameters; the secret matched SCRAM_SECRET_PATTERN (no quote can occur).
      await client.query(`ALTER ROLE ${FUNCTION_ROLES[fn]} LOGIN PASSWORD '${secrets[fn]}'`);
    }
    return DB_FUNCTIONS.map((fn) => FUNCTION_ROLES[fn]);
  });
}
