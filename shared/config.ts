/**
 * Typed configuration from environment variables, parsed once at cold start. Each deployable declares its
 * own config with these readers; every problem is collected and reported together in one `ConfigError`
 * naming the variables, so a misconfigured deploy fails at start with a clear message, not at first use.
 *
 *   const cfg = parseConfig(process.env, (env) => ({
 *     bucket: env.string('DATA_BUCKET'),
 *     port: env.int('PORT', { default: 8080, min: 1, max: 65535 }),
 *   }));
 */

import type { EnvName } from './env.ts';
import { ConfigError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

interface NumberOpts {
  default?: number;
  min?: number;
  max?: number;
}

export interface EnvReader {
  /** `emptyAllowed`: a set but empty value is kept as '' (otherwise empty counts as unset). */
  string(name: EnvName, opts?: { default?: string; emptyAllowed?: boolean }): string;
  optionalString(name: EnvName): string | undefined;
  int(name: EnvName, opts?: NumberOpts): number;
  number(name: EnvName, opts?: NumberOpts): number;
  bool(name: EnvName, opts?: { default?: boolean }): boolean;
  url(name: EnvName, opts?: { default?: string }): string;
  oneOf<T extends string>(name: EnvName, values: readonly T[], opts?: { default?: T }): T;
}

export function parseConfig<T>(env: Env, build: (reader: EnvReader) => T): T {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const missing = (name: string): never => {
    problems.push(`${name} is required`);
    return undefined as never;
  };
  const num = (name: string, integer: boolean, opts: NumberOpts = {}): number => {
    const v = raw(name);
    if (v === undefined) return opts.default ?? missing(name);
    const n = Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      problems.push(`${name} must be ${integer ? 'an integer' : 'a number'}, got "${v}"`);
      return Number.NaN;
    }
    if (opts.min !== undefined && n < opts.min) problems.push(`${name} must be >= ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) problems.push(`${name} must be <= ${opts.max}, got ${n}`);
    return n;
  };
  const reader: EnvReader = {
    string: (name, opts = {}) =>
      raw(name) ?? (opts.emptyAllowed && env[name] !== undefined ? '' : undefined) ?? opts.default ?? missing(name),
    optionalString: (name) => raw(name),
    int: (name, opts) => num(name, true, opts),
    number: (name, opts) => num(name, false, opts),
    bool: (name, opts = {}) => {
      const v = raw(name);
      if (v === undefined) return opts.default ?? missing(name);
      if (/^(1|true|yes|on)$/i.test(v)) return true;
      if (/^(0|false|no|off)$/i.test(v)) return false;
      problems.push(`${name} must be true or false, got "${v}"`);
      return false;
    },
    url: (name, opts = {}) => {
      const v = raw(name) ?? opts.default;
      if (v === undefined) return missing(name);
      try {
        new URL(v);
      } catch {
        problems.push(`${name} must be a URL, got "${v}"`);
      }
      return v;
    },
    oneOf: (name, values, opts = {}) => {
      const v = raw(name) ?? opts.default;
      if (v === undefined) return missing(name);
      if (!(values as readonly string[]).includes(v))
        problems.push(`${name} must be one of ${values.join(', ')}, got "${v}"`);
      return v as (typeof values)[number];
    },
  };
  const config = build(reader);
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`, { problems });
  }
  return config;
}
