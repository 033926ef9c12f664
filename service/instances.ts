/**
 * The body of a prediction request: Vertex AI's `{"instances": [...]}` or one bare passenger object. Each
 * instance is validated by the core's `parsePassengerRecord`; an error names the field and the instance.
 */
import { parsePassengerRecord, readWellTypedPassenger } from '../shared/core/passenger-validation.ts';
import { type Passenger, RAW_COLUMNS } from '../shared/core/schema.ts';
import { AppError, isAppError } from '../shared/errors.ts';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates one passenger to score. The CSV contract rejects a negative Age or Fare in training data, but a
 * prediction request with well-typed implausible values (Age 1000, Fare -500) must be scored and show up as
 * drift: the seed's drift demonstration. So a negative Age/Fare is validated as its magnitude by the core (type,
 * format) and the caller's value is what gets scored.
 */
export function parseServingPassenger(record: Record<string, unknown>, where: string): Passenger {
  // Nearly every request is well typed: read it directly, and leave anything else to the full rules below.
  return readWellTypedPassenger(record, true) ?? readServingPassenger(record, where);
}

/** `parseServingPassenger` by the full rules, whatever the record holds (its fast path is tested against this). */
export function readServingPassenger(record: Record<string, unknown>, where: string): Passenger {
  let checked = record;
  const kept: { age?: number; fare?: number } = {};
  for (const key of Object.keys(record)) {
    const value = record[key];
    // the value test first (most fields are not negative numbers), then the column name
    const n =
      typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    if (!(Number.isFinite(n) && n < 0)) continue;
    const column = key.trim().toLowerCase();
    if (column !== 'age' && column !== 'fare') continue;
    checked = { ...checked, [key]: -n };
    kept[column] = n;
  }
  const passenger = parsePassengerRecord(checked, where);
  return kept.age === undefined && kept.fare === undefined ? passenger : { ...passenger, ...kept };
}

/** The first raw column a core validation message names (`Age "x" is not a number` -> `Age`). */
export function columnOfProblem(problem: string): string | undefined {
  const first = problem.split(/\s/, 1)[0];
  return RAW_COLUMNS.find((c) => c === first);
}

export function readInstances(body: unknown, maxBatch: number): Passenger[] {
  if (!isRecord(body)) {
    throw new AppError(
      'BAD_REQUEST',
      'the body must be a JSON object: {"instances": [passenger, ...]} or one passenger',
      {
        field: 'body',
      },
    );
  }
  const hasInstances = Object.hasOwn(body, 'instances');
  const instances: unknown = hasInstances ? body.instances : [body];
  if (!Array.isArray(instances)) {
    throw new AppError('BAD_REQUEST', 'instances must be an array of passengers', { field: 'instances' });
  }
  if (instances.length === 0) {
    throw new AppError('BAD_REQUEST', 'instances must hold at least one passenger', { field: 'instances' });
  }
  if (instances.length > maxBatch) {
    throw new AppError('PAYLOAD_TOO_LARGE', `at most ${maxBatch} instances per request, got ${instances.length}`, {
      field: 'instances',
      maxBatch,
      received: instances.length,
    });
  }
  return instances.map((instance, index) => {
    const where = hasInstances ? `instances[${index}]` : 'body';
    if (!isRecord(instance)) {
      throw new AppError('BAD_REQUEST', `${where}: expected an object with the passenger's fields`, {
        instance: index,
        field: where,
      });
    }
    try {
      return parseServingPassenger(instance, where);
    } catch (err) {
      if (isAppError(err) && err.code === 'BAD_REQUEST') {
        const problems = Array.isArray(err.details?.problems) ? (err.details.problems as string[]) : [];
        const fields = problems.map(columnOfProblem).filter((c) => c !== undefined);
        throw new AppError(
          'BAD_REQUEST',
          err.message,
          { instance: index, field: fields[0] ?? null, fields, problems },
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  });
}
