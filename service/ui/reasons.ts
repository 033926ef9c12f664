/**
 * Plain sentences for the largest contributions of an explanation: "Being a man lowered the chance by 24
 * points". Each feature is described from what the person typed in the form (so an empty age reads as "no
 * recorded age", not as the fill the model used), with a neutral fallback for a feature this page does not know.
 */
import { extractTitle } from '../../shared/core/features.ts';
import { formatNumber } from './html.ts';
import type { FormValues } from './pages.ts';

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
    case 'Deck':
      return value === 0 ? 'Having no known deck' : 'The deck of the cabin';
    case 'TicketSize':
      return `A ticket shared by ${formatNumber(value, 0)}`;
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
