/**
 * GET /v1/passengers/:id — online serving by entity id: the passenger's engineered features from the Redis
 * feature store (the feature set the served model was trained on) and the model's prediction for them.
 * 404 for an id the feature set does not hold; 503 when Redis is unreachable (predictions from request
 * bodies keep working, they never touch Redis).
 */
import type { FastifyInstance } from 'fastify';
import { predictedLabel } from '../../shared/core/evaluation.ts';
import { AppError, isAppError } from '../../shared/errors.ts';
import { type AppContext, requireModel } from '../context.ts';

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`feature store read timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function passengerRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: { id: string } }>('/v1/passengers/:id', async (request) => {
    const { id } = request.params;
    if (!/^\d{1,9}$/.test(id)) {
      throw new AppError('BAD_REQUEST', 'the passenger id must be a whole number', { field: 'id' });
    }
    const passengerId = Number(id);
    const served = requireModel(ctx.models);
    const store = ctx.featureStore;
    if (!store) throw new AppError('UNAVAILABLE', 'the feature store is not configured on this instance (REDIS_URL)');

    const read = async () => {
      const version = served.model.artifact.lineage.featureSetVersion ?? (await store.currentVersion());
      if (!version) throw new AppError('FEATURE_SET_NOT_FOUND', 'the feature store holds no feature set yet');
      return { version, entity: await store.readEntity(version, passengerId) };
    };
    let found: Awaited<ReturnType<typeof read>>;
    try {
      found = await withTimeout(read(), ctx.options.featureStoreTimeoutMs);
    } catch (err) {
      if (isAppError(err) && err.code !== 'UNAVAILABLE') throw err;
      throw new AppError(
        'UNAVAILABLE',
        'the feature store (Redis) is unreachable; POST /v1/predict still works',
        undefined,
        {
          cause: err,
        },
      );
    }
    const { version, entity } = found;
    if (!entity) {
      throw new AppError('NOT_FOUND', `passenger ${passengerId} is not in feature set ${version}`, {
        passengerId,
        featureSetVersion: version,
      });
    }
    const probability = served.probabilityOfFeatures(entity.values);
    // A training passenger's true label (and which split it was in) is shown to private deployments only.
    const labels = ctx.options.publicMode ? {} : { split: entity.split, survivedActual: entity.label === 1 };
    return {
      passengerId,
      featureSetVersion: version,
      ...labels,
      features: entity.features,
      prediction: { survived: predictedLabel(probability) === 1, probability },
      modelVersion: served.version,
    };
  });
}
