/**
 * The service's Cloud Storage client (the models bucket): the real API, or the emulator at STORAGE_API_ENDPOINT.
 * Every call is bounded (STORAGE_TIMEOUT_MS per attempt and per silent stretch of a download, STORAGE_MAX_RETRIES
 * retries), so a GCS that accepts and stalls fails a poll or a push within its budget instead of hanging it; the
 * registry keeps serving the model it has and the next poll tries again.
 */
import type { Storage } from '@google-cloud/storage';
import { boundedStorageClient } from '../shared/adapters/storage.ts';
import type { ServiceConfig } from './config.ts';

export function serviceStorage(
  config: Pick<ServiceConfig, 'projectId' | 'storageApiEndpoint' | 'storageTimeoutMs' | 'storageMaxRetries'>,
): Storage {
  return boundedStorageClient({
    apiEndpoint: config.storageApiEndpoint,
    projectId: config.projectId,
    limits: { timeoutMs: config.storageTimeoutMs, maxRetries: config.storageMaxRetries },
  });
}
