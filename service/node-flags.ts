/**
 * The node (V8) flags the service's process runs with, wherever it runs: the image's CMD (service/Dockerfile,
 * checked by node-flags.test.ts), `npm run local` (local/stack) and bench:serve's servers.
 *
 * `--no-memory-reducer`: V8's memory reducer runs full garbage collections to shrink the heap once a process has
 * gone quiet, and the requests that end the quiet then run slower for seconds. Measured on this service
 * (bench:serve's servers, 4 s of load after 20 s without requests, six rounds): the CPU each prediction adds over
 * the framework floor went from 12 us without the quiet to 23 us after it, and to 7 us after it with the flag. A
 * Cloud Run instance keeps the memory it is given whether the heap shrinks or not, so the heap is left as it is.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];
