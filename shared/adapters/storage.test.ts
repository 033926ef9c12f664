import { Storage } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/redis.ts';
import { getObjectMetadata, readObjectStream, storageFailure } from './storage.ts';

/** The real client, pointed at a port nothing listens on, with its own retries off so the failure shows at once. */
async function unreachableStorage(): Promise<Storage> {
  return new Storage({
    apiEndpoint: `http://127.0.0.1:${await freePort()}`,
    projectId: 'local',
    useAuthWithCustomEndpoint: false,
    retryOptions: { autoRetry: false },
  });
}

describe('the Cloud Storage adapter maps its own failures', () => {
  it('answers UNAVAILABLE naming Cloud Storage when the server cannot be reached', async () => {
    const err = await getObjectMetadata(await unreachableStorage(), 'data', 'uploads/a.csv', '1').catch((e) => e);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', status: 503, message: 'cloud storage is unavailable' });
  });

  it('emits the mapped failure on a download stream too', async () => {
    const stream = readObjectStream(await unreachableStorage(), 'data', 'uploads/a.csv', '1');
    const err = await new Promise((resolve) => {
      stream.on('error', resolve);
      stream.resume();
    });
    expect(err).toMatchObject({ code: 'UNAVAILABLE', message: 'cloud storage is unavailable' });
  });

  it('leaves a failure a retry cannot fix (a 404, a 412) as it is', () => {
    for (const code of [404, 412, 403]) {
      const err = Object.assign(new Error(`HTTP ${code}`), { code });
      expect(storageFailure(err)).toBe(err);
    }
  });
});
