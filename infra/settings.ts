/**
 * The program's configuration, read once from the stack (every key is declared with its type, description
 * and default in Pulumi.yaml) and checked before anything is created, so a bad value fails `pulumi preview`
 * with the key's name instead of a Google API error halfway through `pulumi up`.
 */
import * as pulumi from '@pulumi/pulumi';

export interface Settings {
  project: string;
  region: string;
  namePrefix: string;
  logLevel: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
  uploadPrefix: string;
  uploadRetentionDays: number;
  modelVersionsKept: number;
  minAccuracy: number;
  searchCandidates: number;
  /** Labelled rows a model trains on at most (larger uploads are sampled). */
  maxTrainingRows: number;
  /** SEARCH_MAX_ROWS of train and fit: a larger training split is searched on a stratified sample. */
  searchMaxRows: number;
  /** VALIDATION_MAX_ROWS of train: a larger upload is validated on a stratified sample. */
  validationMaxRows: number;
  /** Training rows from which the search fans out over the fit function. */
  fanOutMinRows: number;
  /** Concurrent fit calls of a fanned-out search (and the fit function's max instances). */
  fitConcurrency: number;
  maxUploadBytes: number;
  db: { tier: string; version: string; diskSizeGb: number; highAvailability: boolean };
  redis: { tier: 'BASIC' | 'STANDARD_HA'; memorySizeGb: number; version: string };
  functions: {
    memory: string;
    cpu: string;
    trainMemory: string;
    trainCpu: string;
    timeoutSeconds: number;
    trainTimeoutSeconds: number;
    maxInstances: number;
  };
  service: {
    image: string;
    /** allUsers may invoke the service (the web form and the JSON API become public). */
    public: boolean;
    minInstances: number;
    maxInstances: number;
    concurrency: number;
    cpu: string;
    memory: string;
    sidecarImage: string;
    scrapeInterval: string;
  };
  alertEmail: string | undefined;
  deletionProtection: boolean;
  forceDestroy: boolean;
}

const MEMORY = /^\d+(Mi|Gi|M|G)$/;
const CPU = /^(0\.\d+|\d+)$/;

export function readSettings(config = new pulumi.Config()): Settings {
  const int = (key: string, min: number, max: number) => {
    const n = config.requireNumber(key, { min, max });
    if (!Number.isInteger(n)) throw new pulumi.RunError(`config ${key} must be an integer, got ${n}`);
    return n;
  };
  const project = config.require('project', { pattern: /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/ });
  const uploadPrefix = config.require('uploadPrefix', { pattern: /^[^/].*\/$/ });
  const serviceImage = config.get('serviceImage') ?? '';
  if (serviceImage === '') {
    throw new pulumi.RunError(
      'config serviceImage is required: build service/Dockerfile and push it to Artifact Registry (docs/deploy.md), then `pulumi config set serviceImage <image>`',
    );
  }
  const minInstances = int('serviceMinInstances', 0, 100);
  const maxInstances = int('serviceMaxInstances', 1, 100);
  if (maxInstances < minInstances)
    throw new pulumi.RunError('config serviceMaxInstances must be >= serviceMinInstances');
  const alertEmail = config.get('alertEmail') ?? '';
  return {
    project,
    region: config.require('region', { pattern: /^[a-z]+-[a-z]+\d$/ }),
    namePrefix: config.require('namePrefix', { pattern: /^[a-z][a-z0-9-]{1,10}[a-z0-9]$/ }),
    logLevel: config.require('logLevel', { allowedValues: ['DEBUG', 'INFO', 'WARNING', 'ERROR'] }),
    uploadPrefix,
    uploadRetentionDays: int('uploadRetentionDays', 1, 3650),
    modelVersionsKept: int('modelVersionsKept', 1, 1000),
    minAccuracy: config.requireNumber('minAccuracy', { min: 0, max: 1 }),
    searchCandidates: int('searchCandidates', 1, 1000),
    maxTrainingRows: int('maxTrainingRows', 100, 1_000_000_000),
    searchMaxRows: int('searchMaxRows', 100, 1_000_000_000),
    validationMaxRows: int('validationMaxRows', 100, 1_000_000_000),
    fanOutMinRows: int('fanOutMinRows', 1, 1_000_000_000),
    fitConcurrency: int('fitConcurrency', 1, 1000),
    maxUploadBytes: int('maxUploadBytes', 1, 5 * 1024 ** 3),
    db: {
      tier: config.require('dbTier', { pattern: /^db-/ }),
      version: config.require('dbVersion', { pattern: /^POSTGRES_\d+$/ }),
      diskSizeGb: int('dbDiskSizeGb', 10, 65536),
      highAvailability: config.requireBoolean('dbHighAvailability'),
    },
    redis: {
      tier: config.require('redisTier', { allowedValues: ['BASIC', 'STANDARD_HA'] }),
      memorySizeGb: int('redisMemoryGb', 1, 300),
      version: config.require('redisVersion', { pattern: /^REDIS_\d+_\d+$/ }),
    },
    functions: {
      memory: config.require('functionMemory', { pattern: MEMORY }),
      cpu: config.require('functionCpu', { pattern: CPU }),
      trainMemory: config.require('trainMemory', { pattern: MEMORY }),
      trainCpu: config.require('trainCpu', { pattern: CPU }),
      timeoutSeconds: int('functionTimeoutSeconds', 1, 3600),
      trainTimeoutSeconds: int('trainTimeoutSeconds', 1, 3600),
      maxInstances: int('functionMaxInstances', 1, 1000),
    },
    service: {
      image: serviceImage,
      public: config.requireBoolean('servicePublic'),
      minInstances,
      maxInstances,
      concurrency: int('serviceConcurrency', 1, 1000),
      cpu: config.require('serviceCpu', { pattern: CPU }),
      memory: config.require('serviceMemory', { pattern: MEMORY }),
      sidecarImage: config.require('gmpSidecarImage'),
      scrapeInterval: config.require('scrapeInterval', { pattern: /^\d+[sm]$/ }),
    },
    alertEmail: alertEmail === '' ? undefined : alertEmail,
    deletionProtection: config.requireBoolean('deletionProtection'),
    forceDestroy: config.requireBoolean('forceDestroy'),
  };
}
