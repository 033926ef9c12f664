/**
 * The feature store's Redis format (docs/feature-store.md is the spec): key names, the Lua scripts that write
 * and flip atomically, and the binary encoding of matrices and entity records (little-endian float64, uint8
 * labels, int32 ids).
 */
import { AppError } from '../../errors.ts';

/** Rows of equal width, row-major: row `i` is `X[i*cols .. (i+1)*cols)`. */
export interface PackedMatrix {
  rows: number;
  cols: number;
  X: Float64Array;
  y: Uint8Array;
}

export const VERSION_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
export const SPLIT_CODES = { train: 0, test: 1 } as const;

export function keysFor(prefix: string, version: string) {
  const base = `${prefix}:${version}`;
  return {
    meta: `${base}:meta`,
    recipe: `${base}:recipe`,
    /** Recipe v2: the fitted group table (the group entities: members of each family and ticket group). */
    groups: `${base}:groups`,
    ids: `${base}:ids`,
    /** Written by format versions before this one (a drift reference nobody read); still deleted with its version. */
    legacyDrift: `${base}:drift`,
    matrix: (part: 'train' | 'synthetic' | 'test', what: 'X' | 'y') => `${base}:${what}:${part}`,
    entity: (id: number) => `${base}:e:${id}`,
  };
}

/** Every fixed (non-entity) key of a version, for deletion. */
export function fixedKeys(prefix: string, version: string): string[] {
  const k = keysFor(prefix, version);
  const parts = ['train', 'synthetic', 'test'] as const;
  return [
    k.meta,
    k.recipe,
    k.groups,
    k.ids,
    k.legacyDrift,
    ...parts.flatMap((p) => [k.matrix(p, 'X'), k.matrix(p, 'y')]),
  ];
}

/**
 * Atomic pointer flip: the version must be complete, and an older version (lower score in the versions set)
 * never replaces a newer current one. Returns the version current afterwards.
 */
export const FLIP_SCRIPT = `
if redis.call('HGET', KEYS[3], 'status') ~= 'complete' then
  return redis.error_reply('INCOMPLETE feature set ' .. ARGV[1])
end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  local curScore = redis.call('ZSCORE', KEYS[2], cur)
  local newScore = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if curScore and newScore and tonumber(curScore) > tonumber(newScore) then return cur end
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`;

/** Writes a batch of entity hashes: KEYS are the entity keys, ARGV[1] their packed values, ARGV[2] the value size. */
export const WRITE_ENTITIES_SCRIPT = `
local blob = ARGV[1]
local w = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 'v', string.sub(blob, (i - 1) * w + 1, i * w))
end
return #KEYS
`;

export function packRows(rows: ReadonlyArray<ArrayLike<number>>, cols: number): Float64Array {
  const out = new Float64Array(rows.length * cols);
  rows.forEach((row, i) => {
    if (row.length !== cols) throw new AppError('INTERNAL', `row ${i} has ${row.length} features, expected ${cols}`);
    for (let j = 0; j < cols; j++) out[i * cols + j] = row[j]!;
  });
  return out;
}

export function packLabels(y: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i]!;
  return out;
}

/** Little-endian bytes of a typed array (all supported hosts are little-endian; checked below). */
export const bytes = (a: Float64Array | Uint8Array | Int32Array): Buffer =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength);
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
  throw new Error('feature store requires a little-endian host');

export function float64s(buf: Buffer): Float64Array {
  // Copy into an aligned buffer: a Buffer from ioredis may start at any offset of a shared slab.
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Float64Array(copy.buffer, 0, buf.byteLength / 8);
}

export function int32s(buf: Buffer): Int32Array {
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Int32Array(copy.buffer, 0, buf.byteLength / 4);
}

/** Rows of a packed matrix as arrays (what the training core takes). */
export function unpackRows(m: PackedMatrix): { X: number[][]; y: number[] } {
  const X: number[][] = [];
  for (let i = 0; i < m.rows; i++) X.push(Array.from(m.X.subarray(i * m.cols, (i + 1) * m.cols)));
  return { X, y: Array.from(m.y) };
}
