/**
 * POST /events/model-published: the Pub/Sub push endpoint. After the push is authenticated (OIDC in the
 * cloud), the instance re-reads models/latest.json and loads what it names. The pointer, not the message, is
 * the source of truth, so a redelivered or out-of-order message is harmless. A 2xx acknowledges the message;
 * an unreachable bucket answers 503 so Pub/Sub redelivers; a refused artifact is acknowledged (a retry would
 * not fix it) and logged at ERROR by the registry.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../shared/errors.ts';
import type { AppContext } from '../context.ts';
import { ModelSourceError } from '../model-registry.ts';

interface PushEnvelope {
  message?: { messageId?: string; attributes?: Record<string, string>; data?: string };
  subscription?: string;
}

export function eventRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: PushEnvelope | undefined }>('/events/model-published', async (request) => {
    await ctx.verifyPush(request.headers.authorization);
    const messageId = request.body?.message?.messageId ?? null;
    let outcome: Awaited<ReturnType<AppContext['models']['refresh']>>;
    try {
      outcome = await ctx.models.refresh();
    } catch (err) {
      if (err instanceof ModelSourceError) {
        throw new AppError('UNAVAILABLE', 'the models bucket could not be read; the push will be retried', undefined, {
          cause: err,
        });
      }
      throw err;
    }
    ctx.logger.info('model-published push handled', {
      messageId,
      outcome,
      modelVersion: ctx.models.current()?.version,
    });
    return { outcome, modelVersion: ctx.models.current()?.version ?? null };
  });
}
