/**
 * The raw passenger contract (Kaggle `train.csv` columns) and the engineered feature names of recipe v1.
 * Everything that crosses a boundary (CSV, Postgres, the JSON API) is a `Passenger`; engineered features
 * are only ever computed from it by `features.ts`.
 */

/** CSV header names in their canonical spelling; headers are matched case-insensitively. */
export const RAW_COLUMNS = [
  'PassengerId',
  'Survived',
  'Pclass',
  'Name',
  'Sex',
  'Age',
  'SibSp',
  'Parch',
  'Ticket',
  'Fare',
  'Cabin',
  'Embarked',
] as const;
export type RawColumn = (typeof RAW_COLUMNS)[number];

export type Sex = 'male' | 'female';
export type Port = 'C' | 'Q' | 'S';
export type Pclass = 1 | 2 | 3;

/** One passenger as the CSV contract describes it; `null` where the source field was empty. */
export interface Passenger {
  passengerId: number;
  pclass: Pclass;
  name: string;
  sex: Sex;
  age: number | null;
  sibSp: number;
  parch: number;
  ticket: string;
  fare: number | null;
  cabin: string | null;
  embarked: Port | null;
}

/** A passenger with a known outcome (training data). */
export interface LabelledPassenger extends Passenger {
  survived: 0 | 1;
}

/** Recipe v1 is the seed's recipe; v2 adds travelling-group features (see features.ts). */
export const RECIPE_VERSIONS = [1, 2] as const;
export type RecipeVersion = (typeof RECIPE_VERSIONS)[number];

/** Feature order of recipe v1: the column order of every matrix, reference and compiled predictor. */
export const FEATURE_NAMES = [
  'Pclass',
  'Sex',
  'Age',
  'Fare',
  'Embarked',
  'Familysize',
  'Isalone',
  'HasCabin',
  'Title',
  'Pclass_Fare',
  'Age_Fare',
] as const;
export type FeatureNameV1 = (typeof FEATURE_NAMES)[number];

/**
 * Feature order of recipe v2: v1's eleven (Title refined: Mlle/Ms -> Miss, Mme -> Mrs, rare titles by sex), then
 * the cabin deck, the ticket group's size and fare per person, and the woman-child group outcome.
 */
export const FEATURE_NAMES_V2 = [...FEATURE_NAMES, 'Deck', 'TicketSize', 'FarePerPerson', 'GroupWcOutcome'] as const;

export type FeatureName = (typeof FEATURE_NAMES_V2)[number];

/**
 * How each feature is distributed, which decides the drift statistic applied to it: `continuous` features get
 * a Kolmogorov-Smirnov test, `categorical` ones a chi-squared test on their counts.
 */
export type FeatureKind = 'continuous' | 'categorical';

export const FEATURE_KINDS: Readonly<Record<FeatureName, FeatureKind>> = {
  Pclass: 'categorical',
  Sex: 'categorical',
  Age: 'continuous',
  Fare: 'continuous',
  Embarked: 'categorical',
  Familysize: 'continuous',
  Isalone: 'categorical',
  HasCabin: 'categorical',
  Title: 'categorical',
  Pclass_Fare: 'continuous',
  Age_Fare: 'continuous',
  Deck: 'categorical',
  TicketSize: 'continuous',
  FarePerPerson: 'continuous',
  GroupWcOutcome: 'categorical',
};

/** The feature names of each recipe version, in column order. */
export const RECIPE_FEATURES: Readonly<Record<RecipeVersion, readonly FeatureName[]>> = {
  1: FEATURE_NAMES,
  2: FEATURE_NAMES_V2,
};
