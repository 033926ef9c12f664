/**
 * Feature recipes: raw `Passenger` -> numbers in the recipe's feature order.
 *
 * - v1 (the seed's): 11 features in FEATURE_NAMES order.
 * - v2: v1's, with refined titles, plus the cabin deck, the ticket group's size, fare per person and the
 *   woman-child group outcome (FEATURE_NAMES_V2), computed from a group table fitted on the training rows.
 *
 * `fitRecipe` learns the fills (Age median, Fare median, Embarked mode), and for v2 the group table, from the
 * training rows it is given and nothing else; `featurize` applies a fitted recipe to any passenger. Training and
 * serving both call `featurize` with the recipe stored in the model artifact, so the two can never compute
 * features differently.
 */
import { AppError } from '../errors.ts';
import {
  FEATURE_NAMES,
  FEATURE_NAMES_V2,
  type FeatureName,
  type FeatureNameV1,
  type LabelledPassenger,
  type Passenger,
  type Port,
  type RecipeVersion,
  type Sex,
} from './schema.ts';

export interface FeatureRecipeV1 {
  version: 1;
  featureNames: FeatureNameV1[];
  fills: { age: number; fare: number; embarked: Port };
  encoders: {
    sex: Record<Sex, number>;
    embarked: Record<Port, number>;
    title: Record<string, number>;
    titleOther: number;
  };
}

/**
 * The travelling groups of the training rows: the one label-derived part of recipe v2.
 *
 * A passenger's group is the union of two keyed groups: its family key (surname, class, ticket without its last
 * character, fare) and its ticket. `members` holds `[PassengerId, womanOrBoy (0/1), survived (0/1)]` of every
 * training row; `family` and `ticket` map each key to indices into `members`. Keys and members are sorted, so a
 * table fitted on the same rows is the same JSON.
 */
export interface GroupTable {
  members: Array<[number, 0 | 1, 0 | 1]>;
  family: Array<[string, number[]]>;
  ticket: Array<[string, number[]]>;
}

export interface FeatureRecipeV2 {
  version: 2;
  featureNames: FeatureName[];
  fills: { age: number; fare: number; embarked: Port };
  encoders: {
    sex: Record<Sex, number>;
    embarked: Record<Port, number>;
    /** Raw title -> code, after refinement (Mlle, Ms -> Miss; Mme -> Mrs). */
    title: Record<string, number>;
    /** Codes of titles not in `title`, by sex (a rare male title is not a rare female one). */
    titleRare: Record<Sex, number>;
    /** Cabin letter -> code; no cabin (or an unknown letter) is `deckUnknown`. */
    deck: Record<string, number>;
    deckUnknown: number;
  };
  groups: GroupTable;
}

export type FeatureRecipe = FeatureRecipeV1 | FeatureRecipeV2;

const SEX_CODES: Record<Sex, number> = { male: 0, female: 1 };
const PORT_CODES: Record<Port, number> = { C: 0, Q: 1, S: 2 };
const TITLE_CODES: Record<string, number> = { Mr: 0, Miss: 1, Mrs: 2, Master: 3 };
const TITLE_OTHER = 4;
const PORTS: readonly Port[] = ['C', 'Q', 'S'];

/** The seed's pattern, first match wins: "Duff Gordon, Lady. (Lucille ...)" -> "Lady". */
const TITLE_PATTERN = / ([A-Za-z]+)\./;

export function extractTitle(name: string): string | null {
  const match = TITLE_PATTERN.exec(name);
  return match?.[1] ?? null;
}

/**
 * Learns the fills from `rows` (the training split only: fitting on test or serving rows would leak), and for
 * recipe v2 the group table, which needs the rows' labels.
 * Throws TRAINING_DATA_UNUSABLE when a fill cannot be learned (no rows, or no row has an Age, a Fare or a port).
 */
export function fitRecipe(rows: readonly Passenger[], version?: 1): FeatureRecipeV1;
export function fitRecipe(rows: readonly LabelledPassenger[], version: RecipeVersion): FeatureRecipe;
export function fitRecipe(rows: readonly Passenger[], version: RecipeVersion = 1): FeatureRecipe {
  const v1 = fitRecipeV1(rows);
  if (version === 1) return v1;
  return {
    version: 2,
    featureNames: [...FEATURE_NAMES_V2],
    fills: v1.fills,
    encoders: {
      sex: v1.encoders.sex,
      embarked: v1.encoders.embarked,
      title: { ...TITLE_CODES, ...TITLE_REFINED },
      titleRare: { ...TITLE_RARE },
      deck: { ...DECK_CODES },
      deckUnknown: DECK_UNKNOWN,
    },
    groups: fitGroups(rows as readonly LabelledPassenger[]),
  };
}

function fitRecipeV1(rows: readonly Passenger[]): FeatureRecipeV1 {
  const ages: number[] = [];
  const fares: number[] = [];
  const portCounts: Record<Port, number> = { C: 0, Q: 0, S: 0 };
  for (const row of rows) {
    if (row.age !== null) ages.push(row.age);
    if (row.fare !== null) fares.push(row.fare);
    if (row.embarked !== null) portCounts[row.embarked]++;
  }
  const missing = [
    ages.length === 0 ? 'Age' : null,
    fares.length === 0 ? 'Fare' : null,
    PORTS.every((port) => portCounts[port] === 0) ? 'Embarked' : null,
  ].filter((column) => column !== null);
  if (missing.length > 0) {
    throw new AppError(
      'TRAINING_DATA_UNUSABLE',
      rows.length === 0
        ? 'cannot fit the feature recipe on zero rows'
        : `cannot fit the feature recipe: no training row has a value for ${missing.join(', ')}`,
      { rows: rows.length, missing },
    );
  }
  return {
    version: 1,
    featureNames: [...FEATURE_NAMES],
    fills: { age: median(ages), fare: median(fares), embarked: modePort(portCounts) },
    encoders: {
      sex: { ...SEX_CODES },
      embarked: { ...PORT_CODES },
      title: { ...TITLE_CODES },
      titleOther: TITLE_OTHER,
    },
  };
}

/**
 * The features of one passenger, in `recipe.featureNames` order.
 *
 * Recipe v2's group features count the passenger's training group-mates, never the passenger itself: a training
 * row is recognised by its PassengerId among the members of its own groups (leave one out), any other passenger
 * is an outsider joining the group. `exclude` hides more members (the held-out rows of a cross-validation fold).
 */
export function featurize(recipe: FeatureRecipe, p: Passenger, exclude?: ReadonlySet<number>): number[] {
  if (recipe.version === 1) return featurizeV1(recipe, p);
  return featurizeV2(recipe, p, exclude);
}

function featurizeV1(recipe: FeatureRecipeV1, p: Passenger): number[] {
  const { fills, encoders } = recipe;
  const age = p.age ?? fills.age;
  const fare = p.fare ?? fills.fare;
  const familySize = p.sibSp + p.parch + 1;
  const title = extractTitle(p.name);
  const titleCode =
    title !== null && Object.hasOwn(encoders.title, title) ? (encoders.title[title] as number) : encoders.titleOther;
  return [
    p.pclass,
    encoders.sex[p.sex],
    age,
    fare,
    encoders.embarked[p.embarked ?? fills.embarked],
    familySize,
    familySize === 1 ? 1 : 0,
    p.cabin !== null && p.cabin !== '' ? 1 : 0,
    titleCode,
    p.pclass * fare,
    age * fare,
  ];
}

export function transform(
  recipe: FeatureRecipe,
  rows: readonly Passenger[],
  exclude?: ReadonlySet<number>,
): number[][] {
  return rows.map((row) => featurize(recipe, row, exclude));
}

/** Whether a recipe's features depend on training labels (so cross-validation must refit them per fold). */
export function usesLabels(recipe: FeatureRecipe): boolean {
  return recipe.version === 2;
}

// ---------------------------------------------------------------------------------------------- recipe v2

const TITLE_REFINED: Record<string, number> = { Mlle: 1, Ms: 1, Mme: 2 };
const TITLE_RARE: Record<Sex, number> = { male: 4, female: 5 };
const DECK_CODES: Record<string, number> = { A: 1, B: 2, C: 3, D: 4, E: 5, F: 6, G: 7, T: 8 };
const DECK_UNKNOWN = 0;

/** Woman-child group outcome codes: every known woman or boy of the group died / no information / all survived. */
const WC_DIED = 0;
const WC_UNKNOWN = 1;
const WC_SURVIVED = 2;

export function surnameOf(name: string): string {
  const comma = name.indexOf(',');
  return (comma >= 0 ? name.slice(0, comma) : name).trim();
}

/** The two keys of a passenger's travelling group. */
export function groupKeys(p: Passenger): { family: string; ticket: string } {
  const ticket = p.ticket.trim();
  return {
    family: `${surnameOf(p.name)}|${p.pclass}|${ticket.slice(0, -1)}|${p.fare ?? ''}`,
    ticket,
  };
}

/** A woman or a boy (title Master): the members whose fate the woman-child group outcome follows. */
function isWomanOrBoy(p: Passenger): boolean {
  return p.sex === 'female' || extractTitle(p.name) === 'Master';
}

function fitGroups(rows: readonly LabelledPassenger[]): GroupTable {
  const sorted = [...rows].sort((a, b) => a.passengerId - b.passengerId);
  const family = new Map<string, number[]>();
  const ticket = new Map<string, number[]>();
  const members: GroupTable['members'] = [];
  for (const p of sorted) {
    if (p.survived !== 0 && p.survived !== 1) {
      throw new AppError(
        'TRAINING_DATA_UNUSABLE',
        `recipe v2 needs labelled rows; passenger ${p.passengerId} has none`,
      );
    }
    const index = members.length;
    members.push([p.passengerId, isWomanOrBoy(p) ? 1 : 0, p.survived]);
    const keys = groupKeys(p);
    for (const [map, key] of [
      [family, keys.family],
      [ticket, keys.ticket],
    ] as const) {
      const list = map.get(key);
      if (list === undefined) map.set(key, [index]);
      else list.push(index);
    }
  }
  const entries = (map: Map<string, number[]>): Array<[string, number[]]> =>
    [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { members, family: entries(family), ticket: entries(ticket) };
}

/** Lookup maps of a group table, built once per recipe object. */
interface GroupIndex {
  family: Map<string, number[]>;
  ticket: Map<string, number[]>;
  /** PassengerId of a member -> its own family and ticket keys. */
  keysOf: Map<number, { family: string; ticket: string }>;
  /** Per member: the call of `groupColumns` that last counted it (a set of seen members without a Set). */
  seen: Int32Array;
  /** The current call's mark in `seen`. */
  mark: number;
}
const groupIndexes = new WeakMap<GroupTable, GroupIndex>();

function indexOf(table: GroupTable): GroupIndex {
  let index = groupIndexes.get(table);
  if (index === undefined) {
    const keysOf = new Map<number, { family: string; ticket: string }>();
    for (const [key, list] of table.family) {
      for (const m of list) keysOf.set((table.members[m] as [number, number, number])[0], { family: key, ticket: '' });
    }
    for (const [key, list] of table.ticket) {
      for (const m of list) {
        const keys = keysOf.get((table.members[m] as [number, number, number])[0]);
        if (keys !== undefined) keys.ticket = key;
      }
    }
    index = {
      family: new Map(table.family),
      ticket: new Map(table.ticket),
      keysOf,
      seen: new Int32Array(table.members.length),
      mark: 0,
    };
    groupIndexes.set(table, index);
  }
  return index;
}

const NO_MATES: readonly number[] = [];

/** The group columns of a passenger: ticket group size (self included) and woman-child group outcome code. */
function groupColumns(
  table: GroupTable,
  passengerId: number,
  keys: { family: string; ticket: string },
  exclude: ReadonlySet<number> | undefined,
): { ticketSize: number; wcOutcome: number } {
  const index = indexOf(table);
  const ticketMates = index.ticket.get(keys.ticket) ?? NO_MATES;
  const familyMates = index.family.get(keys.family) ?? NO_MATES;
  const members = table.members;
  let ticketSize = 1;
  for (let i = 0; i < ticketMates.length; i++) {
    const id = (members[ticketMates[i] as number] as [number, number, number])[0];
    if (id !== passengerId && !(exclude?.has(id) ?? false)) ticketSize++;
  }
  // Every visible member of the two groups once (family first, then ticket), marked in `seen` rather than
  // collected in a Set: this runs for every served passenger.
  if (index.mark === 2 ** 31 - 1) {
    index.seen.fill(0);
    index.mark = 0;
  }
  const mark = ++index.mark;
  const seen = index.seen;
  let survived = 0;
  let died = 0;
  for (let list = 0; list < 2; list++) {
    const mates = list === 0 ? familyMates : ticketMates;
    for (let i = 0; i < mates.length; i++) {
      const m = mates[i] as number;
      if (seen[m] === mark) continue;
      const member = members[m] as [number, 0 | 1, 0 | 1];
      const id = member[0];
      if (id === passengerId || (exclude?.has(id) ?? false)) continue;
      seen[m] = mark;
      if (member[1] === 0) continue;
      if (member[2] === 1) survived++;
      else died++;
    }
  }
  const wcOutcome = survived > 0 && died === 0 ? WC_SURVIVED : died > 0 && survived === 0 ? WC_DIED : WC_UNKNOWN;
  return { ticketSize, wcOutcome };
}

function featurizeV2(recipe: FeatureRecipeV2, p: Passenger, exclude: ReadonlySet<number> | undefined): number[] {
  const { fills, encoders } = recipe;
  const age = p.age ?? fills.age;
  const fare = p.fare ?? fills.fare;
  const familySize = p.sibSp + p.parch + 1;
  const title = extractTitle(p.name);
  const titleCode =
    title !== null && Object.hasOwn(encoders.title, title)
      ? (encoders.title[title] as number)
      : encoders.titleRare[p.sex];
  const letter = p.cabin?.trim().charAt(0).toUpperCase() ?? '';
  const deck =
    letter !== '' && Object.hasOwn(encoders.deck, letter) ? (encoders.deck[letter] as number) : encoders.deckUnknown;
  const { ticketSize, wcOutcome } = groupColumns(recipe.groups, p.passengerId, groupKeys(p), exclude);
  return [
    p.pclass,
    encoders.sex[p.sex],
    age,
    fare,
    encoders.embarked[p.embarked ?? fills.embarked],
    familySize,
    familySize === 1 ? 1 : 0,
    p.cabin !== null && p.cabin !== '' ? 1 : 0,
    titleCode,
    p.pclass * fare,
    age * fare,
    deck,
    ticketSize,
    fare / ticketSize,
    wcOutcome,
  ];
}

/** numpy/pandas median: the middle value, or the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** pandas `mode()[0]`: the most frequent port, ties going to the alphabetically first. */
function modePort(counts: Record<Port, number>): Port {
  let best: Port = 'C';
  for (const port of PORTS) if (counts[port] > counts[best]) best = port;
  return best;
}

/** Column positions of recipe v2's group columns (and of Fare, which FarePerPerson divides). */
const FARE = FEATURE_NAMES_V2.indexOf('Fare');
const TICKET_SIZE = FEATURE_NAMES_V2.indexOf('TicketSize');
const FARE_PER_PERSON = FEATURE_NAMES_V2.indexOf('FarePerPerson');
const GROUP_WC = FEATURE_NAMES_V2.indexOf('GroupWcOutcome');

/**
 * The training rows' features as a cross-validation fold sees them: recipe v2's group columns recomputed as if
 * the members in `exclude` (the fold's held-out rows) had never been in the group table, so a fold's features
 * come from its training rows only. `ids` and `X` are the rows the recipe was fitted on (`X` = their features),
 * so this needs no raw passenger: a member's groups are read from the table. Recipe v1 rows are returned as is.
 */
export function excludeMembers(
  recipe: FeatureRecipe,
  ids: ArrayLike<number>,
  X: readonly (readonly number[])[],
  exclude: ReadonlySet<number>,
): number[][] {
  if (recipe.version === 1) return X.map((row) => [...row]);
  const index = indexOf(recipe.groups);
  return X.map((row, i) => {
    const id = ids[i] as number;
    const keys = index.keysOf.get(id);
    if (keys === undefined) throw new RangeError(`passenger ${id} is not a member of the recipe's group table`);
    const { ticketSize, wcOutcome } = groupColumns(recipe.groups, id, keys, exclude);
    const out = [...row];
    out[TICKET_SIZE] = ticketSize;
    out[FARE_PER_PERSON] = (row[FARE] as number) / ticketSize;
    out[GROUP_WC] = wcOutcome;
    return out;
  });
}
