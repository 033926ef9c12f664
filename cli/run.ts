/** The edge of the CLIs: runs `main` when the file is the entry point, maps errors to a message and exit code. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isAppError } from '../shared/errors.ts';

/** Bad command-line usage: exit code 2 with the message. */
export class UsageError extends Error {
  override name = 'UsageError';
}

function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

export function runCli(moduleUrl: string, main: (argv: string[]) => Promise<number>): void {
  if (!isEntryPoint(moduleUrl)) return;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError || (err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exitCode = 2;
      } else if (isAppError(err)) {
        process.stderr.write(`error ${err.code}: ${err.message}\n`);
        process.exitCode = 1;
      } else {
        process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
