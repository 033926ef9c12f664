/**
 * The entry points only wire: with a valid environment they register their function; with an invalid one they
 * refuse to start, naming every bad variable in one structured log entry.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const entry = (dir: string) => new URL(`./${dir}`, import.meta.url).href;

/** Imports entry points in one fresh process and prints which functions got registered. */
async function start(names: string[], env: Record<string, string>) {
  const script = `
    const { getFunction } = await import('@google-cloud/functions-framework/testing');
    const registered = [];
    for (const name of ${JSON.stringify(names)}) {
      await import(new URL('./' + name + '/index.ts', ${JSON.stringify(entry(''))}).href);
      if (typeof getFunction(name) === 'function') registered.push(name);
    }
    console.log(JSON.stringify({ registered }));
    process.exit(0);`;
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      cwd: new URL('..', import.meta.url).pathname,
    });
    return { ok: true, out: stdout };
  } catch (err) {
    const e = err as { stdout: string; stderr: string };
    return { ok: false, out: `${e.stdout}${e.stderr}` };
  }
}

describe('function entry points', () => {
  it('register migrate, load, process and train when the environment is valid', async () => {
    const env = { MODELS_BUCKET: 'models', REDIS_URL: 'redis://127.0.0.1:6379', PGHOST: '127.0.0.1' };
    const result = await start(['migrate', 'load', 'process', 'train'], env);
    expect(result.out).toContain('{"registered":["migrate","load","process","train"]}');
  });

  it('refuse to start migrate with a plain password among its login secrets, naming the function', async () => {
    const result = await start(['migrate'], { PG_LOGIN_SECRETS: JSON.stringify({ load: 'hunter2' }) });
    expect(result.ok).toBe(false);
    const entry = result.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.code === 'CONFIG_INVALID');
    expect(entry).toMatchObject({ severity: 'ERROR', component: 'migrate' });
    expect(String(entry?.message)).toContain('PG_LOGIN_SECRETS.load must be a SCRAM-SHA-256 secret');
  });

  it('refuse to start train without MODELS_BUCKET and with a bad MIN_ACCURACY, naming both', async () => {
    const result = await start(['train'], { MIN_ACCURACY: 'high' });
    expect(result.ok).toBe(false);
    const entry = result.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.code === 'CONFIG_INVALID');
    expect(entry).toMatchObject({ severity: 'ERROR', component: 'train' });
    expect(String(entry?.message)).toContain('MODELS_BUCKET is required');
    expect(String(entry?.message)).toContain('MIN_ACCURACY must be a number, got "high"');
  });

  it('refuse to start train with promotion settings out of range, naming each', async () => {
    const result = await start(['train'], { MODELS_BUCKET: 'm', PROMOTION_ALPHA: '2', VALIDATION_MAX_JS: '-1' });
    expect(result.ok).toBe(false);
    const entry = result.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.code === 'CONFIG_INVALID');
    expect(String(entry?.message)).toMatch(/PROMOTION_ALPHA/);
    expect(String(entry?.message)).toMatch(/VALIDATION_MAX_JS/);
  });
});
