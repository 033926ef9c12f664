/**
 * CSV validation throughput: `validatePassengerCsv` against csv-parse alone (the floor: same parser, same
 * options, records counted and dropped), both over the same in-memory file fed in 64 KiB chunks, in one run.
 *
 *   npm run bench:csv -- [rows=1000000] [repeats=3]
 *
 * Prints wall and CPU rows/s for both (best of `repeats`) and the ratio of their CPU times.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse';
import { validatePassengerCsv } from '../shared/core/csv-stream.ts';

const rows = Number(process.argv[2] ?? 1_000_000);
const repeats = Number(process.argv[3] ?? 3);

/** `rows` Titanic rows with fresh PassengerIds (so none is a duplicate), as one UTF-8 buffer. */
function makeFile(n: number): Buffer {
  const lines = readFileSync(new URL('../data/titanic.csv', import.meta.url), 'utf8')
    .trimEnd()
    .split('\n');
  const header = lines[0] as string;
  const body = lines.slice(1).map((line) => line.slice(line.indexOf(',')));
  const out: string[] = [header];
  for (let i = 0; i < n; i++) out.push(`${i + 1}${body[i % body.length]}`);
  return Buffer.from(`${out.join('\n')}\n`);
}

async function* chunks(file: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < file.length; at += 1 << 16) yield file.subarray(at, at + (1 << 16));
}

async function parseOnly(file: Buffer): Promise<number> {
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: false, max_record_size: 1 << 20 });
  let count = 0;
  const feeding = (async () => {
    for await (const chunk of chunks(file)) if (!parser.write(chunk)) await new Promise((r) => parser.once('drain', r));
    parser.end();
  })();
  for await (const _ of parser) count++;
  await feeding;
  return count - 1;
}

async function validate(file: Buffer): Promise<number> {
  let count = 0;
  for await (const record of validatePassengerCsv(chunks(file), { requireSurvived: true })) {
    if (record.kind === 'row') count++;
  }
  return count;
}

/**
 * Best of `repeats` by wall time, with the CPU time (user + system) of that run: on a busy machine CPU time is
 * the steadier figure of the two.
 */
async function best(label: string, run: (file: Buffer) => Promise<number>, file: Buffer): Promise<number> {
  let bestWall = Number.POSITIVE_INFINITY;
  let bestCpu = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const count = await run(file);
    const wall = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    if (count !== rows) throw new Error(`${label}: expected ${rows} rows, got ${count}`);
    bestWall = Math.min(bestWall, wall);
    bestCpu = Math.min(bestCpu, (used.user + used.system) / 1e6);
  }
  const perSecond = (seconds: number) => Math.round(rows / seconds).toLocaleString('en');
  process.stdout.write(
    `${label.padEnd(22)} wall ${bestWall.toFixed(2)} s (${perSecond(bestWall)} rows/s)  ` +
      `cpu ${bestCpu.toFixed(2)} s (${perSecond(bestCpu)} rows/s)\n`,
  );
  return bestCpu;
}

const file = makeFile(rows);
process.stdout.write(`${rows} rows, ${(file.length / 2 ** 20).toFixed(1)} MiB, best of ${repeats}\n`);
const parseSeconds = await best('csv-parse only', parseOnly, file);
const validateSeconds = await best('validatePassengerCsv', validate, file);
process.stdout.write(`ratio validate/parse-only (cpu): ${(validateSeconds / parseSeconds).toFixed(2)}\n`);
