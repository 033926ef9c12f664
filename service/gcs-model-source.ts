/**
 * The registry's ModelSource on Cloud Storage, through the model store (shared/adapters/model-store.ts), which
 * owns the bucket layout and the pointer format. It separates "could not read" (ModelSourceError: retried on the
 * next poll or push) from "read something that is not a pointer or an artifact" (ARTIFACT_INVALID, or
 * PointerCorruptError for the pointer: refused, the current model keeps serving). An artifact over the byte
 * limit is refused from its metadata, before it is downloaded.
 */
import type { Storage } from '@google-cloud/storage';
import { gcsModelStore, ModelStoreUnavailableError } from '../shared/adapters/model-store.ts';
import { type ModelSource, ModelSourceError } from './model-registry.ts';

export function gcsModelSource(storage: Storage, bucket: string): ModelSource {
  const store = gcsModelStore(storage, bucket);
  const unavailable = (err: unknown): never => {
    if (err instanceof ModelStoreUnavailableError) throw new ModelSourceError(err.message, { cause: err });
    throw err;
  };
  return {
    async readPointer() {
      const read = await store.readPointer().catch(unavailable);
      return read ? { value: read.pointer, generation: read.generation } : null;
    },
    readArtifact: (name, opts) => store.readArtifactBytes(name, opts).catch(unavailable),
  };
}
