// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Workflows expressions are written ${...} inside plain strings
/**
 * Loads a Cloud Workflows YAML source into a checked program tree. Everything the interpreter does not support,
 * and every mistake it can see before running (unknown step keys, call targets, functions, `next` targets,
 * subworkflow arguments, expression syntax), fails here with the YAML line and column, not halfway through an
 * execution.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import { calledFunctions, type Expr, ExpressionSyntaxError, expressionText, parseExpression } from './expression.ts';
import { SPECIAL_FUNCTIONS, STDLIB } from './stdlib.ts';
import type { Value } from './values.ts';

export interface Loc {
  line: number;
  column: number;
}

/** A YAML value with its expressions parsed: evaluated at run time into a Value. */
export type Template =
  | { t: 'lit'; v: Value }
  | { t: 'expr'; e: Expr; src: string; loc: Loc }
  | { t: 'map'; entries: Array<[string, Template]> }
  | { t: 'list'; items: Template[] };

export interface Step {
  name: string;
  loc: Loc;
  body: StepBody;
  /** `next`: a step name, or `end` / `break` / `continue`. */
  next?: string;
}

export type StepBody =
  | { kind: 'assign'; items: Array<{ target: Expr; targetSrc: string; value: Template; loc: Loc }> }
  | { kind: 'call'; target: string; args: Array<[string, Template]>; result?: string }
  | { kind: 'switch'; branches: Branch[] }
  | { kind: 'steps'; steps: Step[] }
  | { kind: 'return'; value: Template }
  | { kind: 'raise'; value: Template }
  | { kind: 'try'; body: Step[]; retry?: RetryPolicy; except?: { as?: string; steps: Step[] } }
  | ForBody
  | ParallelBody
  | { kind: 'next' };

export interface ForBody {
  kind: 'for';
  value: string;
  index?: string;
  in?: Template;
  range?: Template;
  steps: Step[];
}

/**
 * `parallel`: branches, or a `for` loop whose iterations, run concurrently (Google's syntax reference, "Parallel
 * steps"). `shared` names the variables of the enclosing scope that branches may assign; `concurrency_limit` caps the
 * branches or iterations running at once; `exception_policy` is `continueAll`, the only documented policy.
 */
export interface ParallelBody {
  kind: 'parallel';
  shared: string[];
  concurrencyLimit?: Template;
  branches?: Array<{ name: string; loc: Loc; steps: Step[] }>;
  for?: ForBody;
}

export interface Branch {
  loc: Loc;
  condition: Template;
  assign?: Extract<StepBody, { kind: 'assign' }>;
  steps?: Step[];
  return?: Template;
  raise?: Template;
  next?: string;
}

export type Predicate = { kind: 'builtin'; name: BuiltinPredicate } | { kind: 'routine'; name: string };
export type BuiltinPredicate = 'http.default_retry_predicate' | 'http.default_retry_predicate_non_idempotent';

export interface RetryPolicy {
  loc: Loc;
  predicate: Predicate;
  maxRetries: Template;
  backoff: { initialDelay: Template; maxDelay: Template; multiplier: Template };
}

export interface Param {
  name: string;
  default?: Template;
}

export interface Routine {
  name: string;
  loc: Loc;
  params: Param[];
  steps: Step[];
}

export interface Program {
  routines: ReadonlyMap<string, Routine>;
}

export class WorkflowSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly loc: Loc,
    /** The workflow id, when the engine loads several. */
    readonly workflow?: string,
  ) {
    super(`${workflow ? `workflow "${workflow}", ` : ''}line ${loc.line}, column ${loc.column}: ${reason}`);
    this.name = 'WorkflowSyntaxError';
  }
}

/** The call targets the engine implements besides subworkflows. */
export const HTTP_CALLS = new Set(['http.get', 'http.post', 'http.put', 'http.patch', 'http.delete', 'http.request']);
const SYS_CALLS = new Set(['sys.log', 'sys.sleep', 'sys.get_env']);
const HTTP_ARGS = new Set(['url', 'method', 'headers', 'body', 'query', 'auth', 'timeout']);
const CALL_ARGS: Record<string, Set<string>> = {
  'sys.log': new Set(['text', 'data', 'json', 'severity', 'timeout']),
  'sys.sleep': new Set(['seconds']),
  'sys.get_env': new Set(['name', 'default']),
};
/** Google's documented defaults for `${http.default_retry}` (max 5 retries, 1 s initial delay, 60 s max, x1.25). */
const DEFAULT_POLICIES: Record<string, BuiltinPredicate> = {
  'http.default_retry': 'http.default_retry_predicate',
  'http.default_retry_non_idempotent': 'http.default_retry_predicate_non_idempotent',
};

export function loadWorkflow(source: string): Program {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, uniqueKeys: true });
  const locOf = (node: Node | null | undefined): Loc => {
    const pos = lines.linePos(node?.range?.[0] ?? 0);
    return { line: pos.line, column: pos.col };
  };
  const fail = (node: Node | null | undefined, reason: string): never => {
    throw new WorkflowSyntaxError(reason, locOf(node));
  };
  const firstError = doc.errors[0];
  if (firstError) {
    const pos = firstError.linePos?.[0] ?? { line: 1, col: 1 };
    throw new WorkflowSyntaxError(firstError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), {
      line: pos.line,
      column: pos.col,
    });
  }

  // Checks that need every routine to be known first (call targets, predicates, functions in expressions).
  const deferred: Array<(routines: Map<string, Routine>) => void> = [];

  const expr = (src: string, node: Node): Expr => {
    try {
      const e = parseExpression(src);
      deferred.push((routines) => {
        for (const fn of calledFunctions(e)) {
          if (!Object.hasOwn(STDLIB, fn) && !SPECIAL_FUNCTIONS.has(fn) && !routines.has(fn))
            fail(node, `unknown function "${fn}" in expression \${${src}}`);
        }
      });
      return e;
    } catch (err) {
      if (err instanceof ExpressionSyntaxError) fail(node, `invalid expression \${${src}}: ${err.message}`);
      throw err;
    }
  };

  const template = (node: Node | null | undefined): Template => {
    if (node === null || node === undefined) return { t: 'lit', v: null };
    if (isAlias(node)) return fail(node, 'YAML aliases are not supported');
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'string') {
        const text = expressionText(v);
        return text === null ? { t: 'lit', v } : { t: 'expr', e: expr(text, node), src: text, loc: locOf(node) };
      }
      if (v === null || typeof v === 'boolean' || typeof v === 'number') return { t: 'lit', v };
      return fail(node, `unsupported YAML value ${String(v)}`);
    }
    if (isSeq(node)) return { t: 'list', items: node.items.map((i) => template(i as Node)) };
    if (isMap(node))
      return { t: 'map', entries: node.items.map((p) => [keyOf(p.key as Node), template(p.value as Node)]) };
    return fail(node, 'unsupported YAML node');
  };

  const keyOf = (node: Node | null): string => {
    if (node && isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number'))
      return String(node.value);
    return fail(node, 'map keys must be plain strings');
  };

  const asMap = (node: Node | null | undefined, what: string): YAMLMap<Node, Node> => {
    if (!node || !isMap(node)) return fail(node, `${what} must be a map`);
    return node as YAMLMap<Node, Node>;
  };

  const entries = (m: YAMLMap<Node, Node>): Map<string, { key: Node; value: Node | null }> => {
    const out = new Map<string, { key: Node; value: Node | null }>();
    for (const p of m.items) {
      if (!isPair(p)) fail(m, 'malformed map');
      out.set(keyOf(p.key), { key: p.key, value: p.value ?? null });
    }
    return out;
  };

  const plainString = (node: Node | null, what: string): string => {
    if (node && isScalar(node) && typeof node.value === 'string' && expressionText(node.value) === null)
      return node.value;
    return fail(node, `${what} must be a plain name`);
  };

  const steps = (node: Node | null, routine: RoutineBuild): Step[] => {
    if (!node || !isSeq(node) || node.items.length === 0) return fail(node, 'steps must be a non-empty list');
    return node.items.map((item) => {
      const m = asMap(item as Node, 'a step');
      if (m.items.length !== 1) fail(m, 'each step must be a map with exactly one key, the step name');
      const pair = m.items[0]!;
      const name = keyOf(pair.key);
      if (routine.stepNames.has(name)) fail(pair.key, `duplicate step name "${name}"`);
      routine.stepNames.add(name);
      return step(name, pair.key, asMap(pair.value, `step "${name}"`), routine);
    });
  };

  const assignBody = (node: Node | null): Extract<StepBody, { kind: 'assign' }> => {
    if (!node || !isSeq(node) || node.items.length === 0) return fail(node, 'assign must be a non-empty list');
    return {
      kind: 'assign',
      items: node.items.map((item) => {
        const m = asMap(item as Node, 'an assignment');
        if (m.items.length !== 1) fail(m, 'each assignment must be a map with exactly one key');
        const pair = m.items[0]!;
        const targetSrc = keyOf(pair.key);
        const target = lvalue(targetSrc, pair.key);
        return { target, targetSrc, value: template(pair.value), loc: locOf(pair.key) };
      }),
    };
  };

  const lvalue = (src: string, node: Node): Expr => {
    let e: Expr;
    try {
      e = parseExpression(src);
    } catch {
      return fail(node, `cannot assign to "${src}"`);
    }
    for (let cur = e; ; ) {
      if (cur.k === 'var') break;
      if (cur.k === 'member') cur = cur.obj;
      else if (cur.k === 'index') {
        expr(src, node); // checks functions used in the index expression
        cur = cur.obj;
      } else return fail(node, `cannot assign to "${src}"`);
    }
    return e;
  };

  const nextTarget = (node: Node | null, routine: RoutineBuild): string => {
    const target = plainString(node, 'next');
    if (!['end', 'break', 'continue'].includes(target)) routine.jumps.push({ target, node: node! });
    return target;
  };

  const ALLOWED: Record<string, string[]> = {
    try: ['try', 'retry', 'except', 'next'],
    call: ['call', 'args', 'result', 'next'],
    assign: ['assign', 'next'],
    switch: ['switch', 'next'],
    for: ['for', 'next'],
    parallel: ['parallel', 'next'],
    steps: ['steps', 'next'],
    return: ['return'],
    raise: ['raise'],
    next: ['next'],
  };

  const step = (name: string, nameNode: Node, m: YAMLMap<Node, Node>, routine: RoutineBuild): Step => {
    const e = entries(m);
    for (const [key, { key: keyNode }] of e) {
      if (!(key in ALLOWED) && !Object.values(ALLOWED).some((keys) => keys.includes(key)))
        fail(keyNode, `unknown step key "${key}"`);
    }
    const kind = Object.keys(ALLOWED).find((k) => e.has(k));
    if (!kind) return fail(m, `step "${name}" has nothing to do`);
    for (const [key, { key: keyNode }] of e)
      if (!ALLOWED[kind]!.includes(key)) fail(keyNode, `"${key}" cannot be used in a "${kind}" step`);
    const at = (k: string): Node | null => e.get(k)?.value ?? null;
    const out: Step = { name, loc: locOf(nameNode), body: { kind: 'next' } };
    if (e.has('next')) out.next = nextTarget(at('next'), routine);
    switch (kind) {
      case 'assign':
        out.body = assignBody(at('assign'));
        break;
      case 'call':
        out.body = callBody(at('call'), at('args'), e.has('result') ? at('result') : undefined);
        break;
      case 'switch':
        out.body = switchBody(at('switch'), routine);
        break;
      case 'steps':
        out.body = { kind: 'steps', steps: steps(at('steps'), routine) };
        break;
      case 'return':
        out.body = { kind: 'return', value: template(at('return')) };
        break;
      case 'raise':
        out.body = { kind: 'raise', value: template(at('raise')) };
        break;
      case 'for':
        out.body = forBody(at('for'), routine);
        break;
      case 'parallel':
        out.body = parallelBody(at('parallel'), routine);
        break;
      case 'try':
        out.body = tryBody(name, nameNode, at('try'), e.has('retry') ? at('retry') : undefined, at('except'), routine);
        break;
      case 'next':
        break;
    }
    return out;
  };

  const callBody = (target: Node | null, args: Node | null, result: Node | null | undefined): StepBody => {
    const name = plainString(target, 'call');
    const argList: Array<[string, Template]> = [];
    if (args) for (const p of asMap(args, 'args').items) argList.push([keyOf(p.key), template(p.value)]);
    const argNames = new Set(argList.map(([k]) => k));
    if (HTTP_CALLS.has(name)) {
      for (const p of asMap(args, `args of ${name}`).items)
        if (!HTTP_ARGS.has(keyOf(p.key))) fail(p.key, `unsupported argument "${keyOf(p.key)}" for ${name}`);
      if (!argNames.has('url')) fail(args, `${name} needs a url argument`);
      if (name === 'http.request' && !argNames.has('method')) fail(args, 'http.request needs a method argument');
      const auth = argList.find(([k]) => k === 'auth')?.[1];
      if (auth && auth.t === 'map') {
        const type = auth.entries.find(([k]) => k === 'type')?.[1];
        if (type?.t !== 'lit' || (type.v !== 'OIDC' && type.v !== 'OAuth2'))
          fail(args, 'auth.type must be OIDC or OAuth2');
      }
    } else if (SYS_CALLS.has(name)) {
      const allowed = CALL_ARGS[name]!;
      if (args)
        for (const p of asMap(args, `args of ${name}`).items)
          if (!allowed.has(keyOf(p.key))) fail(p.key, `unsupported argument "${keyOf(p.key)}" for ${name}`);
      if (name === 'sys.sleep' && !argNames.has('seconds')) fail(target, 'sys.sleep needs a seconds argument');
      if (name === 'sys.get_env' && !argNames.has('name')) fail(target, 'sys.get_env needs a name argument');
    } else {
      deferred.push((routines) => {
        const routine = routines.get(name);
        if (!routine)
          return fail(target, `unsupported call target "${name}" (not a subworkflow or a supported function)`);
        for (const [arg] of argList)
          if (!routine.params.some((p) => p.name === arg))
            fail(args, `subworkflow "${name}" has no parameter "${arg}"`);
        for (const p of routine.params)
          if (p.default === undefined && !argNames.has(p.name))
            fail(target, `missing argument "${p.name}" for subworkflow "${name}"`);
      });
    }
    const body: StepBody = { kind: 'call', target: name, args: argList };
    if (result !== undefined) body.result = plainString(result, 'result');
    return body;
  };

  const switchBody = (node: Node | null, routine: RoutineBuild): StepBody => {
    if (!node || !isSeq(node) || node.items.length === 0) return fail(node, 'switch must be a non-empty list');
    const branches = node.items.map((item): Branch => {
      const m = asMap(item as Node, 'a switch condition');
      const e = entries(m);
      for (const [key, { key: keyNode }] of e)
        if (!['condition', 'next', 'steps', 'return', 'raise', 'assign'].includes(key))
          fail(keyNode, `unknown key "${key}" in a switch condition`);
      if (!e.has('condition')) fail(m, 'a switch entry needs a condition');
      const branch: Branch = { loc: locOf(m), condition: template(e.get('condition')!.value) };
      if (e.has('assign')) branch.assign = assignBody(e.get('assign')!.value);
      if (e.has('steps')) branch.steps = steps(e.get('steps')!.value, routine);
      if (e.has('return')) branch.return = template(e.get('return')!.value);
      if (e.has('raise')) branch.raise = template(e.get('raise')!.value);
      if (e.has('next')) branch.next = nextTarget(e.get('next')!.value, routine);
      return branch;
    });
    return { kind: 'switch', branches };
  };

  const parallelBody = (node: Node | null, routine: RoutineBuild): ParallelBody => {
    const e = entries(asMap(node, 'parallel'));
    for (const [key, { key: keyNode }] of e)
      if (!['exception_policy', 'shared', 'concurrency_limit', 'branches', 'for'].includes(key))
        fail(keyNode, `unknown key "${key}" in parallel`);
    if (e.has('branches') === e.has('for')) fail(node, 'parallel needs exactly one of branches or for');
    const policy = e.get('exception_policy');
    if (policy && plainString(policy.value, 'exception_policy') !== 'continueAll')
      fail(policy.value, 'exception_policy must be continueAll (the only policy Workflows supports)');
    const out: ParallelBody = { kind: 'parallel', shared: [] };
    const shared = e.get('shared')?.value ?? null;
    if (shared) {
      if (!isSeq(shared)) fail(shared, 'shared must be a list of variable names');
      out.shared = (shared as { items: Node[] }).items.map((n) => plainString(n, 'a shared variable'));
    }
    if (e.has('concurrency_limit')) out.concurrencyLimit = template(e.get('concurrency_limit')!.value);
    if (e.has('for')) out.for = forBody(e.get('for')!.value, routine);
    else {
      const list = e.get('branches')!.value;
      if (!list || !isSeq(list) || list.items.length === 0) return fail(list, 'branches must be a non-empty list');
      const names = new Set<string>();
      out.branches = list.items.map((item) => {
        const m = asMap(item as Node, 'a branch');
        if (m.items.length !== 1) fail(m, 'each branch must be a map with exactly one key, the branch name');
        const pair = m.items[0]!;
        const name = keyOf(pair.key);
        if (names.has(name)) fail(pair.key, `duplicate branch name "${name}"`);
        names.add(name);
        const b = entries(asMap(pair.value, `branch "${name}"`));
        for (const [key, { key: keyNode }] of b)
          if (key !== 'steps') fail(keyNode, `unknown key "${key}" in branch "${name}"`);
        return { name, loc: locOf(pair.key), steps: steps(b.get('steps')?.value ?? null, routine) };
      });
    }
    return out;
  };

  const forBody = (node: Node | null, routine: RoutineBuild): ForBody => {
    const e = entries(asMap(node, 'for'));
    for (const [key, { key: keyNode }] of e)
      if (!['value', 'index', 'in', 'range', 'steps'].includes(key)) fail(keyNode, `unknown key "${key}" in for`);
    if (!e.has('value')) fail(node, 'for needs a value (the loop variable)');
    if (e.has('in') === e.has('range')) fail(node, 'for needs exactly one of in or range');
    const body: ForBody = {
      kind: 'for',
      value: plainString(e.get('value')!.value, 'for value'),
      steps: steps(e.get('steps')?.value ?? null, routine),
    };
    if (e.has('index')) body.index = plainString(e.get('index')!.value, 'for index');
    if (e.has('in')) body.in = template(e.get('in')!.value);
    if (e.has('range')) body.range = template(e.get('range')!.value);
    return body;
  };

  const tryBody = (
    name: string,
    nameNode: Node,
    tryNode: Node | null,
    retryNode: Node | null | undefined,
    exceptNode: Node | null,
    routine: RoutineBuild,
  ): StepBody => {
    const t = asMap(tryNode, 'try');
    const te = entries(t);
    // `try` holds either a list of steps or the body of one step (e.g. a call), named after the enclosing step.
    const body =
      te.has('steps') && te.size === 1 ? steps(te.get('steps')!.value, routine) : [step(name, nameNode, t, routine)];
    const out: Extract<StepBody, { kind: 'try' }> = { kind: 'try', body };
    if (retryNode !== undefined) out.retry = retryPolicy(retryNode);
    if (exceptNode) {
      const x = entries(asMap(exceptNode, 'except'));
      for (const [key, { key: keyNode }] of x)
        if (key !== 'as' && key !== 'steps') fail(keyNode, `unknown key "${key}" in except`);
      out.except = { steps: steps(x.get('steps')?.value ?? null, routine) };
      if (x.has('as')) out.except.as = plainString(x.get('as')!.value, 'except as');
    }
    if (!out.retry && !out.except) fail(tryNode, 'try needs a retry or an except');
    return out;
  };

  const literal = (v: number): Template => ({ t: 'lit', v });

  const predicateRef = (node: Node | null): Predicate => {
    const raw = node && isScalar(node) && typeof node.value === 'string' ? expressionText(node.value) : null;
    const ref = raw?.trim();
    if (!ref || !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(ref))
      return fail(node, 'retry predicate must be ${http.default_retry_predicate} or ${a_subworkflow}');
    if (ref === 'http.default_retry_predicate' || ref === 'http.default_retry_predicate_non_idempotent')
      return { kind: 'builtin', name: ref };
    deferred.push((routines) => {
      const r = routines.get(ref);
      if (!r) fail(node, `retry predicate "${ref}" is not a subworkflow`);
      else if (r.params.filter((p) => p.default === undefined).length !== 1)
        fail(node, `retry predicate "${ref}" must take exactly one parameter (the error)`);
    });
    return { kind: 'routine', name: ref };
  };

  const retryPolicy = (node: Node | null): RetryPolicy => {
    const loc = locOf(node);
    if (node && isScalar(node)) {
      const ref = typeof node.value === 'string' ? expressionText(node.value)?.trim() : undefined;
      const predicate = ref ? DEFAULT_POLICIES[ref] : undefined;
      if (!predicate)
        return fail(node, 'retry must be a map or ${http.default_retry} / ${http.default_retry_non_idempotent}');
      return {
        loc,
        predicate: { kind: 'builtin', name: predicate },
        maxRetries: literal(5),
        backoff: { initialDelay: literal(1), maxDelay: literal(60), multiplier: literal(1.25) },
      };
    }
    const e = entries(asMap(node, 'retry'));
    for (const [key, { key: keyNode }] of e)
      if (!['predicate', 'max_retries', 'backoff'].includes(key)) fail(keyNode, `unknown key "${key}" in retry`);
    if (!e.has('predicate')) fail(node, 'retry needs a predicate');
    if (!e.has('max_retries')) fail(node, 'retry needs max_retries');
    const b = entries(asMap(e.get('backoff')?.value ?? null, 'retry backoff'));
    for (const [key, { key: keyNode }] of b)
      if (!['initial_delay', 'max_delay', 'multiplier'].includes(key)) fail(keyNode, `unknown key "${key}" in backoff`);
    for (const k of ['initial_delay', 'max_delay', 'multiplier'])
      if (!b.has(k)) fail(e.get('backoff')!.value, `backoff needs ${k}`);
    return {
      loc,
      predicate: predicateRef(e.get('predicate')!.value),
      maxRetries: template(e.get('max_retries')!.value),
      backoff: {
        initialDelay: template(b.get('initial_delay')!.value),
        maxDelay: template(b.get('max_delay')!.value),
        multiplier: template(b.get('multiplier')!.value),
      },
    };
  };

  interface RoutineBuild {
    stepNames: Set<string>;
    jumps: Array<{ target: string; node: Node }>;
  }

  const routine = (name: string, nameNode: Node, node: Node | null): Routine => {
    const e = entries(asMap(node, `subworkflow "${name}"`));
    for (const [key, { key: keyNode }] of e)
      if (key !== 'params' && key !== 'steps') fail(keyNode, `unknown key "${key}" in subworkflow "${name}"`);
    const params: Param[] = [];
    const paramsNode = e.get('params')?.value ?? null;
    if (paramsNode) {
      if (!isSeq(paramsNode)) fail(paramsNode, 'params must be a list');
      for (const p of (paramsNode as { items: Node[] }).items) {
        if (isScalar(p)) params.push({ name: plainString(p, 'a parameter') });
        else {
          const m = asMap(p, 'a parameter');
          if (m.items.length !== 1) fail(m, 'a parameter with a default is a map with one key');
          params.push({ name: keyOf(m.items[0]!.key), default: template(m.items[0]!.value) });
        }
      }
    }
    const build: RoutineBuild = { stepNames: new Set(), jumps: [] };
    const body = steps(e.get('steps')?.value ?? null, build);
    for (const j of build.jumps)
      if (!build.stepNames.has(j.target)) fail(j.node, `next: no step named "${j.target}" in "${name}"`);
    return { name, loc: locOf(nameNode), params, steps: body };
  };

  const root = doc.contents as Node | null;
  const routines = new Map<string, Routine>();
  if (root && isSeq(root)) {
    // A bare list of steps is the main workflow without parameters.
    const build: RoutineBuild = { stepNames: new Set(), jumps: [] };
    const body = steps(root, build);
    for (const j of build.jumps) if (!build.stepNames.has(j.target)) fail(j.node, `next: no step named "${j.target}"`);
    routines.set('main', { name: 'main', loc: locOf(root), params: [], steps: body });
  } else {
    const m = asMap(root, 'a workflow');
    for (const p of m.items) routines.set(keyOf(p.key), routine(keyOf(p.key), p.key, p.value));
    if (!routines.has('main')) fail(root, 'a workflow needs a main subworkflow');
    if (routines.get('main')!.params.length > 1)
      fail(root, 'main takes at most one parameter (the execution argument)');
  }
  for (const check of deferred) check(routines);
  return { routines };
}
