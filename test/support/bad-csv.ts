/** The shared corpus of bad CSVs: data/bad-csv/expected.json holds what validation makes of each file. */
import { readFileSync } from 'node:fs';

export interface CorpusCase {
  file: string;
  case: string;
  requireSurvived: boolean;
  error?: { code: string; message: string };
  rows?: Array<number | { line: number; passenger: Record<string, unknown> }>;
  rejected?: Array<{ line: number; reason: string }>;
}

/** The folder of the corpus files. */
export const CORPUS_DIR = new URL('../../data/bad-csv/', import.meta.url);

export function readCorpus(): CorpusCase[] {
  return JSON.parse(readFileSync(new URL('expected.json', CORPUS_DIR), 'utf8')) as CorpusCase[];
}
