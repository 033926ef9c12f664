/**
 * The values a workflow computes with, and the error maps it raises.
 *
 * Workflows values are JSON values: null, booleans, numbers, strings, lists and maps. Errors are maps too
 * (`{message, tags: [...], ...}`); a workflow catches them with `except` and reads `e.tags`, `e.code`, so an
 * error raised here is a `WorkflowError` that carries the map the workflow sees.
 */
export type Value = null | boolean | number | string | Value[] | ValueMap;
export interface ValueMap {
  [key: string]: Value;
}

/** The tags Google documents for error maps (error-types reference). */
export type ErrorTag =
  | 'AuthError'
  | 'ConnectionError'
  | 'ConnectionFailedError'
  | 'HttpError'
  | 'IndexError'
  | 'KeyError'
  | 'RecursionError'
  | 'ResourceLimitError'
  | 'SystemError'
  | 'TimeoutError'
  | 'TypeError'
  | 'ValueError'
  | 'ZeroDivisionError';

/** A raised workflow error: `value` is what `except: {as: e}` binds (usually a map with `tags`). */
export class WorkflowError extends Error {
  readonly value: Value;
  /** Where it was raised, for the execution's `error.context` and stack trace; set once, by the innermost step. */
  where: { routine: string; step: string; line: number; column: number } | undefined;

  constructor(value: Value) {
    super(typeof value === 'string' ? value : messageOf(value));
    this.name = 'WorkflowError';
    this.value = value;
  }
}

function messageOf(value: Value): string {
  if (isMap(value) && typeof value.message === 'string') return value.message;
  return JSON.stringify(value);
}

/** A built-in error such as `{message: 'KeyError: key not found: x', tags: ['KeyError']}`. */
export function builtinError(tag: ErrorTag, message: string, extra: ValueMap = {}): WorkflowError {
  return new WorkflowError({ message, tags: [tag], ...extra });
}

export function isMap(v: unknown): v is ValueMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function hasTag(value: Value, tag: string): boolean {
  return isMap(value) && Array.isArray(value.tags) && value.tags.includes(tag);
}

export function typeName(v: Value): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (isMap(v)) return 'map';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'double';
  if (typeof v === 'boolean') return 'boolean';
  return 'string';
}

/** Structural equality, as `==` compares lists and maps. */
export function deepEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]!));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k]!, b[k]!));
  }
  return false;
}

/** Converts anything JSON-shaped (parsed bodies, arguments) to a Value, dropping `undefined`. */
export function toValue(x: unknown): Value {
  if (x === undefined || x === null) return null;
  if (typeof x === 'boolean' || typeof x === 'number' || typeof x === 'string') return x;
  if (Array.isArray(x)) return x.map(toValue);
  if (typeof x === 'object') {
    const out: ValueMap = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = toValue(v);
    return out;
  }
  return String(x);
}
