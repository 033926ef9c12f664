/**
 * Runs a loaded program. Semantics follow Google's syntax reference:
 * - steps run in order; `next` jumps to a step of the same or an enclosing block, `end` ends the (sub)workflow,
 *   `break` / `continue` act on the innermost `for`;
 * - a subworkflow has its own variables; a `for` loop's variable and the variables first assigned inside the loop
 *   are local to the loop;
 * - `try` re-runs its whole block while the retry predicate says so and retries remain, sleeping
 *   `initial_delay`, then x`multiplier` each time, capped at `max_delay`; then `except` binds the error map to `as`;
 * - `parallel` runs its branches, or the iterations of its `for`, concurrently (at most `concurrency_limit` at once,
 *   the rest queued in order). Each branch or iteration has its own variables; it reads the enclosing ones, and may
 *   assign only those listed in `shared`, which must exist before the step. Under `continueAll` an unhandled error
 *   ends its own branch only; once every branch has finished, the step raises an `UnhandledBranchError` listing them;
 * - an uncaught error ends the execution with that error map.
 */
import { performance } from 'node:perf_hooks';
import type { Expr } from './expression.ts';
import { buildHttpRequest, performHttp } from './http.ts';
import {
  type Branch,
  type ForBody,
  HTTP_CALLS,
  type ParallelBody,
  type Predicate,
  type Program,
  type RetryPolicy,
  type Routine,
  type Step,
  type Template,
} from './program.ts';
import { STDLIB, type StdlibContext, toText } from './stdlib.ts';
import {
  builtinError,
  deepEqual,
  hasTag,
  isMap,
  typeName,
  type Value,
  type ValueMap,
  WorkflowError,
} from './values.ts';

export type LogSeverity =
  | 'DEFAULT'
  | 'DEBUG'
  | 'INFO'
  | 'NOTICE'
  | 'WARNING'
  | 'ERROR'
  | 'CRITICAL'
  | 'ALERT'
  | 'EMERGENCY';

export interface LogEntry {
  severity: LogSeverity;
  /** `text` or `json`/`data`, as passed to sys.log. */
  text?: string;
  data?: Value;
  routine: string;
  step: string;
}

/** Step progress, for a terminal runner or metrics. `call` steps carry their target and (on end) their result. */
export type StepEvent =
  | { type: 'step-start'; routine: string; step: string; line: number; depth: number; call?: string; url?: string }
  | {
      type: 'step-end';
      routine: string;
      step: string;
      line: number;
      depth: number;
      call?: string;
      url?: string;
      durationMs: number;
      outcome: 'ok' | 'error';
      /** The value a call step stored in its `result` variable (for HTTP calls: `{code, headers, body}`). */
      result?: Value;
      error?: Value;
    }
  | {
      type: 'retry';
      routine: string;
      step: string;
      line: number;
      attempt: number;
      delaySeconds: number;
      error: Value;
    };

export interface RunOptions {
  /** The execution argument, bound to main's parameter. */
  argument?: Value;
  /** What `sys.get_env` returns (user env vars and the built-in GOOGLE_CLOUD_* names). */
  env?: Readonly<Record<string, string>>;
  /** Waits between retries and for sys.sleep; tests inject a recorder. Defaults to a real timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Seconds since the epoch, for `sys.now`. */
  now?: () => number;
  log?: (entry: LogEntry) => void;
  onStep?: (event: StepEvent) => void;
  /** Caps every HTTP call's timeout (milliseconds), whatever the workflow's `timeout` says. */
  maxHttpTimeoutMs?: number;
  signal?: AbortSignal;
}

type Signal =
  | { type: 'normal' }
  | { type: 'jump'; target: string }
  | { type: 'return'; value: Value }
  | { type: 'end' }
  | { type: 'break' }
  | { type: 'continue' };

const NORMAL: Signal = { type: 'normal' };
const MAX_CALL_DEPTH = 100;

class Scope {
  private readonly vars = new Map<string, Value>();
  /**
   * @param parent the enclosing scope
   * @param shared set for the scope of a parallel branch or iteration: the enclosing variables it may assign
   */
  constructor(
    private readonly parent?: Scope,
    private readonly shared?: ReadonlySet<string>,
  ) {}
  has(name: string): boolean {
    return this.vars.has(name) || (this.parent?.has(name) ?? false);
  }
  get(name: string): Value {
    if (this.vars.has(name)) return this.vars.get(name)!;
    if (this.parent) return this.parent.get(name);
    throw builtinError('KeyError', `KeyError: variable not found: ${name}`);
  }
  /** Updates the nearest scope that has the variable, else defines it here. */
  set(name: string, value: Value): void {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      if (s.vars.has(name)) {
        s.vars.set(name, value);
        return;
      }
      if (s.shared && !s.shared.has(name)) {
        if (s.parent?.has(name)) throw notShared(name);
        break;
      }
    }
    this.vars.set(name, value);
  }
  /** Throws unless assigning into `name` (e.g. `name.key: v`) is allowed from here. */
  checkWritable(name: string): void {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      if (s.vars.has(name)) return;
      if (s.shared && !s.shared.has(name)) {
        if (s.parent?.has(name)) throw notShared(name);
        return;
      }
    }
  }
  define(name: string, value: Value): void {
    this.vars.set(name, value);
  }
}

const notShared = (name: string): WorkflowError =>
  builtinError(
    'SystemError',
    `variable "${name}" is defined outside the parallel step: list it in "shared" to assign it from a branch`,
  );

interface Frame {
  routine: Routine;
  scope: Scope;
  depth: number;
}

export const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(builtinError('SystemError', 'the execution was stopped'));
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(builtinError('SystemError', 'the execution was stopped'));
      },
      { once: true },
    );
  });

export async function runWorkflow(program: Program, options: RunOptions = {}): Promise<Value> {
  return new Interpreter(program, options).run();
}

class Interpreter {
  private readonly std: StdlibContext;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    private readonly program: Program,
    private readonly opts: RunOptions,
  ) {
    this.std = { env: opts.env ?? {}, now: opts.now ?? (() => Date.now() / 1000) };
    this.sleep = opts.sleep ?? defaultSleep;
  }

  async run(): Promise<Value> {
    const main = this.program.routines.get('main')!;
    const args = new Map<string, Value>();
    if (main.params[0]) args.set(main.params[0].name, this.opts.argument ?? null);
    return this.callRoutine(main, args, 0);
  }

  private async callRoutine(routine: Routine, args: Map<string, Value>, depth: number): Promise<Value> {
    if (depth > MAX_CALL_DEPTH) throw builtinError('RecursionError', `maximum call depth ${MAX_CALL_DEPTH} exceeded`);
    const frame: Frame = { routine, scope: new Scope(), depth };
    for (const p of routine.params) {
      if (args.has(p.name)) frame.scope.define(p.name, args.get(p.name)!);
      else if (p.default !== undefined) frame.scope.define(p.name, await this.evalTemplate(p.default, frame));
      else throw builtinError('TypeError', `missing argument "${p.name}" for subworkflow "${routine.name}"`);
    }
    const signal = await this.execSteps(routine.steps, frame);
    switch (signal.type) {
      case 'return':
        return signal.value;
      case 'normal':
      case 'end':
        return null;
      case 'jump':
      case 'break':
      case 'continue':
        throw builtinError(
          'SystemError',
          `"next: ${signal.type === 'jump' ? signal.target : signal.type}" has no target here`,
        );
    }
  }

  private async execSteps(steps: readonly Step[], frame: Frame): Promise<Signal> {
    let i = 0;
    while (i < steps.length) {
      const signal = await this.execStep(steps[i]!, frame);
      if (signal.type === 'jump') {
        const j = steps.findIndex((s) => s.name === signal.target);
        if (j < 0) return signal;
        i = j;
        continue;
      }
      if (signal.type !== 'normal') return signal;
      i++;
    }
    return NORMAL;
  }

  private async execStep(step: Step, frame: Frame): Promise<Signal> {
    if (this.opts.signal?.aborted) throw builtinError('SystemError', 'the execution was stopped');
    const body = step.body;
    const call = body.kind === 'call' ? body.target : undefined;
    let url: string | undefined;
    const base = { routine: frame.routine.name, step: step.name, line: step.loc.line, depth: frame.depth };
    const started = performance.now();
    // Nested blocks (try, for, steps) report their inner steps; events for a plain call are the useful ones.
    const emits = body.kind !== 'try' || body.body[0]?.name !== step.name;
    let result: Value | undefined;
    if (emits) this.opts.onStep?.({ type: 'step-start', ...base, ...(call ? { call } : {}) });
    const endStep = (end: { outcome: 'ok'; result?: Value } | { outcome: 'error'; error: Value }): void =>
      this.opts.onStep?.({
        type: 'step-end',
        ...base,
        ...(call ? { call } : {}),
        ...(url ? { url } : {}),
        durationMs: performance.now() - started,
        ...end,
      });
    try {
      let signal: Signal = NORMAL;
      switch (body.kind) {
        case 'assign':
          for (const item of body.items)
            await this.assign(item.target, await this.evalTemplate(item.value, frame), frame);
          break;
        case 'call': {
          const args: ValueMap = {};
          for (const [k, t] of body.args) args[k] = await this.evalTemplate(t, frame);
          if (typeof args.url === 'string') url = args.url;
          result = await this.call(body.target, args, frame, step);
          if (body.result !== undefined) frame.scope.set(body.result, result);
          break;
        }
        case 'switch':
          signal = await this.execSwitch(body.branches, frame);
          break;
        case 'steps':
          signal = await this.execSteps(body.steps, frame);
          break;
        case 'return':
          signal = { type: 'return', value: await this.evalTemplate(body.value, frame) };
          break;
        case 'raise':
          throw new WorkflowError(await this.evalTemplate(body.value, frame));
        case 'try':
          signal = await this.execTry(step, body, frame);
          break;
        case 'for':
          signal = await this.execFor(body, frame);
          break;
        case 'parallel':
          await this.execParallel(body, frame);
          break;
        case 'next':
          break;
      }
      if (emits) endStep({ outcome: 'ok', ...(body.kind === 'call' ? { result: result ?? null } : {}) });
      if (signal.type !== 'normal') return signal;
      return step.next === undefined ? NORMAL : nextSignal(step.next);
    } catch (err) {
      const wfErr = toWorkflowError(err);
      wfErr.where ??= { routine: frame.routine.name, step: step.name, line: step.loc.line, column: step.loc.column };
      if (emits) endStep({ outcome: 'error', error: wfErr.value });
      throw wfErr;
    }
  }

  private async execSwitch(branches: readonly Branch[], frame: Frame): Promise<Signal> {
    for (const b of branches) {
      const cond = await this.evalTemplate(b.condition, frame);
      if (typeof cond !== 'boolean')
        throw builtinError('TypeError', `switch condition must be a boolean, got ${typeName(cond)}`);
      if (!cond) continue;
      if (b.assign)
        for (const item of b.assign.items)
          await this.assign(item.target, await this.evalTemplate(item.value, frame), frame);
      if (b.steps) {
        const signal = await this.execSteps(b.steps, frame);
        if (signal.type !== 'normal') return signal;
      }
      if (b.return !== undefined) return { type: 'return', value: await this.evalTemplate(b.return, frame) };
      if (b.raise !== undefined) throw new WorkflowError(await this.evalTemplate(b.raise, frame));
      if (b.next !== undefined) return nextSignal(b.next);
      return NORMAL;
    }
    return NORMAL;
  }

  private async execTry(
    step: Step,
    body: { body: Step[]; retry?: RetryPolicy; except?: { as?: string; steps: Step[] } },
    frame: Frame,
  ): Promise<Signal> {
    let retries = 0;
    let delay: number | undefined;
    for (;;) {
      try {
        return await this.execSteps(body.body, frame);
      } catch (err) {
        const wfErr = toWorkflowError(err);
        if (this.opts.signal?.aborted) throw wfErr;
        if (body.retry) {
          const policy = body.retry;
          const maxRetries = await this.evalNumber(policy.maxRetries, frame, 'max_retries');
          if (retries < maxRetries && (await this.predicate(policy.predicate, wfErr.value, frame))) {
            const initial = await this.evalNumber(policy.backoff.initialDelay, frame, 'initial_delay');
            const max = await this.evalNumber(policy.backoff.maxDelay, frame, 'max_delay');
            const multiplier = await this.evalNumber(policy.backoff.multiplier, frame, 'multiplier');
            delay = delay === undefined ? Math.min(initial, max) : Math.min(delay * multiplier, max);
            retries++;
            this.opts.onStep?.({
              type: 'retry',
              routine: frame.routine.name,
              step: step.name,
              line: step.loc.line,
              attempt: retries,
              delaySeconds: delay,
              error: wfErr.value,
            });
            await this.sleep(delay * 1000, this.opts.signal);
            continue;
          }
        }
        if (!body.except) throw wfErr;
        if (body.except.as !== undefined) frame.scope.set(body.except.as, wfErr.value);
        return this.execSteps(body.except.steps, frame);
      }
    }
  }

  private async predicate(p: Predicate, error: Value, frame: Frame): Promise<boolean> {
    if (p.kind === 'builtin') return builtinRetryPredicate(p.name, error);
    const routine = this.program.routines.get(p.name)!;
    const param = routine.params.find((x) => x.default === undefined)!;
    const verdict = await this.callRoutine(routine, new Map([[param.name, error]]), frame.depth + 1);
    if (typeof verdict !== 'boolean')
      throw builtinError('TypeError', `retry predicate "${p.name}" must return a boolean, got ${typeName(verdict)}`);
    return verdict;
  }

  private async execFor(body: ForBody, frame: Frame): Promise<Signal> {
    const items = await this.forItems(body, frame);
    const loopFrame: Frame = { ...frame, scope: new Scope(frame.scope) };
    for (let i = 0; i < items.length; i++) {
      loopFrame.scope.define(body.value, items[i]!);
      if (body.index !== undefined) loopFrame.scope.define(body.index, i);
      const signal = await this.execSteps(body.steps, loopFrame);
      if (signal.type === 'break') break;
      if (signal.type === 'continue' || signal.type === 'normal') continue;
      return signal;
    }
    return NORMAL;
  }

  /**
   * Runs the branches (or iterations) concurrently, at most `concurrency_limit` at a time, each in its own scope.
   * An unhandled error ends its branch only (`continueAll`); when all have finished, the errors are raised together
   * as an `UnhandledBranchError` whose `branches` lists `{id, error}` in branch (or iteration) order, `id` being
   * the branch name or the iteration's index as a string.
   */
  private async execParallel(body: ParallelBody, frame: Frame): Promise<void> {
    for (const name of body.shared)
      if (!frame.scope.has(name))
        throw builtinError('SystemError', `shared variable "${name}" must be assigned before the parallel step`);
    const shared = new Set(body.shared);
    let limit = Number.POSITIVE_INFINITY;
    if (body.concurrencyLimit !== undefined) {
      const v = await this.evalTemplate(body.concurrencyLimit, frame);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
        throw builtinError('ValueError', `concurrency_limit must be a positive integer, got ${toText(v)}`);
      limit = v;
    }
    const tasks: Array<{ id: string; run: () => Promise<Signal> }> = [];
    if (body.branches) {
      for (const branch of body.branches)
        tasks.push({
          id: branch.name,
          run: () => this.execSteps(branch.steps, { ...frame, scope: new Scope(frame.scope, shared) }),
        });
    } else {
      const loop = body.for!;
      const items = await this.forItems(loop, frame);
      items.forEach((item, i) => {
        tasks.push({
          id: String(i),
          run: () => {
            const scope = new Scope(frame.scope, shared);
            scope.define(loop.value, item);
            if (loop.index !== undefined) scope.define(loop.index, i);
            return this.execSteps(loop.steps, { ...frame, scope });
          },
        });
      });
    }
    const errors: Array<{ at: number; id: string; error: Value }> = [];
    let nextTask = 0;
    const lane = async (): Promise<void> => {
      for (let at = nextTask++; at < tasks.length; at = nextTask++) {
        const task = tasks[at]!;
        try {
          const signal = await task.run();
          if (signal.type !== 'normal' && signal.type !== 'continue')
            throw builtinError(
              'SystemError',
              `"${signal.type === 'jump' ? `next: ${signal.target}` : signal.type}" cannot leave a parallel branch`,
            );
        } catch (err) {
          errors.push({ at, id: task.id, error: toWorkflowError(err).value });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
    if (this.opts.signal?.aborted) throw builtinError('SystemError', 'the execution was stopped');
    if (errors.length > 0) {
      errors.sort((a, b) => a.at - b.at);
      throw new WorkflowError({
        message: 'UnhandledBranchError: One or more branches or iterations encountered an unhandled runtime error',
        tags: ['UnhandledBranchError'],
        branches: errors.map(({ id, error }) => ({ id, error })),
        totalUnhandledErrors: errors.length,
        truncated: false,
      });
    }
  }

  /** The values a `for` iterates over: the `in` list, or the inclusive `range`. */
  private async forItems(body: ForBody, frame: Frame): Promise<Value[]> {
    let items: Value[];
    if (body.in) {
      const v = await this.evalTemplate(body.in, frame);
      if (!Array.isArray(v)) throw builtinError('TypeError', `for ... in expects a list, got ${typeName(v)}`);
      items = v;
    } else {
      const r = await this.evalTemplate(body.range!, frame);
      if (!Array.isArray(r) || r.length !== 2 || typeof r[0] !== 'number' || typeof r[1] !== 'number')
        throw builtinError('TypeError', 'for range must be a list of two numbers [start, end]');
      items = [];
      for (let x = r[0]; x <= r[1]; x++) items.push(x);
    }
    return items;
  }

  private async call(target: string, args: ValueMap, frame: Frame, step: Step): Promise<Value> {
    if (HTTP_CALLS.has(target))
      return performHttp(buildHttpRequest(target, args), {
        ...(this.opts.maxHttpTimeoutMs !== undefined ? { maxTimeoutMs: this.opts.maxHttpTimeoutMs } : {}),
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      });
    switch (target) {
      case 'sys.log': {
        const severity = (args.severity ?? 'DEFAULT') as LogSeverity;
        const entry: LogEntry = { severity, routine: frame.routine.name, step: step.name };
        if (args.text !== undefined) entry.text = typeof args.text === 'string' ? args.text : toText(args.text);
        if (args.json !== undefined) entry.data = args.json;
        else if (args.data !== undefined) entry.data = args.data;
        (this.opts.log ?? defaultLog)(entry);
        return null;
      }
      case 'sys.sleep': {
        const seconds = args.seconds;
        if (typeof seconds !== 'number' || seconds < 0)
          throw builtinError('TypeError', 'sys.sleep: seconds must be a non-negative number');
        await this.sleep(seconds * 1000, this.opts.signal);
        return null;
      }
      case 'sys.get_env':
        return STDLIB['sys.get_env']!(
          [args.name ?? null, ...(args.default !== undefined ? [args.default] : [])],
          this.std,
        );
    }
    const routine = this.program.routines.get(target)!;
    return this.callRoutine(routine, new Map(Object.entries(args)), frame.depth + 1);
  }

  private async assign(target: Expr, value: Value, frame: Frame): Promise<void> {
    if (target.k === 'var') {
      frame.scope.set(target.name, value);
      return;
    }
    // a.b[0].c = v: find the container, then set its last key or index.
    const path: Array<string | number> = [];
    let cur: Expr = target;
    while (cur.k !== 'var') {
      if (cur.k === 'member') {
        path.unshift(cur.name);
        cur = cur.obj;
      } else if (cur.k === 'index') {
        const key = await this.evaluate(cur.index, frame);
        if (typeof key !== 'string' && typeof key !== 'number')
          throw builtinError('TypeError', 'an index must be a string or an integer');
        path.unshift(key);
        cur = cur.obj;
      } else throw builtinError('SystemError', 'invalid assignment target');
    }
    frame.scope.checkWritable(cur.name);
    let container = frame.scope.get(cur.name);
    for (let i = 0; i < path.length; i++) {
      const key = path[i]!;
      const last = i === path.length - 1;
      if (Array.isArray(container)) {
        if (typeof key !== 'number' || !Number.isInteger(key))
          throw builtinError('TypeError', 'list indices must be integers');
        if (key < 0 || key >= container.length)
          throw builtinError('IndexError', `IndexError: list index out of range: ${key}`);
        if (last) container[key] = value;
        else container = container[key]!;
      } else if (isMap(container)) {
        const k = String(key);
        if (last) container[k] = value;
        else {
          if (!Object.hasOwn(container, k)) container[k] = {};
          container = container[k]!;
        }
      } else throw builtinError('TypeError', `cannot assign into a ${typeName(container)}`);
    }
  }

  private async evalNumber(t: Template, frame: Frame, what: string): Promise<number> {
    const v = await this.evalTemplate(t, frame);
    if (typeof v !== 'number' || v < 0) throw builtinError('TypeError', `${what} must be a non-negative number`);
    return v;
  }

  private async evalTemplate(t: Template, frame: Frame): Promise<Value> {
    switch (t.t) {
      case 'lit':
        return structuredClone(t.v);
      case 'expr':
        return this.evaluate(t.e, frame);
      case 'list': {
        const out: Value[] = [];
        for (const i of t.items) out.push(await this.evalTemplate(i, frame));
        return out;
      }
      case 'map': {
        const out: ValueMap = {};
        for (const [k, v] of t.entries) out[k] = await this.evalTemplate(v, frame);
        return out;
      }
    }
  }

  async evaluate(e: Expr, frame: Frame): Promise<Value> {
    switch (e.k) {
      case 'lit':
        return e.v;
      case 'var':
        return frame.scope.get(e.name);
      case 'member':
        return member(await this.evaluate(e.obj, frame), e.name);
      case 'index':
        return index(await this.evaluate(e.obj, frame), await this.evaluate(e.index, frame));
      case 'list': {
        const out: Value[] = [];
        for (const i of e.items) out.push(await this.evaluate(i, frame));
        return out;
      }
      case 'map': {
        const out: ValueMap = {};
        for (const [k, v] of e.entries) {
          const key = await this.evaluate(k, frame);
          if (typeof key !== 'string') throw builtinError('TypeError', 'map keys must be strings');
          out[key] = await this.evaluate(v, frame);
        }
        return out;
      }
      case 'unary': {
        const v = await this.evaluate(e.e, frame);
        if (e.op === 'not') {
          if (typeof v !== 'boolean') throw builtinError('TypeError', `not: expected a boolean, got ${typeName(v)}`);
          return !v;
        }
        if (typeof v !== 'number') throw builtinError('TypeError', `unary -: expected a number, got ${typeName(v)}`);
        return -v;
      }
      case 'binary':
        return this.binary(e.op, e.l, e.r, frame);
      case 'call':
        return this.callFunction(e.name, e.args, frame);
    }
  }

  private async callFunction(name: string, argExprs: Expr[], frame: Frame): Promise<Value> {
    if (name === 'default') {
      if (argExprs.length !== 2) throw builtinError('TypeError', 'default() takes 2 arguments');
      // The first argument may name a missing key or variable: that KeyError means "use the default".
      try {
        const v = await this.evaluate(argExprs[0]!, frame);
        if (v !== null) return v;
      } catch (err) {
        if (!(err instanceof WorkflowError) || !hasTag(err.value, 'KeyError')) throw err;
      }
      return this.evaluate(argExprs[1]!, frame);
    }
    const args: Value[] = [];
    for (const a of argExprs) args.push(await this.evaluate(a, frame));
    const fn = STDLIB[name];
    if (fn) return fn(args, this.std);
    const routine = this.program.routines.get(name)!;
    if (args.length > routine.params.length)
      throw builtinError('TypeError', `subworkflow "${name}" takes ${routine.params.length} argument(s)`);
    return this.callRoutine(routine, new Map(args.map((v, i) => [routine.params[i]!.name, v])), frame.depth + 1);
  }

  private async binary(op: string, le: Expr, re: Expr, frame: Frame): Promise<Value> {
    const l = await this.evaluate(le, frame);
    if (op === 'and' || op === 'or') {
      if (typeof l !== 'boolean') throw builtinError('TypeError', `${op}: expected a boolean, got ${typeName(l)}`);
      if (op === 'and' ? !l : l) return l;
      const r = await this.evaluate(re, frame);
      if (typeof r !== 'boolean') throw builtinError('TypeError', `${op}: expected a boolean, got ${typeName(r)}`);
      return r;
    }
    const r = await this.evaluate(re, frame);
    switch (op) {
      case '==':
        return deepEqual(l, r);
      case '!=':
        return !deepEqual(l, r);
      case 'in':
      case 'not in': {
        let found: boolean;
        if (Array.isArray(r)) found = r.some((x) => deepEqual(x, l));
        else if (isMap(r)) {
          if (typeof l !== 'string') throw builtinError('TypeError', 'in: map keys are strings');
          found = Object.hasOwn(r, l);
        } else throw builtinError('TypeError', `in: expected a list or map, got ${typeName(r)}`);
        return op === 'in' ? found : !found;
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        if (!((typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string')))
          throw builtinError('TypeError', `${op}: cannot compare ${typeName(l)} and ${typeName(r)}`);
        return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r;
      }
      case '+':
        if (typeof l === 'string' && typeof r === 'string') return l + r;
        if (typeof l === 'number' && typeof r === 'number') return l + r;
        throw builtinError('TypeError', `+: unsupported operand types ${typeName(l)} and ${typeName(r)}`);
    }
    if (typeof l !== 'number' || typeof r !== 'number')
      throw builtinError('TypeError', `${op}: unsupported operand types ${typeName(l)} and ${typeName(r)}`);
    switch (op) {
      case '-':
        return l - r;
      case '*':
        return l * r;
      case '/':
        if (r === 0) throw builtinError('ZeroDivisionError', 'division by zero');
        return l / r;
      case '//':
        if (r === 0) throw builtinError('ZeroDivisionError', 'division by zero');
        return Math.floor(l / r);
      case '%':
        if (r === 0) throw builtinError('ZeroDivisionError', 'division by zero');
        return l % r;
    }
    throw builtinError('SystemError', `unknown operator ${op}`);
  }
}

function member(obj: Value, key: string): Value {
  if (!isMap(obj)) throw builtinError('TypeError', `cannot read key "${key}" of a ${typeName(obj)}`);
  if (!Object.hasOwn(obj, key)) throw builtinError('KeyError', `KeyError: key not found: ${key}`);
  return obj[key]!;
}

function index(obj: Value, key: Value): Value {
  if (Array.isArray(obj)) {
    if (typeof key !== 'number' || !Number.isInteger(key))
      throw builtinError('TypeError', 'list indices must be integers');
    if (key < 0 || key >= obj.length) throw builtinError('IndexError', `IndexError: list index out of range: ${key}`);
    return obj[key]!;
  }
  if (isMap(obj)) {
    if (typeof key !== 'string') throw builtinError('TypeError', 'map keys must be strings');
    return member(obj, key);
  }
  throw builtinError('TypeError', `cannot index a ${typeName(obj)}`);
}

function nextSignal(target: string): Signal {
  if (target === 'end') return { type: 'end' };
  if (target === 'break') return { type: 'break' };
  if (target === 'continue') return { type: 'continue' };
  return { type: 'jump', target };
}

/** `http.default_retry_predicate`: 429, 502, 503, 504, and connection and timeout errors (Google's stdlib reference). */
export function builtinRetryPredicate(
  name: 'http.default_retry_predicate' | 'http.default_retry_predicate_non_idempotent',
  error: Value,
): boolean {
  const code = isMap(error) ? error.code : undefined;
  if (name === 'http.default_retry_predicate_non_idempotent')
    return (hasTag(error, 'HttpError') && (code === 429 || code === 503)) || hasTag(error, 'ConnectionFailedError');
  if (hasTag(error, 'HttpError')) return code === 429 || code === 502 || code === 503 || code === 504;
  return hasTag(error, 'ConnectionError') || hasTag(error, 'ConnectionFailedError') || hasTag(error, 'TimeoutError');
}

function toWorkflowError(err: unknown): WorkflowError {
  if (err instanceof WorkflowError) return err;
  return builtinError('SystemError', `internal error: ${err instanceof Error ? err.message : String(err)}`);
}

function defaultLog(entry: LogEntry): void {
  process.stdout.write(
    `${JSON.stringify({ severity: entry.severity === 'DEFAULT' ? 'INFO' : entry.severity, message: entry.text ?? '', ...(entry.data !== undefined ? { data: entry.data } : {}), workflowStep: `${entry.routine}.${entry.step}` })}\n`,
  );
}
