import { describe, expect, it } from 'vitest';
import { escapeHtml, formatPValue, html } from './html.ts';

describe('html templates', () => {
  it('escapes every interpolated value', () => {
    expect(html`<p title="${'"><x>'}">${"<b>Tom & 'Jerry'</b>"}</p>`.toString()).toBe(
      '<p title="&quot;&gt;&lt;x&gt;">&lt;b&gt;Tom &amp; &#39;Jerry&#39;&lt;/b&gt;</p>',
    );
  });

  it('composes nested templates and arrays without escaping them twice', () => {
    const items = ['a<', 'b&'].map((x) => html`<li>${x}</li>`);
    expect(html`<ul>${items}</ul>`.toString()).toBe('<ul><li>a&lt;</li><li>b&amp;</li></ul>');
  });

  it('renders null, undefined and false as nothing', () => {
    expect(html`[${null}${undefined}${false}]`.toString()).toBe('[]');
  });

  it('escapes backticks too', () => {
    expect(escapeHtml('`')).toBe('&#96;');
  });

  it('formats p-values across orders of magnitude', () => {
    expect(formatPValue(0.5)).toBe('0.500');
    expect(formatPValue(0.00001234)).toBe('1.2e-5');
    expect(formatPValue(0)).toBe('0');
  });
});
