import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

/** A Secret Manager secret holding one value; its `secretId` is what functions and the service reference. */
export interface StoredSecret {
  secret: gcp.secretmanager.Secret;
  version: gcp.secretmanager.SecretVersion;
}

export function storeSecret(
  name: string,
  args: { project: string; secretId: pulumi.Input<string>; value: pulumi.Input<string> },
  parent: pulumi.Resource,
): StoredSecret {
  const secret = new gcp.secretmanager.Secret(
    name,
    { project: args.project, secretId: args.secretId, replication: { auto: {} } },
    { parent },
  );
  const version = new gcp.secretmanager.SecretVersion(
    `${name}-v`,
    { secret: secret.id, secretData: pulumi.secret(args.value) },
    { parent },
  );
  return { secret, version };
}

/** Grants one service account read access to one secret (never project-wide). */
export function allowSecretAccess(
  name: string,
  stored: StoredSecret,
  member: pulumi.Input<string>,
  parent: pulumi.Resource,
): gcp.secretmanager.SecretIamMember {
  return new gcp.secretmanager.SecretIamMember(
    name,
    {
      project: stored.secret.project,
      secretId: stored.secret.secretId,
      role: 'roles/secretmanager.secretAccessor',
      member,
    },
    { parent },
  );
}
