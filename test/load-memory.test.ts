/**
 * `load` on files of bad rows, each in a process of its own under a small heap: memory must not grow with the
 * number of bad rows (the rejected rows kept are capped, the rest only counted), and a file that can no longer
 * pass is refused before it is read to the end.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_BUCKET, type DataPlaneEnv, startDataPlane, upload } from './support/data-plane.ts';

const run = promisify(execFile);
const HEADER = 'PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n';
/** A heap far smaller than the 384 MB a deployed function has, so that keeping every bad row would not fit. */
const HEAP_MB = 64;

/** About `mb` MB of rows that are all rejected (Pclass 4). */
function badRows(mb: number): { csv: string; rows: number } {
  const parts = [HEADER];
  let size = HEADER.length;
  let rows = 0;
  while (size < mb * 1e6) {
    rows++;
    const row = `${rows},0,4,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S\n`;
    parts.push(row);
    size += row.length;
  }
  return { csv: parts.join(''), rows };
}

async function loadInOwnProcess(name: string, generation: string, maxRejectedShare: number) {
  const { stdout } = await run(
    process.execPath,
    [`--max-old-space-size=${HEAP_MB}`, '--import', 'tsx', 'test/support/load-process.ts'],
    {
      env: {
        ...process.env,
        LOAD_GCS: env.gcs.url,
        LOAD_PG: JSON.stringify(env.db.config),
        LOAD_BUCKET: DATA_BUCKET,
        LOAD_NAME: name,
        LOAD_GENERATION: generation,
        LOAD_MAX_REJECTED_SHARE: String(maxRejectedShare),
      },
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown> & {
    details: Record<string, unknown>;
    maxRssMiB: number;
  };
}

let env: DataPlaneEnv;
let bad: { csv: string; rows: number };
beforeAll(async () => {
  env = await startDataPlane();
  bad = badRows(20);
});
afterAll(async () => {
  await env?.close();
});

describe('load on a file of bad rows, in a process with a small heap', () => {
  it('reads 20 MB of bad rows to the end in bounded memory, keeping the first rows and counting the rest', async () => {
    const name = 'bad/all-pclass-4-lenient.csv';
    const generation = await upload(env.storage, name, bad.csv);
    const out = await loadInOwnProcess(name, generation, 1);
    // No row is valid, so even the most lenient load refuses it, but only after counting every row.
    expect(out).toMatchObject({
      code: 'CSV_TOO_MANY_REJECTED',
      message: `${bad.rows} of ${bad.rows} rows were rejected, more than the allowed share of 1`,
    });
    expect(out.maxRssMiB).toBeLessThan(250);
  }, 120_000);

  it('refuses 20 MB of bad rows as soon as the rest of the file could not bring the share under the limit', async () => {
    const name = 'bad/all-pclass-4.csv';
    const generation = await upload(env.storage, name, bad.csv);
    const out = await loadInOwnProcess(name, generation, 0.05);
    expect(out.code).toBe('CSV_TOO_MANY_REJECTED');
    expect(out.message).toMatch(
      /^\d+ of the first \d+ rows were rejected \(up to line \d+\): more than the allowed share of 0\.05 whatever the rest of the file holds$/,
    );
    const checked = out.details.checked as number;
    expect(out.details.rejected).toBe(checked);
    // A row is at least 20 bytes, so the first 13% of a file of 75-byte bad rows already decides it.
    expect(checked).toBeLessThan(bad.rows * 0.2);
    expect(out.details.firstReasons).toEqual(
      [1, 2, 3, 4, 5].map((i) => ({
        line: i + 1,
        reason: `line ${i + 1}: Pclass "4" is not 1, 2 or 3`,
      })),
    );
  }, 120_000);
});
