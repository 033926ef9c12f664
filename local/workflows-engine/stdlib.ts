/**
 * The standard-library functions expressions may call, with the semantics of Google's stdlib reference
 * (argument types checked, `TypeError` / `ValueError` / `KeyError` / `IndexError` raised as Workflows does).
 * `default` is not here: it evaluates its first argument lazily, so the evaluator implements it.
 */
import { builtinError, isMap, typeName, type Value, type ValueMap } from './values.ts';

export interface StdlibContext {
  /** `sys.get_env`: the workflow's user environment variables plus the built-in GOOGLE_CLOUD_* ones. */
  env: Readonly<Record<string, string>>;
  /** Seconds since the epoch (`sys.now`); injectable for tests. */
  now: () => number;
}

type Fn = (args: Value[], ctx: StdlibContext) => Value;

function arity(name: string, args: Value[], min: number, max = min): void {
  if (args.length < min || args.length > max)
    throw builtinError(
      'TypeError',
      `${name}() takes ${min === max ? min : `${min} to ${max}`} argument(s), ${args.length} given`,
    );
}

function str(name: string, v: Value | undefined): string {
  if (typeof v !== 'string') throw builtinError('TypeError', `${name}: expected a string, got ${typeName(v ?? null)}`);
  return v;
}

function int(name: string, v: Value | undefined): number {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw builtinError('TypeError', `${name}: expected an integer, got ${typeName(v ?? null)}`);
  return v;
}

function num(name: string, v: Value | undefined): number {
  if (typeof v !== 'number') throw builtinError('TypeError', `${name}: expected a number, got ${typeName(v ?? null)}`);
  return v;
}

function map(name: string, v: Value | undefined): ValueMap {
  if (!isMap(v)) throw builtinError('TypeError', `${name}: expected a map, got ${typeName(v ?? null)}`);
  return v;
}

function list(name: string, v: Value | undefined): Value[] {
  if (!Array.isArray(v)) throw builtinError('TypeError', `${name}: expected a list, got ${typeName(v ?? null)}`);
  return v;
}

/** Text form used by `string()` and the log: doubles keep a decimal point only when they need one. */
export function toText(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return JSON.stringify(v);
}

function regex(name: string, pattern: Value | undefined): RegExp {
  try {
    // RE2 (what Workflows uses) and JS agree on the common subset; the `g` flag drives matchAll / replace.
    return new RegExp(str(name, pattern), 'g');
  } catch (err) {
    throw builtinError('ValueError', `${name}: invalid regular expression: ${(err as Error).message}`);
  }
}

export const STDLIB: Record<string, Fn> = {
  len: (a) => {
    arity('len', a, 1);
    const v = a[0]!;
    if (typeof v === 'string') return [...v].length;
    if (Array.isArray(v)) return v.length;
    if (isMap(v)) return Object.keys(v).length;
    throw builtinError('TypeError', `len: expected a string, list or map, got ${typeName(v)}`);
  },
  keys: (a) => {
    arity('keys', a, 1);
    return Object.keys(map('keys', a[0]));
  },
  string: (a) => {
    arity('string', a, 1);
    const v = a[0]!;
    if (v === null || Array.isArray(v) || isMap(v))
      throw builtinError('TypeError', `string: cannot convert ${typeName(v)} to string`);
    return toText(v);
  },
  int: (a) => {
    arity('int', a, 1);
    const v = a[0]!;
    if (typeof v === 'number') return Math.trunc(v);
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'string') {
      if (!/^\s*[+-]?\d+\s*$/.test(v)) throw builtinError('ValueError', `int: cannot convert "${v}" to integer`);
      return Number.parseInt(v, 10);
    }
    throw builtinError('TypeError', `int: cannot convert ${typeName(v)} to integer`);
  },
  double: (a) => {
    arity('double', a, 1);
    const v = a[0]!;
    if (typeof v === 'number') return v;
    if (typeof v === 'string') {
      const n = Number(v.trim());
      if (v.trim() === '' || !Number.isFinite(n))
        throw builtinError('ValueError', `double: cannot convert "${v}" to double`);
      return n;
    }
    throw builtinError('TypeError', `double: cannot convert ${typeName(v)} to double`);
  },
  get_type: (a) => {
    arity('get_type', a, 1);
    return typeName(a[0]!);
  },
  'map.get': (a) => {
    arity('map.get', a, 2);
    let cur: Value = map('map.get', a[0]);
    const path = Array.isArray(a[1]) ? a[1] : [a[1]!];
    for (const key of path) {
      if (!isMap(cur)) return null;
      const k = str('map.get', key);
      if (!Object.hasOwn(cur, k)) return null;
      cur = cur[k]!;
    }
    return cur;
  },
  'map.merge': (a) => {
    arity('map.merge', a, 2);
    return { ...map('map.merge', a[0]), ...map('map.merge', a[1]) };
  },
  'map.delete': (a) => {
    arity('map.delete', a, 2);
    const out = { ...map('map.delete', a[0]) };
    delete out[str('map.delete', a[1])];
    return out;
  },
  'list.concat': (a) => {
    arity('list.concat', a, 2);
    return [...list('list.concat', a[0]), a[1]!];
  },
  'json.encode_to_string': (a) => {
    arity('json.encode_to_string', a, 1, 3);
    return JSON.stringify(a[0]);
  },
  'json.decode': (a) => {
    arity('json.decode', a, 1);
    try {
      return JSON.parse(str('json.decode', a[0])) as Value;
    } catch (err) {
      if (err instanceof SyntaxError) throw builtinError('ValueError', `json.decode: ${err.message}`);
      throw err;
    }
  },
  // Bytes are represented by their UTF-8 text: enough for the documented json.decode(text.encode(s)) idiom.
  'text.encode': (a) => {
    arity('text.encode', a, 1, 2);
    return str('text.encode', a[0]);
  },
  'text.decode': (a) => {
    arity('text.decode', a, 1, 2);
    return str('text.decode', a[0]);
  },
  'text.to_lower': (a) => {
    arity('text.to_lower', a, 1);
    return str('text.to_lower', a[0]).toLowerCase();
  },
  'text.to_upper': (a) => {
    arity('text.to_upper', a, 1);
    return str('text.to_upper', a[0]).toUpperCase();
  },
  'text.split': (a) => {
    arity('text.split', a, 2);
    return str('text.split', a[0]).split(str('text.split', a[1]));
  },
  'text.substring': (a) => {
    arity('text.substring', a, 3);
    const chars = [...str('text.substring', a[0])];
    const clamp = (n: number): number => Math.max(0, Math.min(chars.length, n));
    const start = clamp(int('text.substring', a[1]));
    const end = clamp(int('text.substring', a[2]));
    return start >= end ? '' : chars.slice(start, end).join('');
  },
  'text.find_all': (a) => {
    arity('text.find_all', a, 2);
    const source = str('text.find_all', a[0]);
    const sub = str('text.find_all', a[1]);
    const out: Value[] = [];
    if (sub === '') return out;
    for (let i = source.indexOf(sub); i >= 0; i = source.indexOf(sub, i + sub.length))
      out.push({ index: i, match: sub });
    return out;
  },
  'text.find_all_regex': (a) => {
    arity('text.find_all_regex', a, 2);
    return [...str('text.find_all_regex', a[0]).matchAll(regex('text.find_all_regex', a[1]))].map((m) => ({
      index: m.index,
      match: m[0],
    }));
  },
  'text.match_regex': (a) => {
    arity('text.match_regex', a, 2);
    return regex('text.match_regex', a[1]).test(str('text.match_regex', a[0]));
  },
  'text.replace_all': (a) => {
    arity('text.replace_all', a, 3);
    return str('text.replace_all', a[0]).split(str('text.replace_all', a[1])).join(str('text.replace_all', a[2]));
  },
  'text.replace_all_regex': (a) => {
    arity('text.replace_all_regex', a, 3);
    // Workflows' replacement refers to groups as \1; JS as $1.
    const repl = str('text.replace_all_regex', a[2])
      .replace(/\$/g, '$$$$')
      .replace(/\\(\d)/g, '$$$1');
    return str('text.replace_all_regex', a[0]).replace(regex('text.replace_all_regex', a[1]), repl);
  },
  'math.abs': (a) => {
    arity('math.abs', a, 1);
    return Math.abs(num('math.abs', a[0]));
  },
  'math.floor': (a) => {
    arity('math.floor', a, 1);
    return Math.floor(num('math.floor', a[0]));
  },
  'math.max': (a) => {
    arity('math.max', a, 2);
    return Math.max(num('math.max', a[0]), num('math.max', a[1]));
  },
  'math.min': (a) => {
    arity('math.min', a, 2);
    return Math.min(num('math.min', a[0]), num('math.min', a[1]));
  },
  'sys.get_env': (a, ctx) => {
    arity('sys.get_env', a, 1, 2);
    const name = str('sys.get_env', a[0]);
    if (a[1] !== undefined) str('sys.get_env', a[1]);
    return Object.hasOwn(ctx.env, name) ? ctx.env[name]! : (a[1] ?? null);
  },
  'sys.now': (a, ctx) => {
    arity('sys.now', a, 0);
    return ctx.now();
  },
  'time.format': (a) => {
    arity('time.format', a, 1, 2);
    if (a[1] !== undefined && a[1] !== 'UTC' && a[1] !== 'Etc/UTC')
      throw builtinError('ValueError', 'time.format: only the UTC time zone is supported locally');
    return new Date(num('time.format', a[0]) * 1000).toISOString().replace('.000Z', 'Z');
  },
  'time.parse': (a) => {
    arity('time.parse', a, 1);
    const ms = Date.parse(str('time.parse', a[0]));
    if (Number.isNaN(ms)) throw builtinError('ValueError', `time.parse: not an RFC 3339 time: "${a[0]}"`);
    return ms / 1000;
  },
};

/** Names usable in expressions besides STDLIB: `default` (lazy) and the retry policy/predicate names. */
export const SPECIAL_FUNCTIONS = new Set(['default']);
