/**
 * `http.get` / `http.post` / `http.request` as Workflows performs them: a map body is sent as JSON, a JSON
 * response body is parsed, the result is `{code, headers, body}`, and failures become the documented error maps:
 * HttpError (`{tags, message, code, headers, body}`) for a status >= 400, ConnectionFailedError when no connection
 * was made, ConnectionError when it broke during the exchange, TimeoutError when `timeout` seconds passed.
 *
 * Authentication (`auth: {type: OIDC}`) adds no token locally: the local functions do not check one.
 */
import http from 'node:http';
import https from 'node:https';
import { builtinError, isMap, toValue, type Value, type ValueMap, WorkflowError } from './values.ts';

export interface HttpRequest {
  method: string;
  url: string;
  headers: ValueMap;
  query: ValueMap | null;
  body: Value | undefined;
  timeoutSeconds: number;
}

/** The Workflows default request timeout; its maximum is 1800 s. */
export const DEFAULT_HTTP_TIMEOUT_SECONDS = 300;
export const MAX_HTTP_TIMEOUT_SECONDS = 1800;

export function buildHttpRequest(target: string, args: ValueMap): HttpRequest {
  const method = target === 'http.request' ? String(args.method ?? '').toUpperCase() : target.slice(5).toUpperCase();
  if (typeof args.url !== 'string') throw builtinError('TypeError', `${target}: url must be a string`);
  if (args.headers != null && !isMap(args.headers)) throw builtinError('TypeError', `${target}: headers must be a map`);
  if (args.query != null && !isMap(args.query)) throw builtinError('TypeError', `${target}: query must be a map`);
  const timeout = args.timeout ?? DEFAULT_HTTP_TIMEOUT_SECONDS;
  if (typeof timeout !== 'number' || timeout <= 0 || timeout > MAX_HTTP_TIMEOUT_SECONDS)
    throw builtinError(
      'ValueError',
      `${target}: timeout must be a number of seconds in (0, ${MAX_HTTP_TIMEOUT_SECONDS}]`,
    );
  return {
    method,
    url: args.url,
    headers: (args.headers as ValueMap | null) ?? {},
    query: (args.query as ValueMap | null) ?? null,
    body: Object.hasOwn(args, 'body') ? args.body : undefined,
    timeoutSeconds: timeout,
  };
}

export async function performHttp(
  req: HttpRequest,
  opts: { maxTimeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ValueMap> {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw builtinError('ValueError', `invalid URL "${req.url}"`);
  }
  if (req.query) {
    for (const [k, v] of Object.entries(req.query)) {
      for (const item of Array.isArray(v) ? v : [v])
        url.searchParams.append(k, typeof item === 'string' ? item : JSON.stringify(item));
    }
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = typeof v === 'string' ? v : JSON.stringify(v);
  const hasHeader = (name: string): boolean => Object.keys(headers).some((k) => k.toLowerCase() === name);
  let payload: Buffer | undefined;
  if (req.body !== undefined && req.body !== null) {
    if (typeof req.body === 'string') {
      payload = Buffer.from(req.body);
      if (!hasHeader('content-type')) headers['Content-Type'] = 'text/plain; charset=utf-8';
    } else {
      payload = Buffer.from(JSON.stringify(req.body));
      if (!hasHeader('content-type')) headers['Content-Type'] = 'application/json';
    }
    headers['Content-Length'] = String(payload.length);
  }
  const timeoutMs = Math.min(req.timeoutSeconds * 1000, opts.maxTimeoutMs ?? Number.POSITIVE_INFINITY);
  const client = url.protocol === 'https:' ? https : http;

  return new Promise<ValueMap>((resolve, reject) => {
    let connected = false;
    let settled = false;
    const finish = (err: WorkflowError | null, value?: ValueMap): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(value!);
    };
    // A fresh connection per call: a pooled socket the server has since closed would turn a long step's
    // successor into a spurious ConnectionError.
    const request = client.request(url, { method: req.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => finish(builtinError('ConnectionError', 'the connection broke while reading the response')));
      res.on('aborted', () =>
        finish(builtinError('ConnectionError', 'the connection broke while reading the response')),
      );
      res.on('end', () => {
        const responseHeaders: ValueMap = {};
        for (const [k, v] of Object.entries(res.headers))
          if (v !== undefined) responseHeaders[k] = Array.isArray(v) ? v.join(', ') : v;
        const body = decodeBody(Buffer.concat(chunks), res.headers['content-type']);
        const code = res.statusCode ?? 0;
        if (code >= 400) {
          finish(
            new WorkflowError({
              message: `HTTP server responded with error code ${code}`,
              code,
              headers: responseHeaders,
              body,
              tags: ['HttpError'],
            }),
          );
        } else finish(null, { code, headers: responseHeaders, body });
      });
    });
    request.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      if (connected) finish(builtinError('ConnectionError', `connection error: ${err.code ?? err.message}`));
      else finish(builtinError('ConnectionFailedError', `connection failed: ${err.code ?? err.message}`));
    });
    const timer = setTimeout(() => {
      finish(builtinError('TimeoutError', `HTTP request timed out after ${timeoutMs / 1000} seconds`));
      request.destroy();
    }, timeoutMs);
    const onAbort = (): void => {
      finish(builtinError('SystemError', 'the execution was stopped'));
      request.destroy();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    request.end(payload);
  });
}

function decodeBody(raw: Buffer, contentType: string | undefined): Value {
  if (raw.length === 0) return null;
  const text = raw.toString('utf8');
  if (contentType && /[/+]json\b/i.test(contentType)) {
    try {
      return toValue(JSON.parse(text));
    } catch {
      return text;
    }
  }
  return text;
}
