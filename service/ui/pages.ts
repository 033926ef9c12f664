/**
 * The web pages, rendered on the server from plain view objects. They work without JavaScript, keep every
 * control labelled and reachable by keyboard, and fit a phone screen (see style.css).
 */
import type { CalibrationBin } from '../../shared/core/evaluation.ts';
import type { ModelCard } from '../model-card.ts';
import { barChart, calibrationChart, confusionMatrixChart, contributionChart, probabilityBar } from './charts.ts';
import { type DriftPageView, driftPageBody } from './drift-page.ts';
import type { FormErrors, FormField, FormValues } from './form.ts';
import { formatNumber, formatPValue, html, type SafeHtml } from './html.ts';
import { compareImportances } from './reasons.ts';

export interface DriftView {
  isDrift: boolean;
  threshold: number;
  pValues: Record<string, number>;
  drifted: string[];
  /** Values outside what the training passengers had (the single-passenger check). */
  outOfSupport?: Array<{ feature: string; value: number; reason: string }>;
}

export interface PredictionView {
  survived: boolean;
  probability: number;
  modelVersion: string;
  drift: DriftView;
  features: Array<{ name: string; value: number }>;
  explanation: ExplanationView;
}

/** Why the model gave this probability (exact TreeSHAP, see shared/core/tree-shap.ts). */
export interface ExplanationView {
  /** The expected probability before looking at the passenger. */
  baseValue: number;
  /** `reference`: the artifact predates recorded covers, the expectation is over its real training rows. */
  coverSource: 'bootstrap' | 'reference';
  /** Contribution of each feature, in feature order (probability units). */
  contributions: number[];
  /** The same contributions summed per raw passenger field. */
  fields: Array<{ name: string; value: number }>;
  /** Sentences for the largest three. */
  reasons: string[];
}

export interface ModelView {
  version: string;
  createdAt: string;
  loadedAt: string;
  lineage: { datasetId: string | null; featureSetVersion: string | null };
  metrics: {
    accuracy: number;
    precision: number;
    recall: number;
    f1: number;
    rocAuc: number;
    brier: number;
    confusionMatrix: { tn: number; fp: number; fn: number; tp: number };
    n: number;
    accuracyInterval?: [number, number];
    calibration?: CalibrationBin[];
  };
  /** Model selection: repeated stratified k-fold CV accuracy of the chosen parameters. */
  cv: { folds: number; repeats: number; mean: number; sd: number };
  recipeVersion: number;
  importances: Record<string, number>;
  /** Mean |SHAP| over the test split (probability units); null for an artifact older than format 4. */
  shapImportances: Record<string, number> | null;
  params: Record<string, unknown>;
  card: ModelCard;
  window: { isDrift: boolean; windowRows: number; rowsSeen: number; pValues: Record<string, number> | null };
}

type Page = 'predict' | 'model' | 'drift';

/** A forest parameter as shown on the model page: a column subset by its feature names. */
function paramText(key: string, value: unknown, featureNames: readonly string[]): string {
  if (key === 'columns' && Array.isArray(value)) return value.map((j) => featureNames[j] ?? String(j)).join(', ');
  return String(value);
}

function layout(title: string, active: Page | null, body: SafeHtml): SafeHtml {
  const link = (href: string, page: Page, label: string) =>
    html`<a href="${href}"${active === page ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Titanic survival</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><span class="brand">Titanic survival</span>
<nav aria-label="Main">${link('/', 'predict', 'Predict')} ${link('/model', 'model', 'Model')} ${link('/drift', 'drift', 'Drift')} <a href="/metrics">Metrics</a></nav></header>
<main id="main" tabindex="-1">
${body}
</main>
<footer class="site"><p>JSON API: <code>POST /v1/predict</code>, <code>POST /v1/explain</code>, <code>GET /v1/model</code>, <code>GET /v1/drift</code>.</p></footer>
</body>
</html>`;
}

function field(
  name: FormField,
  label: string,
  hint: string,
  errors: FormErrors,
  control: (describedBy: string, invalid: SafeHtml | '') => SafeHtml,
): SafeHtml {
  const error = errors[name];
  const describedBy = error ? `${name}-hint ${name}-error` : `${name}-hint`;
  const invalid = error ? html` aria-invalid="true"` : '';
  return html`<div class="field${error ? ' field-error' : ''}">
<label for="${name}">${label}</label>
<p class="hint" id="${name}-hint">${hint}</p>
${error ? html`<p class="error" id="${name}-error"><span class="visually-hidden">Error: </span>${error}</p>` : ''}
${control(describedBy, invalid)}
</div>`;
}

function input(
  name: FormField,
  value: string,
  describedBy: string,
  invalid: SafeHtml | '',
  attrs: { inputmode?: string; autocomplete?: string } = {},
): SafeHtml {
  return html`<input id="${name}" name="${name}" type="text" value="${value}" aria-describedby="${describedBy}"${invalid}${
    attrs.inputmode ? html` inputmode="${attrs.inputmode}"` : ''
  } autocomplete="${attrs.autocomplete ?? 'off'}">`;
}

function select(
  name: FormField,
  value: string,
  describedBy: string,
  invalid: SafeHtml | '',
  options: Array<[string, string]>,
): SafeHtml {
  return html`<select id="${name}" name="${name}" aria-describedby="${describedBy}"${invalid}>${options.map(
    ([v, label]) => html`<option value="${v}"${v === value ? html` selected` : ''}>${label}</option>`,
  )}</select>`;
}

function passengerForm(values: FormValues, errors: FormErrors): SafeHtml {
  return html`<form method="post" action="/predict" novalidate class="passenger">
${
  errors.form || Object.keys(errors).length > 0
    ? html`<div class="error-summary" role="alert" id="error-summary"><h2>Please check the form</h2><ul>${Object.entries(
        errors,
      ).map(([k, msg]) =>
        k === 'form' ? html`<li>${msg}</li>` : html`<li><a href="#${k}">${msg}</a></li>`,
      )}</ul></div>`
    : ''
}
${field('name', 'Name', 'As on the passenger list, with a title: "Dawson, Mr. Jack", "Mrs. Rose Bukater". The title (Mr, Mrs, Miss, Master, Dr...) is what the model uses.', errors, (d, i) => input('name', values.name, d, i, { autocomplete: 'name' }))}
<div class="row">
${field('sex', 'Sex', 'As recorded in 1912.', errors, (d, i) =>
  select('sex', values.sex, d, i, [
    ['male', 'Male'],
    ['female', 'Female'],
  ]),
)}
${field('age', 'Age (years)', 'Leave empty if unknown. Babies: a fraction, e.g. 0.5.', errors, (d, i) => input('age', values.age, d, i, { inputmode: 'decimal' }))}
</div>
<div class="row">
${field('pclass', 'Ticket class', '1st was the most expensive.', errors, (d, i) =>
  select('pclass', values.pclass, d, i, [
    ['1', '1st class'],
    ['2', '2nd class'],
    ['3', '3rd class'],
  ]),
)}
${field('fare', 'Fare (pounds)', 'Typical: 3rd about 8, 2nd about 20, 1st about 85. Empty if unknown.', errors, (d, i) => input('fare', values.fare, d, i, { inputmode: 'decimal' }))}
</div>
<div class="row">
${field('sibsp', 'Siblings or spouses aboard', 'A whole number, 0 if travelling without them.', errors, (d, i) => input('sibsp', values.sibsp, d, i, { inputmode: 'numeric' }))}
${field('parch', 'Parents or children aboard', 'A whole number, 0 if none.', errors, (d, i) => input('parch', values.parch, d, i, { inputmode: 'numeric' }))}
</div>
<div class="row">
${field('cabin', 'Cabin', 'E.g. C85. Leave empty if none or unknown.', errors, (d, i) => input('cabin', values.cabin, d, i))}
${field('embarked', 'Port of embarkation', 'Where the passenger boarded.', errors, (d, i) =>
  select('embarked', values.embarked, d, i, [
    ['S', 'Southampton'],
    ['C', 'Cherbourg'],
    ['Q', 'Queenstown'],
    ['', 'Unknown'],
  ]),
)}
</div>
<button type="submit">Predict survival</button>
</form>`;
}

export function formPage(opts: {
  values: FormValues;
  errors: FormErrors;
  modelVersion: string | null;
  status?: string;
}): SafeHtml {
  const { values, errors, modelVersion } = opts;
  const hasErrors = Object.keys(errors).length > 0;
  return layout(
    hasErrors ? 'Error: predict survival' : 'Predict survival',
    'predict',
    html`<h1>Would this passenger have survived?</h1>
<p class="lede">Describe a passenger of the Titanic. The model ${
      modelVersion ? html`<code>${modelVersion}</code>` : ''
    } estimates the chance of survival and checks whether the passenger looks like the ones it learned from.</p>
${opts.status ? html`<p class="notice" role="status">${opts.status}</p>` : ''}
${passengerForm(values, errors)}`,
  );
}

function driftSection(drift: DriftView): SafeHtml {
  const entries = Object.entries(drift.pValues);
  return html`<section class="drift ${drift.isDrift ? 'drift-yes' : 'drift-no'}" aria-labelledby="drift-heading">
<h2 id="drift-heading">Data drift: <span id="drift-verdict">${drift.isDrift ? 'drift detected' : 'no drift'}</span></h2>
<p>${
    drift.isDrift
      ? html`This passenger is unlike the training passengers in <strong id="drifted-features">${drift.drifted.join(', ')}</strong>. The prediction is less trustworthy.`
      : html`Every feature is within what the model saw in training.`
  } One passenger is too few for a distribution test, so a feature drifts when its value lies well outside the
training passengers' range (by more than a tenth of that range) or is a category they never had; a rare category
alone is not drift. The p-values below say how unusual each value is among the training passengers.</p>
<details><summary>Tail p-value per feature</summary>
<table><thead><tr><th scope="col">Feature</th><th scope="col">p-value</th><th scope="col">Drift</th></tr></thead><tbody>
${entries.map(
  ([name, p]) =>
    html`<tr${drift.drifted.includes(name) ? html` class="drifted"` : ''}><th scope="row">${name}</th><td>${formatPValue(p)}</td><td>${drift.drifted.includes(name) ? 'yes' : 'no'}</td></tr>`,
)}
</tbody></table></details>
</section>`;
}

function signedPoints(contribution: number): string {
  const points = contribution * 100;
  const text = formatNumber(Math.abs(points), 1);
  return text === '0' ? '0' : `${points > 0 ? '+' : '\u2212'}${text}`;
}

function explanationSection(p: PredictionView): SafeHtml {
  const e = p.explanation;
  const items = p.features.map((f, j) => ({ label: f.name, value: e.contributions[j] ?? 0 }));
  return html`<section class="why" aria-labelledby="why-heading">
<h2 id="why-heading">Why this prediction</h2>
<ul class="reasons" id="reasons">${e.reasons.map((r) => html`<li>${r}</li>`)}</ul>
${contributionChart('contributions-chart', 'How each feature moved the chance of survival, in percentage points, largest first', items)}
<p class="small">The model starts from <strong id="base-value">${formatNumber(e.baseValue * 100, 1)}%</strong>, its average
over ${
    e.coverSource === 'reference'
      ? 'the real passengers it was trained on'
      : 'the rows its trees were grown on (the training passengers, plus synthetic survivors that balance the classes)'
  }; the contributions add up from there to the ${formatNumber(p.probability * 100, 1)}% above.
They are exact Shapley values of the forest (TreeSHAP).${
    e.coverSource === 'reference'
      ? html` <span id="approximate-note">This model was saved before training recorded how many rows reached each tree
node, so the average is taken over its real training passengers instead of the rows each tree was grown on.</span>`
      : ''
  }</p>
</section>`;
}

export function resultPage(opts: { values: FormValues; prediction: PredictionView }): SafeHtml {
  const { prediction: p } = opts;
  const pct = formatNumber(p.probability * 100, 1);
  return layout(
    'Prediction',
    'predict',
    html`<section class="result" aria-labelledby="result-heading">
<h1 id="result-heading" class="${p.survived ? 'yes' : 'no'}"><span id="verdict">${p.survived ? 'Likely survived' : 'Likely did not survive'}</span></h1>
<p class="probability-text">Survival probability: <strong id="probability">${pct}%</strong></p>
${probabilityBar(p.probability)}
<p class="small">Model <code id="model-version">${p.modelVersion}</code>. 50% is the decision line.</p>
</section>
${explanationSection(p)}
${driftSection(p.drift)}
<section aria-labelledby="features-heading">
<h2 id="features-heading">What the model saw</h2>
<p>The features computed from the form, in the order the model reads them, and how many points each added to
or took from the chance of survival.</p>
<table class="features"><thead><tr><th scope="col">Feature</th><th scope="col">Value</th><th scope="col">Contribution (points)</th></tr></thead><tbody>
${p.features.map(
  (f, j) =>
    html`<tr><th scope="row">${f.name}</th><td>${formatNumber(f.value, 3)}</td><td>${signedPoints(p.explanation.contributions[j] ?? 0)}</td></tr>`,
)}
</tbody></table>
<h3>By passenger field</h3>
<p>A feature computed from several fields (class times fare) is shared evenly between them.</p>
<table class="fields" id="field-contributions"><thead><tr><th scope="col">Field</th><th scope="col">Contribution (points)</th></tr></thead><tbody>
${p.explanation.fields.map((f) => html`<tr><th scope="row">${f.name}</th><td>${signedPoints(f.value)}</td></tr>`)}
</tbody></table>
</section>
<section aria-labelledby="again-heading">
<h2 id="again-heading">Try another passenger</h2>
${passengerForm(opts.values, {})}
</section>`,
  );
}

function globalImportance(impurity: Record<string, number>, shap: Record<string, number>, n: number): SafeHtml {
  const impurityBars = Object.entries(impurity)
    .map(([label, value]) => ({ label, value }))
    .sort((a, b) => b.value - a.value);
  const shapBars = Object.entries(shap)
    .map(([label, value]) => ({ label, value: value * 100 }))
    .sort((a, b) => b.value - a.value);
  return html`<p id="importance-comparison">${compareImportances(impurity, shap)}</p>
<div class="pair">
<figure><figcaption>Mean |SHAP| over the ${n} test passengers (points)</figcaption>
${barChart('shap-importances-chart', 'Mean absolute SHAP value per feature over the test split, in percentage points, largest first', shapBars)}</figure>
<figure><figcaption>Impurity: mean decrease in Gini impurity (share)</figcaption>
${barChart('importances-chart', 'Feature importances, largest first', impurityBars)}</figure>
</div>
<table id="importance-table"><thead><tr><th scope="col">Feature</th><th scope="col">Mean |SHAP| (points)</th><th scope="col">Impurity share</th></tr></thead><tbody>
${shapBars.map(
  (b) =>
    html`<tr><th scope="row">${b.label}</th><td>${formatNumber(b.value, 2)}</td><td>${formatNumber(impurity[b.label] ?? 0, 3)}</td></tr>`,
)}
</tbody></table>`;
}

export function modelPage(m: ModelView): SafeHtml {
  const metrics = [
    { label: 'Accuracy', value: m.metrics.accuracy },
    { label: 'Precision', value: m.metrics.precision },
    { label: 'Recall', value: m.metrics.recall },
    { label: 'F1', value: m.metrics.f1 },
    { label: 'ROC AUC', value: m.metrics.rocAuc },
  ];
  const importances = Object.entries(m.importances)
    .map(([label, value]) => ({ label, value }))
    .sort((a, b) => b.value - a.value);
  const cm = m.metrics.confusionMatrix;
  return layout(
    'Model',
    'model',
    html`<h1>The model</h1>
<dl class="facts">
<dt>Version</dt><dd><code>${m.version}</code></dd>
<dt>Trained</dt><dd>${m.createdAt}</dd>
<dt>Serving since</dt><dd>${m.loadedAt}</dd>
<dt>Dataset</dt><dd><code>${m.lineage.datasetId ?? 'unknown'}</code></dd>
<dt>Feature set</dt><dd><code>${m.lineage.featureSetVersion ?? 'unknown'}</code></dd>
<dt>Feature recipe</dt><dd>v${m.recipeVersion}</dd>
</dl>
${modelCardSections(m.card)}
<section aria-labelledby="metrics-heading">
<h2 id="metrics-heading">Quality on the held-out test split (${m.metrics.n} passengers)</h2>
${barChart('metrics-chart', 'Test metrics, from 0 to 1', metrics, { max: 1 })}
<table><thead><tr><th scope="col">Metric</th><th scope="col">Value</th></tr></thead><tbody>
${metrics.map((x) => html`<tr><th scope="row">${x.label}</th><td>${formatNumber(x.value, 3)}</td></tr>`)}
<tr><th scope="row">Brier score (lower is better)</th><td>${formatNumber(m.metrics.brier, 4)}</td></tr>
</tbody></table>
<p id="selection-summary">Accuracy ${formatNumber(m.metrics.accuracy, 3)}${m.metrics.accuracyInterval ? html`, 95% interval ${interval(m.metrics.accuracyInterval)}` : ''} on the test split;
ROC AUC ${formatNumber(m.metrics.rocAuc, 3)}; Brier ${formatNumber(m.metrics.brier, 4)}.
Chosen by ${m.cv.repeats > 1 ? html`${m.cv.repeats} x ` : ''}${m.cv.folds}-fold stratified cross-validation on the training split:
accuracy ${formatNumber(m.cv.mean, 3)} (sd ${formatNumber(m.cv.sd, 3)} over ${m.cv.folds * m.cv.repeats} folds).</p>
</section>
<section aria-labelledby="calibration-heading">
<h2 id="calibration-heading">Calibration</h2>
${
  m.metrics.calibration && m.metrics.calibration.length > 0
    ? html`${calibrationChart('calibration-chart', m.metrics.calibration)}
<table id="calibration-table"><thead><tr><th scope="col">Predicted probability</th><th scope="col">Passengers</th><th scope="col">Mean predicted</th><th scope="col">Share survived</th></tr></thead><tbody>
${m.metrics.calibration.map(
  (b) =>
    html`<tr><th scope="row">${formatNumber(b.lower, 1)}-${formatNumber(b.upper, 1)}</th><td>${b.n}</td><td>${formatNumber(b.predicted, 3)}</td><td>${formatNumber(b.observed, 3)}</td></tr>`,
)}
</tbody></table>`
    : html`<p id="calibration-missing">Not recorded for this model: its artifact was saved before training recorded calibration.</p>`
}
</section>
<section aria-labelledby="cm-heading">
<h2 id="cm-heading">Confusion matrix</h2>
${confusionMatrixChart('cm-chart', cm)}
<table><thead><tr><th scope="col"></th><th scope="col">Predicted died</th><th scope="col">Predicted survived</th></tr></thead><tbody>
<tr><th scope="row">Actually died</th><td>${cm.tn}</td><td>${cm.fp}</td></tr>
<tr><th scope="row">Actually survived</th><td>${cm.fn}</td><td>${cm.tp}</td></tr>
</tbody></table>
</section>
<section aria-labelledby="imp-heading">
<h2 id="imp-heading">Feature importances</h2>
${
  m.shapImportances
    ? globalImportance(m.importances, m.shapImportances, m.metrics.n)
    : html`<h3>Impurity (mean decrease in Gini impurity)</h3>
${barChart('importances-chart', 'Feature importances, largest first', importances)}
<p id="shap-missing">Mean |SHAP| over the test split is not available for this model: its artifact was saved before
training recorded it (artifact format 1 to 3).</p>`
}
</section>
<section aria-labelledby="window-heading">
<h2 id="window-heading">Recent requests</h2>
<p>Window of the last ${m.window.windowRows} scored passengers (${m.window.rowsSeen} since this model started serving):
<strong>${m.window.isDrift ? 'drift detected' : m.window.pValues ? 'no drift' : 'not evaluated yet'}</strong>.</p>
${
  m.window.pValues
    ? html`<table><thead><tr><th scope="col">Feature</th><th scope="col">p-value</th></tr></thead><tbody>${Object.entries(
        m.window.pValues,
      ).map(([k, p]) => html`<tr><th scope="row">${k}</th><td>${formatPValue(p)}</td></tr>`)}</tbody></table>`
    : ''
}
</section>
<section aria-labelledby="params-heading">
<h2 id="params-heading">Parameters</h2>
<dl class="facts">${Object.entries(m.params).map(([k, v]) => html`<dt>${k}</dt><dd>${paramText(k, v, Object.keys(m.importances))}</dd>`)}</dl>
</section>`,
  );
}

const interval = (i: [number, number]) => html`[${formatNumber(i[0], 3)}, ${formatNumber(i[1], 3)}]`;

/** The capped samples of the card and the tree cap, one fact each (nothing when no cap applied). */
function samplesFacts(card: ModelCard): SafeHtml {
  const s = card.trainingData.samples;
  const share = (x: { died: number; survived: number }) => `${x.died} died, ${x.survived} survived`;
  const validation = s?.validation as { maxRows?: number; died?: number; survived?: number; seed?: number } | undefined;
  return html`${s?.training ? html`<dt>Training sample</dt><dd>${s.training.maxRows} of ${s.training.datasetRows} rows (MAX_TRAINING_ROWS), stratified by outcome: ${share(s.training)}, seed ${s.training.seed}</dd>` : ''}
${s?.search ? html`<dt>Search sample</dt><dd>${s.search.maxRows} of ${s.search.trainRows} training rows (SEARCH_MAX_ROWS), stratified by outcome: ${share(s.search)}, seed ${s.search.seed}; the refit used all ${s.search.trainRows}</dd>` : ''}
${s?.shap ? html`<dt>SHAP sample</dt><dd>mean |SHAP| over ${s.shap.maxRows} of the ${s.shap.testRows} test rows (SHAP_MAX_ROWS), stratified by outcome, seed ${s.shap.seed}</dd>` : ''}
${validation ? html`<dt>Validation sample</dt><dd>${validation.maxRows ?? '?'} rows (VALIDATION_MAX_ROWS), stratified by outcome: ${share({ died: validation.died ?? 0, survived: validation.survived ?? 0 })}, seed ${validation.seed ?? '?'}</dd>` : ''}
${card.trainingData.treeCap ? html`<dt>Tree cap</dt><dd>${card.trainingData.treeCap.keptTrees} of the ${card.trainingData.treeCap.searchedTrees} trees the search chose: the refit's forest (${card.trainingData.treeCap.refitBytes} bytes) did not fit MODEL_MAX_BYTES, so the model keeps its first trees that fit</dd>` : ''}`;
}

function modelCardSections(card: ModelCard): SafeHtml {
  const v = card.trainingData.validation as { passed?: boolean; failed?: Array<Record<string, unknown>> } | string;
  const validation =
    typeof v === 'string'
      ? v
      : v.passed
        ? "passed every check against the previous model's training data"
        : `failed: ${(v.failed ?? []).map((c) => `${c.check}${c.feature ? ` ${c.feature}` : ''} ${c.value} > ${c.threshold}`).join('; ')}`;
  const c = card.metrics.comparison;
  const t = card.metrics.test;
  return html`<section aria-labelledby="card-heading">
<h2 id="card-heading">Model card</h2>
<p><strong>Intended use.</strong> ${card.intendedUse}</p>
<p><strong>Limitations.</strong></p>
<ul>${card.limitations.map((l) => html`<li>${l}</li>`)}</ul>
<h3>Training data</h3>
<dl class="facts">
<dt>Dataset</dt><dd><code>${card.trainingData.datasetId ?? 'unknown'}</code></dd>
<dt>Rows</dt><dd>${card.trainingData.rows ?? 'not recorded'}</dd>
<dt>Survived share</dt><dd>${card.trainingData.labelShare === null ? 'not recorded' : formatNumber(card.trainingData.labelShare, 3)}</dd>
<dt>Validation</dt><dd>${validation}</dd>
${samplesFacts(card)}
</dl>
<h3>Accuracy with 95% intervals</h3>
<table><thead><tr><th scope="col">Rows</th><th scope="col">Passengers</th><th scope="col">This model</th><th scope="col">Previous model</th></tr></thead><tbody>
<tr><th scope="row">Held-out test split</th><td>${t.rows}</td><td>${formatNumber(t.accuracy, 3)} ${interval(t.accuracyInterval)}</td><td>-</td></tr>
${
  c
    ? html`<tr><th scope="row">Comparison rows (neither model trained on them)</th><td>${c.rows}</td><td>${formatNumber(c.accuracy, 3)} ${interval(c.accuracyInterval)}</td><td>${formatNumber(c.championAccuracy, 3)} ${interval(c.championAccuracyInterval)} (<code>${c.championVersion ?? '?'}</code>), McNemar one-sided p=${formatNumber(c.pValue, 3)}</td></tr>`
    : html`<tr><th scope="row">Comparison rows</th><td colspan="3">none: no previous model to compare with</td></tr>`
}
</tbody></table>
</section>
<section aria-labelledby="promotion-heading">
<h2 id="promotion-heading">Promotion history</h2>
${
  card.history.length === 0
    ? html`<p>Not recorded (the pointer predates promotion records).</p>`
    : html`<table><thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Version</th><th scope="col">Replaced</th><th scope="col">By</th><th scope="col">Why</th></tr></thead><tbody>
${card.history.map(
  (h) =>
    html`<tr><td>${h.at}</td><td>${h.action}</td><td><code>${h.modelVersion}</code></td><td><code>${h.previousVersion ?? '-'}</code></td><td>${h.actor}</td><td>${h.reason}</td></tr>`,
)}
</tbody></table>`
}
</section>`;
}

/** The drift page: reference and recent-window histograms per feature (see drift-page.ts). */
export function driftPage(view: DriftPageView): SafeHtml {
  return layout('Drift', 'drift', driftPageBody(view));
}

export function messagePage(title: string, message: string): SafeHtml {
  return layout(title, null, html`<h1>${title}</h1><p>${message}</p><p><a href="/">Back to the form</a></p>`);
}
