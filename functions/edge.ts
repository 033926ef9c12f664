/**
 * The edge of every HTTP pipeline function: JSON in, JSON out, one log context per request, and the single
 * place where errors become responses. Inner code throws `AppError`s; each adapter maps its own failures a retry can
 * fix (a cut connection, a 5xx from a backend) to UNAVAILABLE, which answers 503 so the workflow retries; a
 * caller's mistake keeps its 4xx, and anything else is a 500 whose details stay in the log, never in the response.
 */
import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { isInvalidInput } from '../shared/core/invalid-input.ts';
import { AppError } from '../shared/errors.ts';
import { type Logger, traceFields } from '../shared/log.ts';

export interface EdgeDeps {
  logger: Logger;
  /** For the Cloud Logging trace key. */
  projectId?: string | undefined;
  /** Awaited before every request (e.g. schema migrations, once per instance). */
  ready?: () => Promise<void>;
}

export interface RequestContext {
  log: Logger;
  executionId: string;
}

/** The header a workflow step sets to tie a function's logs to its execution. */
export const WORKFLOW_EXECUTION_HEADER = 'x-workflow-execution';

/**
 * Translates what a handler threw into a catalogue error. Every adapter has already turned its own retryable
 * failures into UNAVAILABLE (db/pool.ts `dbFailure`, storage.ts `storageFailure`, events.ts `publishFailure`, the
 * feature store's redis-client.ts), so here an AppError is kept, the core's InvalidInputError is a BAD_REQUEST,
 * and anything else is INTERNAL.
 */
export function edgeError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isInvalidInput(err)) return new AppError('BAD_REQUEST', err.message);
  return new AppError('INTERNAL', undefined, undefined, { cause: err });
}

export function makeJsonHandler<Input>(
  name: string,
  deps: EdgeDeps,
  parse: (body: unknown) => Input,
  run: (input: Input, ctx: RequestContext) => Promise<object>,
): HttpFunction {
  return async (req: Request, res: Response) => {
    const header = req.get(WORKFLOW_EXECUTION_HEADER);
    const executionId = header ?? (req as Request & { executionId?: string }).executionId ?? 'unknown';
    const log = deps.logger.child({
      function: name,
      executionId,
      ...traceFields(req.headers, deps.projectId),
    });
    const started = performance.now();
    try {
      if (req.method !== 'POST') throw new AppError('BAD_REQUEST', `use POST, not ${req.method}`);
      if (!req.is('application/json')) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send application/json');
      const input = parse(req.body);
      await deps.ready?.();
      const out = await run(input, { log, executionId });
      log.info(`${name} done`, { ...out, ms: Math.round(performance.now() - started) });
      res.status(200).json(out);
    } catch (err) {
      const appErr = edgeError(err);
      const fields = { code: appErr.code, status: appErr.status, ms: Math.round(performance.now() - started) };
      if (appErr.status >= 500) log.error(`${name} failed`, { ...fields, err: (appErr.cause as Error) ?? appErr });
      else log.warn(`${name} refused`, { ...fields, message: appErr.message });
      res.status(appErr.status).json(appErr.toJSON());
    }
  };
}

/** Runs `fn` once; a failure is not cached, so the next request tries again (e.g. migrations at cold start). */
export function onceUntilSuccess(fn: () => Promise<unknown>): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () => {
    pending ??= fn().then(
      () => {},
      (err) => {
        pending = undefined;
        throw err;
      },
    );
    return pending;
  };
}

// ---------------------------------------------------------------------------------------------- body readers

export function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new AppError('BAD_REQUEST', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

export function requireString(body: Record<string, unknown>, field: string, pattern?: RegExp): string {
  const v = body[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > 1024 || (pattern && !pattern.test(v)))
    throw new AppError('BAD_REQUEST', `${field} must be a ${pattern ? 'well-formed ' : ''}non-empty string`, { field });
  return v;
}
