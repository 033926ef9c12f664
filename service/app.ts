/**
 * `buildApp(deps)` returns the service as a fastify instance that is not listening: server.ts listens, tests
 * call `app.inject()`. Everything with I/O (the model registry, the feature store, Pub/Sub, token checks)
 * comes in through `deps`.
 *
 * Errors are mapped here, at the edge, and only here: an AppError keeps its catalogue status and message;
 * fastify's own 4xx (bad JSON, body too large, wrong content type) become catalogue errors; anything else is a
 * 500 INTERNAL whose stack goes to the log and never to the caller. Pages answer HTML, the API answers JSON.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import secureJsonParse from 'secure-json-parse';
import type { EntityReader } from '../shared/adapters/feature-store/store.ts';
import { isInvalidInput } from '../shared/core/invalid-input.ts';
import { AppError, isAppError } from '../shared/errors.ts';
import { type Logger, traceFields } from '../shared/log.ts';
import { clientAddress } from './callers.ts';
import type { AppContext, AppOptions, ModelProvider } from './context.ts';
import { type AlertPublisher, createDriftMonitor } from './drift-monitor.ts';
import { createMetrics } from './metrics.ts';
import type { PushVerifier } from './push-auth.ts';
import { driftRoutes } from './routes/drift.ts';
import { eventRoutes } from './routes/events.ts';
import { explainRoutes } from './routes/explain.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { modelRoutes } from './routes/model.ts';
import { passengerRoutes } from './routes/passengers.ts';
import { predictRoutes } from './routes/predict.ts';
import { sendHtml, uiRoutes } from './routes/ui.ts';
import { createScorer } from './scoring.ts';
import { messagePage } from './ui/pages.ts';

export interface AppDeps {
  models: ModelProvider;
  /** Absent when the instance has no Redis (e.g. on Vertex AI): /v1/passengers answers 503. */
  featureStore?: EntityReader | null;
  verifyPush: PushVerifier;
  publishAlert: AlertPublisher;
  logger: Logger;
  options?: Partial<AppOptions>;
  /** Clock for alert rate limiting (tests pass their own). */
  now?: () => number;
}

export const DEFAULT_OPTIONS: AppOptions = {
  maxBatch: 1000,
  predictRoute: undefined,
  healthRoute: undefined,
  projectId: undefined,
  featureStoreTimeoutMs: 2000,
  // A full batch is at most maxBatch KiB (the body limit): 1 MiB at 64 kB/s takes 16 s, so 30 s leaves room for a
  // slow legitimate client while a body trickled in byte by byte loses its connection after 30 s.
  requestTimeoutMs: 30_000,
  publicMode: false,
  rateLimitPerMinute: 120,
  driftAlertMinIntervalSeconds: 300,
};

/** How long a client may take to send its request headers. */
const HEADERS_TIMEOUT_MS = 10_000;
/** Idle keep-alive connections stay open longer than a load balancer's (fastify's default). */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * A JSON body parser with messages that say what is wrong: fastify's own parser answers "Body is not valid JSON"
 * even for valid JSON that holds a `__proto__` or `constructor.prototype` key (refused, as fastify does, to keep
 * prototype poisoning out).
 */
function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new AppError('BAD_REQUEST', 'the body is empty; send a JSON object', { field: 'body' });
  try {
    return secureJsonParse.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    if (err instanceof SyntaxError && /forbidden prototype property/.test(err.message)) {
      throw new AppError('BAD_REQUEST', 'the body holds a "__proto__" or "constructor" key, which is refused', {
        field: 'body',
      });
    }
    const why = err instanceof Error ? err.message : String(err);
    throw new AppError('BAD_REQUEST', `the body is not valid JSON: ${why}`, { field: 'body' });
  }
}

const NOT_RATE_LIMITED = new Set(['/healthz', '/readyz', '/events/model-published']);

const HTML_ROUTES = new Set(['/', '/predict', '/model', '/drift']);

/** Maps anything thrown in a handler to a catalogue error; `internal` marks the ones that are our fault. */
export function requestError(err: unknown, bodyLimit: number): { error: AppError; internal: boolean } {
  if (isAppError(err)) return { error: err, internal: false };
  if (isInvalidInput(err)) return { error: new AppError('BAD_REQUEST', err.message), internal: false };
  const e = err as Partial<FastifyError>;
  if (e.validation) {
    const first = e.validation[0];
    const field = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : 'body';
    return {
      error: new AppError('BAD_REQUEST', `${field}: ${first?.message ?? 'invalid'}`, { field }),
      internal: false,
    };
  }
  switch (e.statusCode) {
    case 413:
      return {
        error: new AppError('PAYLOAD_TOO_LARGE', `the request body is over ${bodyLimit} bytes`, { limit: bodyLimit }),
        internal: false,
      };
    case 415:
      return {
        error: new AppError('UNSUPPORTED_MEDIA_TYPE', 'send JSON (application/json) or a form (x-www-form-urlencoded)'),
        internal: false,
      };
    case 404:
      return { error: new AppError('NOT_FOUND'), internal: false };
    default:
      if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
        // fastify's parser messages ("Body is not valid JSON...") are safe to show.
        return { error: new AppError('BAD_REQUEST', e.message ?? 'invalid request'), internal: false };
      }
      return { error: new AppError('INTERNAL'), internal: true };
  }
}

/**
 * The HTTP server's own answers (a request that timed out, headers over the limit, bytes that are not HTTP): they
 * happen before fastify has a request, so they are written to the socket here, in the catalogue format, and the
 * connection is closed. Nothing is written when part of a response is already on the wire.
 */
export function clientErrorAnswer(err: NodeJS.ErrnoException, requestTimeoutMs: number): AppError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AppError(
        'REQUEST_TIMEOUT',
        `the request was not received within ${requestTimeoutMs} ms; send it again, faster`,
        { timeoutMs: requestTimeoutMs },
      );
    case 'HPE_HEADER_OVERFLOW':
      return new AppError('HEADERS_TOO_LARGE', `the request headers are over ${http.maxHeaderSize} bytes`, {
        limit: http.maxHeaderSize,
      });
    default:
      return new AppError('BAD_REQUEST', 'the request is not valid HTTP/1.1');
  }
}

function clientErrorHandler(logger: Logger, requestTimeoutMs: number) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    // A reset connection has nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const error = clientErrorAnswer(err, requestTimeoutMs);
    logger.warn('connection refused by the HTTP server', { code: error.code, cause: err.code ?? err.message });
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify(error.toJSON());
      socket.write(
        `HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status]}\r\n` +
          `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

const wantsHtml = (request: FastifyRequest): boolean =>
  HTML_ROUTES.has(request.routeOptions.url ?? '') ||
  (request.method === 'GET' && (request.headers.accept ?? '').includes('text/html'));

/**
 * The fastify instance the service's routes run on, with no route: the server (timeouts), the JSON and form body
 * parsers, rate limiting in public mode, and the error and not-found answers. `buildApp` adds the routes;
 * `npm run bench:serve` puts a trivial route on one to measure the framework floor.
 */
export function createFramework(logger: Logger, options: AppOptions): FastifyInstance {
  // A passenger is ~250 bytes of JSON: a full batch fits with room to spare, a runaway body does not.
  const bodyLimit = Math.max(1 << 20, options.maxBatch * 1024);
  const app = Fastify({
    logger: false,
    bodyLimit,
    trustProxy: true,
    return503OnClosing: true,
    clientErrorHandler: clientErrorHandler(logger, options.requestTimeoutMs),
    // The server is made here so that its timeouts are checked every second (Node checks every 30 s by default,
    // which would let a slow body hold its connection for up to requestTimeout + 30 s).
    serverFactory: (handler) => {
      const server = http.createServer(
        {
          requestTimeout: options.requestTimeoutMs,
          headersTimeout: Math.min(HEADERS_TIMEOUT_MS, options.requestTimeoutMs),
          connectionsCheckingInterval: 1_000,
          keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        },
        handler,
      );
      return server;
    },
    // Errors raised before routing (a path whose percent-encoding is malformed) answer in the catalogue format too.
    frameworkErrors: (err, request, reply) => {
      const error =
        err.code === 'FST_ERR_BAD_URL'
          ? new AppError('BAD_REQUEST', 'the path has a malformed percent-encoding', { field: 'path' })
          : requestError(err, bodyLimit).error;
      logger.warn('request refused before routing', { method: request.method, code: err.code });
      return (reply as FastifyReply).code(error.status).send(error.toJSON());
    },
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.register(formbody, { bodyLimit });
  if (options.publicMode) {
    app.register(rateLimit, {
      max: options.rateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: clientAddress,
      // Probes and the authenticated push are not the public's requests.
      allowList: (request) => NOT_RATE_LIMITED.has(request.routeOptions.url ?? ''),
      errorResponseBuilder: (_request, context) =>
        new AppError('RATE_LIMITED', `more than ${context.max} requests a minute from this address; retry later`),
    });
  }

  app.setErrorHandler((err, request, reply) => {
    const { error, internal } = requestError(err, bodyLimit);
    const fields = { ...traceFields(request.headers, options.projectId), method: request.method, url: request.url };
    if (internal) logger.error('request failed', { ...fields, err });
    else if (error.status >= 500) logger.warn(error.message, { ...fields, code: error.code, err: error.cause });
    if (error.retryable) reply.header('retry-after', '5');
    if (wantsHtml(request)) {
      const title = error.status >= 500 ? 'Service unavailable' : 'Something is wrong with the request';
      return sendHtml(reply, messagePage(title, error.message), error.status);
    }
    return reply.code(error.status).send(error.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new AppError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`);
    if ((request.headers.accept ?? '').includes('text/html')) {
      return sendHtml(reply, messagePage('Page not found', 'There is no page at this address.'), 404);
    }
    return reply.code(404).send(error.toJSON());
  });

  return app;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const options: AppOptions = { ...DEFAULT_OPTIONS, ...deps.options };
  const app = createFramework(deps.logger, options);
  const metrics = createMetrics({
    current: () => deps.models.current(),
    sourceHealth: () => deps.models.sourceHealth?.(),
  });
  const driftMonitor = createDriftMonitor({
    metrics,
    logger: deps.logger,
    publish: deps.publishAlert,
    minIntervalMs: options.driftAlertMinIntervalSeconds * 1000,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const ctx: AppContext = {
    models: deps.models,
    featureStore: deps.featureStore ?? null,
    verifyPush: deps.verifyPush,
    metrics,
    driftMonitor,
    scorer: createScorer({ metrics, driftMonitor }),
    logger: deps.logger,
    options,
  };

  app.addHook('onClose', async () => {
    await driftMonitor.flush();
  });

  app.register(async (scope) => {
    predictRoutes(scope, ctx);
    explainRoutes(scope, ctx);
    passengerRoutes(scope, ctx);
    modelRoutes(scope, ctx);
    driftRoutes(scope, ctx);
    metricsRoutes(scope, ctx);
    healthRoutes(scope, ctx);
    eventRoutes(scope, ctx);
    uiRoutes(scope, ctx);
  });

  return app;
}
