import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readPassengerCsv } from './csv-stream.ts';
import {
  excludeMembers,
  extractTitle,
  type FeatureRecipeV2,
  featurize,
  fitRecipe,
  type GroupTable,
  groupKeys,
  median,
  transform,
} from './features.ts';
import { createRng } from './rng.ts';
import { FEATURE_NAMES, type LabelledPassenger, type Passenger } from './schema.ts';

const { rows } = await readPassengerCsv(readFileSync(new URL('../../data/titanic.csv', import.meta.url)), {
  requireSurvived: true,
});
const titanic: Passenger[] = rows.map((r) => r.passenger);
const byId = (id: number): Passenger => {
  const found = titanic.find((p) => p.passengerId === id);
  if (!found) throw new Error(`no passenger ${id}`);
  return found;
};

const passenger = (overrides: Partial<Passenger>): Passenger => ({
  passengerId: 1,
  pclass: 3,
  name: 'Doe, Mr. John',
  sex: 'male',
  age: 30,
  sibSp: 0,
  parch: 0,
  ticket: 'T',
  fare: 10,
  cabin: null,
  embarked: 'S',
  ...overrides,
});

describe('fitRecipe', () => {
  it('learns Age median 28, Fare median 14.4542 and Embarked mode S from all 891 Titanic rows', () => {
    // Checked with Python's statistics.median over the non-empty values (714 ages, 891 fares) and a Counter of
    // Embarked (S 644, C 168, Q 77, empty 2).
    const recipe = fitRecipe(titanic);
    expect(recipe.fills).toEqual({ age: 28, fare: 14.4542, embarked: 'S' });
    expect(recipe.version).toBe(1);
    expect(recipe.featureNames).toEqual([...FEATURE_NAMES]);
    expect(recipe.encoders).toEqual({
      sex: { male: 0, female: 1 },
      embarked: { C: 0, Q: 1, S: 2 },
      title: { Mr: 0, Miss: 1, Mrs: 2, Master: 3 },
      titleOther: 4,
    });
  });

  it('uses only the rows it is given: rows left out never move the fills', () => {
    const training = [
      passenger({ age: 10, fare: 1, embarked: 'Q' }),
      passenger({ age: 20, fare: 3, embarked: 'Q' }),
      passenger({ age: 40, fare: 2, embarked: 'C' }),
    ];
    const recipe = fitRecipe(training);
    expect(recipe.fills).toEqual({ age: 20, fare: 2, embarked: 'Q' });
    // Passengers the recipe never saw get the training fills, whatever their own data says.
    const unseen = passenger({ age: null, fare: null, embarked: null });
    expect(featurize(recipe, unseen).slice(2, 5)).toEqual([20, 2, 1]);
    expect(fitRecipe([...training, passenger({ age: 90, fare: 500, embarked: 'S' })]).fills).toEqual({
      age: 30,
      fare: 2.5,
      embarked: 'Q',
    });
  });

  it('takes the mean of the two middle values for an even count, like numpy and pandas', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([0.42, 0.83, 80, 1])).toBeCloseTo(0.915, 12);
  });

  it('ignores missing values when learning fills', () => {
    const recipe = fitRecipe([
      passenger({ age: null, fare: 5, embarked: null }),
      passenger({ age: 3, fare: null, embarked: 'C' }),
    ]);
    expect(recipe.fills).toEqual({ age: 3, fare: 5, embarked: 'C' });
  });

  it('breaks an Embarked tie alphabetically, like pandas mode()[0]', () => {
    const ports = (list: Array<'C' | 'Q' | 'S'>) => list.map((embarked) => passenger({ embarked }));
    expect(fitRecipe(ports(['S', 'Q', 'S', 'Q'])).fills.embarked).toBe('Q');
    expect(fitRecipe(ports(['S', 'C', 'Q'])).fills.embarked).toBe('C');
    expect(fitRecipe(ports(['S', 'S', 'C', 'Q'])).fills.embarked).toBe('S');
  });

  it('throws TRAINING_DATA_UNUSABLE naming the column it cannot learn a fill for', () => {
    expect(() => fitRecipe([])).toThrowError(
      expect.objectContaining({
        code: 'TRAINING_DATA_UNUSABLE',
        message: 'cannot fit the feature recipe on zero rows',
      }),
    );
    expect(() => fitRecipe([passenger({ age: null, embarked: null })])).toThrowError(
      expect.objectContaining({
        code: 'TRAINING_DATA_UNUSABLE',
        message: 'cannot fit the feature recipe: no training row has a value for Age, Embarked',
        details: { rows: 1, missing: ['Age', 'Embarked'] },
      }),
    );
  });
});

describe('featurize (recipe v1) against hand-checked Titanic rows', () => {
  const recipe = fitRecipe(titanic); // fills: Age 28, Fare 14.4542, Embarked S
  // Pclass, Sex, Age, Fare, Embarked, Familysize, Isalone, HasCabin, Title, Pclass_Fare, Age_Fare
  const table: Array<[string, Passenger, number[]]> = [
    ['1 Braund, Mr. Owen Harris', byId(1), [3, 0, 22, 7.25, 2, 2, 0, 0, 0, 21.75, 159.5]],
    [
      '2 Cumings, Mrs. John Bradley (cabin C85, port C)',
      byId(2),
      [1, 1, 38, 71.2833, 0, 2, 0, 1, 2, 71.2833, 2708.7654],
    ],
    ['3 Heikkinen, Miss. Laina (alone)', byId(3), [3, 1, 26, 7.925, 2, 1, 1, 0, 1, 23.775, 206.05]],
    ['6 Moran, Mr. James (no Age: filled with 28)', byId(6), [3, 0, 28, 8.4583, 1, 1, 1, 0, 0, 25.3749, 236.8324]],
    ['8 Palsson, Master. Gosta Leonard', byId(8), [3, 0, 2, 21.075, 2, 5, 0, 0, 3, 63.225, 42.15]],
    ['31 Uruchurtu, Don. Manuel E (title other)', byId(31), [1, 0, 40, 27.7208, 0, 1, 1, 0, 4, 27.7208, 1108.832]],
    ['62 Icard, Miss. Amelie (no Embarked: filled with S)', byId(62), [1, 1, 38, 80, 2, 1, 1, 1, 1, 80, 3040]],
    ['557 Duff Gordon, Lady. (Lucille ...) (title other)', byId(557), [1, 1, 48, 39.6, 0, 2, 0, 1, 4, 39.6, 1900.8]],
    ['760 Rothes, the Countess. of (...) (title other)', byId(760), [1, 1, 33, 86.5, 2, 1, 1, 1, 4, 86.5, 2854.5]],
    [
      'constructed: no Age, no Fare, no Embarked (all three filled, products after filling)',
      passenger({ pclass: 2, age: null, sibSp: 1, parch: 2, fare: null, embarked: null }),
      [2, 0, 28, 14.4542, 2, 4, 0, 0, 0, 28.9084, 404.7176],
    ],
  ];

  for (const [label, p, expected] of table) {
    it(`computes the 11 features of ${label}`, () => {
      const got = featurize(recipe, p);
      expect(got).toHaveLength(11);
      got.forEach((value, i) => {
        expect(value, FEATURE_NAMES[i]).toBeCloseTo(expected[i] as number, 9);
      });
    });
  }

  it('checks the hand table really is the data: names and missing values as listed', () => {
    expect(byId(557).name).toBe('Duff Gordon, Lady. (Lucille Christiana Sutherland) ("Mrs Morgan")');
    expect(byId(8).name).toContain('Master.');
    expect(byId(6).age).toBeNull();
    expect(byId(62).embarked).toBeNull();
  });

  it('treats an empty-string Cabin as no cabin', () => {
    expect(featurize(recipe, passenger({ cabin: '' }))[7]).toBe(0);
    expect(featurize(recipe, passenger({ cabin: 'E46' }))[7]).toBe(1);
  });

  it('transform featurizes every row in order', () => {
    const some = [byId(1), byId(8), byId(557)];
    expect(transform(recipe, some)).toEqual(some.map((p) => featurize(recipe, p)));
  });
});

describe('extractTitle', () => {
  it('takes the first word that follows a space and ends with a dot', () => {
    expect(extractTitle('Braund, Mr. Owen Harris')).toBe('Mr');
    expect(extractTitle('Duff Gordon, Lady. (Lucille Christiana Sutherland) ("Mrs Morgan")')).toBe('Lady');
    expect(extractTitle('Rothes, the Countess. of (Lucy Noel Martha Dyer-Edwards)')).toBe('Countess');
    expect(extractTitle('Palsson, Master. Gosta Leonard')).toBe('Master');
  });

  it('returns null when no title is there, which encodes as other (4)', () => {
    expect(extractTitle('Nobody')).toBeNull();
    expect(extractTitle('Smith,Mr.John')).toBeNull();
    expect(featurize(fitRecipe([passenger({})]), passenger({ name: 'Nobody' }))[8]).toBe(4);
  });

  it('does not let a title named like an Object property reach the encoder table', () => {
    expect(featurize(fitRecipe([passenger({})]), passenger({ name: 'X, constructor. Y' }))[8]).toBe(4);
  });
});

describe('recipe v2', () => {
  const member = (overrides: Partial<LabelledPassenger>): LabelledPassenger => ({
    ...passenger({ ticket: 'PC 100', fare: 80, pclass: 1 }),
    survived: 1,
    ...overrides,
  });
  // one family on ticket PC 100: a mother who survived, a boy who died, the father (an adult man: not counted)
  const family = [
    member({ passengerId: 1, name: 'Smith, Mrs. Anne', sex: 'female', survived: 1 }),
    member({ passengerId: 2, name: 'Smith, Master. Tom', sex: 'male', age: 5, survived: 0 }),
    member({ passengerId: 3, name: 'Smith, Mr. John', sex: 'male', survived: 0 }),
    member({ passengerId: 4, name: 'Jones, Miss. Ada', sex: 'female', ticket: 'A 7', fare: 7, pclass: 3, survived: 1 }),
  ];
  const recipe = fitRecipe(family, 2);
  const column = (name: string) => recipe.featureNames.indexOf(name as never);
  const features = (p: Passenger, exclude?: ReadonlySet<number>) => {
    const row = featurize(recipe, p, exclude);
    return Object.fromEntries(recipe.featureNames.map((n, j) => [n, row[j]]));
  };

  it('never lets a training row count its own label (leave one out)', () => {
    // the mother sees only the boy, who died; the boy sees only the mother, who survived
    expect(features(family[0]!)).toMatchObject({ TicketSize: 3, GroupWcOutcome: 0 });
    expect(features(family[1]!)).toMatchObject({ TicketSize: 3, GroupWcOutcome: 2 });
    // the father sees both: mixed
    expect(features(family[2]!)).toMatchObject({ TicketSize: 3, GroupWcOutcome: 1, FarePerPerson: 80 / 3 });
  });

  it('lets an unseen passenger join the group of its training members, counting itself in the size', () => {
    const sister = passenger({
      passengerId: 900,
      name: 'Smith, Miss. May',
      sex: 'female',
      ticket: 'PC 100',
      fare: 80,
      pclass: 1,
    });
    expect(features(sister)).toMatchObject({ TicketSize: 4, FarePerPerson: 20, GroupWcOutcome: 1 });
  });

  it('hides excluded members, as a cross-validation fold hides its held-out rows', () => {
    expect(features(family[2]!, new Set([2]))).toMatchObject({ TicketSize: 2, GroupWcOutcome: 2 });
    expect(excludeMembers(recipe, [1, 2, 3, 4], transform(recipe, family), new Set([2]))[2]).toEqual(
      featurize(recipe, family[2]!, new Set([2])),
    );
  });

  it('treats an odd ticket or an unknown surname as an ordinary passenger with an unseen group', () => {
    for (const odd of [
      passenger({ passengerId: 901, ticket: '', name: 'Nobody' }),
      passenger({ passengerId: 902, ticket: '__proto__', name: 'constructor, Mr. X' }),
      passenger({ passengerId: 903, ticket: '  LINE  ', name: ', Mr. Y', fare: null, cabin: 'ZZ' }),
    ]) {
      const f = features(odd);
      expect(f).toMatchObject({ TicketSize: 1, GroupWcOutcome: 1, Deck: 0 });
      expect(Object.values(f).every(Number.isFinite)).toBe(true);
    }
  });

  it('refines titles (Mlle, Ms -> Miss; Mme -> Mrs; rare titles by sex) and reads the deck from the cabin letter', () => {
    const title = (name: string, sex: 'male' | 'female') =>
      featurize(recipe, passenger({ name, sex }))[column('Title')];
    expect(title('A, Mlle. B', 'female')).toBe(1);
    expect(title('A, Ms. B', 'female')).toBe(1);
    expect(title('A, Mme. B', 'female')).toBe(2);
    expect(title('A, Rev. B', 'male')).toBe(4);
    expect(title('A, Countess. B', 'female')).toBe(5);
    expect(featurize(recipe, passenger({ cabin: 'C85' }))[column('Deck')]).toBe(3);
    // v1 is unchanged by all this: the seed's codes
    expect(featurize(fitRecipe(family), passenger({ name: 'A, Mlle. B', sex: 'female' }))[8]).toBe(4);
  });
});

/** Recipe v2's group columns counted the plain way (Sets and spreads), the reference for `featurize`'s count. */
function referenceGroupColumns(
  table: GroupTable,
  p: Passenger,
  exclude: ReadonlySet<number> | undefined,
): { ticketSize: number; wcOutcome: number } {
  const keys = groupKeys(p);
  const ticketMates = new Map(table.ticket).get(keys.ticket) ?? [];
  const familyMates = new Map(table.family).get(keys.family) ?? [];
  const visible = (m: number): boolean => {
    const id = (table.members[m] as [number, number, number])[0];
    return id !== p.passengerId && !(exclude?.has(id) ?? false);
  };
  const ticketSize = 1 + ticketMates.filter(visible).length;
  const counted = [...new Set([...familyMates, ...ticketMates])].filter(visible).map((m) => table.members[m]!);
  const survived = counted.filter(([, wc, outcome]) => wc === 1 && outcome === 1).length;
  const died = counted.filter(([, wc, outcome]) => wc === 1 && outcome === 0).length;
  return { ticketSize, wcOutcome: survived > 0 && died === 0 ? 2 : died > 0 && survived === 0 ? 0 : 1 };
}

describe('recipe v2 group columns', () => {
  it('count as the plain recount for every Titanic row: as a training row, as an outsider, and with folds hidden', () => {
    const labelled = rows.map((r) => r.passenger as LabelledPassenger);
    const recipe = fitRecipe(labelled, 2) as FeatureRecipeV2;
    const at = (name: string) => recipe.featureNames.indexOf(name as never);
    const rng = createRng(17);
    const folds = Array.from(
      { length: 5 },
      () => new Set(titanic.filter(() => rng.int(5) === 0).map((p) => p.passengerId)),
    );
    let mixed = 0;
    // twice over: a passenger's count never depends on the ones before it
    for (const round of [0, 1]) {
      for (const p of titanic) {
        for (const [who, exclude] of [
          [p, undefined],
          [{ ...p, passengerId: p.passengerId + 10_000 }, undefined],
          [p, folds[(p.passengerId + round) % 5]],
        ] as const) {
          const row = featurize(recipe, who, exclude);
          const expected = referenceGroupColumns(recipe.groups, who, exclude);
          expect([row[at('TicketSize')], row[at('GroupWcOutcome')]]).toEqual([expected.ticketSize, expected.wcOutcome]);
          expect(row[at('FarePerPerson')]).toBe((row[at('Fare')] as number) / expected.ticketSize);
          if (expected.wcOutcome === 1 && expected.ticketSize > 1) mixed++;
        }
      }
    }
    expect(mixed).toBeGreaterThan(100);
  });
});
