/**
 * The stylesheet, read once at start. It sits next to this module in the source tree and next to the bundle
 * in the container image (the Dockerfile copies it there), so the same relative URL works in both.
 */
import { readFileSync } from 'node:fs';

export const STYLESHEET: Buffer = readFileSync(new URL('./style.css', import.meta.url));
