/**
 * Offline prediction: `npm run predict -- --model model.json <csv> [--skip-invalid] [--explain]`.
 *
 * Writes `PassengerId,Survived,Probability` (the Kaggle submission format plus the share of tree votes) to
 * stdout; the CSV may lack `Survived`. `--explain` adds one column per feature, `shap_<feature>`: its exact
 * TreeSHAP contribution to the probability; the base value they start from is printed on stderr, and
 * base value + the row's shap_ columns = its Probability. Invalid rows are reported on stderr with their line numbers; unless
 * `--skip-invalid` is given, any invalid row makes the run fail (exit code 1) and nothing is written to stdout,
 * so a partial submission is never produced by accident.
 */
import { readFile } from 'node:fs/promises';
import { loadModel } from '../shared/core/model.ts';
import type { Passenger } from '../shared/core/schema.ts';
import { parseModelAndCsvArgs, readPassengerFile } from './passenger-file.ts';
import { runCli } from './run.ts';

const USAGE = 'usage: npm run predict -- --model model.json <csv> [--skip-invalid] [--explain]';

export async function main(argv: string[]): Promise<number> {
  const args = parseModelAndCsvArgs(argv, USAGE, 'explain');
  if (args === null) return 0;
  const { csvPath, flag: explain } = args;

  const model = loadModel(await readFile(args.model));
  const { passengers, invalid } = await readPassengerFile(csvPath, false);
  if (invalid > 0 && !args.skipInvalid) {
    process.stderr.write(`${invalid} invalid row(s); nothing written (use --skip-invalid to predict the others)\n`);
    return 1;
  }
  const explainer = explain ? model.explainer : null;
  const header = ['PassengerId', 'Survived', 'Probability', ...(explainer?.featureNames ?? []).map((f) => `shap_${f}`)];
  const lines = [header.join(',')];
  model.predict(passengers).forEach((p, i) => {
    let line = `${(passengers[i] as Passenger).passengerId},${p.survived ? 1 : 0},${p.probability}`;
    if (explainer !== null) for (const phi of explainer.contributions(p.features)) line += `,${phi}`;
    lines.push(line);
  });
  if (explainer !== null) {
    process.stderr.write(
      `explain: base value ${explainer.baseValue} (node covers: ${explainer.coverSource}); Probability = base value + the row's shap_ columns\n`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

runCli(import.meta.url, main);
