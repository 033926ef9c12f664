import { describe, expect, it } from 'vitest';
import { generatedRecords, outcome } from '../test/support/passenger-records.ts';
import { loadTitanic } from '../test/support/titanic.ts';
import { parseServingPassenger, readInstances, readServingPassenger } from './instances.ts';

describe('parseServingPassenger', () => {
  it('answers as the full serving rules on 30,000 generated records (negative Age and Fare kept, every error alike)', async () => {
    const { passengers } = await loadTitanic();
    const records = generatedRecords(passengers, 30_000, 23);
    let negative = 0;
    for (const record of records) {
      const full = outcome(() => readServingPassenger(record, 'instances[0]'));
      expect(outcome(() => parseServingPassenger(record, 'instances[0]'))).toStrictEqual(full);
      const value = (full as { value?: { age: number | null; fare: number | null } }).value;
      if (value !== undefined && ((value.age ?? 0) < 0 || (value.fare ?? 0) < 0)) negative++;
    }
    expect(negative).toBeGreaterThan(1000);
  });

  it('reads a batch as it reads each instance, in order, with the first bad one named', async () => {
    const { passengers } = await loadTitanic();
    const records = generatedRecords(passengers, 2000, 29);
    for (let i = 0; i + 5 <= records.length; i += 5) {
      const batch = records.slice(i, i + 5);
      const each = batch.map((record, k) => outcome(() => readServingPassenger(record, `instances[${k}]`)));
      const first = each.findIndex((o) => (o as { code?: string }).code !== undefined);
      const read = outcome(() => readInstances({ instances: batch }, 10));
      if (first === -1) {
        expect((read as { value: unknown[] }).value).toStrictEqual(each.map((o) => (o as { value: unknown }).value));
      } else {
        expect((read as { message: string }).message).toBe((each[first] as { message: string }).message);
        expect((read as { details: { instance: number } }).details.instance).toBe(first);
      }
    }
  });
});
