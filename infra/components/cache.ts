import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { Network } from './network.ts';
import { type StoredSecret, storeSecret } from './secret.ts';

export interface CacheArgs {
  project: string;
  region: string;
  network: Network;
  tier: string;
  memorySizeGb: number;
  redisVersion: string;
}

/**
 * Memorystore for Redis (the feature store) on the private services range, with AUTH and in-transit
 * encryption. Clients get `rediss://` in REDIS_URL and read the AUTH string and the server CA from Secret
 * Manager (REDIS_PASSWORD, REDIS_TLS_CA).
 */
export class Cache extends pulumi.ComponentResource {
  readonly instance: gcp.redis.Instance;
  readonly url: pulumi.Output<string>;
  readonly authString: StoredSecret;
  readonly caCert: StoredSecret;

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:Cache', name, {}, opts);
    this.instance = new gcp.redis.Instance(
      `${name}-redis`,
      {
        project: args.project,
        region: args.region,
        tier: args.tier,
        memorySizeGb: args.memorySizeGb,
        redisVersion: args.redisVersion,
        authorizedNetwork: args.network.network.id,
        connectMode: 'PRIVATE_SERVICE_ACCESS',
        authEnabled: true,
        transitEncryptionMode: 'SERVER_AUTHENTICATION',
      },
      { parent: this, dependsOn: [args.network.privateServiceAccess] },
    );
    this.url = pulumi.interpolate`rediss://${this.instance.host}:${this.instance.port}`;
    this.authString = storeSecret(
      `${name}-auth-secret`,
      { project: args.project, secretId: `${name}-redis-auth`, value: this.instance.authString },
      this,
    );
    this.caCert = storeSecret(
      `${name}-ca-secret`,
      {
        project: args.project,
        secretId: `${name}-redis-ca`,
        value: this.instance.serverCaCerts.apply((certs) => (certs ?? []).map((c) => c.cert).join('\n')),
      },
      this,
    );
    this.registerOutputs({ url: this.url });
  }
}
