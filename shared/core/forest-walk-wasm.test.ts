/**
 * The forest walk's WebAssembly bytes (forest-walk-wasm.ts) are what forest-walk.wat assembles to. With
 * UPDATE_WASM=1 (`npm run build:wasm`) this test writes them instead: edit the .wat, run that, commit both.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import wabtInit from 'wabt';
import { FOREST_WALK_WASM } from './forest-walk-wasm.ts';

const WAT = new URL('./forest-walk.wat', import.meta.url);
const OUT = new URL('./forest-walk-wasm.ts', import.meta.url);

async function assemble(): Promise<string> {
  const wabt = await wabtInit();
  const module = wabt.parseWat('forest-walk.wat', await readFile(WAT, 'utf8'));
  try {
    module.validate();
    return Buffer.from(module.toBinary({}).buffer).toString('base64');
  } finally {
    module.destroy();
  }
}

describe('forest-walk-wasm', () => {
  it('holds the bytes forest-walk.wat assembles to', async () => {
    const bytes = await assemble();
    if (process.env.UPDATE_WASM === '1') {
      await writeFile(
        OUT,
        [
          '/**',
          ' * The forest walk in WebAssembly, assembled from forest-walk.wat by `npm run build:wasm` (do not edit: edit the',
          ' * .wat and run that). forest-walk-wasm.test.ts checks that these are the bytes the .wat assembles to.',
          ' */',
          `export const FOREST_WALK_WASM = '${bytes}';`,
          '',
        ].join('\n'),
      );
      return; // this run imported the old bytes; the next one checks the new
    }
    expect(FOREST_WALK_WASM).toBe(bytes);
    const api = (globalThis as { WebAssembly?: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
    expect(api?.validate(Buffer.from(FOREST_WALK_WASM, 'base64'))).toBe(true);
  });
});
