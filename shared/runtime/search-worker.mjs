/**
 * Worker-thread entry of the randomized search's thread pool (see search-pool.ts). Plain JavaScript on purpose: it runs as is
 * under node, tsx and vitest, and an esbuild bundle ships it as a second entry point next to the bundle.
 *
 * workerData: { folds: Array<{ X: number[][]; y: number[]; testX: number[][] }> } (sent once).
 * message in: { id, fold, options } (exact ml-random-forest options) -> out: { id, votes: Int32Array } | { id, error }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RandomForestClassifier } from 'ml-random-forest';

const { folds } = workerData;

parentPort.on('message', (task) => {
  try {
    const fold = folds[task.fold];
    const forest = new RandomForestClassifier(task.options);
    forest.train(fold.X, fold.y);
    const values = forest.predictionValues(fold.testX);
    const votes = new Int32Array(values.rows);
    for (let i = 0; i < values.rows; i++) {
      let v = 0;
      for (const label of values.getRow(i)) if (label === 1) v++;
      votes[i] = v;
    }
    parentPort.postMessage({ id: task.id, votes }, [votes.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: task.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
