/** The trigger's configuration, from the environment variables named in the team contracts. */
import { type Env, parseConfig } from '../../shared/config.ts';
import type { Severity } from '../../shared/log.ts';

export interface TriggerConfig {
  /** DATA_BUCKET: only objects of this bucket start a training run. */
  dataBucket: string;
  /** UPLOAD_PREFIX (default `uploads/`): only objects under this prefix start a training run. */
  uploadPrefix: string;
  /** MAX_UPLOAD_BYTES (default 100 MiB): larger objects are ignored. */
  maxUploadBytes: number;
  /** WORKFLOW_NAME: projects/P/locations/L/workflows/W. */
  workflowName: string;
  /** WORKFLOWS_API_ENDPOINT: set locally to the local engine (http://127.0.0.1:8091); unset in the cloud. */
  workflowsApiEndpoint: string | undefined;
  logLevel: Severity;
}

export function parseTriggerConfig(env: Env): TriggerConfig {
  return parseConfig(env, (r) => ({
    dataBucket: r.string('DATA_BUCKET'),
    uploadPrefix: r.string('UPLOAD_PREFIX', { default: 'uploads/', emptyAllowed: true }),
    maxUploadBytes: r.int('MAX_UPLOAD_BYTES', { default: 104_857_600, min: 1 }),
    workflowName: r.string('WORKFLOW_NAME'),
    workflowsApiEndpoint: r.optionalString('WORKFLOWS_API_ENDPOINT'),
    logLevel: r.oneOf('LOG_LEVEL', ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const, { default: 'INFO' }),
  }));
}
