import { describe, expect, it } from 'vitest';
import { loadTitanic } from '../../test/support/titanic.ts';
import { parsePassengerRecord, passengerRecord } from './passenger-validation.ts';

describe('parsePassengerRecord', () => {
  const valid = {
    PassengerId: 892,
    Pclass: 3,
    Name: 'Kelly, Mr. James',
    Sex: 'male',
    Age: 34.5,
    SibSp: 0,
    Parch: 0,
    Ticket: '330911',
    Fare: 7.8292,
    Cabin: null,
    Embarked: 'Q',
  };

  it('reads a JSON passenger with numbers, in the same shape as a CSV row', () => {
    expect(parsePassengerRecord(valid, 'instances[0]')).toEqual({
      passengerId: 892,
      pclass: 3,
      name: 'Kelly, Mr. James',
      sex: 'male',
      age: 34.5,
      sibSp: 0,
      parch: 0,
      ticket: '330911',
      fare: 7.8292,
      cabin: null,
      embarked: 'Q',
    });
  });

  it('matches keys in any case, reads numeric strings and treats absent Age, Fare, Cabin, Embarked as unknown', () => {
    const passenger = parsePassengerRecord(
      {
        passengerid: '7',
        PCLASS: '1',
        name: 'Roe, Miss. Jane',
        SEX: 'female',
        sibsp: '1',
        parch: '2',
        ticket: 'X',
        survived: 1,
        extra: 'ignored',
      },
      'body',
    );
    expect(passenger).toEqual({
      passengerId: 7,
      pclass: 1,
      name: 'Roe, Miss. Jane',
      sex: 'female',
      age: null,
      sibSp: 1,
      parch: 2,
      ticket: 'X',
      fare: null,
      cabin: null,
      embarked: null,
    });
    expect(passenger).not.toHaveProperty('survived');
  });

  it('throws BAD_REQUEST naming where and the bad field', () => {
    expect(() => parsePassengerRecord({ ...valid, Pclass: 4 }, 'instances[2]')).toThrowError(
      expect.objectContaining({ code: 'BAD_REQUEST', message: 'instances[2]: Pclass "4" is not 1, 2 or 3' }),
    );
    expect(() => parsePassengerRecord({ ...valid, Age: -1, Embarked: 'X' }, 'row')).toThrowError(
      expect.objectContaining({ message: 'row: Age "-1" is negative; Embarked "X" is not C, Q, S or empty' }),
    );
  });

  it('throws BAD_REQUEST for a missing required field, a wrong type and a non-finite number', () => {
    const { Name: _name, ...noName } = valid;
    expect(() => parsePassengerRecord(noName, 'p')).toThrowError(
      expect.objectContaining({ code: 'BAD_REQUEST', message: 'p: Name is missing' }),
    );
    expect(() => parsePassengerRecord({ ...valid, SibSp: [1] }, 'p')).toThrowError(
      expect.objectContaining({ message: 'p: SibSp must be a string or a number, got object' }),
    );
    expect(() => parsePassengerRecord({ ...valid, Fare: Number.POSITIVE_INFINITY }, 'p')).toThrowError(
      expect.objectContaining({ message: 'p: Fare "Infinity" is not a number' }),
    );
  });

  it('throws BAD_REQUEST for something that is not an object', () => {
    expect(() => parsePassengerRecord(null as unknown as Record<string, unknown>, 'instances[0]')).toThrowError(
      expect.objectContaining({
        code: 'BAD_REQUEST',
        message: 'instances[0]: expected an object with passenger fields',
      }),
    );
  });
});

describe('passengerRecord', () => {
  it('is what parsePassengerRecord reads back to the same passenger, for every row of data/titanic.csv', async () => {
    const { passengers } = await loadTitanic();
    for (const p of passengers) {
      const { survived: _, ...unlabelled } = p;
      expect(parsePassengerRecord(passengerRecord(p), 'row')).toEqual(unlabelled);
    }
  });
});
