/**
 * The registry's ModelSource on Cloud Storage: `models/latest.json` and the artifacts in the models bucket.
 * It separates "could not read" (ModelSourceError: retried on the next poll or push) from "read something
 * that is not an artifact" (ARTIFACT_INVALID: refused, the current model keeps serving).
 */
import type { Storage } from '@google-cloud/storage';
import { readJson } from '../shared/adapters/storage.ts';
import { AppError, isAppError } from '../shared/errors.ts';
import { type ModelSource, ModelSourceError } from './model-registry.ts';

export const MODEL_POINTER = 'models/latest.json';

export function gcsModelSource(storage: Storage, bucket: string): ModelSource {
  const unreadable = (err: unknown): boolean =>
    err instanceof SyntaxError || (isAppError(err) && err.code === 'ARTIFACT_INVALID');
  return {
    async readPointer() {
      try {
        return await readJson(storage, bucket, MODEL_POINTER);
      } catch (err) {
        throw new ModelSourceError(`could not read gs://${bucket}/${MODEL_POINTER}`, { cause: err });
      }
    },
    async readArtifact(name) {
      let found: Awaited<ReturnType<typeof readJson>>;
      try {
        found = await readJson(storage, bucket, name);
      } catch (err) {
        if (unreadable(err)) {
          throw new AppError(
            'ARTIFACT_INVALID',
            `gs://${bucket}/${name} is not valid JSON`,
            { object: name },
            { cause: err },
          );
        }
        throw new ModelSourceError(`could not read gs://${bucket}/${name}`, { cause: err });
      }
      if (found === null) {
        throw new AppError('ARTIFACT_INVALID', `gs://${bucket}/${name} does not exist`, { object: name });
      }
      return found.value;
    },
  };
}
