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
import { buildTestApp, type TestApp, tinyArtifact } from './support/service.ts';

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
    expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(
      0,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-phone-model.png'), fullPage: true });
    await page.close();
  }, 40_000);
});
