/**
 * The drift page: for each feature, the training reference's distribution beside the recent window's as an SVG
 * histogram, with the test, the p-value against its threshold and the distance in a table next to it (the same
 * figures GET /v1/drift reports).
 */
import type { FeatureHistogram } from '../../shared/core/drift-distance.ts';
import { formatNumber, formatPValue, html, type SafeHtml } from './html.ts';

export interface DriftFeatureView {
  name: string;
  type: 'continuous' | 'categorical';
  test: 'ks' | 'chi2';
  statistic: number;
  pValue: number;
  threshold: number;
  drifted: boolean;
  distance: number;
  distanceKind: 'jensen-shannon' | 'l-infinity';
  histogram: FeatureHistogram;
}

export interface DriftPageView {
  modelVersion: string;
  isDrift: boolean;
  windowSize: number;
  windowRows: number;
  requestsSeen: number;
  evaluateEvery: number;
  ert: number;
  rowsPerRequest: number;
  correction: 'bonferroni' | 'fdr';
  driftedShare: number;
  drifted: string[];
  /** Null until the window has been evaluated once. */
  features: DriftFeatureView[] | null;
}

const TEST_NAMES = { ks: 'Kolmogorov-Smirnov', chi2: 'chi-squared' } as const;
const DISTANCE_NAMES = { 'jensen-shannon': 'Jensen-Shannon', 'l-infinity': 'L-infinity' } as const;

/** Reference and window shares side by side per bin (continuous) or per category (categorical). */
export function histogramChart(id: string, title: string, h: FeatureHistogram): SafeHtml {
  const groups = h.reference.length;
  const width = 360;
  const plotTop = 8;
  const plotHeight = 110;
  const left = 36;
  const plotWidth = width - left - 8;
  const height = plotTop + plotHeight + 34;
  const max = Math.max(Number.MIN_VALUE, ...h.reference, ...h.current);
  const groupWidth = plotWidth / groups;
  const barWidth = Math.max(1, (groupWidth - 2) / 2);
  const y = (share: number) => plotTop + plotHeight - (share / max) * plotHeight;
  const labels: SafeHtml[] =
    h.type === 'categorical'
      ? h.categories.map(
          (c, i) =>
            html`<text x="${formatNumber(left + (i + 0.5) * groupWidth, 1)}" y="${plotTop + plotHeight + 14}" text-anchor="middle" class="chart-label">${formatNumber(c, 2)}</text>`,
        )
      : [
          html`<text x="${left}" y="${plotTop + plotHeight + 14}" text-anchor="start" class="chart-label">${formatNumber(h.edges[0]!, 2)}</text>`,
          html`<text x="${left + plotWidth}" y="${plotTop + plotHeight + 14}" text-anchor="end" class="chart-label">${formatNumber(h.edges.at(-1)!, 2)}</text>`,
        ];
  return html`<svg class="chart histogram" id="${id}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${id}-title">
<title id="${id}-title">${title}</title>
<text x="${left - 4}" y="${plotTop + 10}" text-anchor="end" class="chart-label">${formatNumber(max * 100, 0)}%</text>
<line x1="${left}" y1="${plotTop + plotHeight}" x2="${left + plotWidth}" y2="${plotTop + plotHeight}" class="chart-zero"/>
${h.reference.map((share, i) => {
  const x = left + i * groupWidth + 1;
  const cur = h.current[i]!;
  return html`<rect x="${formatNumber(x, 2)}" y="${formatNumber(y(share), 2)}" width="${formatNumber(barWidth, 2)}" height="${formatNumber(plotTop + plotHeight - y(share), 2)}" class="hist-reference"/>
<rect x="${formatNumber(x + barWidth, 2)}" y="${formatNumber(y(cur), 2)}" width="${formatNumber(barWidth, 2)}" height="${formatNumber(plotTop + plotHeight - y(cur), 2)}" class="hist-window"/>`;
})}
${labels}
<rect x="${left}" y="${height - 12}" width="10" height="10" class="hist-reference"/><text x="${left + 14}" y="${height - 3}" class="chart-label">training reference</text>
<rect x="${left + 150}" y="${height - 12}" width="10" height="10" class="hist-window"/><text x="${left + 164}" y="${height - 3}" class="chart-label">recent window</text>
</svg>`;
}

function featureSection(f: DriftFeatureView): SafeHtml {
  const id = `feature-${f.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  const what = f.type === 'continuous' ? 'values, in equal-width bins' : 'categories';
  return html`<section class="drift-feature${f.drifted ? ' drifted' : ''}" id="${id}" aria-labelledby="${id}-heading">
<h3 id="${id}-heading">${f.name} <span class="feature-verdict">${f.drifted ? 'drifted' : 'no drift'}</span></h3>
${histogramChart(`${id}-chart`, `${f.name}: share of the training reference and of the recent window by ${what}`, f.histogram)}
<table class="drift-figures"><tbody>
<tr><th scope="row">Type</th><td>${f.type}</td></tr>
<tr><th scope="row">Test</th><td>${TEST_NAMES[f.test]}, statistic ${formatNumber(f.statistic, 4)}</td></tr>
<tr><th scope="row">p-value</th><td>${formatPValue(f.pValue)} (drift below ${formatPValue(f.threshold)})</td></tr>
<tr><th scope="row">Distance</th><td>${DISTANCE_NAMES[f.distanceKind]} ${formatNumber(f.distance, 4)}</td></tr>
</tbody></table>
</section>`;
}

export function driftPageBody(v: DriftPageView): SafeHtml {
  const verdict = v.features === null ? 'not evaluated yet' : v.isDrift ? 'drift detected' : 'no drift';
  return html`<h1>Input drift</h1>
<section class="drift ${v.isDrift ? 'drift-yes' : 'drift-no'}" aria-labelledby="window-verdict-heading">
<h2 id="window-verdict-heading">Recent requests: <span id="window-verdict">${verdict}</span></h2>
<p>Model <code>${v.modelVersion}</code>. The window holds the last ${v.windowSize} scored passengers (at most
${v.rowsPerRequest} from any one request) and is tested every ${v.evaluateEvery} requests against the training
reference: a Kolmogorov-Smirnov test for each continuous feature, a chi-squared test for each categorical one,
${v.correction === 'bonferroni' ? 'Bonferroni-corrected' : 'with a false-discovery-rate correction'}. The tests' level
is set so that traffic like the training data raises a false alarm about once every ${v.ert.toLocaleString('en-US')}
requests. ${v.requestsSeen} requests seen, ${v.windowRows} rows in the window.</p>
${
  v.features === null
    ? html`<p>The window is evaluated once it is full; come back after ${v.windowSize - v.windowRows} more passengers.</p>`
    : html`<p id="drift-share">${formatNumber(v.driftedShare * 100, 1)}% of the features drifted${
        v.drifted.length > 0 ? html`: <strong id="window-drifted">${v.drifted.join(', ')}</strong>` : ''
      }.</p>`
}
</section>
${
  v.features === null
    ? ''
    : html`<section aria-labelledby="features-drift-heading">
<h2 id="features-drift-heading">Each feature, training reference against the recent window</h2>
<div class="drift-features">${v.features.map(featureSection)}</div>
</section>`
}`;
}
