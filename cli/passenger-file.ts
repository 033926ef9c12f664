/**
 * What the model-and-CSV CLIs (predict, evaluate) share: their command line, and reading a passenger CSV with valid
 * rows kept and each invalid row reported on stderr with its line.
 */
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import type { Passenger } from '../shared/core/schema.ts';
import { UsageError } from './run.ts';

export interface ModelAndCsvArgs {
  model: string;
  csvPath: string;
  skipInvalid: boolean;
  /** The command's own boolean flag (`--explain`, `--json`). */
  flag: boolean;
}

/**
 * `--model FILE <csv> [--skip-invalid] [--<flag>]`. Prints `usage` and answers null for `--help`; throws UsageError
 * (exit code 2) without a model, without the CSV or with more than one.
 */
export function parseModelAndCsvArgs(argv: string[], usage: string, flag: string): ModelAndCsvArgs | null {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      'skip-invalid': { type: 'boolean', default: false },
      [flag]: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    return null;
  }
  const [csvPath, ...extra] = positionals;
  const model = values.model;
  if (typeof model !== 'string' || csvPath === undefined || extra.length > 0) throw new UsageError(usage);
  return { model, csvPath, skipInvalid: values['skip-invalid'] === true, flag: values[flag] === true };
}

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
