/**
 * The expression language inside `${...}`: a tokenizer and a precedence-climbing parser producing an AST.
 *
 * Precedence, lowest first (Workflows' expressions reference): `or`; `and`; `not`; comparisons and `in`
 * (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`); `+`, `-`; `*`, `/`, `//`, `%`; unary `-`; then postfix
 * map/list access (`a.b`, `a["b"]`, `a[0]`) and function calls (`text.split(s, ",")`, `sub(1, 2)`).
 * Literals: integers, doubles, single- or double-quoted strings, `true`/`false`/`null` (any case, as YAML allows),
 * and list / map literals (`[1, 2]`, `{"k": v}`).
 */
import type { Value } from './values.ts';

export type Expr =
  | { k: 'lit'; v: Value }
  | { k: 'var'; name: string }
  | { k: 'member'; obj: Expr; name: string }
  | { k: 'index'; obj: Expr; index: Expr }
  | { k: 'call'; name: string; args: Expr[] }
  | { k: 'unary'; op: '-' | 'not'; e: Expr }
  | { k: 'binary'; op: BinaryOp; l: Expr; r: Expr }
  | { k: 'list'; items: Expr[] }
  | { k: 'map'; entries: Array<[Expr, Expr]> };

export type BinaryOp =
  | 'or'
  | 'and'
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'in'
  | 'not in'
  | '+'
  | '-'
  | '*'
  | '/'
  | '//'
  | '%';

export class ExpressionSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ExpressionSyntaxError';
  }
}

type Token =
  | { t: 'num'; v: number; pos: number }
  | { t: 'str'; v: string; pos: number }
  | { t: 'id'; v: string; pos: number }
  | { t: 'op'; v: string; pos: number }
  | { t: 'eof'; pos: number };

const OPERATORS = [
  '//',
  '==',
  '!=',
  '<=',
  '>=',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '%',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  '.',
  ':',
];
const ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '/': '/',
  b: '\b',
  f: '\f',
};

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i))!;
      tokens.push({ t: 'num', v: Number(m[0]), pos: start });
      i += m[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let out = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') {
          const e = src[i + 1];
          if (e === 'u') {
            const hex = src.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ExpressionSyntaxError('bad \\u escape in string', i);
            out += String.fromCharCode(Number.parseInt(hex, 16));
            i += 6;
            continue;
          }
          if (e === undefined || ESCAPES[e] === undefined)
            throw new ExpressionSyntaxError(`unknown escape \\${e ?? ''} in string`, i);
          out += ESCAPES[e];
          i += 2;
          continue;
        }
        out += src[i];
        i++;
      }
      if (i >= src.length) throw new ExpressionSyntaxError('unterminated string', start);
      i++;
      tokens.push({ t: 'str', v: out, pos: start });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      tokens.push({ t: 'id', v: m[0], pos: start });
      i += m[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) throw new ExpressionSyntaxError(`unexpected character "${c}"`, i);
    tokens.push({ t: 'op', v: op, pos: start });
    i += op.length;
  }
  tokens.push({ t: 'eof', pos: src.length });
  return tokens;
}

const KEYWORD_LITERALS: Record<string, Value> = {
  true: true,
  True: true,
  TRUE: true,
  false: false,
  False: false,
  FALSE: false,
  null: null,
};

/** Parses the text between `${` and `}`. */
export function parseExpression(src: string): Expr {
  const tokens = tokenize(src);
  let p = 0;
  const peek = (): Token => tokens[p]!;
  const next = (): Token => tokens[p++]!;
  const isOp = (v: string): boolean => {
    const t = peek();
    return t.t === 'op' && t.v === v;
  };
  const isWord = (v: string): boolean => {
    const t = peek();
    return t.t === 'id' && t.v === v;
  };
  const expectOp = (v: string): void => {
    const t = next();
    if (t.t !== 'op' || t.v !== v) throw new ExpressionSyntaxError(`expected "${v}" ${describe(t)}`, t.pos);
  };

  const orExpr = (): Expr => {
    let l = andExpr();
    while (isWord('or')) {
      next();
      l = { k: 'binary', op: 'or', l, r: andExpr() };
    }
    return l;
  };
  const andExpr = (): Expr => {
    let l = notExpr();
    while (isWord('and')) {
      next();
      l = { k: 'binary', op: 'and', l, r: notExpr() };
    }
    return l;
  };
  const notExpr = (): Expr => {
    if (isWord('not')) {
      next();
      return { k: 'unary', op: 'not', e: notExpr() };
    }
    return comparison();
  };
  const comparison = (): Expr => {
    let l = additive();
    for (;;) {
      const t = peek();
      if (t.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
        next();
        l = { k: 'binary', op: t.v as BinaryOp, l, r: additive() };
      } else if (t.t === 'id' && t.v === 'in') {
        next();
        l = { k: 'binary', op: 'in', l, r: additive() };
      } else if (
        t.t === 'id' &&
        t.v === 'not' &&
        tokens[p + 1]?.t === 'id' &&
        (tokens[p + 1] as { v: string }).v === 'in'
      ) {
        p += 2;
        l = { k: 'binary', op: 'not in', l, r: additive() };
      } else return l;
    }
  };
  const additive = (): Expr => {
    let l = multiplicative();
    while (isOp('+') || isOp('-')) {
      const op = (next() as { v: string }).v as BinaryOp;
      l = { k: 'binary', op, l, r: multiplicative() };
    }
    return l;
  };
  const multiplicative = (): Expr => {
    let l = unary();
    while (isOp('*') || isOp('/') || isOp('//') || isOp('%')) {
      const op = (next() as { v: string }).v as BinaryOp;
      l = { k: 'binary', op, l, r: unary() };
    }
    return l;
  };
  const unary = (): Expr => {
    if (isOp('-')) {
      next();
      return { k: 'unary', op: '-', e: unary() };
    }
    if (isOp('+')) {
      next();
      return unary();
    }
    return postfix();
  };
  const postfix = (): Expr => {
    let e = primary();
    for (;;) {
      if (isOp('.')) {
        next();
        const t = next();
        if (t.t !== 'id') throw new ExpressionSyntaxError(`expected a key name after "." ${describe(t)}`, t.pos);
        e = { k: 'member', obj: e, name: t.v };
      } else if (isOp('[')) {
        next();
        const index = orExpr();
        expectOp(']');
        e = { k: 'index', obj: e, index };
      } else if (isOp('(')) {
        const at = peek().pos;
        const name = dottedName(e);
        if (name === null) throw new ExpressionSyntaxError('only named functions can be called', at);
        next();
        const args: Expr[] = [];
        if (!isOp(')')) {
          do args.push(orExpr());
          while (isOp(',') && next());
        }
        expectOp(')');
        e = { k: 'call', name, args };
      } else return e;
    }
  };
  const primary = (): Expr => {
    const t = next();
    switch (t.t) {
      case 'num':
        return { k: 'lit', v: t.v };
      case 'str':
        return { k: 'lit', v: t.v };
      case 'id':
        if (Object.hasOwn(KEYWORD_LITERALS, t.v)) return { k: 'lit', v: KEYWORD_LITERALS[t.v]! };
        if (['and', 'or', 'not', 'in'].includes(t.v)) throw new ExpressionSyntaxError(`unexpected "${t.v}"`, t.pos);
        return { k: 'var', name: t.v };
      case 'op':
        if (t.v === '(') {
          const e = orExpr();
          expectOp(')');
          return e;
        }
        if (t.v === '[') {
          const items: Expr[] = [];
          if (!isOp(']')) {
            do items.push(orExpr());
            while (isOp(',') && next());
          }
          expectOp(']');
          return { k: 'list', items };
        }
        if (t.v === '{') {
          const entries: Array<[Expr, Expr]> = [];
          if (!isOp('}')) {
            do {
              const key = orExpr();
              expectOp(':');
              entries.push([key, orExpr()]);
            } while (isOp(',') && next());
          }
          expectOp('}');
          return { k: 'map', entries };
        }
        throw new ExpressionSyntaxError(`unexpected "${t.v}"`, t.pos);
      case 'eof':
        throw new ExpressionSyntaxError('unexpected end of expression', t.pos);
    }
  };

  const e = orExpr();
  const rest = peek();
  if (rest.t !== 'eof') throw new ExpressionSyntaxError(`unexpected ${describe(rest)}`, rest.pos);
  return e;
}

function describe(t: Token): string {
  return t.t === 'eof' ? 'at end of expression' : `"${String(t.v)}" at offset ${t.pos}`;
}

/** `text.split` for a member chain of plain names, else null. */
export function dottedName(e: Expr): string | null {
  if (e.k === 'var') return e.name;
  if (e.k === 'member') {
    const base = dottedName(e.obj);
    return base === null ? null : `${base}.${e.name}`;
  }
  return null;
}

/**
 * If `raw` is a whole-value expression `${...}`, its inner text, else null. Workflows evaluates an expression
 * only when it is the entire YAML value; `"a ${b}"` is a plain string.
 */
export function expressionText(raw: string): string | null {
  const t = raw.trim();
  return t.startsWith('${') && t.endsWith('}') ? t.slice(2, -1) : null;
}

/** Every function name an expression calls, to check them at load time. */
export function calledFunctions(e: Expr, out: Set<string> = new Set()): Set<string> {
  switch (e.k) {
    case 'call':
      out.add(e.name);
      for (const a of e.args) calledFunctions(a, out);
      break;
    case 'member':
      calledFunctions(e.obj, out);
      break;
    case 'index':
      calledFunctions(e.obj, out);
      calledFunctions(e.index, out);
      break;
    case 'unary':
      calledFunctions(e.e, out);
      break;
    case 'binary':
      calledFunctions(e.l, out);
      calledFunctions(e.r, out);
      break;
    case 'list':
      for (const i of e.items) calledFunctions(i, out);
      break;
    case 'map':
      for (const [k, v] of e.entries) {
        calledFunctions(k, out);
        calledFunctions(v, out);
      }
      break;
    case 'lit':
    case 'var':
      break;
  }
  return out;
}
