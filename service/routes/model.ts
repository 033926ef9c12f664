/** GET /v1/model (the served model) and GET /v1/drift (the sliding-window detector's state per feature). */
import type { FastifyInstance } from 'fastify';
import { type AppContext, requireModel } from '../context.ts';
import { modelCard, selectionOf } from '../model-card.ts';

export function modelRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/model', async () => {
    const served = requireModel(ctx.models);
    const a = served.model.artifact;
    return {
      modelVersion: served.version,
      formatVersion: a.formatVersion,
      createdAt: a.createdAt,
      loadedAt: served.loadedAt,
      // Which dataset trained the model is not for the public (PUBLIC_MODE).
      lineage: ctx.options.publicMode ? null : a.lineage,
      featureNames: a.recipe.featureNames,
      recipe: a.recipe,
      params: a.params,
      search: a.search,
      // model selection (repeated stratified k-fold CV on the training split) and the held-out test split
      selection: selectionOf(a),
      metrics: a.metrics,
      importances: a.importances,
      // mean |SHAP| over the test split (format 4; null for an older artifact)
      shapImportances: a.shapImportances ?? null,
      card: modelCard(served),
    };
  });
}
