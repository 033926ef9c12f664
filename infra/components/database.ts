import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
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

/**
 * Cloud SQL for PostgreSQL reachable only on its private address in the VPC (no public IP, TLS required),
 * one database, and one user whose generated password lives in Secret Manager.
 */
export class Database extends pulumi.ComponentResource {
  readonly instance: gcp.sql.DatabaseInstance;
  readonly host: pulumi.Output<string>;
  readonly databaseName: pulumi.Output<string>;
  readonly userName: pulumi.Output<string>;
  readonly password: StoredSecret;
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
    this.password = storeSecret(
      `${name}-password-secret`,
      { project: args.project, secretId: `${name}-pgpassword`, value: password.result },
      this,
    );
    this.host = this.instance.privateIpAddress;
    this.serverCa = this.instance.serverCaCerts.apply((certs) => {
      const pem = certs[0]?.cert;
      if (!pem) throw new Error('the Cloud SQL instance reports no server CA certificate');
      return pem;
    });
    this.databaseName = database.name;
    this.userName = user.name;
    this.registerOutputs({ host: this.host, database: this.databaseName, user: this.userName });
  }
}
