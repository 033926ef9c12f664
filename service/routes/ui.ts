/**
 * The web pages: GET / (the form), POST /predict (the seed's route, form-encoded; answers an HTML page),
 * GET /model, and the stylesheet. A caller's mistake is shown next to the field it concerns, with the form
 * filled in as it was sent; no page ever shows raw JSON.
 */

import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Passenger } from '../../shared/core/schema.ts';
import { isAppError } from '../../shared/errors.ts';
import { type AppContext, requireModel } from '../context.ts';
import { attributionOf } from '../explanations.ts';
import { columnOfProblem, parseServingPassenger } from '../instances.ts';
import { modelCard, selectionOf } from '../model-card.ts';
import { STYLESHEET } from '../ui/assets.ts';
import { DEFAULT_FORM, type FormErrors, type FormField, type FormValues } from '../ui/form.ts';
import type { SafeHtml } from '../ui/html.ts';
import { driftPage, formPage, messagePage, modelPage, resultPage } from '../ui/pages.ts';
import { topReasons } from '../ui/reasons.ts';

/** Raw CSV column (as the core names it in errors) -> form field. */
const FIELD_OF_COLUMN: Record<string, FormField> = {
  name: 'name',
  sex: 'sex',
  age: 'age',
  pclass: 'pclass',
  fare: 'fare',
  sibsp: 'sibsp',
  parch: 'parch',
  cabin: 'cabin',
  embarked: 'embarked',
};

/** The pages' security headers: no script at all, styles and forms only from this origin. */
const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Every page goes out through here (set on the page itself: the JSON API pays nothing for it). */
export function sendHtml(reply: FastifyReply, page: SafeHtml, status = 200): FastifyReply {
  return reply.code(status).headers(HTML_HEADERS).send(page.toString());
}

function formValues(body: unknown): FormValues {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const pick = (k: FormField): string => {
    const v = b[k];
    const first = Array.isArray(v) ? v[0] : v;
    return typeof first === 'string' ? first.slice(0, 200) : '';
  };
  return {
    name: pick('name'),
    sex: pick('sex'),
    age: pick('age'),
    pclass: pick('pclass'),
    fare: pick('fare'),
    sibsp: pick('sibsp'),
    parch: pick('parch'),
    cabin: pick('cabin'),
    embarked: pick('embarked'),
  };
}

/** The form as a raw passenger row (CSV column names), the same shape the JSON API takes. */
function formRecord(v: FormValues): Record<string, unknown> {
  const optional = (s: string): string | null => (s.trim() === '' ? null : s.trim());
  return {
    PassengerId: 1, // the form describes a hypothetical passenger; the contract wants an id, any valid one does
    Name: v.name.trim(),
    Sex: v.sex,
    Age: optional(v.age),
    Pclass: v.pclass,
    Fare: optional(v.fare),
    SibSp: v.sibsp.trim() === '' ? '0' : v.sibsp.trim(),
    Parch: v.parch.trim() === '' ? '0' : v.parch.trim(),
    Ticket: '',
    Cabin: optional(v.cabin),
    Embarked: optional(v.embarked),
  };
}

/** Form errors from the core's problems (`Age "x" is not a number`), each next to the field it names. */
function formErrors(details: Record<string, unknown> | undefined, message: string): FormErrors {
  const problems = Array.isArray(details?.problems) ? (details.problems as string[]) : [];
  const errors: FormErrors = {};
  for (const problem of problems) {
    const field = FIELD_OF_COLUMN[columnOfProblem(problem)?.toLowerCase() ?? ''] ?? 'form';
    errors[field] = errors[field] ? `${errors[field]}; ${problem}` : problem;
  }
  if (Object.keys(errors).length === 0) errors.form = message;
  return errors;
}

export function uiRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/static/style.css', async (_request, reply) => {
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600');
    return STYLESHEET;
  });

  app.get('/', async (_request, reply) =>
    sendHtml(
      reply,
      formPage({
        values: DEFAULT_FORM,
        errors: {},
        modelVersion: ctx.models.current()?.version ?? null,
        ...(ctx.models.current()
          ? {}
          : { status: 'No model is loaded yet: predictions will work once training has run.' }),
      }),
    ),
  );

  const formLatency = ctx.metrics.latencyOf('form');
  app.post('/predict', async (request, reply) => {
    const values = formValues(request.body);
    const started = performance.now();
    const rerender = (errors: FormErrors) =>
      sendHtml(reply, formPage({ values, errors, modelVersion: ctx.models.current()?.version ?? null }), 400);
    if (values.name.trim() === '') return rerender({ name: 'Enter a name with a title, e.g. "Dawson, Mr. Jack"' });
    let passenger: Passenger;
    try {
      passenger = parseServingPassenger(formRecord(values), 'form');
    } catch (err) {
      if (!isAppError(err) || err.code !== 'BAD_REQUEST') throw err;
      return rerender(formErrors(err.details, err.message));
    }
    const served = requireModel(ctx.models);
    const scored = ctx.scorer(served, [passenger]);
    const [p] = scored.predictions;
    if (!p) throw new Error('the model returned no prediction');
    const explainer = served.model.explainer;
    const attribution = attributionOf(explainer, p.features, p.probability);
    const contributions = explainer.featureNames.map((name) => attribution.featureAttributions[name] ?? 0);
    formLatency.observe((performance.now() - started) / 1000);
    return sendHtml(
      reply,
      resultPage({
        values,
        prediction: {
          survived: p.survived,
          probability: p.probability,
          modelVersion: scored.modelVersion,
          drift: scored.drift,
          features: scored.featureNames.map((name, i) => ({ name, value: p.features[i] ?? Number.NaN })),
          explanation: {
            baseValue: attribution.baselineOutputValue,
            coverSource: explainer.coverSource,
            contributions,
            fields: Object.entries(attribution.passengerFieldAttributions).map(([name, value]) => ({ name, value })),
            reasons: topReasons(explainer.featureNames, p.features, contributions, values),
          },
        },
      }),
    );
  });

  app.get('/drift', async (_request, reply) => {
    const served = ctx.models.current();
    if (!served) {
      return sendHtml(reply, messagePage('No model yet', 'No model is loaded yet. Train one, then come back.'), 503);
    }
    ctx.driftMonitor.settle();
    const window = served.windowDrift;
    const state = window.state();
    const last = state.last;
    return sendHtml(
      reply,
      driftPage({
        modelVersion: served.version,
        isDrift: state.isDrift,
        windowSize: window.windowSize,
        windowRows: state.windowRows,
        requestsSeen: state.requestsSeen,
        evaluateEvery: window.evaluateEvery,
        ert: window.ert,
        rowsPerRequest: window.rowsPerRequest,
        correction: window.tests.correction,
        driftedShare: last?.driftedShare ?? 0,
        drifted: last?.drifted ?? [],
        features: last
          ? last.detail.map((f) => ({
              name: f.name,
              type: f.type,
              test: f.test,
              statistic: f.statistic,
              pValue: f.pValue,
              threshold: f.threshold,
              drifted: f.drifted,
              distance: f.distance.value,
              distanceKind: f.distance.kind,
              histogram: f.histogram,
            }))
          : null,
      }),
    );
  });

  app.get('/model', async (_request, reply) => {
    const served = ctx.models.current();
    if (!served) {
      return sendHtml(reply, messagePage('No model yet', 'No model is loaded yet. Train one, then come back.'), 503);
    }
    const a = served.model.artifact;
    ctx.driftMonitor.settle();
    const state = served.windowDrift.state();
    return sendHtml(
      reply,
      modelPage({
        version: served.version,
        createdAt: a.createdAt,
        loadedAt: served.loadedAt,
        lineage: ctx.options.publicMode ? { datasetId: null, featureSetVersion: null } : a.lineage,
        metrics: a.metrics,
        cv: selectionOf(a),
        recipeVersion: a.recipe.version,
        importances: a.importances,
        shapImportances: a.shapImportances ?? null,
        params: { ...a.params },
        card: modelCard(served),
        window: {
          isDrift: state.isDrift,
          windowRows: state.windowRows,
          rowsSeen: state.rowsSeen,
          pValues: state.last?.pValues ?? null,
        },
      }),
    );
  });
}
