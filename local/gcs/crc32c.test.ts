import { randomBytes } from 'node:crypto';
import { CRC32C } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import { Crc32c } from './crc32c.ts';

describe('Crc32c', () => {
  it('gives the documented value for "data" and for the empty input', () => {
    expect(new Crc32c().update(Buffer.from('data')).toString()).toBe('rth90Q==');
    expect(new Crc32c().toString()).toBe('AAAAAA==');
  });

  it('agrees with the storage client on random inputs of every length mod 8, whatever the chunking', () => {
    for (const size of [1, 7, 8, 9, 15, 64, 1000, 65_537]) {
      const data = randomBytes(size);
      const reference = new CRC32C();
      reference.update(data);
      const whole = new Crc32c().update(data).toString();
      const chunked = new Crc32c();
      for (let at = 0; at < size; at += 13) chunked.update(data.subarray(at, at + 13));
      expect(whole).toBe(reference.toString());
      expect(chunked.toString()).toBe(reference.toString());
    }
  });
});
