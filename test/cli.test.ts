/**
 * The offline CLIs end to end, as a user runs them (tsx, real files): train on data/titanic.csv with a small
 * search, then predict with the model it wrote.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TITANIC = join(ROOT, 'data/titanic.csv');

function run(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'cli', script), ...args],
      { cwd: ROOT, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;
let modelPath: string;
let trained: { code: number; stdout: string; stderr: string };
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
  modelPath = join(dir, 'model.json');
  trained = await run('train.ts', [
    TITANIC,
    '--out',
    modelPath,
    '--candidates',
    '2',
    '--folds',
    '3',
    '--trees',
    '7',
    '--seed',
    '3',
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run train', () => {
  it('writes a model and ends stdout with a JSON summary of metrics, CV, params, time and size', () => {
    expect(trained.stderr).toBe('');
    expect(trained.code).toBe(0);
    const summary = JSON.parse(trained.stdout.trim().split('\n').at(-1) as string);
    expect(summary.rows).toBe(891);
    expect(summary.trainRows).toBe(712);
    expect(summary.testRows).toBe(179);
    expect(summary.metrics.accuracy).toBeGreaterThan(0.7);
    expect(summary.metrics.confusionMatrix).toEqual(expect.objectContaining({ tp: expect.any(Number) }));
    expect(summary.cv.folds).toBe(3);
    expect(summary.cv.repeats).toBe(2);
    expect(summary.metrics.accuracyInterval[0]).toBeLessThan(summary.metrics.accuracy);
    expect(summary.metrics.accuracyInterval[1]).toBeGreaterThan(summary.metrics.accuracy);
    expect(summary.metrics.rocAuc).toBeGreaterThan(0.7);
    expect(summary.metrics.brier).toBeLessThan(0.25);
    expect(summary.cv.mean).toBeGreaterThan(0.7);
    expect(summary.cv.sd).toBeGreaterThanOrEqual(0);
    expect(summary.params.nEstimators).toBe(7);
    expect(summary.seconds).toBeGreaterThan(0);
    expect(summary.modelBytes).toBe(readFileSync(modelPath).length);
  });

  it('rejects a bad option value with a usage message and exit code 2', async () => {
    const result = await run('train.ts', [TITANIC, '--candidates', 'many']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--candidates must be an integer/);
  });
});

describe('npm run predict', () => {
  it('writes PassengerId,Survived,Probability for every passenger', async () => {
    const result = await run('predict.ts', ['--model', modelPath, TITANIC]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('PassengerId,Survived,Probability');
    expect(lines).toHaveLength(892);
    const [id, survived, probability] = (lines[1] as string).split(',');
    expect(id).toBe('1');
    expect(['0', '1']).toContain(survived);
    // seven trees: the probability is a share of seven votes
    expect(Number(probability) * 7).toBeCloseTo(Math.round(Number(probability) * 7), 9);
  });

  it('adds one exact SHAP column per feature with --explain: base value + the columns = Probability', async () => {
    const result = await run('predict.ts', ['--model', modelPath, TITANIC, '--explain']);
    expect(result.code).toBe(0);
    const base = Number(/explain: base value ([0-9.e-]+) \(node covers: bootstrap\)/.exec(result.stderr)?.[1]);
    expect(base).toBeGreaterThan(0);
    const lines = result.stdout.trim().split('\n');
    const header = (lines[0] as string).split(',');
    expect(header.slice(0, 3)).toEqual(['PassengerId', 'Survived', 'Probability']);
    const model = JSON.parse(readFileSync(modelPath, 'utf8'));
    expect(header.slice(3)).toEqual(model.recipe.featureNames.map((f: string) => `shap_${f}`));
    expect(lines).toHaveLength(892);
    let worst = 0;
    for (const line of lines.slice(1)) {
      const cells = line.split(',').map(Number);
      expect(cells).toHaveLength(header.length);
      const total = cells.slice(3).reduce((a, b) => a + b, base);
      worst = Math.max(worst, Math.abs(total - (cells[2] as number)));
    }
    expect(worst).toBeLessThan(1e-9);
  });

  it('reports invalid rows with their line numbers and fails, unless --skip-invalid', async () => {
    const csv = join(dir, 'kaggle-test.csv');
    writeFileSync(
      csv,
      [
        'PassengerId,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked',
        '892,3,"Kelly, Mr. James",male,34.5,0,0,330911,7.8292,,Q',
        '893,3,"Wilkes, Mrs. James (Ellen Needs)",unknown,47,1,0,363272,7,,S',
        '894,2,"Myles, Mr. Thomas Francis",male,62,0,0,240276,9.6875,,Q',
      ].join('\n'),
    );
    const strict = await run('predict.ts', ['--model', modelPath, csv]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toBe('');
    expect(strict.stderr).toMatch(/kaggle-test\.csv:3: invalid row/);
    const lenient = await run('predict.ts', ['--model', modelPath, csv, '--skip-invalid']);
    expect(lenient.code).toBe(0);
    expect(lenient.stderr).toMatch(/:3: invalid row/);
    expect(
      lenient.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(',')[0]),
    ).toEqual(['PassengerId', '892', '894']);
  });

  it('refuses a model file that is not a valid artifact with ARTIFACT_INVALID', async () => {
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, readFileSync(modelPath, 'utf8').slice(0, 1000));
    const result = await run('predict.ts', ['--model', broken, TITANIC]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/ARTIFACT_INVALID/);
    expect(result.stdout).toBe('');
  });
});

describe('npm run evaluate', () => {
  it('prints accuracy with its interval, ROC AUC, Brier and the confusion matrix, and with --json a JSON last line', async () => {
    const table = await run('evaluate.ts', ['--model', modelPath, TITANIC]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/accuracy\s+0\.\d{4}\s+95% interval \[0\.\d{4}, 0\.\d{4}\]/);
    expect(table.stdout).toMatch(/ROC AUC\s+0\.\d{4}/);
    expect(table.stdout).toMatch(/Brier\s+0\.\d{4}/);
    expect(table.stdout).toMatch(/actual 1 \(survived\)\s+\d+\s+\d+/);

    const json = await run('evaluate.ts', ['--model', modelPath, TITANIC, '--json']);
    expect(json.code).toBe(0);
    const m = JSON.parse(json.stdout.trim().split('\n').at(-1) as string);
    const cm = m.confusionMatrix;
    expect(cm.tn + cm.fp + cm.fn + cm.tp).toBe(891);
    expect(m.rows).toBe(891);
    expect(m.accuracy).toBeCloseTo((cm.tn + cm.tp) / 891, 12);
    expect(m.accuracyInterval[0]).toBeLessThan(m.accuracy);
    expect(m.accuracyInterval[1]).toBeGreaterThan(m.accuracy);
    // the same predictions as npm run predict
    const predicted = (await run('predict.ts', ['--model', modelPath, TITANIC])).stdout.trim().split('\n').slice(1);
    const labels = readFileSync(TITANIC, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[1]);
    const right = predicted.filter((line, i) => line.split(',')[1] === labels[i]).length;
    expect(m.accuracy).toBeCloseTo(right / 891, 12);
  });

  it('handles invalid rows as predict does: listed with line numbers, failing unless --skip-invalid', async () => {
    const csv = join(dir, 'labelled.csv');
    writeFileSync(
      csv,
      [
        'PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked',
        '1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S',
        '2,1,1,"Cumings, Mrs. John Bradley (Florence Briggs Thayer)",female,38,1,0,PC 17599,71.2833,C85,C',
        '3,1,3,"Heikkinen, Miss. Laina",female,26,0,0,STON/O2. 3101282,7.925,,S',
        '4,maybe,1,"Futrelle, Mrs. Jacques Heath (Lily May Peel)",female,35,1,0,113803,53.1,C123,S',
      ].join('\n'),
    );
    const strict = await run('evaluate.ts', ['--model', modelPath, csv, '--json']);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toBe('');
    expect(strict.stderr).toMatch(/labelled\.csv:5: invalid row/);
    const lenient = await run('evaluate.ts', ['--model', modelPath, csv, '--json', '--skip-invalid']);
    expect(lenient.code).toBe(0);
    const m = JSON.parse(lenient.stdout.trim().split('\n').at(-1) as string);
    expect(m).toMatchObject({ rows: 3, invalid: 1 });
  });
});
