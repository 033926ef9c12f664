/**
 * Which raw passenger fields each engineered feature is computed from, so an explanation can be read per field
 * ("Sex" and "Title" together) as well as per feature.
 *
 * An artifact of format 4 declares the mapping of its own recipe (`featureSources`), written at training time
 * from `RECIPE_SOURCES`; for an older artifact the mapping is looked up in the same table by recipe version and
 * feature name. Any
 * recipe whose artifact declares its sources is therefore explained per field, whatever features it adds.
 *
 * A feature's contribution is split evenly between its fields (Pclass_Fare gives half to Pclass, half to
 * Fare), so the fields' contributions still add up to the prediction minus the base value. The split is a
 * convention, not a Shapley value of the fields: fields are not the players of the game that was solved.
 */
import { AppError } from '../errors.ts';
import { RAW_COLUMNS, type RawColumn } from './schema.ts';

/** A raw passenger field an engineered feature can come from (the label and the id are never features). */
export type PassengerField = Exclude<RawColumn, 'Survived' | 'PassengerId'>;

export const PASSENGER_FIELDS: readonly PassengerField[] = RAW_COLUMNS.filter(
  (c): c is PassengerField => c !== 'Survived' && c !== 'PassengerId',
);

/**
 * Sources of every feature of recipe v1, by name, and what recipe v2 changes. v2 refines a rare title by sex,
 * so its Title reads Sex too. v2's group features follow the keys of the travelling group: the surname (in Name)
 * and the Ticket; the class and the fare in the family key only tell two families of the same name apart, so
 * they are not counted as sources.
 */
const V1_SOURCES: Readonly<Record<string, readonly PassengerField[]>> = {
  Pclass: ['Pclass'],
  Sex: ['Sex'],
  Age: ['Age'],
  Fare: ['Fare'],
  Embarked: ['Embarked'],
  Familysize: ['SibSp', 'Parch'],
  Isalone: ['SibSp', 'Parch'],
  HasCabin: ['Cabin'],
  Title: ['Name'],
  Pclass_Fare: ['Pclass', 'Fare'],
  Age_Fare: ['Age', 'Fare'],
};

export const RECIPE_SOURCES: Readonly<Record<number, Readonly<Record<string, readonly PassengerField[]>>>> = {
  1: V1_SOURCES,
  2: {
    ...V1_SOURCES,
    Title: ['Name', 'Sex'],
    Deck: ['Cabin'],
    TicketSize: ['Ticket'],
    FarePerPerson: ['Fare', 'Ticket'],
    GroupWcOutcome: ['Name', 'Ticket'],
  },
};

function invalid(message: string): AppError {
  return new AppError('ARTIFACT_INVALID', `feature sources: ${message}`);
}

/** The declaration a training run writes into the artifact for its recipe (version and feature names). */
export function declareSources(
  recipeVersion: number,
  featureNames: readonly string[],
): Record<string, PassengerField[]> {
  const table = RECIPE_SOURCES[recipeVersion] ?? {};
  return Object.fromEntries(featureNames.map((name) => [name, [...(table[name] ?? [])]]));
}

/**
 * The sources of each feature, in the order of `featureNames`: the artifact's declaration when it has one,
 * else the table of its recipe version. Throws ARTIFACT_INVALID naming a feature with no source or an unknown
 * field.
 */
export function sourcesOf(
  recipeVersion: number,
  featureNames: readonly string[],
  declared?: Readonly<Record<string, readonly string[]>>,
): PassengerField[][] {
  return featureNames.map((name) => {
    const list = declared !== undefined ? declared[name] : RECIPE_SOURCES[recipeVersion]?.[name];
    if (list === undefined || list.length === 0) throw invalid(`feature ${name} has no raw passenger field`);
    for (const field of list) {
      if (!(PASSENGER_FIELDS as readonly string[]).includes(field)) {
        throw invalid(`feature ${name} names ${field}, which is not a passenger field`);
      }
    }
    return [...list] as PassengerField[];
  });
}

/**
 * Feature contributions summed per raw field (each feature split evenly between its fields), in
 * `PASSENGER_FIELDS` order, only the fields some feature comes from.
 */
export function byField(
  contributions: ArrayLike<number>,
  sources: readonly (readonly PassengerField[])[],
): Array<[PassengerField, number]> {
  const totals = new Map<PassengerField, number>();
  sources.forEach((fields, j) => {
    const part = (contributions[j] as number) / fields.length;
    for (const field of fields) totals.set(field, (totals.get(field) ?? 0) + part);
  });
  return PASSENGER_FIELDS.filter((f) => totals.has(f)).map((f) => [f, totals.get(f) as number]);
}
