import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROMOTION_REASON_CODES } from './core/promotion.ts';
import { ERROR_CATALOGUE } from './errors.ts';

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const documented = [...docs.matchAll(/^## ([A-Z_]+)\s*$/gm)].map((m) => m[1]);

describe('docs/errors.md', () => {
  it('has a section for every code in the error catalogue', () => {
    const missing = Object.keys(ERROR_CATALOGUE).filter((code) => !documented.includes(code));
    expect(missing).toEqual([]);
  });

  it('documents no code that the catalogue does not have', () => {
    expect(documented.filter((code) => !((code as string) in ERROR_CATALOGUE))).toEqual([]);
  });

  it('states the HTTP status of each code at the start of its section', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      const section = docs.split(`## ${code}\n`)[1] ?? '';
      expect(section.trimStart().startsWith(String(entry.status)), code).toBe(true);
    }
  });

  it('has a section for every promotion reason code, and no other', () => {
    const reasons = [...docs.matchAll(/^### ([A-Z_]+)\s*$/gm)].map((m) => m[1]);
    expect([...reasons].sort()).toEqual([...PROMOTION_REASON_CODES].sort());
  });
});
