/**
 * Inline SVG charts (no script, no external library): they scale with the viewport through `viewBox`, carry a
 * <title> for screen readers, and every chart on a page sits next to a table with the same numbers.
 */

import { type CalibrationBin, predictedLabel } from '../../shared/core/evaluation.ts';
import { formatNumber, html, type SafeHtml } from './html.ts';

export interface Bar {
  label: string;
  value: number;
}

/** Horizontal bars, one per item, scaled to `max` (default: the largest value). */
export function barChart(id: string, title: string, bars: readonly Bar[], opts: { max?: number } = {}): SafeHtml {
  const max = opts.max ?? Math.max(Number.MIN_VALUE, ...bars.map((b) => b.value));
  const rowHeight = 26;
  const labelWidth = 120;
  const barWidth = 220;
  const height = bars.length * rowHeight + 8;
  return html`<svg class="chart" id="${id}" viewBox="0 0 ${labelWidth + barWidth + 60} ${height}" role="img" aria-labelledby="${id}-title">
<title id="${id}-title">${title}</title>
${bars.map((b, i) => {
  const y = 4 + i * rowHeight;
  const w = Math.max(0, Math.min(1, b.value / max)) * barWidth;
  return html`<g><text x="${labelWidth - 8}" y="${y + 17}" text-anchor="end" class="chart-label">${b.label}</text>
<rect x="${labelWidth}" y="${y + 4}" width="${barWidth}" height="16" class="chart-track"/>
<rect x="${labelWidth}" y="${y + 4}" width="${formatNumber(w, 1)}" height="16" class="chart-bar"/>
<text x="${labelWidth + barWidth + 6}" y="${y + 17}" class="chart-value">${formatNumber(b.value, 3)}</text></g>`;
})}
</svg>`;
}

/** A 2x2 confusion matrix; cell shade grows with the count. */
export function confusionMatrixChart(id: string, cm: { tn: number; fp: number; fn: number; tp: number }): SafeHtml {
  const max = Math.max(1, cm.tn, cm.fp, cm.fn, cm.tp);
  const cells: Array<{ x: number; y: number; n: number; name: string; correct: boolean }> = [
    { x: 0, y: 0, n: cm.tn, name: 'true negatives', correct: true },
    { x: 1, y: 0, n: cm.fp, name: 'false positives', correct: false },
    { x: 0, y: 1, n: cm.fn, name: 'false negatives', correct: false },
    { x: 1, y: 1, n: cm.tp, name: 'true positives', correct: true },
  ];
  const size = 90;
  const left = 110;
  const top = 40;
  return html`<svg class="chart chart-cm" id="${id}" viewBox="0 0 ${left + 2 * size + 10} ${top + 2 * size + 10}" role="img" aria-labelledby="${id}-title">
<title id="${id}-title">Confusion matrix on the test split: ${cm.tn} true negatives, ${cm.fp} false positives, ${cm.fn} false negatives, ${cm.tp} true positives</title>
<text x="${left + size}" y="14" text-anchor="middle" class="chart-label">predicted</text>
<text x="${left + size / 2}" y="32" text-anchor="middle" class="chart-label">died</text>
<text x="${left + size * 1.5}" y="32" text-anchor="middle" class="chart-label">survived</text>
<text x="${left - 8}" y="${top + size / 2 + 5}" text-anchor="end" class="chart-label">actual died</text>
<text x="${left - 8}" y="${top + size * 1.5 + 5}" text-anchor="end" class="chart-label">actual survived</text>
${cells.map(
  (c) => html`<rect x="${left + c.x * size}" y="${top + c.y * size}" width="${size - 4}" height="${size - 4}" rx="4"
 class="${c.correct ? 'cm-correct' : 'cm-wrong'}" fill-opacity="${formatNumber(0.15 + 0.85 * (c.n / max), 2)}"><title>${c.name}: ${c.n}</title></rect>
<text x="${left + c.x * size + (size - 4) / 2}" y="${top + c.y * size + size / 2 + 4}" text-anchor="middle" class="cm-count">${c.n}</text>`,
)}
</svg>`;
}

/** The survival probability as a bar from 0 to 100 %. */
export function probabilityBar(probability: number): SafeHtml {
  const pct = Math.round(probability * 1000) / 10;
  return html`<svg class="probability" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="Survival probability ${pct} percent">
<rect x="0" y="0" width="100" height="10" class="probability-track"/>
<rect x="0" y="0" width="${pct}" height="10" class="${predictedLabel(probability) === 1 ? 'probability-yes' : 'probability-no'}"/>
<line x1="50" y1="0" x2="50" y2="10" class="probability-mid"/>
</svg>`;
}

export interface Contribution {
  label: string;
  /** Signed contribution, in probability units (0.24 = 24 points). */
  value: number;
}

/**
 * A diverging bar chart of contributions around a zero line: bars that raise the chance go right (one colour),
 * bars that lower it go left (the other), sorted by size, largest first. Values are printed in points.
 */
export function contributionChart(id: string, title: string, items: readonly Contribution[]): SafeHtml {
  const sorted = [...items].sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
  const max = Math.max(Number.MIN_VALUE, ...sorted.map((c) => Math.abs(c.value)));
  const rowHeight = 24;
  const labelWidth = 130;
  const half = 150;
  const zero = labelWidth + 50 + half;
  const width = zero + half + 50;
  const height = sorted.length * rowHeight + 28;
  return html`<svg class="chart chart-diverging" id="${id}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${id}-title">
<title id="${id}-title">${title}</title>
<text x="${zero - 6}" y="12" text-anchor="end" class="chart-label">lowers the chance</text>
<text x="${zero + 6}" y="12" class="chart-label">raises the chance</text>
<line x1="${zero}" y1="16" x2="${zero}" y2="${height}" class="chart-zero"/>
${sorted.map((c, i) => {
  const y = 20 + i * rowHeight;
  const w = (Math.abs(c.value) / max) * half;
  const up = c.value > 0;
  const x = up ? zero : zero - w;
  const points = c.value * 100;
  const text = `${points > 0 ? '+' : points < 0 ? '\u2212' : ''}${formatNumber(Math.abs(points), 1)}`;
  return html`<g class="${up ? 'contribution-up' : 'contribution-down'}"><text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" class="chart-label">${c.label}</text>
<rect x="${formatNumber(x, 1)}" y="${y + 3}" width="${formatNumber(w, 1)}" height="16" class="${up ? 'bar-up' : 'bar-down'}"><title>${c.label}: ${text} points</title></rect>
<text x="${formatNumber(up ? zero + w + 4 : zero - w - 4, 1)}" y="${y + 15}" text-anchor="${up ? 'start' : 'end'}" class="chart-value">${text}</text></g>`;
})}
</svg>`;
}

/**
 * Reliability (calibration) chart: each bin of predicted probability as a point at (mean predicted, share that
 * survived), its area growing with the bin's row count, against the diagonal of perfect calibration.
 */
export function calibrationChart(id: string, bins: readonly CalibrationBin[]): SafeHtml {
  const size = 240;
  const left = 44;
  const top = 12;
  const x = (p: number) => left + p * size;
  const y = (p: number) => top + (1 - p) * size;
  const most = Math.max(1, ...bins.map((b) => b.n));
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const path = bins.map(
    (b, i) => `${i === 0 ? 'M' : 'L'}${formatNumber(x(b.predicted), 1)},${formatNumber(y(b.observed), 1)}`,
  );
  return html`<svg class="chart chart-calibration" id="${id}" viewBox="0 0 ${left + size + 16} ${top + size + 40}" role="img" aria-labelledby="${id}-title">
<title id="${id}-title">Calibration on the test split: for each bin of predicted probability, the share of its passengers who survived (${bins.length} bins)</title>
<rect x="${left}" y="${top}" width="${size}" height="${size}" class="chart-track"/>
${ticks.map(
  (
    t,
  ) => html`<text x="${left - 6}" y="${formatNumber(y(t) + 4, 1)}" text-anchor="end" class="chart-value">${formatNumber(t, 2)}</text>
<text x="${formatNumber(x(t), 1)}" y="${top + size + 16}" text-anchor="middle" class="chart-value">${formatNumber(t, 2)}</text>`,
)}
<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" class="calibration-diagonal" stroke="currentColor" stroke-dasharray="4 4" stroke-opacity="0.5"/>
${bins.length > 1 ? html`<path d="${path.join(' ')}" class="calibration-line" fill="none" stroke="currentColor"/>` : ''}
${bins.map(
  (b) =>
    html`<circle cx="${formatNumber(x(b.predicted), 1)}" cy="${formatNumber(y(b.observed), 1)}" r="${formatNumber(3 + 5 * Math.sqrt(b.n / most), 1)}" class="chart-bar"><title>predicted ${formatNumber(b.predicted, 3)}, survived ${formatNumber(b.observed, 3)}, ${b.n} passengers</title></circle>`,
)}
<text x="${left + size / 2}" y="${top + size + 34}" text-anchor="middle" class="chart-label">mean predicted probability</text>
</svg>`;
}
