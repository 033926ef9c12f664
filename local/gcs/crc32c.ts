/**
 * CRC32C (Castagnoli), base64 of the big-endian value, as GCS reports `crc32c`. `@google-cloud/storage` ships
 * a CRC32C class, but it walks the buffer one byte at a time through an iterator: about 26 MB/s here, which
 * made the emulator's own hashing the slowest part of a large upload. This is the same function computed
 * eight bytes per step ("slicing-by-8"), about 13x faster; a test checks it against the client's class.
 */
const POLY = 0x82f63b78; // reversed Castagnoli polynomial

/** TABLE[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
const TABLE = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const prev = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = (prev >>> 8) ^ t[prev & 0xff]!;
    }
  }
  return t;
})();

export class Crc32c {
  #crc = 0;

  update(data: Uint8Array): this {
    const t = TABLE;
    let c = ~this.#crc;
    let i = 0;
    const end8 = data.length - (data.length % 8);
    for (; i < end8; i += 8) {
      const lo = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
      c =
        t[1792 + (lo & 0xff)]! ^
        t[1536 + ((lo >>> 8) & 0xff)]! ^
        t[1280 + ((lo >>> 16) & 0xff)]! ^
        t[1024 + (lo >>> 24)]! ^
        t[768 + data[i + 4]!]! ^
        t[512 + data[i + 5]!]! ^
        t[256 + data[i + 6]!]! ^
        t[data[i + 7]!]!;
    }
    for (; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    this.#crc = ~c;
    return this;
  }

  /** Base64 of the 4 big-endian bytes, GCS's `crc32c` format. */
  toString(): string {
    const out = Buffer.alloc(4);
    out.writeInt32BE(this.#crc | 0);
    return out.toString('base64');
  }
}
