/** Reading a passenger CSV for the offline CLIs: valid rows kept, each invalid row reported on stderr with its line. */
import { createReadStream } from 'node:fs';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import type { Passenger } from '../shared/core/schema.ts';

export interface PassengerFile {
  passengers: Passenger[];
  /** How many rows were invalid (each already reported on stderr as `<path>:<line>: invalid row: <reason>`). */
  invalid: number;
}

export async function readPassengerFile(csvPath: string, requireSurvived: boolean): Promise<PassengerFile> {
  const passengers: Passenger[] = [];
  let invalid = 0;
  for await (const record of validatePassengerCsv(createReadStream(csvPath), { requireSurvived })) {
    if (record.kind === 'row') {
      passengers.push(record.passenger);
    } else {
      invalid++;
      process.stderr.write(`${csvPath}:${record.line}: invalid row: ${record.reason}\n`);
    }
  }
  return { passengers, invalid };
}
