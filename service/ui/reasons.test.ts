import { describe, expect, it } from 'vitest';
import { DEFAULT_FORM } from './form.ts';
import { compareImportances, describeFeature, effectOf, topReasons } from './reasons.ts';

describe('the sentences of the result page', () => {
  it('say which way and by how many points, rounding to whole points', () => {
    expect(effectOf(-0.2449)).toBe('lowered the chance by 24 points');
    expect(effectOf(0.013)).toBe('raised the chance by 1 point');
    expect(effectOf(-0.004)).toBe('lowered the chance by less than one point');
  });

  it('take the three largest contributions by size, whatever their sign, largest first', () => {
    const names = ['Pclass', 'Sex', 'Age', 'Fare'];
    const reasons = topReasons(names, [3, 0, 20, 7.25], [-0.05, -0.24, 0.1, 0.01], DEFAULT_FORM);
    expect(reasons).toEqual([
      'Being a man lowered the chance by 24 points.',
      'Being 20 years old raised the chance by 10 points.',
      'Travelling in 3rd class lowered the chance by 5 points.',
    ]);
  });

  it('describe what was typed: an empty age is "no recorded age", the title comes from the name', () => {
    const form = { ...DEFAULT_FORM, age: '', name: 'Ryerson, Master. John Borie' };
    expect(describeFeature('Age', 28, form)).toBe('Having no recorded age (taken as 28)');
    expect(describeFeature('Title', 3, form)).toBe('The title "Master"');
    expect(describeFeature('Sex', 1, { ...form, sex: 'female' })).toBe('Being a woman');
    expect(describeFeature('Deck', 3, { ...form, cabin: 'c85' })).toBe('Having a cabin on deck C');
    expect(describeFeature('TicketSize', 1, form)).toBe('Holding a ticket no other known passenger shares');
    expect(describeFeature('TicketSize', 4, form)).toBe('A ticket shared by 4 passengers');
    // a feature this page has no words for still gets a truthful sentence
    expect(describeFeature('Shoe_Size', 44, form)).toBe('Shoe_Size = 44');
  });
});

describe('the comparison of global importances', () => {
  it('names the first feature of each ranking and the feature they disagree on most', () => {
    const impurity = { Age_Fare: 0.3, Sex: 0.25, Fare: 0.2, Pclass: 0.15, Isalone: 0.1 };
    const shap = { Sex: 0.2, Pclass: 0.08, Age_Fare: 0.005, Fare: 0.04, Isalone: 0.01 };
    const text = compareImportances(impurity, shap);
    expect(text).toContain('Impurity puts Age_Fare first, SHAP puts Sex first.');
    expect(text).toContain('They disagree most on Age_Fare: 1st by impurity, 5th by SHAP.');
    expect(compareImportances({ A: 2, B: 1 }, { A: 0.2, B: 0.1 })).toMatch(
      /Both put A first\. They rank every feature the same\.$/,
    );
  });
});
