/**
 * `migrate`: the training workflow's first step, the only function that connects as the migrations' owner.
 *
 * `{}` -> `{applied, logins}`: applies the schema migrations not yet applied (shared/adapters/db/migrations.ts),
 * then, when it holds the functions' login secrets (PG_LOGIN_SECRETS, in the cloud), gives each function's role
 * LOGIN with its password (shared/adapters/db/roles.ts). Idempotent: a second call applies nothing and sets the
 * same secrets again. load, process and train connect as their own roles, which may check the schema but not
 * change it; without this step they would find it behind and refuse to start.
 */
import type pg from 'pg';
import { migrate } from '../../shared/adapters/db/migrations.ts';
import { type DbFunction, enableFunctionLogins } from '../../shared/adapters/db/roles.ts';
import { asObject, type EdgeDeps, makeJsonHandler } from '../edge.ts';

export interface MigrateDeps extends EdgeDeps {
  pool: pg.Pool;
  /** One SCRAM secret per function; absent on a laptop, where the functions share the local user. */
  loginSecrets?: Record<DbFunction, string> | undefined;
}

export interface MigrateResult {
  /** Migration versions this call applied (empty when the schema was current). */
  applied: number[];
  /** Roles given LOGIN and their password by this call. */
  logins: string[];
}

export async function runMigrate(deps: MigrateDeps): Promise<MigrateResult> {
  const applied = await migrate(deps.pool);
  const logins = deps.loginSecrets ? await enableFunctionLogins(deps.pool, deps.loginSecrets) : [];
  return { applied, logins };
}

export function makeMigrateHandler(deps: MigrateDeps) {
  return makeJsonHandler(
    'migrate',
    deps,
    (body) => asObject(body),
    () => runMigrate(deps),
  );
}
