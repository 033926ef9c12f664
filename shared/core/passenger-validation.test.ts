import { describe, expect, it } from 'vitest';
import { generatedRecords, outcome } from '../../test/support/passenger-records.ts';
import { loadTitanic } from '../../test/support/titanic.ts';
import {
  parsePassengerRecord,
  passengerRecord,
  readPassengerRecord,
  readWellTypedPassenger,
} from './passenger-validation.ts';
import type { Passenger } from './schema.ts';

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

describe('readWellTypedPassenger (the fast path of parsePassengerRecord)', () => {
  it("reads what it accepts to the full reader's passenger, and parsePassengerRecord answers as the full reader, on 30,000 generated records", async () => {
    const { passengers } = await loadTitanic();
    const records = generatedRecords(passengers, 30_000, 11);
    let fast = 0;
    let refused = 0;
    for (const record of records) {
      const full = outcome(() => readPassengerRecord(record, 'instances[3]'));
      expect(outcome(() => parsePassengerRecord(record, 'instances[3]'))).toStrictEqual(full);
      const quick = readWellTypedPassenger(record, false);
      if (quick !== null) {
        fast++;
        expect(outcome(() => quick)).toStrictEqual(full);
      }
      if ((full as { code?: string }).code === 'BAD_REQUEST') refused++;
    }
    // the corpus exercises both sides: many records take the fast path, many are refused
    expect(fast).toBeGreaterThan(5000);
    expect(refused).toBeGreaterThan(10_000);
  });

  it('leaves to the full reader what it does not read exactly as that reader does', () => {
    const valid = passengerRecord(BRAUND);
    expect(readWellTypedPassenger(valid, false)).toStrictEqual(readPassengerRecord(valid, 'w'));
    for (const odd of [
      { Pclass: '3' }, // numbers as text
      { Age: -1 }, // negative: refused unless serving
      { Age: Number.NaN },
      { Sex: 'Male' },
      { Embarked: ' S' },
      { Cabin: 12 },
      { Name: 7 },
      { PassengerId: 0 },
      { SibSp: 1.5 },
      { pclass: 3 }, // another spelling of a key
      { extra: 1 },
    ]) {
      expect(readWellTypedPassenger({ ...valid, ...odd }, false)).toBeNull();
    }
    expect(readWellTypedPassenger({ ...valid, Age: -1, Fare: -500 }, true)).toMatchObject({ age: -1, fare: -500 });
    // -0 reads as 0, as its text "0" does
    const zero = readWellTypedPassenger({ ...valid, Age: -0, SibSp: -0 }, false);
    expect(Object.is(zero?.age, 0) && Object.is(zero?.sibSp, 0)).toBe(true);
  });
});

const BRAUND: Passenger = {
  passengerId: 1,
  pclass: 3,
  name: 'Braund, Mr. Owen Harris',
  sex: 'male',
  age: 22,
  sibSp: 1,
  parch: 0,
  ticket: 'A/5 21171',
  fare: 7.25,
  cabin: null,
  embarked: 'S',
};
