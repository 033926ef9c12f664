/** Types of cli/launch.mjs (plain JavaScript: it runs before anything can compile TypeScript). */
export declare const CLI_NAMES: readonly string[];
export declare const OUT_DIR: string;
export interface BundleManifest {
  format: number;
  node: string;
  outputs: string[];
  /** Input file (relative to the root) -> [size, mtimeMs] when built. */
  inputs: Record<string, [number, number]>;
}
export declare function isFresh(outDir?: string, root?: string): Promise<boolean>;
export declare function buildBundles(outDir?: string, root?: string): Promise<BundleManifest>;
