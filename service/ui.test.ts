import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifact } from '../shared/core/artifact.ts';
import { FEATURE_NAMES } from '../shared/core/schema.ts';
import { type TestApp, tinyArtifact } from '../test/support/service.ts';
import { testAppsClosedAfterEach } from '../test/support/service-apps.ts';
import { DEFAULT_FORM, type FormValues } from './ui/form.ts';

let artifact: ModelArtifact;

beforeAll(async () => {
  artifact = await tinyArtifact();
});

const buildApp = testAppsClosedAfterEach();
const testApp = (withModel = true): Promise<TestApp> => buildApp(withModel ? artifact : null);

const submit = (t: TestApp, values: Partial<FormValues>) =>
  t.app.inject({
    method: 'POST',
    url: '/predict',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ ...DEFAULT_FORM, ...values }).toString(),
  });

const metric = async (t: TestApp, name: string) =>
  Number(
    (await t.app.inject({ method: 'GET', url: '/metrics' })).body
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.split(' ')[1],
  );

describe('GET /', () => {
  it('renders the form with a label for every field, sensible defaults and input hints', async () => {
    const t = await testApp();
    const res = await t.app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    const page = res.body;
    expect(page).toContain('<form method="post" action="/predict"');
    for (const field of Object.keys(DEFAULT_FORM)) {
      expect(page).toContain(`<label for="${field}">`);
      expect(page).toMatch(new RegExp(`id="${field}" name="${field}"`));
      expect(page).toContain(`id="${field}-hint"`);
    }
    expect(page).toContain('value="Dawson, Mr. Jack"');
    expect(page).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(page).toContain('<html lang="en">');
  });

  it('works offline: no script, nothing loaded from another origin, a strict content security policy', async () => {
    const t = await testApp();
    const res = await t.app.inject({ method: 'GET', url: '/' });
    expect(res.body).not.toMatch(/<script/i);
    expect(res.body).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    const css = await t.app.inject({ method: 'GET', url: '/static/style.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toContain('text/css');
    expect(css.body).toContain(':focus-visible');
  });

  it('says so when no model is loaded yet', async () => {
    const t = await testApp(false);
    const res = await t.app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('No model is loaded yet');
  });
});

describe('POST /predict (the form)', () => {
  it('shows the answer: the verdict, the probability as a bar, the drift verdict and the features the model saw', async () => {
    const t = await testApp();
    const res = await submit(t, {
      name: 'Cumings, Mrs. John Bradley',
      sex: 'female',
      pclass: '1',
      fare: '71.28',
      age: '38',
      sibsp: '1',
      cabin: 'C85',
      embarked: 'C',
    });
    expect(res.statusCode).toBe(200);
    const page = res.body;
    expect(page).toMatch(/<span id="verdict">Likely (survived|did not survive)<\/span>/);
    const pct = Number(/<strong id="probability">([\d.]+)%<\/strong>/.exec(page)?.[1]);
    expect(pct).toBeGreaterThanOrEqual(0);
    expect(pct).toBeLessThanOrEqual(100);
    expect(page).toContain(`aria-label="Survival probability ${pct} percent"`);
    expect(page).toContain('<span id="drift-verdict">no drift</span>');
    for (const name of FEATURE_NAMES) expect(page).toContain(`<th scope="row">${name}</th>`);
    expect(page).toContain('<th scope="row">HasCabin</th><td>1</td>');
    expect(page).toContain('<th scope="row">Title</th><td>2</td>'); // Mrs
    expect(await metric(t, 'prediction_count_total')).toBe(1);
  });

  it("keeps the seed's drift demonstration: Age 1000 and Fare -500 are scored and shown as drift", async () => {
    const t = await testApp();
    const res = await submit(t, { age: '1000', fare: '-500' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<span id="drift-verdict">drift detected</span>');
    const drifted = /<strong id="drifted-features">([^<]+)<\/strong>/.exec(res.body)?.[1] ?? '';
    expect(drifted.split(', ')).toEqual(expect.arrayContaining(['Age', 'Fare']));
    expect(res.body).toContain('<th scope="row">Fare</th><td>-500</td>');
    expect(await metric(t, 'drift_count_total')).toBe(1);
  });

  it('shows a bad value next to its field, keeps what was typed, and answers 400', async () => {
    const t = await testApp();
    const res = await submit(t, { age: 'forty', name: 'Kelly, Mr. James' });
    expect(res.statusCode).toBe(400);
    const page = res.body;
    expect(page).toContain('<p class="error" id="age-error">');
    expect(page).toMatch(
      /id="age" name="age" type="text" value="forty" aria-describedby="age-hint age-error" aria-invalid="true"/,
    );
    expect(page).toContain('value="Kelly, Mr. James"');
    expect(page).toContain('<a href="#age">');
    expect(page).not.toContain('"error":');
    expect(await metric(t, 'prediction_count_total')).toBe(0);
  });

  it.each([
    ['sex', { sex: 'unknown' }],
    ['pclass', { pclass: '4' }],
    ['sibsp', { sibsp: '1.5' }],
    ['name', { name: '  ' }],
  ])('puts the error for %s next to that field', async (field, values) => {
    const t = await testApp();
    const res = await submit(t, values);
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain(`id="${field}-error"`);
  });

  it('escapes what the user typed everywhere it is shown', async () => {
    const t = await testApp();
    const res = await submit(t, { name: '<script>alert(1)</script>, Mr. "X"' });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('<script>alert(1)</script>');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;, Mr. &quot;X&quot;');
  });

  it('answers an HTML page, not JSON, when no model is loaded', async () => {
    const t = await testApp(false);
    const res = await submit(t, {});
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('no model is loaded yet');
  });
});

describe('GET /model', () => {
  it('shows metrics, the confusion matrix and the importances as inline SVG charts with tables', async () => {
    const t = await testApp();
    const res = await t.app.inject({ method: 'GET', url: '/model' });
    expect(res.statusCode).toBe(200);
    const page = res.body;
    for (const id of ['metrics-chart', 'cm-chart', 'importances-chart']) {
      expect(page).toMatch(
        new RegExp(`<svg class="chart[^"]*" id="${id}"[^>]*role="img" aria-labelledby="${id}-title"`),
      );
    }
    const cm = artifact.metrics.confusionMatrix;
    expect(page).toContain(`<tr><th scope="row">Actually died</th><td>${cm.tn}</td><td>${cm.fp}</td></tr>`);
    expect(page).toContain(`${cm.tp} true positives`);
    for (const name of FEATURE_NAMES) expect(page).toContain(`class="chart-label">${name}</text>`);
    expect(page).toContain('<code>tiny-1</code>');
  });

  it('shows how the model was selected, the test accuracy with its interval, ROC AUC, Brier and a calibration chart', async () => {
    const t = await testApp();
    const page = (await t.app.inject({ method: 'GET', url: '/model' })).body;
    const m = artifact.metrics;
    const [low, high] = m.accuracyInterval!;
    expect(page).toContain(`95% interval [${low.toFixed(3)}, ${high.toFixed(3)}]`);
    expect(page).toContain(`Brier ${m.brier.toFixed(4)}`);
    expect(page).toContain(`ROC AUC ${m.rocAuc.toFixed(3)}`);
    expect(page).toContain(`accuracy ${artifact.search.cvMean.toFixed(3)} (sd ${artifact.search.cvSd.toFixed(3)}`);
    expect(page).toMatch(/<svg class="chart chart-calibration" id="calibration-chart"[^>]*role="img"/);
    // one point per non-empty bin, and the table beside it
    const bins = m.calibration!;
    expect(bins.reduce((n, b) => n + b.n, 0)).toBe(m.n);
    const chart = page.slice(
      page.indexOf('id="calibration-chart"'),
      page.indexOf('</svg>', page.indexOf('id="calibration-chart"')),
    );
    expect(chart.match(/<circle /g)).toHaveLength(bins.length);
    const table = page.slice(
      page.indexOf('id="calibration-table"'),
      page.indexOf('</table>', page.indexOf('id="calibration-table"')),
    );
    expect(table.match(/<tr><th scope="row">/g)).toHaveLength(bins.length);
    const api = (await t.app.inject({ method: 'GET', url: '/v1/model' })).json();
    expect(api.selection).toEqual({
      folds: artifact.search.folds,
      repeats: artifact.search.repeats,
      mean: artifact.search.cvMean,
      sd: artifact.search.cvSd,
    });
    expect(api.metrics.accuracyInterval).toEqual([low, high]);
    expect(api.metrics.brier).toBe(m.brier);
  });

  it('answers a 503 page while no model is loaded', async () => {
    const t = await testApp(false);
    const res = await t.app.inject({ method: 'GET', url: '/model' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('No model yet');
  });
});

describe('pages for browsers', () => {
  it('answers an HTML 404 page to a browser asking for an unknown page', async () => {
    const t = await testApp();
    const res = await t.app.inject({ method: 'GET', url: '/nope', headers: { accept: 'text/html' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('Page not found');
  });
});
