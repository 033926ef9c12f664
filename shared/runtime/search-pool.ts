/**
 * The randomized search's thread pool: a `SearchRunner` that spreads the candidate x fold fits over the calling
 * thread and `workers - 1` worker threads (node:worker_threads). The calling thread fits too: it would otherwise
 * sit idle while each worker isolate pays its own start-up and JIT warm-up. This is runtime, not domain: the core
 * (shared/core/search.ts) only knows the `SearchRunner` interface, and gives the same result with its inline
 * runner.
 *
 * The worker entry is the plain-JS module `search-worker.mjs`, found next to this module through
 * `import.meta.url`, so it runs unchanged under node, tsx and vitest; a bundle (esbuild, for a Cloud Function)
 * must emit it as a second entry point beside the bundle (`search-worker.mjs` or `search-worker.js`;
 * infra/bundle.ts does). When it is not there, or `workers` is 0 or 1, every fit runs on the calling thread,
 * with the same results.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type FitTask, type FoldData, fitAndVote, type SearchRunner } from '../core/search.ts';

function workerEntry(): URL | null {
  for (const file of ['search-worker.mjs', 'search-worker.js']) {
    try {
      const url = new URL(`./${file}`, import.meta.url);
      if (url.protocol === 'file:' && existsSync(url)) return url;
    } catch {
      // no usable import.meta.url (e.g. a CommonJS bundle): run inline
    }
  }
  return null;
}

/**
 * A runner on `workers` threads, the calling thread included (so 2 = the calling thread + 1 worker thread; 0 or
 * 1 = the calling thread alone). Default: the machine's available parallelism.
 */
export function threadPoolRunner(workers: number = availableParallelism()): SearchRunner {
  return {
    async run(folds, tasks, onDone) {
      const entry = workerEntry();
      // `workers` counts the threads that fit forests, the calling thread included
      const threads = Math.max(1, Math.min(workers, tasks.length));
      const workerThreads = entry === null ? 0 : threads - 1;
      const votes = await runTasks(entry, workerThreads, folds, tasks, onDone);
      return { votes, workers: workerThreads };
    },
  };
}

/**
 * Runs the tasks on the calling thread and on `workerThreads` worker threads, all taking from one queue
 * (biggest first). A worker always has a second task queued, so it never waits while the calling thread is busy
 * with a fit. Resolves with each task's votes, by task id.
 */
async function runTasks(
  entry: URL | null,
  workerThreads: number,
  folds: readonly FoldData[],
  tasks: readonly FitTask[],
  onDone: () => void,
): Promise<Int32Array[]> {
  const results: Int32Array[] = new Array(tasks.length);
  const queue = [...tasks];
  const pool =
    entry === null ? [] : Array.from({ length: workerThreads }, () => new Worker(entry, { workerData: { folds } }));
  let failed: unknown = null;
  try {
    const lanes = pool.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          let inFlight = 0;
          const feed = (): void => {
            while (inFlight < 2 && queue.length > 0 && failed === null) {
              worker.postMessage(queue.shift());
              inFlight++;
            }
            if (inFlight === 0) resolve();
          };
          worker.on('message', (msg: { id: number; votes?: Int32Array; error?: string }) => {
            inFlight--;
            if (msg.error !== undefined || msg.votes === undefined) {
              failed = new Error(`search worker failed: ${msg.error ?? 'no votes'}`);
              reject(failed);
              return;
            }
            results[msg.id] = msg.votes;
            onDone();
            feed();
          });
          worker.on('error', (err) => {
            failed = err;
            reject(err);
          });
          worker.on('exit', (code) => {
            if (inFlight > 0) reject(new Error(`search worker exited with code ${code}`));
          });
          feed();
        }),
    );
    const callingThread = (async () => {
      for (let task = queue.shift(); task !== undefined && failed === null; task = queue.shift()) {
        const fold = folds[task.fold] as FoldData;
        results[task.id] = fitAndVote(fold.X, fold.y, fold.testX, task.options);
        onDone();
        // let the workers' results in (and hand them their next tasks) between two fits
        if (pool.length > 0) await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await Promise.all([...lanes, callingThread]);
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}
