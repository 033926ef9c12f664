/**
 * `npm run bench:load-memory`: peak RSS of one load, in a process of its own under the heap of a deployed
 * function (`--max-old-space-size=384`: the 512 MiB `functionMemory` default of infra/Pulumi.yaml), for 10, 50 and
 * 95 MB files whose every row is rejected (Pclass 4), with the default share limit (0.05: refused as soon as the
 * rest of the file could not pass) and with no limit (1: read to the end), next to a file of valid rows of the same
 * size. Each figure is the median of BENCH_RUNS runs (default 3). BENCH_SIZES=10,50 picks sizes.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { DATA_BUCKET, startDataPlane, upload } from '../test/support/data-plane.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? '10,50,95').split(',').map(Number);
const HEAP_MB = 384;
const run = promisify(execFile);
const HEADER = 'PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n';

function file(mb: number, pclass: number): string {
  const parts = [HEADER];
  let size = HEADER.length;
  for (let id = 1; size < mb * 1e6; id++) {
    const row = `${id},${id % 2},${pclass},"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S\n`;
    parts.push(row);
    size += row.length;
  }
  return parts.join('');
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const env = await startDataPlane();
console.log(
  `bench:load-memory on ${os.cpus().length} cores, heap ${HEAP_MB} MB, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
try {
  for (const mb of SIZES) {
    for (const [label, pclass, share] of [
      ['valid rows', 3, 0.05],
      ['bad rows, share limit 0.05', 4, 0.05],
      ['bad rows, no limit (read to the end)', 4, 1],
    ] as const) {
      const name = `bench/${mb}-${pclass}-${share}.csv`;
      const generation = await upload(env.storage, name, file(mb, pclass));
      const rss: number[] = [];
      const seconds: number[] = [];
      let last: Record<string, unknown> = {};
      for (let i = 0; i < RUNS; i++) {
        await env.db.pool.query('TRUNCATE datasets, rejected_rows, models CASCADE');
        for (const { relname } of (
          await env.db.pool.query<{ relname: string }>(
            `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'passengers'::regclass`,
          )
        ).rows)
          await env.db.pool.query(`DROP TABLE ${relname}`);
        const t = performance.now();
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
              LOAD_MAX_REJECTED_SHARE: String(share),
            },
            maxBuffer: 1 << 20,
          },
        );
        seconds.push((performance.now() - t) / 1000);
        last = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
        rss.push(last.maxRssMiB as number);
      }
      const outcome = last.code ? `${last.code}: ${last.message}` : `loaded ${last.rows} rows`;
      console.log(
        `  ${mb} MB, ${label}: peak RSS ${rss.join(', ')} MiB -> median ${median(rss)} MiB; ${median(seconds).toFixed(1)} s; ${outcome}`,
      );
    }
  }
} finally {
  await env.close();
}
