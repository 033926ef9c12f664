/**
 * The web form's values: what a person types (strings, so a bad value can be shown back), its fields and errors,
 * and the example it opens with. Shared by the pages and the explanations of an answer.
 */
/** The raw fields a person knows, as typed in the form (strings, so a bad value can be shown back). */
export interface FormValues {
  name: string;
  sex: string;
  age: string;
  pclass: string;
  fare: string;
  sibsp: string;
  parch: string;
  cabin: string;
  embarked: string;
}
export type FormField = keyof FormValues;
export type FormErrors = Partial<Record<FormField | 'form', string>>;

export const DEFAULT_FORM: FormValues = {
  name: 'Dawson, Mr. Jack',
  sex: 'male',
  age: '20',
  pclass: '3',
  fare: '7.25',
  sibsp: '0',
  parch: '0',
  cabin: '',
  embarked: 'S',
};
