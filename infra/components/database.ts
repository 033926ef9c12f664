import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { DB_FUNCTIONS, type DbFunction, FUNCTION_ROLES } from '../../shared/adapters/db/roles.ts';
import { scramSha256Secret } from '../../shared/core/scram.ts';
import type { Network } from './network.ts';
import { type StoredSecret, storeSecret } from './secret.ts';

export interface DatabaseArgs {
  project: string;
  region: string;
  network: Network;
  tier: string;
  version: string;
  diskSizeGb: number;
  highAvailability: boolean;
  deletionProtection: boolean;
  databaseName?: string;
  userName?: string;
}

/** One function's database login: its user (a role migration 3 creates) and the secret holding its password. */
export interface FunctionLogin {
  user: string;
  password: StoredSecret;
}

/**
 * Cloud SQL for PostgreSQL reachable only on its private address in the VPC (no public IP, TLS required),
 * one database, its owner, and one login per function that uses it.
 *
 * The owner is the one user created through the Cloud SQL API (so a member of cloudsqlsuperuser, with CREATEROLE):
 * it applies the migrations and owns the tables, and only the migrate function holds its password. The functions'
 * users are not Cloud SQL API users: migration 3 creates them in SQL (no cloudsqlsuperuser, no CREATEROLE), and the
 * migrate step gives each LOGIN and its password. Here each gets a generated password in a secret of its own (for
 * that function alone) and the SCRAM secret of that password (salted, computed here), which is all the migrate
 * step receives: it can set the passwords without ever holding one.
 */
export class Database extends pulumi.ComponentResource {
  readonly instance: gcp.sql.DatabaseInstance;
  readonly host: pulumi.Output<string>;
  readonly databaseName: pulumi.Output<string>;
  /** The owner: applies the migrations (the migrate function's user, and operators' for `npm run models`). */
  readonly ownerName: pulumi.Output<string>;
  readonly ownerPassword: StoredSecret;
  /** Each database-using function's user and password secret. */
  readonly logins: Record<DbFunction, FunctionLogin>;
  /** JSON of every function's SCRAM secret (PG_LOGIN_SECRETS), for the migrate function only. */
  readonly loginSecrets: StoredSecret;
  /** PEM of the instance's server CA, which clients verify the server's certificate against. */
  readonly serverCa: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:Database', name, {}, opts);
    this.instance = new gcp.sql.DatabaseInstance(
      `${name}-pg`,
      {
        project: args.project,
        region: args.region,
        databaseVersion: args.version,
        deletionProtection: args.deletionProtection,
        settings: {
          edition: 'ENTERPRISE',
          tier: args.tier,
          availabilityType: args.highAvailability ? 'REGIONAL' : 'ZONAL',
          diskSize: args.diskSizeGb,
          diskAutoresize: true,
          deletionProtectionEnabled: args.deletionProtection,
          backupConfiguration: { enabled: true, pointInTimeRecoveryEnabled: true },
          ipConfiguration: {
            ipv4Enabled: false,
            privateNetwork: args.network.network.id,
            sslMode: 'ENCRYPTED_ONLY',
          },
        },
      },
      { parent: this, dependsOn: [args.network.privateServiceAccess] },
    );
    const database = new gcp.sql.Database(
      `${name}-db`,
      { project: args.project, instance: this.instance.name, name: args.databaseName ?? 'survival' },
      { parent: this },
    );
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this });
    const user = new gcp.sql.User(
      `${name}-user`,
      {
        project: args.project,
        instance: this.instance.name,
        name: args.userName ?? 'survival',
        password: password.result,
      },
      { parent: this },
    );
    this.ownerPassword = storeSecret(
      `${name}-password-secret`,
      { project: args.project, secretId: `${name}-pgpassword`, value: password.result },
      this,
    );
    const scramSecrets: Record<string, pulumi.Output<string>> = {};
    this.logins = {} as Record<DbFunction, FunctionLogin>;
    for (const fn of DB_FUNCTIONS) {
      const fnPassword = new random.RandomPassword(
        `${name}-${fn}-password`,
        { length: 32, special: false },
        { parent: this },
      );
      // A fixed salt per login, so the SCRAM secret changes only when the password does.
      const salt = new random.RandomBytes(`${name}-${fn}-salt`, { length: 16 }, { parent: this });
      scramSecrets[fn] = pulumi
        .all([fnPassword.result, salt.base64])
        .apply(([value, b64]) => scramSha256Secret(value, Buffer.from(b64, 'base64')));
      this.logins[fn] = {
        user: FUNCTION_ROLES[fn],
        password: storeSecret(
          `${name}-${fn}-password-secret`,
          { project: args.project, secretId: `${name}-pgpassword-${fn}`, value: fnPassword.result },
          this,
        ),
      };
    }
    this.loginSecrets = storeSecret(
      `${name}-login-secrets`,
      {
        project: args.project,
        secretId: `${name}-pg-login-secrets`,
        value: pulumi.all(scramSecrets).apply((s) => JSON.stringify(s)),
      },
      this,
    );
    this.host = this.instance.privateIpAddress;
    this.serverCa = this.instance.serverCaCerts.apply((certs) => {
      const pem = certs[0]?.cert;
      if (!pem) throw new Error('the Cloud SQL instance reports no server CA certificate');
      return pem;
    });
    this.databaseName = database.name;
    this.ownerName = user.name;
    this.registerOutputs({ host: this.host, database: this.databaseName, owner: this.ownerName });
  }
}
