/**
 * A server process for bench/serve.ts (the load generator runs in another process):
 *   --mode=app  the real service (buildApp) with a model, drift detection and metrics on;
 *   --mode=bare a bare node:http server that reads the body and answers a constant JSON;
 *   --mode=floor the service's fastify instance without its routes (createFramework: the same server, options,
 *               JSON and form body parsers, error and not-found handlers) and one trivial POST /v1/predict that
 *               parses the JSON body and answers a constant JSON (77 bytes; the service's one-passenger answer is
 *               about 670): the framework floor for a POST with a body. With --spin=US the route first keeps the
 *               CPU busy for US microseconds (a loop on the clock: no allocation, no memory touched), a calibration
 *               for bench:serve --calibrate: what a known amount of handler work costs in the same measurement.
 * Prints `listening <port>` on stdout once ready.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyReply } from 'fastify';
import { buildApp, createFramework, DEFAULT_OPTIONS } from '../service/app.ts';
import { ModelRegistry } from '../service/model-registry.ts';
import { createLogger } from '../shared/log.ts';
import { MemoryModelSource } from '../test/support/service.ts';

const mode = process.argv.find((a) => a.startsWith('--mode='))?.slice(7);
const artifactFile = process.argv.find((a) => a.startsWith('--artifact='))?.slice(11);
const spinMs = Number(process.argv.find((a) => a.startsWith('--spin='))?.slice(7) ?? 0) / 1000;

async function main(): Promise<void> {
  // A clean exit on a signal (so `node --cpu-prof` writes its profile when profiling this server).
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
  if (mode === 'bare') {
    const answer = JSON.stringify({ predictions: [{ survived: true, probability: 0.9 }], modelVersion: 'bare' });
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
        res.end(answer);
      });
    });
    server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
    return;
  }
  if (mode === 'floor') {
    // The service's own fastify instance (createFramework: server timeouts, JSON and form parsers, error and
    // not-found handlers, default options), with one trivial route in a plugin scope as the service's routes are.
    const answer = JSON.stringify({ predictions: [{ survived: true, probability: 0.9 }], modelVersion: 'floor' });
    const app = createFramework(createLogger({ minSeverity: 'ERROR' }), DEFAULT_OPTIONS);
    app.register(async (scope) => {
      const trivial = async (_request: unknown, reply: FastifyReply) => {
        reply.header('content-type', 'application/json; charset=utf-8');
        return answer;
      };
      // The plain floor's route is the trivial handler itself; a spinning one busies the CPU first.
      const spinning = (request: unknown, reply: FastifyReply) => {
        const t0 = performance.now();
        while (performance.now() - t0 < spinMs);
        return trivial(request, reply);
      };
      scope.post('/v1/predict', spinMs > 0 ? spinning : trivial);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    console.log(`listening ${(app.server.address() as AddressInfo).port}`);
    return;
  }
  if (mode !== 'app' || !artifactFile)
    throw new Error('usage: serve-target.ts --mode=app --artifact=FILE | --mode=bare | --mode=floor [--spin=US]');
  const logger = createLogger({ minSeverity: 'ERROR' });
  const source = new MemoryModelSource();
  source.promote(JSON.parse(readFileSync(artifactFile, 'utf8')));
  const registry = new ModelRegistry({ source, logger });
  await registry.refresh();
  const app = buildApp({
    models: registry,
    verifyPush: async () => {},
    publishAlert: async () => 'bench',
    logger,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  console.log(`listening ${(app.server.address() as AddressInfo).port}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
