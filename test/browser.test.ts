/**
 * The seed's demonstration, as a test in a real browser: fill the form, read the answer, then submit an
 * implausible passenger (Age 1000, Fare -500) a few times and watch `drift_count_total` rise on /metrics.
 * Headless Debian Chromium driven by playwright-core (no browser is ever downloaded); screenshots are saved
 * to test-artifacts/. A missing Chromium fails the test with the install command, it never skips.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp, tinyArtifact, titanicInstances } from './support/service.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(import.meta.dirname, '..', 'test-artifacts');

let t: TestApp;
let base: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium). This test never downloads a browser.`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await buildTestApp(await tinyArtifact());
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 20_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.app.close();
});

async function driftCount(page: Page): Promise<number> {
  const res = await page.request.get(`${base}/metrics`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith('drift_count_total '));
  if (!line) throw new Error('drift_count_total is not on /metrics');
  return Number(line.split(' ')[1]);
}

describe('the web page in headless Chromium', () => {
  it('predicts from the form, then shows drift for Age 1000 / Fare -500 and counts it on /metrics', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.setDefaultTimeout(10_000);

    await page.goto(`${base}/`);
    expect(await page.title()).toContain('Predict survival');
    // Every control is reachable by its label, as a screen reader user would find it.
    await page.getByLabel('Name').fill('Cumings, Mrs. John Bradley (Florence Briggs Thayer)');
    await page.getByLabel('Sex').selectOption('female');
    await page.getByLabel('Age (years)').fill('38');
    await page.getByLabel('Ticket class').selectOption('1');
    await page.getByLabel('Fare (pounds)').fill('71.28');
    await page.getByLabel('Siblings or spouses aboard').fill('1');
    await page.getByLabel('Parents or children aboard').fill('0');
    await page.getByLabel('Cabin').fill('C85');
    await page.getByLabel('Port of embarkation').selectOption('C');
    // Keyboard only: Enter in a text field submits the form.
    await page.getByLabel('Cabin').press('Enter');
    await page.waitForURL(`${base}/predict`);

    const verdict = await page.locator('#verdict').textContent();
    expect(verdict).toMatch(/^Likely (survived|did not survive)$/);
    const probability = Number((await page.locator('#probability').textContent())?.replace('%', ''));
    expect(probability).toBeGreaterThan(50); // a first-class woman: the model says she survived
    expect(await page.locator('#drift-verdict').textContent()).toBe('no drift');
    expect(await page.locator('table.features tbody tr').count()).toBe(11);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-prediction.png'), fullPage: true });

    const before = await driftCount(page);
    for (let i = 0; i < 3; i++) {
      await page.goto(`${base}/`);
      await page.getByLabel('Age (years)').fill('1000');
      await page.getByLabel('Fare (pounds)').fill('-500');
      await page.getByRole('button', { name: 'Predict survival' }).click();
      await page.waitForURL(`${base}/predict`);
      expect(await page.locator('#drift-verdict').textContent()).toBe('drift detected');
      expect(await page.locator('#drifted-features').textContent()).toMatch(/Age.*Fare/);
    }
    expect(await driftCount(page)).toBe(before + 3);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-drift.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('explains the answer with a sorted diverging bar chart and a sentence for each of the top three', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.setDefaultTimeout(10_000);
    await page.goto(`${base}/`);
    await page.getByLabel('Name').fill('Dawson, Mr. Jack');
    await page.getByLabel('Sex').selectOption('male');
    await page.getByLabel('Age (years)').fill('20');
    await page.getByLabel('Ticket class').selectOption('3');
    await page.getByLabel('Fare (pounds)').fill('7.25');
    await page.getByRole('button', { name: 'Predict survival' }).click();
    await page.waitForURL(`${base}/predict`);

    const reasons = await page.locator('#reasons li').allTextContents();
    expect(reasons).toHaveLength(3);
    for (const r of reasons)
      expect(r).toMatch(/ (raised|lowered) the chance by (less than one point|1 point|\d+ points)\.$/);
    expect(reasons.join(' ')).toMatch(/Being a man lowered the chance by \d+ points/);

    // The same passenger through the JSON API: the page's largest bar is the API's largest attribution
    const api = await page.request.post(`${base}/v1/explain`, {
      data: {
        PassengerId: 1,
        Pclass: 3,
        Name: 'Dawson, Mr. Jack',
        Sex: 'male',
        Age: 20,
        SibSp: 0,
        Parch: 0,
        Ticket: '',
        Fare: 7.25,
        Cabin: null,
        Embarked: 'S',
      },
    });
    const attribution = (await api.json()).explanations[0].attributions[0];
    const byApi = Object.entries(attribution.featureAttributions as Record<string, number>).sort(
      (a, b) => Math.abs(b[1]) - Math.abs(a[1]),
    );

    const chart = page.locator('svg#contributions-chart');
    expect(await chart.isVisible()).toBe(true);
    const bars = await page.evaluate<Array<{ label: string; up: boolean; x: number; width: number; fill: string }>>(
      `[...document.querySelectorAll('svg#contributions-chart g')].map((g) => {
        const rect = g.querySelector('rect');
        return {
          label: g.querySelector('text').textContent,
          up: g.classList.contains('contribution-up'),
          x: rect.x.baseVal.value,
          width: rect.width.baseVal.value,
          fill: getComputedStyle(rect).fill,
        };
      })`,
    );
    expect(bars).toHaveLength(11);
    expect(bars[0]?.label).toBe(byApi[0]?.[0]);
    // sorted by size, largest first
    for (let i = 1; i < bars.length; i++) expect(bars[i]!.width).toBeLessThanOrEqual(bars[i - 1]!.width);
    // diverging: raising bars start at the zero line, lowering bars end there, in two different colours
    const zero = Number(await chart.locator('line.chart-zero').getAttribute('x1'));
    const up = bars.filter((b) => b.up && b.width > 0);
    const down = bars.filter((b) => !b.up && b.width > 0);
    expect(up.length).toBeGreaterThan(0);
    expect(down.length).toBeGreaterThan(0);
    for (const b of up) expect(b.x).toBeCloseTo(zero, 1);
    for (const b of down) expect(b.x + b.width).toBeCloseTo(zero, 1);
    expect(new Set(up.map((b) => b.fill)).size).toBe(1);
    expect(new Set(down.map((b) => b.fill)).size).toBe(1);
    expect(up[0]?.fill).not.toBe(down[0]?.fill);

    // base value + contributions (rounded to 0.1 point on the page) = the probability shown
    const base0 = Number((await page.locator('#base-value').textContent())?.replace('%', ''));
    const shown = Number((await page.locator('#probability').textContent())?.replace('%', ''));
    const points = await page
      .locator('table.features tbody tr td:nth-child(3)')
      .allTextContents()
      .then((cells) => cells.map((c) => Number(c.replace('\u2212', '-'))));
    expect(Math.abs(base0 + points.reduce((a, b) => a + b, 0) - shown)).toBeLessThan(0.05 * 12 + 0.05);
    await chart.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-explanation.png'), fullPage: true });

    // the model page: mean |SHAP| over the test split beside the impurity importances
    await page.goto(`${base}/model`);
    expect(await page.locator('svg#shap-importances-chart').isVisible()).toBe(true);
    expect(await page.locator('svg#importances-chart').isVisible()).toBe(true);
    await page.locator('#imp-heading').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-model-importance.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('shows the drift page from the nav: reference beside window per feature, and a shift once it arrives', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.setDefaultTimeout(10_000);
    await page.goto(`${base}/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Drift' }).click();
    await page.waitForURL(`${base}/drift`);
    expect(await page.title()).toContain('Drift');
    expect(await page.locator('nav a[aria-current="page"]').textContent()).toBe('Drift');

    // Ordinary traffic fills the 200-row window (5 passengers per request, the most one request may add).
    const passengers = await titanicInstances(400);
    const send = (instances: Array<Record<string, unknown>>) =>
      page.request.post(`${base}/v1/predict`, { data: { instances } });
    for (let i = 0; i < 40; i++) expect((await send(passengers.slice(5 * i, 5 * i + 5))).ok()).toBe(true);
    await page.reload();
    expect(await page.locator('#window-verdict').textContent()).toBe('no drift');
    expect(await page.locator('svg.histogram').count()).toBe(11);
    for (const chart of await page.locator('svg.histogram').all()) {
      expect(await chart.locator('rect.hist-reference').count()).toBeGreaterThan(1);
      expect(await chart.locator('rect.hist-window').count()).toBeGreaterThan(1);
    }
    expect(await page.locator('#feature-age').textContent()).toMatch(/Kolmogorov-Smirnov.*Jensen-Shannon/s);
    expect(await page.locator('#feature-embarked').textContent()).toMatch(/chi-squared.*L-infinity/s);

    // Then everyone embarks at Queenstown.
    const queenstown = passengers.slice(200).map((p) => ({ ...p, Embarked: 'Q' }));
    for (let i = 0; i < 20; i++) expect((await send(queenstown.slice(5 * i, 5 * i + 5))).ok()).toBe(true);
    await page.reload();
    expect(await page.locator('#window-verdict').textContent()).toBe('drift detected');
    expect(await page.locator('#window-drifted').textContent()).toContain('Embarked');
    expect(await page.locator('#feature-embarked.drifted').count()).toBe(1);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(
      0,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-drift-page.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('shows a typing mistake next to its field, and fits a phone screen without sideways scrolling', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 740 }, isMobile: true });
    page.setDefaultTimeout(10_000);
    await page.goto(`${base}/`);
    await page.getByLabel('Age (years)').fill('forty');
    await page.getByRole('button', { name: 'Predict survival' }).click();
    await page.waitForURL(`${base}/predict`);
    const age = page.getByLabel('Age (years)');
    expect(await age.getAttribute('aria-invalid')).toBe('true');
    expect(await age.inputValue()).toBe('forty');
    expect(await page.locator('#age-error').textContent()).toContain('Age');
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-phone-error.png'), fullPage: true });

    await page.goto(`${base}/model`);
    expect(await page.locator('svg#importances-chart').isVisible()).toBe(true);
    expect(await page.locator('svg#shap-importances-chart').isVisible()).toBe(true);
    expect(await page.locator('#importance-comparison').textContent()).toMatch(/mean \|SHAP\| measures/);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(
      0,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-phone-model.png'), fullPage: true });
    await page.close();
  }, 40_000);
});
