/**
 * Structured JSON logs in Cloud Logging's format: one line per entry on stdout (stderr for ERROR and above),
 * with `severity`, `message`, and the trace / execution id under the keys Cloud Logging understands.
 */
export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  /** Fields added to every entry (component name, execution id, `logging.googleapis.com/trace`). */
  fields?: Record<string, unknown>;
  /** Where lines go; defaults to process.stdout / process.stderr. Tests pass an array sink. */
  sink?: (line: string, severity: Severity) => void;
  /** Entries below this severity are dropped. */
  minSeverity?: Severity;
}

const ORDER: Record<Severity, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4, CRITICAL: 5 };

const defaultSink = (line: string, severity: Severity): void => {
  (ORDER[severity] >= ORDER.ERROR ? process.stderr : process.stdout).write(`${line}\n`);
};

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = options.fields ?? {};
  const sink = options.sink ?? defaultSink;
  const min = ORDER[options.minSeverity ?? 'DEBUG'];
  const write = (severity: Severity, message: string, fields?: Record<string, unknown>): void => {
    if (ORDER[severity] < min) return;
    const entry: Record<string, unknown> = { severity, message, time: new Date().toISOString(), ...base, ...fields };
    const err = entry.err;
    if (err instanceof Error) {
      // Cloud Error Reporting picks up `stack_trace`; the stack never goes to a caller, only to the log.
      entry.err = { name: err.name, message: err.message, code: (err as { code?: unknown }).code };
      entry.stack_trace = err.stack;
    }
    sink(JSON.stringify(entry), severity);
  };
  return {
    debug: (m, f) => write('DEBUG', m, f),
    info: (m, f) => write('INFO', m, f),
    warn: (m, f) => write('WARNING', m, f),
    error: (m, f) => write('ERROR', m, f),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** The Cloud Logging trace key for a request carrying `X-Cloud-Trace-Context` or `traceparent`. */
export function traceFields(
  headers: Record<string, string | string[] | undefined>,
  projectId: string | undefined,
): Record<string, string> {
  const raw = headers['x-cloud-trace-context'] ?? headers.traceparent;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) return {};
  const traceId = value.includes('/') ? value.split('/')[0] : value.split('-')[1];
  if (!traceId) return {};
  return { 'logging.googleapis.com/trace': projectId ? `projects/${projectId}/traces/${traceId}` : traceId };
}
