/**
 * `trigger`: a Cloud Storage object finalized in the data bucket -> one execution of the training workflow.
 *
 * Eventarc delivers `google.cloud.storage.object.v1.finalized` for every object of the bucket, and retries a
 * delivery that fails. So objects that are not uploads (outside the upload prefix, not `.csv`, over the size
 * limit) are ignored with one log line and a normal return: retrying them would never help. Only a failure to
 * start the execution throws, so that Eventarc retries it; a duplicate delivery starts a second execution, which
 * is harmless because every workflow step is idempotent for the same object generation.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { Logger } from '../../shared/log.ts';
import type { TriggerConfig } from './config.ts';

export const FINALIZED = 'google.cloud.storage.object.v1.finalized';

/** The workflow's argument: the finalized object, as the event names it (generation and size are int64 strings). */
export interface TrainingArgument {
  bucket: string;
  name: string;
  generation: string;
  size: string;
  md5Hash: string | null;
}

export interface TriggerDeps {
  /** Starts an execution of the training workflow with this argument; resolves to the execution name. */
  startExecution: (argument: TrainingArgument) => Promise<string>;
  config: Pick<TriggerConfig, 'dataBucket' | 'uploadPrefix' | 'maxUploadBytes'>;
  logger: Logger;
}

export type Decision = { start: TrainingArgument } | { ignore: string };

/** Whether an event is an upload to train on, and if not, why. */
export function decide(type: string, data: unknown, config: TriggerDeps['config']): Decision {
  if (type !== FINALIZED) return { ignore: `event type ${type} is not ${FINALIZED}` };
  const o = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const text = (v: unknown): string | null =>
    typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : null;
  const bucket = text(o.bucket);
  const name = text(o.name);
  const generation = text(o.generation);
  const size = text(o.size);
  if (!bucket || !name || !generation || size === null)
    return { ignore: 'the event lacks bucket, name, generation or size' };
  if (bucket !== config.dataBucket) return { ignore: `bucket ${bucket} is not the data bucket ${config.dataBucket}` };
  if (!name.startsWith(config.uploadPrefix))
    return { ignore: `object is outside the upload prefix "${config.uploadPrefix}"` };
  if (!name.toLowerCase().endsWith('.csv')) return { ignore: 'object is not a .csv file' };
  if (!/^[0-9]+$/.test(size) || Number(size) > config.maxUploadBytes)
    return { ignore: `object size ${size} is over the limit of ${config.maxUploadBytes} bytes` };
  return { start: { bucket, name, generation, size, md5Hash: text(o.md5Hash) } };
}

export function makeTriggerHandler(deps: TriggerDeps): (event: CloudEvent<unknown>) => Promise<void> {
  return async (event) => {
    const decision = decide(event.type, event.data, deps.config);
    const o = (event.data && typeof event.data === 'object' ? event.data : {}) as Record<string, unknown>;
    const object = `gs://${String(o.bucket ?? '?')}/${String(o.name ?? '?')}`;
    if ('ignore' in decision) {
      deps.logger.info(`ignored ${object}: ${decision.ignore}`, { eventId: event.id, object, reason: decision.ignore });
      return;
    }
    const execution = await deps.startExecution(decision.start).catch((err: unknown) => {
      deps.logger.error(`could not start the training workflow for ${object}`, { eventId: event.id, object, err });
      throw err;
    });
    deps.logger.info(`started execution ${execution} for ${object}#${decision.start.generation}`, {
      eventId: event.id,
      object,
      generation: decision.start.generation,
      execution,
    });
  };
}
