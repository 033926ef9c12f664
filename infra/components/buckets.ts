import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

export interface BucketsArgs {
  project: string;
  region: string;
  /** Buckets are named <project>-<namePrefix>-data, -models and -sources (bucket names are global). */
  namePrefix: string;
  /** Uploads under this prefix of the data bucket are deleted after `uploadRetentionDays`. */
  uploadPrefix: string;
  uploadRetentionDays: number;
  /** Noncurrent versions kept per models-bucket object. */
  modelVersionsKept: number;
  forceDestroy: boolean;
}

/**
 * The three buckets: data (uploaded CSVs), models (artifacts and models/latest.json, versioned) and sources
 * (function zips). All private: uniform bucket-level access and public access prevention enforced, so no
 * object ACL or allUsers grant can ever expose them.
 */
export class Buckets extends pulumi.ComponentResource {
  readonly data: gcp.storage.Bucket;
  readonly models: gcp.storage.Bucket;
  readonly sources: gcp.storage.Bucket;

  constructor(name: string, args: BucketsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:Buckets', name, {}, opts);
    const privateBucket = (suffix: string, bucketName: string, extra: Partial<gcp.storage.BucketArgs>) =>
      new gcp.storage.Bucket(
        `${name}-${suffix}`,
        {
          project: args.project,
          name: bucketName,
          location: args.region.toUpperCase(),
          uniformBucketLevelAccess: true,
          publicAccessPrevention: 'enforced',
          forceDestroy: args.forceDestroy,
          ...extra,
        },
        { parent: this },
      );
    const bucketName = (kind: string) => `${args.project}-${args.namePrefix}-${kind}`;
    this.data = privateBucket('data', bucketName('data'), {
      lifecycleRules: [
        {
          action: { type: 'Delete' },
          condition: { age: args.uploadRetentionDays, matchesPrefixes: [args.uploadPrefix] },
        },
      ],
    });
    this.models = privateBucket('models', bucketName('models'), {
      versioning: { enabled: true },
      lifecycleRules: [
        {
          action: { type: 'Delete' },
          condition: { numNewerVersions: args.modelVersionsKept, withState: 'ARCHIVED' },
        },
      ],
    });
    this.sources = privateBucket('sources', bucketName('sources'), {});
    this.registerOutputs({ data: this.data.name, models: this.models.name, sources: this.sources.name });
  }
}
