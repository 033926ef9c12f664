/**
 * Evaluation on labelled passengers: `npm run evaluate -- --model model.json <labelled.csv> [--skip-invalid] [--json]`.
 *
 * Prints accuracy with its 95% Wilson interval, ROC AUC, Brier score, precision, recall, F1 and the confusion
 * matrix as a table; with `--json` the last stdout line is the same figures as one JSON object. The CSV must have
 * `Survived`. Invalid rows are handled as `npm run predict` handles them: reported on stderr with their line
 * numbers, and unless `--skip-invalid` is given any invalid row makes the run fail (exit code 1, nothing on stdout).
 */
import { readFile } from 'node:fs/promises';
import { evaluate } from '../shared/core/evaluation.ts';
import { loadModel } from '../shared/core/model.ts';
import type { LabelledPassenger } from '../shared/core/schema.ts';
import { parseModelAndCsvArgs, readPassengerFile } from './passenger-file.ts';
import { runCli } from './run.ts';

const USAGE = 'usage: npm run evaluate -- --model model.json <labelled.csv> [--skip-invalid] [--json]';

export async function main(argv: string[]): Promise<number> {
  const args = parseModelAndCsvArgs(argv, USAGE, 'json');
  if (args === null) return 0;
  const { csvPath, flag: json } = args;

  const model = loadModel(await readFile(args.model));
  const read = await readPassengerFile(csvPath, true);
  const passengers = read.passengers as LabelledPassenger[];
  const { invalid } = read;
  if (invalid > 0 && !args.skipInvalid) {
    process.stderr.write(`${invalid} invalid row(s); nothing evaluated (use --skip-invalid to evaluate the others)\n`);
    return 1;
  }
  if (passengers.length === 0) {
    process.stderr.write(`${csvPath}: no valid labelled row to evaluate\n`);
    return 1;
  }
  const predictions = model.predict(passengers);
  const m = evaluate(
    passengers.map((p) => p.survived),
    predictions.map((p) => p.probability),
  );
  const interval = m.accuracyInterval ?? [0, 1];
  const summary = {
    model: model.version,
    recipeVersion: model.artifact.recipe.version,
    rows: m.n,
    invalid,
    accuracy: m.accuracy,
    accuracyInterval: interval,
    rocAuc: m.rocAuc,
    brier: m.brier,
    precision: m.precision,
    recall: m.recall,
    f1: m.f1,
    confusionMatrix: m.confusionMatrix,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  }
  const f = (x: number, digits = 4) => x.toFixed(digits);
  const cm = m.confusionMatrix;
  const width = Math.max(String(cm.tn + cm.fp).length, String(cm.fn + cm.tp).length, 8);
  const cell = (n: number | string) => String(n).padStart(width);
  process.stdout.write(
    [
      `model ${model.version} (recipe v${summary.recipeVersion}) on ${m.n} labelled passengers${invalid > 0 ? ` (${invalid} invalid skipped)` : ''}`,
      '',
      `  accuracy   ${f(m.accuracy)}   95% interval [${f(interval[0])}, ${f(interval[1])}] (Wilson)`,
      `  ROC AUC    ${f(m.rocAuc)}`,
      `  Brier      ${f(m.brier)}`,
      `  precision  ${f(m.precision)}`,
      `  recall     ${f(m.recall)}`,
      `  F1         ${f(m.f1)}`,
      '',
      `  confusion matrix        ${cell('pred 0')} ${cell('pred 1')}`,
      `  actual 0 (died)         ${cell(cm.tn)} ${cell(cm.fp)}`,
      `  actual 1 (survived)     ${cell(cm.fn)} ${cell(cm.tp)}`,
      '',
    ].join('\n'),
  );
  return 0;
}

runCli(import.meta.url, main);
