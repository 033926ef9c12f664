/**
 * Plain sentences for the largest contributions of an explanation: "Being a man lowered the chance by 24
 * points". Each feature is described from what the person typed in the form (so an empty age reads as "no
 * recorded age", not as the fill the model used), with a neutral fallback for a feature this page does not know.
 */
import { extractTitle } from '../../shared/core/features.ts';
import type { FormValues } from './form.ts';
import { formatNumber } from './html.ts';

const PORTS: Record<string, string> = { S: 'Southampton', C: 'Cherbourg', Q: 'Queenstown' };
const ORDINAL: Record<string, string> = { '1': '1st', '2': '2nd', '3': '3rd' };

/** What the passenger's value of one feature was, as the subject of a sentence. */
export function describeFeature(name: string, value: number, form: FormValues): string {
  switch (name) {
    case 'Sex':
      return form.sex === 'female' ? 'Being a woman' : 'Being a man';
    case 'Pclass':
      return `Travelling in ${ORDINAL[form.pclass] ?? formatNumber(value, 0)} class`;
    case 'Age':
      return form.age.trim() === ''
        ? `Having no recorded age (taken as ${formatNumber(value, 1)})`
        : `Being ${formatNumber(value, 1)} years old`;
    case 'Fare':
      return form.fare.trim() === ''
        ? `Having no recorded fare (taken as £${formatNumber(value, 2)})`
        : `Paying a fare of £${formatNumber(value, 2)}`;
    case 'Embarked':
      return form.embarked === ''
        ? 'An unknown port of embarkation'
        : `Boarding at ${PORTS[form.embarked] ?? form.embarked}`;
    case 'Familysize':
      return value <= 1 ? 'Having no family aboard' : `Travelling in a family of ${formatNumber(value, 0)}`;
    case 'Isalone':
      return value === 1 ? 'Travelling alone' : 'Not travelling alone';
    case 'HasCabin':
      return value === 1 ? 'Having a cabin on record' : 'Having no cabin on record';
    case 'Title': {
      const title = extractTitle(form.name);
      return title === null ? 'Having no title in the name' : `The title "${title}"`;
    }
    case 'Pclass_Fare':
      return `Class times fare (${formatNumber(value, 2)})`;
    case 'Age_Fare':
      return `Age times fare (${formatNumber(value, 1)})`;
    case 'Deck': {
      const letter = form.cabin.trim().charAt(0).toUpperCase();
      return value === 0 || letter === '' ? 'Having no known deck' : `Having a cabin on deck ${letter}`;
    }
    case 'TicketSize':
      return value <= 1
        ? 'Holding a ticket no other known passenger shares'
        : `A ticket shared by ${formatNumber(value, 0)} passengers`;
    case 'FarePerPerson':
      return `A fare per person of £${formatNumber(value, 2)}`;
    case 'GroupWcOutcome':
      return 'What happened to the women and children of the group';
    default:
      return `${name} = ${formatNumber(value, 3)}`;
  }
}

/** "raised the chance by 24 points" / "lowered the chance by less than one point". */
export function effectOf(contribution: number): string {
  const points = Math.round(Math.abs(contribution) * 100);
  const verb = contribution >= 0 ? 'raised' : 'lowered';
  const amount = points === 0 ? 'less than one point' : points === 1 ? '1 point' : `${points} points`;
  return `${verb} the chance by ${amount}`;
}

/**
 * One sentence for each of the `n` largest contributions (by absolute size, largest first).
 * `features[j]` is the passenger's value of feature j, `contributions[j]` its SHAP value.
 */
export function topReasons(
  names: readonly string[],
  features: readonly number[],
  contributions: readonly number[],
  form: FormValues,
  n = 3,
): string[] {
  return names
    .map((name, j) => ({ name, value: features[j] as number, contribution: contributions[j] as number }))
    .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
    .slice(0, n)
    .map((r) => `${describeFeature(r.name, r.value, form)} ${effectOf(r.contribution)}.`);
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10];
  return `${n}${suffix ?? 'th'}`;
}

/** 1-based ranks, largest value first (ties keep the given order). */
function ranks(values: Record<string, number>): Map<string, number> {
  const order = Object.entries(values).sort((a, b) => b[1] - a[1]);
  return new Map(order.map(([name], i) => [name, i + 1]));
}

/**
 * How the two global importances of the model page differ: what each measures, then which feature each puts
 * first and the feature on which their rankings disagree most, from the model's own numbers.
 */
export function compareImportances(impurity: Record<string, number>, shap: Record<string, number>): string {
  const byImpurity = ranks(impurity);
  const byShap = ranks(shap);
  const names = Object.keys(shap).filter((n) => byImpurity.has(n));
  const firstImpurity = [...byImpurity.entries()].find(([, r]) => r === 1)?.[0];
  const firstShap = [...byShap.entries()].find(([, r]) => r === 1)?.[0];
  let disagreement: { name: string; impurity: number; shap: number } | null = null;
  for (const name of names) {
    const i = byImpurity.get(name) as number;
    const s = byShap.get(name) as number;
    if (disagreement === null || Math.abs(i - s) > Math.abs(disagreement.impurity - disagreement.shap)) {
      disagreement = { name, impurity: i, shap: s };
    }
  }
  const what =
    'Impurity importance credits a feature for every split it makes while the trees are grown, so a feature with many distinct values (a fare, an age, their product) collects credit from many small splits; mean |SHAP| measures how far the feature actually moves the served probability of the test passengers, in points.';
  const first =
    firstImpurity === firstShap
      ? ` Both put ${firstShap} first.`
      : ` Impurity puts ${firstImpurity} first, SHAP puts ${firstShap} first.`;
  const most =
    disagreement !== null && disagreement.impurity !== disagreement.shap
      ? ` They disagree most on ${disagreement.name}: ${ordinal(disagreement.impurity)} by impurity, ${ordinal(disagreement.shap)} by SHAP.`
      : ' They rank every feature the same.';
  return what + first + most;
}
