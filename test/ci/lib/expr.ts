// A small evaluator of GitHub Actions expressions (the `if:` and `${{ }}` language), enough to
// evaluate the pipeline workflow's conditions the way the runner does: literals, property and
// index access on contexts (case-insensitive keys, missing -> null), ! < <= > >= == != && ||,
// and the functions success(), failure(), always(), cancelled(), contains(), startsWith(),
// endsWith(), format(). Loose equality follows GitHub's rules: strings compare
// case-insensitively; differing types are coerced to numbers. An unknown function or syntax
// throws, so a workflow using something this evaluator does not know fails the test loudly.

export type Value = null | boolean | number | string | Value[] | { [k: string]: Value };
export interface EvalContext {
  contexts: Record<string, Value>;
  status: { success: () => boolean; failure: () => boolean; cancelled: () => boolean };
}

type Token = { t: 'num'; v: number } | { t: 'str'; v: string } | { t: 'id'; v: string } | { t: 'op'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string in: ${src}`);
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += src[i++];
      }
      out.push({ t: 'str', v: s });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '<=', '>=', '&&', '||'].includes(two)) {
      out.push({ t: 'op', v: two });
      i += 2;
      continue;
    }
    if ('!<>()[].,'.includes(c)) {
      out.push({ t: 'op', v: c });
      i++;
      continue;
    }
    const num = /^-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:e[+-]?\d+)?)/.exec(src.slice(i));
    if (num && (c === '-' || /\d/.test(c))) {
      out.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i));
    if (id) {
      out.push({ t: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    throw new Error(`unexpected character ${JSON.stringify(c)} in: ${src}`);
  }
  return out;
}

type Node =
  | { k: 'lit'; v: Value }
  | { k: 'ctx'; name: string }
  | { k: 'get'; obj: Node; key: Node }
  | { k: 'call'; fn: string; args: Node[] }
  | { k: 'not'; e: Node }
  | { k: 'bin'; op: string; l: Node; r: Node };

function parse(src: string): Node {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const isOp = (v: string) => peek()?.t === 'op' && peek()?.v === v;
  const expectOp = (v: string) => {
    if (!isOp(v)) throw new Error(`expected "${v}" at token ${p} in: ${src}`);
    p++;
  };
  const LEVELS = [['||'], ['&&'], ['==', '!='], ['<', '<=', '>', '>=']];
  const binary = (level: number): Node => {
    if (level === LEVELS.length) return unary();
    let l = binary(level + 1);
    while (peek()?.t === 'op' && (LEVELS[level] as string[]).includes(peek()!.v as string)) {
      const op = toks[p++]!.v as string;
      l = { k: 'bin', op, l, r: binary(level + 1) };
    }
    return l;
  };
  const unary = (): Node => {
    if (isOp('!')) {
      p++;
      return { k: 'not', e: unary() };
    }
    return postfix(primary());
  };
  const primary = (): Node => {
    const tok = toks[p++];
    if (!tok) throw new Error(`unexpected end of: ${src}`);
    if (tok.t === 'num') return { k: 'lit', v: tok.v };
    if (tok.t === 'str') return { k: 'lit', v: tok.v };
    if (tok.t === 'op' && tok.v === '(') {
      const e = binary(0);
      expectOp(')');
      return e;
    }
    if (tok.t === 'id') {
      if (tok.v === 'true' || tok.v === 'false') return { k: 'lit', v: tok.v === 'true' };
      if (tok.v === 'null') return { k: 'lit', v: null };
      if (isOp('(')) {
        p++;
        const args: Node[] = [];
        if (!isOp(')')) {
          args.push(binary(0));
          while (isOp(',')) {
            p++;
            args.push(binary(0));
          }
        }
        expectOp(')');
        return { k: 'call', fn: tok.v.toLowerCase(), args };
      }
      return { k: 'ctx', name: tok.v };
    }
    throw new Error(`unexpected token ${JSON.stringify(tok)} in: ${src}`);
  };
  const postfix = (n: Node): Node => {
    for (;;) {
      if (isOp('.')) {
        p++;
        const id = toks[p++];
        if (id?.t !== 'id') throw new Error(`expected a property name after "." in: ${src}`);
        n = { k: 'get', obj: n, key: { k: 'lit', v: id.v } };
      } else if (isOp('[')) {
        p++;
        const key = binary(0);
        expectOp(']');
        n = { k: 'get', obj: n, key };
      } else return n;
    }
  };
  const node = binary(0);
  if (p !== toks.length) throw new Error(`trailing tokens in: ${src}`);
  return node;
}

/** Truthiness as GitHub defines it: false, 0, -0, '', null and NaN are falsy. */
export function truthy(v: Value): boolean {
  if (v === null || v === false || v === '') return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  return true;
}

function toNumber(v: Value): number {
  if (v === null) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return v.trim() === '' ? 0 : Number(v);
  return NaN;
}

function looseEquals(a: Value, b: Value): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  if (a === null && b === null) return true;
  if (typeof a === typeof b && typeof a !== 'object') return a === b;
  if (typeof a === 'object' && typeof b === 'object') return a === b;
  return toNumber(a) === toNumber(b);
}

function lookup(obj: Value, key: Value): Value {
  if (obj === null || typeof obj !== 'object') return null;
  if (Array.isArray(obj)) return typeof key === 'number' ? (obj[key] ?? null) : null;
  const k = String(key).toLowerCase();
  for (const [name, v] of Object.entries(obj)) if (name.toLowerCase() === k) return v ?? null;
  return null;
}

const str = (v: Value): string => (v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function evalNode(n: Node, ctx: EvalContext): Value {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'ctx':
      return lookup(ctx.contexts as Value, n.name);
    case 'get':
      return lookup(evalNode(n.obj, ctx), evalNode(n.key, ctx));
    case 'not':
      return !truthy(evalNode(n.e, ctx));
    case 'bin': {
      if (n.op === '&&') {
        const l = evalNode(n.l, ctx);
        return truthy(l) ? evalNode(n.r, ctx) : l;
      }
      if (n.op === '||') {
        const l = evalNode(n.l, ctx);
        return truthy(l) ? l : evalNode(n.r, ctx);
      }
      const l = evalNode(n.l, ctx);
      const r = evalNode(n.r, ctx);
      if (n.op === '==') return looseEquals(l, r);
      if (n.op === '!=') return !looseEquals(l, r);
      const [a, b] = typeof l === 'string' && typeof r === 'string' ? [l.toLowerCase(), r.toLowerCase()] : [toNumber(l), toNumber(r)];
      if (n.op === '<') return a < b;
      if (n.op === '<=') return a <= b;
      if (n.op === '>') return a > b;
      return a >= b;
    }
    case 'call': {
      const args = n.args.map((a) => evalNode(a, ctx));
      switch (n.fn) {
        case 'success':
          return ctx.status.success();
        case 'failure':
          return ctx.status.failure();
        case 'cancelled':
          return ctx.status.cancelled();
        case 'always':
          return true;
        case 'contains': {
          const [hay, needle] = args as [Value, Value];
          if (Array.isArray(hay)) return hay.some((x) => looseEquals(x, needle));
          return str(hay).toLowerCase().includes(str(needle).toLowerCase());
        }
        case 'startswith':
          return str(args[0] as Value).toLowerCase().startsWith(str(args[1] as Value).toLowerCase());
        case 'endswith':
          return str(args[0] as Value).toLowerCase().endsWith(str(args[1] as Value).toLowerCase());
        case 'format':
          return str(args[0] as Value).replace(/\{(\d+)\}/g, (_, i: string) => str(args[Number(i) + 1] ?? null));
        default:
          throw new Error(`function ${n.fn}() is not known to this evaluator`);
      }
    }
  }
}

/** True when an expression calls one of the status functions (then no implicit success() is added). */
export function usesStatusFunction(src: string): boolean {
  const walk = (n: Node): boolean => {
    switch (n.k) {
      case 'call':
        return ['success', 'failure', 'cancelled', 'always'].includes(n.fn) || n.args.some(walk);
      case 'get':
        return walk(n.obj) || walk(n.key);
      case 'not':
        return walk(n.e);
      case 'bin':
        return walk(n.l) || walk(n.r);
      default:
        return false;
    }
  };
  return walk(parse(stripWrapper(src)));
}

/** `${{ x }}` -> `x`; a bare expression stays as it is. */
export function stripWrapper(src: string): string {
  const m = /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(src);
  return m ? (m[1] as string) : src;
}

/** Evaluates one expression (with or without the `${{ }}` wrapper). */
export function evaluate(src: string, ctx: EvalContext): Value {
  return evalNode(parse(stripWrapper(src)), ctx);
}

/**
 * Evaluates an `if:` as the runner does: no `if` means success(); an `if` without a status
 * function is `success() && (if)`. Returns whether the job or step runs.
 */
export function evaluateIf(src: string | boolean | undefined, ctx: EvalContext): boolean {
  if (src === undefined) return ctx.status.success();
  if (typeof src === 'boolean') return src && ctx.status.success();
  const implicit = !usesStatusFunction(src);
  return (!implicit || ctx.status.success()) && truthy(evaluate(src, ctx));
}

/** Renders a string with `${{ }}` templates (each replaced by its value as text). */
export function render(template: string, ctx: EvalContext): string {
  return template.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, e: string) => str(evaluate(e, ctx)));
}
