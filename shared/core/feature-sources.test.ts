import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { byField, declareSources, PASSENGER_FIELDS, RECIPE_SOURCES, sourcesOf } from './feature-sources.ts';
import { FEATURE_NAMES, RECIPE_FEATURES } from './schema.ts';

describe('feature sources', () => {
  it('names a raw passenger field for every feature of every recipe, and never the label or the id', () => {
    for (const table of Object.values(RECIPE_SOURCES)) {
      for (const [name, fields] of Object.entries(table)) {
        expect(fields.length, name).toBeGreaterThan(0);
        for (const field of fields) expect(PASSENGER_FIELDS).toContain(field);
      }
    }
    expect(PASSENGER_FIELDS).not.toContain('Survived');
    expect(PASSENGER_FIELDS).not.toContain('PassengerId');
    expect(Object.keys(declareSources(1, FEATURE_NAMES))).toEqual([...FEATURE_NAMES]);
  });

  it('covers exactly the features of every recipe version, so every artifact a build writes declares its sources', () => {
    for (const [version, names] of Object.entries(RECIPE_FEATURES)) {
      expect(Object.keys(RECIPE_SOURCES[Number(version)] ?? {}).sort(), `recipe v${version}`).toEqual(
        [...names].sort(),
      );
      const declared = declareSources(Number(version), names);
      for (const name of names) expect(declared[name]?.length, name).toBeGreaterThan(0);
    }
  });

  it("prefers the artifact's own declaration to the table of its recipe version", () => {
    expect(sourcesOf(1, ['Title'])).toEqual([['Name']]);
    expect(sourcesOf(2, ['Title'])).toEqual([['Name', 'Sex']]);
    expect(sourcesOf(1, ['Title'], { Title: ['Name', 'Sex'] })).toEqual([['Name', 'Sex']]);
  });

  it('rejects a feature with no source, naming it', () => {
    let caught: unknown;
    try {
      sourcesOf(1, ['Pclass', 'Shoe_Size']);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).message).toMatch(/feature Shoe_Size has no raw passenger field/);
    expect(() => sourcesOf(1, ['Pclass'], { Pclass: [] })).toThrow(/feature Pclass has no raw passenger field/);
  });

  it('splits a feature evenly between its fields, so the fields add up to the features', () => {
    const sources = sourcesOf(1, FEATURE_NAMES);
    const contributions = FEATURE_NAMES.map((_, j) => (j + 1) / 100);
    const fields = byField(contributions, sources);
    const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(Math.abs(total(fields.map(([, v]) => v)) - total(contributions))).toBeLessThan(1e-15);
    const map = new Map(fields);
    // Pclass: its own 0.01 plus half of Pclass_Fare (0.10)
    expect(map.get('Pclass')).toBeCloseTo(0.01 + 0.1 / 2, 15);
    // SibSp and Parch share Familysize (0.06) and Isalone (0.07)
    expect(map.get('SibSp')).toBeCloseTo((0.06 + 0.07) / 2, 15);
    expect(map.has('Ticket')).toBe(false);
    expect(fields.map(([f]) => f)).toEqual([
      'Pclass',
      'Name',
      'Sex',
      'Age',
      'SibSp',
      'Parch',
      'Fare',
      'Cabin',
      'Embarked',
    ]);
  });
});
