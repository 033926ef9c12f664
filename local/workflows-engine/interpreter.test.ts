// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Workflows expressions are written ${...} inside plain strings
/**
 * The interpreter against small programs whose expected results follow Google's Workflows syntax and standard
 * library reference (variables, maps, switch, jumps, loops, subworkflows, errors, retries, expressions).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LogEntry, loadWorkflow, type RunOptions, runWorkflow, type StepEvent, WorkflowError } from './index.ts';
import type { Value } from './values.ts';

const run = (source: string, opts: RunOptions = {}): Promise<Value> => runWorkflow(loadWorkflow(source), opts);

async function failure(source: string, opts: RunOptions = {}): Promise<Value> {
  try {
    await run(source, opts);
  } catch (err) {
    if (err instanceof WorkflowError) return err.value;
    throw err;
  }
  throw new Error('the workflow succeeded');
}

/** Stub HTTP target: GET /status/N answers N; /json echoes the request; /slow waits 2 s; /flaky/K fails K times. */
let base = '';
const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
const flakyCounts = new Map<string, number>();
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const url = new URL(req.url ?? '/', 'http://x');
    const status = /^\/status\/(\d+)$/.exec(url.pathname);
    if (status) {
      res.writeHead(Number(status[1]), { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'E', message: `status ${status[1]}` } }));
    } else if (url.pathname === '/json') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(
        JSON.stringify({
          method: req.method,
          query: Object.fromEntries(url.searchParams),
          body: body ? JSON.parse(body) : null,
        }),
      );
    } else if (url.pathname === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('plain words');
    } else if (url.pathname === '/slow') {
      setTimeout(() => res.end('late'), 2000);
    } else if (url.pathname.startsWith('/flaky/')) {
      const key = `${url.pathname}?${url.searchParams.get('id')}`;
      const n = (flakyCounts.get(key) ?? 0) + 1;
      flakyCounts.set(key, n);
      const failures = Number(url.pathname.split('/')[2]);
      if (n <= failures) res.writeHead(503).end('busy');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ attempt: n }));
    } else res.writeHead(404).end();
  });
});

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('variables and expressions', () => {
  it('assigns variables in order, each assignment seeing the ones before it', async () => {
    const out = await run(`
- assign_vars:
    assign:
      - number: 5
      - number_plus_one: \${number + 1}
      - string: "hello"
- return_value:
    return: \${string + " " + string(number_plus_one)}
`);
    expect(out).toBe('hello 6');
  });

  it('creates and updates map keys with dot and bracket notation', async () => {
    const out = await run(`
- createMap:
    assign:
      - myMap: {"key1": "value1"}
      - keyName: key3
      - myMap.key2: value2
      - myMap[keyName]: value3
      - myMap.nested.inner: 1
- returnMap:
    return: \${myMap}
`);
    expect(out).toEqual({ key1: 'value1', key2: 'value2', key3: 'value3', nested: { inner: 1 } });
  });

  it('reads and writes list elements by index', async () => {
    const out = await run(`
- init:
    assign:
      - l: [10, 20, 30]
      - l[1]: 21
- out:
    return: \${[l[0], l[1], len(l)]}
`);
    expect(out).toEqual([10, 21, 3]);
  });

  it('evaluates arithmetic with Workflows operators: / gives a double, // floors, % is the remainder', async () => {
    expect(await run('- r:\n    return: ${[7 / 2, 7 // 2, 7 % 3, -2 * 3 + 10, 1 + 2 * 3, (1 + 2) * 3]}\n')).toEqual([
      3.5, 3, 1, 4, 7, 9,
    ]);
  });

  it('evaluates comparisons, and/or/not and in', async () => {
    const out = await run(`
- init:
    assign:
      - tags: ["HttpError"]
      - m: {"a": 1}
- r:
    return: \${[1 < 2, "b" >= "a", 1 == 1.0, [1, 2] == [1, 2], "HttpError" in tags, not("x" in tags), "a" in m, "b" not in m, true and false, false or true]}
`);
    expect(out).toEqual([true, true, true, true, true, true, true, true, false, true]);
  });

  it('short-circuits and/or so the right side is not evaluated', async () => {
    expect(await run('- r:\n    return: ${false and missing.key}\n')).toBe(false);
    expect(await run('- r:\n    return: ${true or missing.key}\n')).toBe(true);
  });

  it('raises a TypeError for + between a string and a number', async () => {
    const err = await failure('- r:\n    return: ${"a" + 1}\n');
    expect(err).toMatchObject({ tags: ['TypeError'] });
  });

  it('raises a KeyError for a missing map key and default() turns it into the default', async () => {
    expect(await failure('- a:\n    assign:\n      - m: {}\n- r:\n    return: ${m.absent}\n')).toMatchObject({
      tags: ['KeyError'],
    });
    expect(
      await run(
        '- a:\n    assign:\n      - m: {"n": null}\n- r:\n    return: ${[default(m.absent, "d"), default(m.n, 0), default(1, 2)]}\n',
      ),
    ).toEqual(['d', 0, 1]);
  });

  it('map.get returns null for a missing key and follows a list of keys', async () => {
    const out = await run(`
- a:
    assign:
      - m: {"a": {"b": 2}}
- r:
    return: \${[map.get(m, "a"), map.get(m, "x"), map.get(m, ["a", "b"]), map.get(m, ["a", "x"])]}
`);
    expect(out).toEqual([{ b: 2 }, null, 2, null]);
  });

  it('implements the text, json, len, keys and conversion functions', async () => {
    const out = await run(`
- r:
    return:
      find_all: \${text.find_all("abcab", "ab")}
      replace_all: \${text.replace_all("a-b-c", "-", "+")}
      split: \${text.split("a,b,,c", ",")}
      lower: \${text.to_lower("MiXeD")}
      upper: \${text.to_upper("MiXeD")}
      substring: \${text.substring("hello world", 6, 100)}
      regex: \${text.match_regex("abc123", "[0-9]+")}
      encoded: '\${json.encode_to_string({"a": [1, true, null]})}'
      decoded: '\${json.decode("{\\"k\\": [1, 2]}")}'
      decoded_bytes: \${json.decode(text.encode("[3]"))}
      lengths: '\${[len("héllo"), len([1, 2]), len({"a": 1})]}'
      keys: '\${keys({"x": 1, "y": 2})}'
      conversions: \${[int("42"), int(3.9), double("2.5"), string(12), string(true)]}
`);
    expect(out).toEqual({
      find_all: [
        { index: 0, match: 'ab' },
        { index: 3, match: 'ab' },
      ],
      replace_all: 'a+b+c',
      split: ['a', 'b', '', 'c'],
      lower: 'mixed',
      upper: 'MIXED',
      substring: 'world',
      regex: true,
      encoded: '{"a":[1,true,null]}',
      decoded: { k: [1, 2] },
      decoded_bytes: [3],
      lengths: [5, 2, 1],
      keys: ['x', 'y'],
      conversions: [42, 3, 2.5, '12', 'true'],
    });
  });

  it('reads user environment variables with sys.get_env, null (or the default) when unset', async () => {
    const out = await run(
      '- r:\n    return: ${[sys.get_env("LOAD_URL"), sys.get_env("NOPE"), sys.get_env("NOPE", "d")]}\n',
      {
        env: { LOAD_URL: 'http://x' },
      },
    );
    expect(out).toEqual(['http://x', null, 'd']);
  });

  it('formats epoch seconds with time.format', async () => {
    expect(await run('- r:\n    return: ${time.format(0)}\n')).toBe('1970-01-01T00:00:00Z');
  });

  it('treats a string that is not entirely ${...} as a plain string', async () => {
    expect(await run('- r:\n    return: "cost: ${price}"\n')).toBe('cost: ${price}');
  });
});

describe('control flow', () => {
  it('follows switch conditions and next jumps until next: end', async () => {
    const logs: LogEntry[] = [];
    const out = await run(
      `
- first:
    assign:
      - a: 1
      - visited: []
- second:
    switch:
      - condition: \${a == 1}
        next: third
      - condition: \${a == 2}
        next: fourth
    next: fifth
- third:
    assign:
      - a: 2
      - visited: \${list.concat(visited, "third")}
    next: second
- fourth:
    assign:
      - a: 3
      - visited: \${list.concat(visited, "fourth")}
    next: second
- fifth:
    call: sys.log
    args:
      data: \${list.concat(visited, "fifth")}
    next: end
- never:
    return: "not reached"
`,
      { log: (e) => logs.push(e) },
    );
    expect(out).toBeNull();
    expect(logs.map((l) => l.data)).toEqual([['third', 'fourth', 'fifth']]);
  });

  it('returns from a switch condition and runs the steps of the first true condition only', async () => {
    const source = `
main:
  params: [args]
  steps:
    - check:
        switch:
          - condition: \${args.n > 10}
            return: "big"
          - condition: \${args.n > 5}
            steps:
              - mark:
                  assign:
                    - size: "medium"
          - condition: \${true}
            assign:
              - size: "small"
    - done:
        return: \${size}
`;
    expect(await run(source, { argument: { n: 11 } })).toBe('big');
    expect(await run(source, { argument: { n: 6 } })).toBe('medium');
    expect(await run(source, { argument: { n: 1 } })).toBe('small');
  });

  it('sums a list with for/in and keeps loop variables local to the loop', async () => {
    const out = await run(`
- assignStep:
    assign:
      - list: [1, 2, 3, 4, 5]
      - sum: 0
- loopStep:
    for:
      value: v
      index: i
      in: \${list}
      steps:
        - getStep:
            assign:
              - sum: \${sum + v * 10 + i}
              - inner: \${v}
- returnStep:
    return: \${[sum, default(inner, "inner is local to the loop")]}
`);
    expect(out).toEqual([160, 'inner is local to the loop']);
  });

  it('iterates a range inclusively with continue and break', async () => {
    const out = await run(`
- init:
    assign:
      - odds: []
- loop:
    for:
      value: n
      range: [1, 100]
      steps:
        - stop:
            switch:
              - condition: \${n > 7}
                next: break
              - condition: \${n % 2 == 0}
                next: continue
        - keep:
            assign:
              - odds: \${list.concat(odds, n)}
- r:
    return: \${odds}
`);
    expect(out).toEqual([1, 3, 5, 7]);
  });

  it('calls subworkflows with named arguments and parameter defaults, and from expressions', async () => {
    const out = await run(`
main:
  steps:
    - call_subworkflow:
        call: name_message
        args:
          first_name: "Ada"
          last_name: "Lovelace"
        result: output
    - call_subworkflow2:
        call: name_message
        args:
          first_name: "Sherlock"
        result: output2
    - return_message:
        return: \${output + " / " + output2 + " / " + name_message("Grace", "Hopper")}
name_message:
  params: [first_name, last_name: "Holmes"]
  steps:
    - prepareMessage:
        return: \${"Hello " + first_name + " " + last_name}
`);
    expect(out).toBe('Hello Ada Lovelace / Hello Sherlock Holmes / Hello Grace Hopper');
  });

  it('gives each subworkflow call its own variables', async () => {
    const out = await run(`
main:
  steps:
    - set:
        assign:
          - x: "main"
    - call:
        call: sub
        result: r
    - out:
        return: \${[x, r]}
sub:
  steps:
    - set:
        assign:
          - x: "sub"
    - out:
        return: \${x}
`);
    expect(out).toEqual(['main', 'sub']);
  });

  it('passes the execution argument to main and sleeps with sys.sleep', async () => {
    const sleeps: number[] = [];
    const out = await run(
      'main:\n  params: [input]\n  steps:\n    - wait:\n        call: sys.sleep\n        args:\n          seconds: 3\n    - r:\n        return: ${input.name}\n',
      { argument: { name: 'n' }, sleep: async (ms) => void sleeps.push(ms) },
    );
    expect(out).toBe('n');
    expect(sleeps).toEqual([3000]);
  });

  it('writes sys.log entries with their severity', async () => {
    const logs: LogEntry[] = [];
    await run('- l:\n    call: sys.log\n    args:\n      text: ${"x=" + string(1)}\n      severity: WARNING\n', {
      log: (e) => logs.push(e),
    });
    expect(logs).toEqual([{ severity: 'WARNING', text: 'x=1', routine: 'main', step: 'l' }]);
  });
});

describe('errors, try/except and retries', () => {
  it('raises strings and maps; an uncaught error ends the run with that value', async () => {
    expect(await failure('- r:\n    raise: "Something went wrong."\n')).toBe('Something went wrong.');
    expect(await failure('- r:\n    raise:\n      code: 55\n      message: "Something went wrong."\n')).toEqual({
      code: 55,
      message: 'Something went wrong.',
    });
  });

  it('catches an HttpError map with code, headers, body and tags, and jumps by its code', async () => {
    const source = `
main:
  params: [args]
  steps:
    - read_item:
        try:
          call: http.get
          args:
            url: \${args.url}
          result: api_response
        except:
          as: e
          steps:
            - known_errors:
                switch:
                  - condition: \${not("HttpError" in e.tags)}
                    next: connection_problem
                  - condition: \${e.code == 404}
                    next: url_not_found
            - unhandled_exception:
                raise: \${e}
    - url_found:
        return: \${api_response.body}
    - connection_problem:
        return: "Connection problem; check URL"
    - url_not_found:
        return: "Sorry, URL wasn't found"
`;
    expect(await run(source, { argument: { url: `${base}/json` } })).toEqual({ method: 'GET', query: {}, body: null });
    expect(await run(source, { argument: { url: `${base}/status/404` } })).toBe("Sorry, URL wasn't found");
    expect(await run(source, { argument: { url: 'http://127.0.0.1:1/' } })).toBe('Connection problem; check URL');
    const err = await failure(source, { argument: { url: `${base}/status/500` } });
    expect(err).toMatchObject({
      tags: ['HttpError'],
      code: 500,
      message: 'HTTP server responded with error code 500',
      body: { error: { code: 'E', message: 'status 500' } },
    });
    expect((err as { headers: Record<string, string> }).headers['content-type']).toBe('application/json');
  });

  it('sends a map body as JSON with query parameters and headers, and returns {code, headers, body}', async () => {
    seen.length = 0;
    const out = await run(`
- post:
    call: http.post
    args:
      url: ${base}/json
      headers:
        X-Request: "yes"
      query:
        page: 2
      auth:
        type: OIDC
      body:
        a: [1, 2]
    result: r
- text:
    call: http.request
    args:
      url: ${base}/text
      method: GET
    result: t
- out:
    return: \${[r.code, r.body, t.body]}
`);
    expect(out).toEqual([200, { method: 'POST', query: { page: '2' }, body: { a: [1, 2] } }, 'plain words']);
    expect(seen[0]?.headers['x-request']).toBe('yes');
    expect(seen[0]?.headers['content-type']).toBe('application/json');
  });

  it('raises ConnectionFailedError when nothing listens and TimeoutError after the call timeout', async () => {
    expect(await failure('- c:\n    call: http.get\n    args:\n      url: http://127.0.0.1:1/\n')).toMatchObject({
      tags: ['ConnectionFailedError'],
    });
    const started = Date.now();
    expect(
      await failure(`- c:\n    call: http.get\n    args:\n      url: ${base}/slow\n      timeout: 0.2\n`),
    ).toMatchObject({
      tags: ['TimeoutError'],
    });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('catches built-in errors such as KeyError and ZeroDivisionError by their tags', async () => {
    const out = await run(`
- t:
    try:
      steps:
        - bad:
            assign:
              - x: \${1 / 0}
    except:
      as: e
      steps:
        - out:
            return: \${e.tags}
`);
    expect(out).toEqual(['ZeroDivisionError']);
  });

  it('retries with a custom predicate and exponential backoff capped at max_delay, then runs except', async () => {
    const sleeps: number[] = [];
    const events: StepEvent[] = [];
    const source = `
main:
  params: [args]
  steps:
    - read_item:
        try:
          call: http.get
          args:
            url: \${args.url}
          result: r
        retry:
          predicate: \${custom_predicate}
          max_retries: \${args.retries}
          backoff:
            initial_delay: 1
            max_delay: 2
            multiplier: 3
        except:
          as: e
          steps:
            - give_up:
                return: '\${"gave up: " + string(e.code)}'
    - ok:
        return: \${r.body.attempt}
custom_predicate:
  params: [e]
  steps:
    - what_to_repeat:
        switch:
          - condition: \${e.code == 503}
            return: true
    - otherwise:
        return: false
`;
    const opts = (url: string, retries: number): RunOptions => ({
      argument: { url, retries },
      sleep: async (ms) => void sleeps.push(ms),
      onStep: (e) => events.push(e),
    });
    expect(await run(source, opts(`${base}/flaky/3?id=a`, 5))).toBe(4);
    expect(sleeps).toEqual([1000, 2000, 2000]);
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    sleeps.length = 0;
    expect(await run(source, opts(`${base}/flaky/3?id=b`, 2))).toBe('gave up: 503');
    expect(sleeps).toEqual([1000, 2000]);
    sleeps.length = 0;
    expect(await run(source, opts(`${base}/status/500`, 5))).toBe('gave up: 500');
    expect(sleeps).toEqual([]);
  });

  it('implements ${http.default_retry}: 5 retries of 429/502/503/504, 1 s initial delay, x1.25', async () => {
    const sleeps: number[] = [];
    const source = (url: string): string => `
- c:
    try:
      call: http.get
      args:
        url: ${url}
      result: r
    retry: \${http.default_retry}
- out:
    return: \${r.body.attempt}
`;
    expect(await run(source(`${base}/flaky/2?id=c`), { sleep: async (ms) => void sleeps.push(ms) })).toBe(3);
    expect(sleeps).toEqual([1000, 1250]);
    sleeps.length = 0;
    expect(await failure(source(`${base}/flaky/9?id=d`), { sleep: async (ms) => void sleeps.push(ms) })).toMatchObject({
      code: 503,
    });
    expect(sleeps).toEqual([1000, 1250, 1562.5, 1953.125, 2441.40625]);
  });

  it('retries only 429 and 503 under ${http.default_retry_non_idempotent}', async () => {
    const sleeps: number[] = [];
    const source = (url: string): string => `
- c:
    try:
      call: http.post
      args:
        url: ${url}
      result: r
    retry: \${http.default_retry_non_idempotent}
- out:
    return: \${r.body.attempt}
`;
    expect(await run(source(`${base}/flaky/1?id=e`), { sleep: async (ms) => void sleeps.push(ms) })).toBe(2);
    expect(sleeps).toEqual([1000]);
    sleeps.length = 0;
    expect(await failure(source(`${base}/status/502`), { sleep: async (ms) => void sleeps.push(ms) })).toMatchObject({
      code: 502,
    });
    expect(sleeps).toEqual([]);
  });

  it('uses http.default_retry_predicate in a custom policy and does not retry a 4xx', async () => {
    const sleeps: number[] = [];
    const err = await failure(
      `
- c:
    try:
      call: http.get
      args:
        url: ${base}/status/422
    retry:
      predicate: \${http.default_retry_predicate}
      max_retries: 3
      backoff:
        initial_delay: 1
        max_delay: 10
        multiplier: 2
`,
      { sleep: async (ms) => void sleeps.push(ms) },
    );
    expect(err).toMatchObject({ code: 422, tags: ['HttpError'] });
    expect(sleeps).toEqual([]);
  });
});

/**
 * `parallel`, as Google's syntax reference ("Parallel steps") and its samples describe it: branches and `for`
 * iterations run concurrently, each with its own variables, writing the enclosing scope only through `shared`;
 * `concurrency_limit` queues the rest; under `continueAll` a failing branch does not stop the others, and the step
 * then raises an `UnhandledBranchError`.
 */
describe('parallel steps', () => {
  /** A sleep that counts how many sleepers are waiting at once (the branches' concurrency). */
  function countingSleep(ms = 20) {
    const state = { now: 0, peak: 0, calls: 0 };
    const sleep = (delay: number) => {
      state.calls++;
      state.now++;
      state.peak = Math.max(state.peak, state.now);
      return new Promise<void>((resolve) =>
        setTimeout(
          () => {
            state.now--;
            resolve();
          },
          ms + delay / 1000,
        ),
      );
    };
    return { state, sleep };
  }

  it('runs branches concurrently; each writes a shared map and keeps its own variables', async () => {
    const { state, sleep } = countingSleep();
    const out = await run(
      `
- init:
    assign:
      - input: ["apples", "oranges"]
      - my_result: {}
- parallelStep:
    parallel:
      shared: [my_result]
      branches:
        - getStock:
            steps:
              - wait1:
                  call: sys.sleep
                  args:
                    seconds: 1
              - assignResult1:
                  assign:
                    - my_result["getStock"]: \${input[0]}
                    - temp: 1
        - orderStock:
            steps:
              - wait2:
                  call: sys.sleep
                  args:
                    seconds: 1
              - assignResult2:
                  assign:
                    - my_result.orderStock: \${input[1]}
                    - temp: 2
- done:
    return: \${[my_result, default(map.get({}, "x"), "none"), get_type(default(temp, null))]}
`,
      { sleep },
    );
    expect(out).toEqual([{ getStock: 'apples', orderStock: 'oranges' }, 'none', 'null']);
    expect(state.calls).toBe(2);
    expect(state.peak).toBe(2);
  });

  it('runs the iterations of a parallel for concurrently, each with its own loop variable, and sums into a shared total', async () => {
    const { state, sleep } = countingSleep();
    const out = await run(
      `
- init:
    assign:
      - total: 0
      - seen: {}
- loop:
    parallel:
      shared: [total, seen]
      for:
        value: n
        index: i
        range: [1, 10]
        steps:
          - wait:
              call: sys.sleep
              args:
                seconds: \${11 - n}
          - add:
              assign:
                - total: \${total + n}
                - seen[string(i)]: \${n * n}
                - local: \${n}
- done:
    return: \${[total, seen, default(map.get(seen, "9"), 0), len(keys(seen))]}
`,
      { sleep },
    );
    expect(out).toEqual([
      55,
      Object.fromEntries(Array.from({ length: 10 }, (_, i) => [String(i), (i + 1) ** 2])),
      100,
      10,
    ]);
    expect(state.peak).toBe(10);
  });

  it('queues branches past concurrency_limit, a literal or an expression', async () => {
    for (const [limit, expected] of [
      ['2', 2],
      ['${1 + 2}', 3],
    ] as const) {
      const { state, sleep } = countingSleep();
      const out = await run(
        `
- init:
    assign:
      - done: 0
- loop:
    parallel:
      shared: [done]
      concurrency_limit: ${limit}
      for:
        value: n
        in: [1, 2, 3, 4, 5, 6, 7]
        steps:
          - wait:
              call: sys.sleep
              args:
                seconds: 1
          - count:
              assign:
                - done: \${done + 1}
- r:
    return: \${done}
`,
        { sleep },
      );
      expect(out).toBe(7);
      expect(state.calls).toBe(7);
      expect(state.peak).toBe(expected);
    }
  });

  it('rejects a concurrency_limit that is not a positive integer', async () => {
    const err = await failure(
      '- p:\n    parallel:\n      concurrency_limit: 0\n      for:\n        value: v\n        in: [1]\n        steps:\n          - s:\n              assign:\n                - x: 1\n',
    );
    expect(err).toMatchObject({ tags: ['ValueError'] });
    expect((err as { message: string }).message).toMatch(/concurrency_limit must be a positive integer/);
  });

  it('refuses a branch assignment to an enclosing variable not listed in shared, and a shared variable not yet assigned', async () => {
    const branches = (assign: string, shared = '[]') => `
- init:
    assign:
      - input: 1
      - m: {}
- p:
    parallel:
      shared: ${shared}
      branches:
        - a:
            steps:
              - s:
                  assign:
                    - ${assign}
        - b:
            steps:
              - s2:
                  assign:
                    - ok: 1
`;
    for (const assign of ['input: 5', 'm.key: 5']) {
      const err = (await failure(branches(assign))) as {
        tags: string[];
        branches: Array<{ id: string; error: Value }>;
      };
      expect(err.tags).toEqual(['UnhandledBranchError']);
      expect(err.branches).toHaveLength(1);
      expect(err.branches[0]).toMatchObject({ id: 'a', error: { tags: ['SystemError'] } });
      expect(JSON.stringify(err.branches[0]!.error)).toMatch(/list it in \\"shared\\"/);
    }
    expect(await run(`${branches('input: 5', '[input]')}- r:\n    return: \${input}\n`)).toBe(5);
    const missing = await failure(branches('late: 1', '[late]'));
    expect(missing).toMatchObject({ tags: ['SystemError'] });
    expect((missing as { message: string }).message).toMatch(/shared variable "late" must be assigned before/);
  });

  it('lets the other branches finish when one fails (continueAll), then raises UnhandledBranchError listing the failures in order', async () => {
    const out = await run(
      `
- init:
    assign:
      - finished: []
- guarded:
    try:
      steps:
        - p:
            parallel:
              shared: [finished]
              for:
                value: n
                range: [0, 5]
                steps:
                  - wait:
                      call: sys.sleep
                      args:
                        seconds: \${5 - n}
                  - check:
                      switch:
                        - condition: \${n % 2 != 0}
                          raise: \${"odd number " + string(n)}
                  - keep:
                      assign:
                        - finished: \${list.concat(finished, n)}
    except:
      as: e
      steps:
        - r:
            return: \${[e, finished]}
`,
      { sleep: (ms) => new Promise((r) => setTimeout(r, ms / 100)) },
    );
    const [error, finished] = out as [Record<string, Value>, number[]];
    expect(error).toEqual({
      message: 'UnhandledBranchError: One or more branches or iterations encountered an unhandled runtime error',
      tags: ['UnhandledBranchError'],
      branches: [
        { id: '1', error: 'odd number 1' },
        { id: '3', error: 'odd number 3' },
        { id: '5', error: 'odd number 5' },
      ],
      totalUnhandledErrors: 3,
      truncated: false,
    });
    // every even iteration ran to its end, in the order of its (shorter) sleep
    expect(finished).toEqual([4, 2, 0]);
  });

  it('retries and catches inside a branch like anywhere else, and fails the execution when nobody catches the branch error', async () => {
    const out = await run(
      `
- init:
    assign:
      - codes: {}
- p:
    parallel:
      shared: [codes]
      branches:
        - flaky:
            steps:
              - getFlaky:
                  try:
                    call: http.get
                    args:
                      url: ${base}/flaky/2?id=parallel
                    result: r
                  retry:
                    predicate: \${http.default_retry_predicate}
                    max_retries: 3
                    backoff:
                      initial_delay: 1
                      max_delay: 1
                      multiplier: 1
              - keepFlaky:
                  assign:
                    - codes.flaky: \${r.body.attempt}
        - missing:
            steps:
              - getMissing:
                  try:
                    call: http.get
                    args:
                      url: ${base}/status/404
                  except:
                    as: e
                    steps:
                      - keepMissing:
                          assign:
                            - codes.missing: \${e.code}
- r:
    return: \${codes}
`,
      { sleep: async () => {} },
    );
    expect(out).toEqual({ flaky: 3, missing: 404 });
    const uncaught = await failure(
      '- p:\n    parallel:\n      branches:\n        - a:\n            steps:\n              - boom:\n                  raise: {code: 7}\n',
    );
    expect(uncaught).toMatchObject({ tags: ['UnhandledBranchError'], branches: [{ id: 'a', error: { code: 7 } }] });
  });

  it('does not let return, break or a jump leave a branch', async () => {
    for (const step of ['return: 1', 'next: break', 'next: after']) {
      const err = (await failure(
        `- p:\n    parallel:\n      for:\n        value: v\n        in: [1]\n        steps:\n          - s:\n              ${step}\n- after:\n    return: 2\n`,
      )) as { branches: Array<{ error: { message: string } }> };
      expect(err.branches[0]!.error.message).toMatch(/cannot leave a parallel branch/);
    }
  });
});

describe('loading', () => {
  const loadError = (source: string): string => {
    try {
      loadWorkflow(source);
    } catch (err) {
      return (err as Error).message;
    }
    return 'loaded';
  };

  it('rejects unsupported syntax at load time with the line of the offending step', () => {
    expect(
      loadError(
        '- a:\n    assign:\n      - x: 1\n- b:\n    call: http.get\n    args:\n      url: u\n      private_service_name: s\n',
      ),
    ).toMatch(/^line 8, .*unsupported argument "private_service_name"/);
  });

  it('rejects a malformed parallel step with its line', () => {
    const par = (body: string) => loadError(`- a:\n    assign:\n      - x: 1\n- p:\n    parallel:\n${body}`);
    const branch =
      '        - one:\n            steps:\n              - s:\n                  assign:\n                    - y: 1\n';
    expect(par(`      exception_policy: unhandled\n      branches:\n${branch}`)).toMatch(
      /^line 6, .*exception_policy must be continueAll/,
    );
    expect(par('      branches: []\n')).toMatch(/^line 6, .*branches must be a non-empty list/);
    expect(par(`      branches:\n${branch}${branch.replace(/ s:/, ' t:')}`)).toMatch(/duplicate branch name "one"/);
    expect(par(`      branches:\n${branch}      for:\n        value: v\n        in: [1]\n        steps: []\n`)).toMatch(
      /^line 6, .*exactly one of branches or for/,
    );
    expect(par(`      shared: x\n      branches:\n${branch}`)).toMatch(/^line 6, .*shared must be a list/);
    expect(par(`      concurency_limit: 2\n      branches:\n${branch}`)).toMatch(/unknown key "concurency_limit"/);
    expect(par(`      branches:\n${branch}`)).toBe('loaded');
  });

  it('rejects unknown functions, call targets, next targets and step keys with their lines', () => {
    expect(loadError('- a:\n    return: ${nope.fn(1)}\n')).toMatch(/^line 2, .*unknown function "nope.fn"/);
    expect(loadError('- a:\n    call: googleapis.storage.v1.objects.get\n')).toMatch(
      /^line 2, .*unsupported call target/,
    );
    expect(loadError('- a:\n    next: missing\n')).toMatch(/^line 2, .*no step named "missing"/);
    expect(loadError('- a:\n    retrun: 1\n')).toMatch(/^line 2, .*unknown step key "retrun"/);
  });

  it('rejects malformed expressions and YAML with their lines', () => {
    expect(loadError('- a:\n    assign:\n      - x: ${1 +}\n')).toMatch(/^line 3, .*invalid expression/);
    expect(loadError('- a:\n    return: ${"unterminated}\n')).toMatch(/^line 2, .*unterminated string/);
    expect(loadError('main:\n  steps:\n    - a:\n      return: 1\n   bad\n')).toMatch(/^line \d+/);
  });

  it('rejects a subworkflow call with a missing or unknown argument', () => {
    const sub = 'sub:\n  params: [a]\n  steps:\n    - r:\n        return: ${a}\n';
    expect(loadError(`main:\n  steps:\n    - c:\n        call: sub\n${sub}`)).toMatch(
      /^line 4, .*missing argument "a"/,
    );
    expect(
      loadError(`main:\n  steps:\n    - c:\n        call: sub\n        args:\n          a: 1\n          b: 2\n${sub}`),
    ).toMatch(/no parameter "b"/);
  });
});
