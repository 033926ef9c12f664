/**
 * Inline SVG charts (no script, no external library): they scale with the viewport through `viewBox`, carry a
 * <title> for screen readers, and every chart on a page sits next to a table with the same numbers.
 */

import { predictedLabel } from '../../shared/core/evaluation.ts';
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
