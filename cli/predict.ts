/**
 * Offline prediction: `npm run predict -- --model model.json <csv> [--skip-invalid]`.
 *
 * Writes `PassengerId,Survived,Probability` (the Kaggle submission format plus the share of tree votes) to
 * stdout; the CSV may lack `Survived`. Invalid rows are reported on stderr with their line numbers; unless
 * `--skip-invalid` is given, any invalid row makes the run fail (exit code 1) and nothing is written to stdout,
 * so a partial submission is never produced by accident.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';
import { loadModel } from '../shared/core/model.ts';
import type { Passenger } from '../shared/core/schema.ts';
import { runCli, UsageError } from './run.ts';

const USAGE = 'usage: npm run predict -- --model model.json <csv> [--skip-invalid]';

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      'skip-invalid': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [csvPath, ...extra] = positionals;
  if (values.model === undefined || csvPath === undefined || extra.length > 0) throw new UsageError(USAGE);

  const model = loadModel(await readFile(values.model));
  const passengers: Passenger[] = [];
  let invalid = 0;
  for await (const record of validatePassengerCsv(createReadStream(csvPath), { requireSurvived: false })) {
    if (record.kind === 'row') {
      passengers.push(record.passenger);
    } else {
      invalid++;
      process.stderr.write(`${csvPath}:${record.line}: invalid row: ${record.reason}\n`);
    }
  }
  if (invalid > 0 && !values['skip-invalid']) {
    process.stderr.write(`${invalid} invalid row(s); nothing written (use --skip-invalid to predict the others)\n`);
    return 1;
  }
  const lines = ['PassengerId,Survived,Probability'];
  model.predict(passengers).forEach((p, i) => {
    lines.push(`${(passengers[i] as Passenger).passengerId},${p.survived ? 1 : 0},${p.probability}`);
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

runCli(import.meta.url, main);
